"""Start the mipnet pipeline for every camera of a YAML file (one node per camera, each in its namespace).

    ros2 launch mipnet_ros multi_camera.launch.py cameras_file:=my_cameras.yaml [rviz:=true]

Each camera is an include of mipnet.launch.py in a group of its own: it sees its own entries and the
file's `defaults`, every other argument takes mipnet.launch.py's default (nothing leaks from one camera
into the next). A key that mipnet.launch.py does not declare, or `hri` on more than one camera, stops
the launch with one error line. `rviz` (here, or per camera in the file) is that camera's rviz argument.
With rviz_dir set an RViz layout per camera is also written there (rviz/mipnet.rviz, its topics under
the camera's namespace).
"""
import os
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from mipnet_ros.ros.cameras import load_cameras, rviz_config_for


def _declared(context, source) -> set:
    """The argument names a launch file declares (its includes' too)."""
    return {a.name for a in source.get_launch_description(context).get_launch_arguments()}


def _pipelines(context):
    share = get_package_share_directory('mipnet_ros')
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    cameras = load_cameras(get('cameras_file'))
    source = PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'mipnet.launch.py'))
    declared = _declared(context, source)
    # before mipnet.launch.py has an rviz argument, rviz2 is started here per camera
    rviz_here = 'rviz' not in declared
    rviz_dir = get('rviz_dir')
    template = open(os.path.join(share, 'rviz', 'mipnet.rviz')).read() if rviz_dir or rviz_here else ''
    actions, tmp = [], ''
    for cam in cameras:
        args = dict(cam.launch_args)
        args.setdefault('rviz', get('rviz'))
        unknown = sorted(set(args) - declared - {'rviz'})
        if unknown:
            raise ValueError(f"camera {cam.namespace}: {', '.join(unknown)} is not an argument of mipnet.launch.py "
                             '(ros2 launch mipnet_ros mipnet.launch.py --show-args lists them)')
        start_rviz = args['rviz'].strip().lower() in ('1', 'true', 'yes')
        if rviz_here:
            args.pop('rviz')
        # scoped, not forwarding: the include sees exactly `args`; the rest are mipnet.launch.py's defaults
        actions.append(GroupAction(
            [IncludeLaunchDescription(source, launch_arguments=list(args.items()))],
            scoped=True, forwarding=False, launch_configurations=args))
        path = ''
        if rviz_dir or (rviz_here and start_rviz):
            tmp = tmp or (tempfile.mkdtemp(prefix='mipnet_rviz_') if not rviz_dir else '')
            folder = rviz_dir or tmp
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, cam.namespace.strip('/').replace('/', '_') + '.rviz')
            with open(path, 'w') as f:
                f.write(rviz_config_for(template, cam, cam.launch_args.get('node_name', 'mipnet_node')))
        if rviz_here and start_rviz:
            actions.append(Node(package='rviz2', executable='rviz2', namespace=cam.namespace,
                                arguments=['-d', path], output='screen'))
    return actions


def generate_launch_description():
    share = get_package_share_directory('mipnet_ros')
    return LaunchDescription([
        DeclareLaunchArgument('cameras_file', default_value=os.path.join(share, 'config', 'cameras.yaml'),
                              description='YAML list of cameras: namespace, image, detections, launch arguments.'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description="true: every camera's rviz argument (rviz2 with a layout for its "
                                          "namespace) unless the camera sets rviz itself."),
        DeclareLaunchArgument('rviz_dir', default_value='',
                              description='Folder where a per-camera RViz layout is written; empty = none.'),
        OpaqueFunction(function=_pipelines),
    ])
