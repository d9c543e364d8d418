"""Start mipnet_keypoints3d: 2D keypoints + aligned depth + CameraInfo -> 3D keypoints (and ROS4HRI bodies).

    ros2 launch mipnet_ros keypoints3d.launch.py depth_image:=/camera/aligned_depth_to_color/image_raw \
        camera_info:=/camera/aligned_depth_to_color/camera_info [hri:=true]

mipnet.launch.py includes this file for depth:=true or hri:=true. Topics are remaps; parameters come
from params_file (config/keypoints3d.yaml), `depth` and `hri` override publish_3d and hri.enabled.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from mipnet_ros.ros import topics
from mipnet_ros.ros.launch_args import is_true


def _node(context):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = {'publish_3d': is_true(get('depth')), 'hri.enabled': is_true(get('hri'))}
    if get('depth_reliability').strip():
        overrides['qos.depth.reliability'] = get('depth_reliability').strip()
    remaps = [(topics.KEYPOINTS, get('keypoints')), (topics.DEPTH_IMAGE, get('depth_image')),
              (topics.CAMERA_INFO, get('camera_info')), (topics.KEYPOINTS_3D, get('keypoints_3d')),
              (topics.MARKERS_3D, get('keypoints_3d_markers')), (topics.IMAGE, get('image'))]
    return [Node(package='mipnet_ros', executable='mipnet_keypoints3d', name=get('keypoints3d_node_name'),
                 namespace=get('namespace'), parameters=[get('keypoints3d_params_file'), overrides],
                 remappings=remaps, output='screen', arguments=['--ros-args', '--log-level', get('log_level')])]


def generate_launch_description():
    share = get_package_share_directory('mipnet_ros')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='', description='Namespace of the node and its topics.'),
        DeclareLaunchArgument('keypoints3d_node_name', default_value='mipnet_keypoints3d', description='Node name.'),
        DeclareLaunchArgument('keypoints3d_params_file',
                              default_value=os.path.join(share, 'config', 'keypoints3d.yaml'),
                              description='YAML parameter file of mipnet_keypoints3d.'),
        DeclareLaunchArgument('depth', default_value='true',
                              description='true: publish 3D keypoints from depth_image + camera_info.'),
        DeclareLaunchArgument('hri', default_value='false',
                              description='true: publish ROS4HRI bodies (/humans/bodies/...) from tracked keypoints.'),
        DeclareLaunchArgument('keypoints', default_value=topics.KEYPOINTS,
                              description='Input mipnet_ros/PersonKeypointsArray topic (tracked for hri).'),
        DeclareLaunchArgument('image', default_value=topics.IMAGE,
                              description='Input camera image (raw) that ROS4HRI /cropped is cut from (hri:=true).'),
        DeclareLaunchArgument('depth_image', default_value=topics.DEPTH_IMAGE,
                              description='Input depth image aligned to the colour image (16UC1 mm or 32FC1 m).'),
        DeclareLaunchArgument('camera_info', default_value=topics.CAMERA_INFO,
                              description='Input sensor_msgs/CameraInfo of the aligned depth image.'),
        DeclareLaunchArgument('keypoints_3d', default_value=topics.KEYPOINTS_3D,
                              description='Output mipnet_ros/PersonKeypoints3DArray topic.'),
        DeclareLaunchArgument('keypoints_3d_markers', default_value=topics.MARKERS_3D,
                              description='Output 3D skeleton MarkerArray topic.'),
        DeclareLaunchArgument('depth_reliability', default_value='',
                              description='Depth/CameraInfo subscription QoS: best_effort or reliable; empty = '
                                          'params file (best_effort).'),
        DeclareLaunchArgument('log_level', default_value='info', description='Node log level.'),
        OpaqueFunction(function=_node),
    ])
