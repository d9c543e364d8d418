"""Start the mipnet pipeline for every camera of a YAML file (one node per camera, each in its namespace).

    ros2 launch mipnet_ros multi_camera.launch.py cameras_file:=my_cameras.yaml [rviz:=true]

Each camera is an include of mipnet.launch.py with that camera's arguments (config/cameras.yaml
shows the format). With rviz_dir set (or rviz:=true) an RViz layout per camera is written there from
rviz/mipnet.rviz, its topics under the camera's namespace; rviz:=true also starts rviz2 with it.
"""
import os
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from mipnet_ros.ros.cameras import load_cameras, rviz_config_for
from mipnet_ros.ros.launch_args import is_true


def _pipelines(context):
    share = get_package_share_directory('mipnet_ros')
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    cameras = load_cameras(get('cameras_file'))
    start_rviz = is_true(get('rviz'))
    rviz_dir = get('rviz_dir') or (tempfile.mkdtemp(prefix='mipnet_rviz_') if start_rviz else '')
    template = open(os.path.join(share, 'rviz', 'mipnet.rviz')).read() if rviz_dir else ''
    actions = []
    for cam in cameras:
        actions.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'mipnet.launch.py')),
            launch_arguments=list(cam.launch_args.items())))
        if rviz_dir:
            os.makedirs(rviz_dir, exist_ok=True)
            path = os.path.join(rviz_dir, cam.namespace.strip('/').replace('/', '_') + '.rviz')
            with open(path, 'w') as f:
                f.write(rviz_config_for(template, cam, cam.launch_args.get('node_name', 'mipnet_node')))
            if start_rviz:
                actions.append(Node(package='rviz2', executable='rviz2', namespace=cam.namespace,
                                    arguments=['-d', path], output='screen'))
    return actions


def generate_launch_description():
    share = get_package_share_directory('mipnet_ros')
    return LaunchDescription([
        DeclareLaunchArgument('cameras_file', default_value=os.path.join(share, 'config', 'cameras.yaml'),
                              description='YAML list of cameras: namespace, image, detections, launch arguments.'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='true: start rviz2 per camera with a layout for its namespace.'),
        DeclareLaunchArgument('rviz_dir', default_value='',
                              description='Folder for the per-camera RViz layouts; empty = a temporary folder '
                                          'when rviz:=true, else none written.'),
        OpaqueFunction(function=_pipelines),
    ])
