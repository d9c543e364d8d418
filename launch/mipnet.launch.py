"""Start mipnet_node (and, with tracker:=true, mipnet_tracker on its keypoints; with rviz:=true, rviz2).

Every topic is a launch argument (a remap: the node's own names stay 'image', 'detections', 'keypoints').
Parameters come from params_file; an override argument left empty keeps the file's value, so the file stays
the one source of defaults."""
import os
import shutil
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, LogInfo, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from mipnet_ros.ros import topics
from mipnet_ros.ros.launch_args import POSE_NODE_ARGS, is_true, pose_node_overrides, true_expression
from mipnet_ros.ros.rviz_config import RvizLaunch, render


def _node(context):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = pose_node_overrides({arg: get(arg) for arg in POSE_NODE_ARGS})
    image = get('image')
    remaps = [(topics.IMAGE, image), (topics.IMAGE_COMPRESSED, image.rstrip('/') + '/compressed'),
              (topics.DETECTIONS, get('detections')), (topics.KEYPOINTS, get('keypoints'))]
    nodes = []
    if is_true(get('pose_node')):
        nodes.append(Node(package='mipnet_ros', executable='mipnet_node', name=get('node_name'),
                          namespace=get('namespace'), parameters=[get('params_file'), overrides], remappings=remaps,
                          output='screen', arguments=['--ros-args', '--log-level', get('log_level')]))
    if is_true(get('tracker')):
        # the tracker's annotated image reads the camera the way mipnet_node does (raw or compressed, its QoS)
        tracker_overrides = {k: v for k, v in overrides.items() if k in ('image_transport', 'qos.image.reliability')}
        nodes.append(Node(package='mipnet_ros', executable='mipnet_tracker', name=get('tracker_name'),
                          namespace=get('namespace'), parameters=[get('tracker_params_file'), tracker_overrides],
                          output='screen',
                          remappings=[(topics.IMAGE, image), (topics.IMAGE_COMPRESSED, remaps[1][1]),
                                      (topics.KEYPOINTS, get('keypoints')),
                                      (topics.TRACKED_KEYPOINTS, get('tracked_keypoints'))],
                          arguments=['--ros-args', '--log-level', get('log_level')]))
    return nodes


def _rviz(context):
    """rviz2 with the layout that suits this launch (rviz/, rewritten for its namespace), and the node that
    publishes the layout's fixed frame. Without rviz2 installed: one error line, the pipeline still runs."""
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    if not is_true(get('rviz')):
        return []
    if shutil.which('rviz2') is None:
        return [LogInfo(msg='[ERROR] rviz:=true but rviz2 is not installed: build it with `make rviz` (or install '
                            'ROS 2 rviz2), then `source scripts/env.sh`. The nodes run without RViz.')]
    ns = get('namespace')
    depth = is_true(get('depth'))
    launch = RvizLaunch(namespace=ns, node_name=get('node_name'), tracker=is_true(get('tracker')),
                        tracker_name=get('tracker_name'), image=get('image'))
    share = get_package_share_directory('mipnet_ros')
    template = get('rviz_config') or os.path.join(share, 'rviz', launch.layout(depth))
    with open(template) as f:
        text = render(f.read(), launch)
    path = os.path.join(tempfile.mkdtemp(prefix='mipnet_rviz_'), os.path.basename(template))
    with open(path, 'w') as f:
        f.write(text)
    return [Node(package='mipnet_ros', executable='mipnet_rviz_frames', name='mipnet_rviz_frames', namespace=ns,
                 remappings=[(topics.KEYPOINTS, get('keypoints'))], output='screen'),
            Node(package='rviz2', executable='rviz2', name='rviz2', namespace=ns, output='screen',
                 arguments=['-d', path, '--ros-args', '--log-level', get('rviz_log_level')])]


def generate_launch_description():
    share = get_package_share_directory('mipnet_ros')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='', description='Namespace of the node and its topics.'),
        DeclareLaunchArgument('node_name', default_value='mipnet_node', description='Node name.'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'mipnet.yaml'),
                              description='YAML parameter file (ros__parameters under /**).'),
        DeclareLaunchArgument('model', default_value='',
                              description='Model file (.pth or .onnx) or zoo name (python -m mipnet_ros weights list); '
                                          'empty = params_file value (default: bundled).'),
        DeclareLaunchArgument('allow_download', default_value='',
                              description='true: configure may download a zoo model into the user cache; '
                                          'empty = params_file (false).'),
        DeclareLaunchArgument('arch', default_value='',
                              description='Architecture of an official .pth (hrnet_w32, hrnet_w48 ...); empty = '
                                          'params_file (from the file).'),
        DeclareLaunchArgument('detections_type', default_value='',
                              description='auto, vision_msgs or yolo_msgs; empty = params_file (auto).'),
        DeclareLaunchArgument('backend', default_value='', description='torch or onnxruntime; empty = params_file.'),
        DeclareLaunchArgument('device', default_value='',
                              description='auto (cuda:0 when torch sees a GPU, else cpu), cpu, cuda:N or tensorrt:N; '
                                          'empty = params_file (auto).'),
        DeclareLaunchArgument('use_compressed', default_value='',
                              description='true: subscribe sensor_msgs/CompressedImage on <image>/compressed; '
                                          'empty = params_file (raw).'),
        DeclareLaunchArgument('image_reliability', default_value='',
                              description='Image subscription QoS (the node, the tracker and the depth images): '
                                          'best_effort or reliable; empty = params_file (best_effort).'),
        DeclareLaunchArgument('detections_reliability', default_value='',
                              description='Detections subscription QoS: best_effort (takes reliable publishers too) '
                                          'or reliable (no array lost when replaying); empty = params_file '
                                          '(best_effort).'),
        DeclareLaunchArgument('autostart', default_value='',
                              description='false: wait for lifecycle transitions; empty = params_file (true).'),
        DeclareLaunchArgument('image', default_value=topics.IMAGE, description='Input image topic (raw).'),
        DeclareLaunchArgument('detections', default_value=topics.DETECTIONS,
                              description='Input detections topic: vision_msgs/Detection2DArray or '
                                          'yolo_msgs/DetectionArray.'),
        DeclareLaunchArgument('keypoints', default_value=topics.KEYPOINTS,
                              description='Output mipnet_ros/PersonKeypointsArray topic.'),
        DeclareLaunchArgument('log_level', default_value='info', description='Node log level.'),
        DeclareLaunchArgument('pose_node', default_value='true',
                              description='false: start only the nodes downstream of mipnet_node (its keypoints '
                                          'come from elsewhere, e.g. mipnet_multi_node serving several cameras).'),
        DeclareLaunchArgument('tracker', default_value='false',
                              description='true: also start mipnet_tracker on the keypoints (track ids).'),
        DeclareLaunchArgument('tracker_name', default_value='mipnet_tracker', description='Tracker node name.'),
        DeclareLaunchArgument('tracker_params_file', default_value=os.path.join(share, 'config', 'tracker.yaml'),
                              description='YAML parameter file of mipnet_tracker.'),
        DeclareLaunchArgument('tracked_keypoints', default_value=topics.TRACKED_KEYPOINTS,
                              description='Output topic of mipnet_tracker (keypoints with track ids).'),
        OpaqueFunction(function=_node),
        # 3D keypoints from aligned depth and/or ROS4HRI bodies: mipnet_keypoints3d (launch/keypoints3d.launch.py)
        DeclareLaunchArgument('depth', default_value='false',
                              description='true: also start mipnet_keypoints3d for 3D keypoints from aligned depth.'),
        DeclareLaunchArgument('hri', default_value='false',
                              description='true: also publish ROS4HRI bodies (/humans/bodies/...) from '
                                          'mipnet_keypoints3d.'),
        DeclareLaunchArgument('depth_image', default_value=topics.DEPTH_IMAGE,
                              description='Depth image aligned to the colour image (16UC1 mm or 32FC1 m).'),
        DeclareLaunchArgument('camera_info', default_value=topics.CAMERA_INFO,
                              description='CameraInfo of the aligned depth image.'),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'keypoints3d.launch.py')),
            launch_arguments={'namespace': LaunchConfiguration('namespace'), 'depth': LaunchConfiguration('depth'),
                              'hri': LaunchConfiguration('hri'),
                              # with the tracker, 3D keypoints and ROS4HRI bodies follow the tracked people
                              'keypoints': PythonExpression(
                                  ["'", LaunchConfiguration('tracked_keypoints'), "' if "]
                                  + true_expression(LaunchConfiguration('tracker'))
                                  + [" else '", LaunchConfiguration('keypoints'), "'"]),
                              'depth_image': LaunchConfiguration('depth_image'),
                              'camera_info': LaunchConfiguration('camera_info'),
                              'image': LaunchConfiguration('image'),
                              'depth_reliability': LaunchConfiguration('image_reliability'),
                              'log_level': LaunchConfiguration('log_level')}.items(),
            condition=IfCondition(PythonExpression(true_expression(LaunchConfiguration('depth'),
                                                                   LaunchConfiguration('hri'))))),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='true: also start rviz2 with the layout for this launch (rviz/mipnet.rviz, '
                                          'or rviz/mipnet_3d.rviz with depth), its topics in this namespace.'),
        DeclareLaunchArgument('rviz_config', default_value='',
                              description='RViz layout to start from instead (its default-namespace topics are '
                                          'rewritten for this launch).'),
        DeclareLaunchArgument('rviz_log_level', default_value='info', description='rviz2 log level.'),
        OpaqueFunction(function=_rviz),
    ])
