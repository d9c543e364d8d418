"""Start mipnet_node.

    ros2 launch mipnet_ros mipnet.launch.py image:=/camera/image_raw detections:=/detector/detections

Every topic is a launch argument (a remap, so the node's own names stay 'image', 'detections',
'keypoints'). Parameters come from params_file; the handful you change most often can be given
here as well: an argument left empty keeps the params_file value, so the file stays the single
source of defaults.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from mipnet_ros.ros import topics

# launch argument -> (parameter, converter); empty argument = keep the params_file value
OVERRIDES = {
    'model': ('model', str),
    'arch': ('arch', str),
    'detections_type': ('detections_type', str),
    'backend': ('backend', str),
    'device': ('device', str),
    'autostart': ('autostart', lambda v: v.lower() in ('1', 'true', 'yes')),
    'use_compressed': ('image_transport', lambda v: 'compressed' if v.lower() in ('1', 'true', 'yes') else 'raw'),
    'image_reliability': ('qos.image.reliability', str),
}


def _node(context):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = {}
    for arg, (param, conv) in OVERRIDES.items():
        value = get(arg).strip()
        if value:
            overrides[param] = conv(value)
    image = get('image')
    remaps = [(topics.IMAGE, image), (topics.IMAGE_COMPRESSED, image.rstrip('/') + '/compressed'),
              (topics.DETECTIONS, get('detections')), (topics.KEYPOINTS, get('keypoints'))]
    return [Node(package='mipnet_ros', executable='mipnet_node', name=get('node_name'), namespace=get('namespace'),
                 parameters=[get('params_file'), overrides], remappings=remaps, output='screen',
                 arguments=['--ros-args', '--log-level', get('log_level')])]


def generate_launch_description():
    share = get_package_share_directory('mipnet_ros')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='', description='Namespace of the node and its topics.'),
        DeclareLaunchArgument('node_name', default_value='mipnet_node', description='Node name.'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'mipnet.yaml'),
                              description='YAML parameter file (ros__parameters under /**).'),
        DeclareLaunchArgument('model', default_value='',
                              description='Model file (.pth or .onnx); empty = params_file value (default: bundled).'),
        DeclareLaunchArgument('arch', default_value='',
                              description='Architecture of an official .pth (hrnet_w32, hrnet_w48 ...); empty = '
                                          'params_file (from the file).'),
        DeclareLaunchArgument('detections_type', default_value='',
                              description='auto, vision_msgs or yolo_msgs; empty = params_file (auto).'),
        DeclareLaunchArgument('backend', default_value='', description='torch or onnxruntime; empty = params_file.'),
        DeclareLaunchArgument('device', default_value='',
                              description='Torch device (cpu, cuda:0); empty = params_file.'),
        DeclareLaunchArgument('use_compressed', default_value='',
                              description='true: subscribe sensor_msgs/CompressedImage on <image>/compressed; '
                                          'empty = params_file (raw).'),
        DeclareLaunchArgument('image_reliability', default_value='',
                              description='Image subscription QoS: best_effort or reliable; empty = params_file '
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
        OpaqueFunction(function=_node),
    ])
