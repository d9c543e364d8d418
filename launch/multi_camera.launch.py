"""Start the mipnet pipeline for every camera of a YAML file (one node per camera, each in its namespace).

    ros2 launch mipnet_ros multi_camera.launch.py cameras_file:=my_cameras.yaml [rviz:=true]

Each camera is an include of mipnet.launch.py in a group of its own: it sees its own entries and the
file's `defaults`, every other argument takes mipnet.launch.py's default (nothing leaks from one camera
into the next). A key that mipnet.launch.py does not declare, or `hri` on more than one camera, stops
the launch with one error line. `rviz` (here, or per camera in the file) is that camera's rviz argument.
With rviz_dir set an RViz layout per camera is also written there (rviz/mipnet.rviz, its topics under
the camera's namespace). With shared_model (here or in the file) one mipnet_multi_node process runs the
pose pipelines of all cameras with one model; trackers, 3D and RViz still start per camera.
"""
import os
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from mipnet_ros.ros.cameras import load_cameras, load_shared_model, rviz_config_for
from mipnet_ros.ros.launch_args import is_true


def _declared(context, source) -> set:
    """The argument names a launch file declares (its includes' too)."""
    return {a.name for a in source.get_launch_description(context).get_launch_arguments()}


def _pipelines(context):
    share = get_package_share_directory('mipnet_ros')
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    cameras = load_cameras(get('cameras_file'))
    source = PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'mipnet.launch.py'))
    declared = _declared(context, source)
    shared = is_true(get('shared_model')) if get('shared_model').strip() else load_shared_model(get('cameras_file'))
    actions, tmp = [], ''
    if shared:
        from mipnet_ros.ros.multi_camera_node import plan_cameras
        plan_cameras(cameras)          # a camera setting one process cannot honour stops the launch here
        actions.append(Node(package='mipnet_ros', executable='mipnet_multi_node', output='screen',
                            arguments=['--cameras-file', get('cameras_file'), '--ros-args', '--log-level',
                                       get('log_level')]))
    # before mipnet.launch.py has an rviz argument, rviz2 is started here per camera
    rviz_here = 'rviz' not in declared
    rviz_dir = get('rviz_dir')
    template = open(os.path.join(share, 'rviz', 'mipnet.rviz')).read() if rviz_dir or rviz_here else ''
    for cam in cameras:
        args = dict(cam.launch_args)
        args.setdefault('rviz', get('rviz'))
        if shared:
            args['pose_node'] = 'false'    # mipnet_multi_node publishes its keypoints; the rest runs per camera
        unknown = sorted(set(args) - declared - {'rviz'})
        if unknown:
            raise ValueError(f"camera {cam.namespace}: {', '.join(unknown)} is not an argument of mipnet.launch.py "
                             '(ros2 launch mipnet_ros mipnet.launch.py --show-args lists them)')
        start_rviz = is_true(args['rviz'])
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
        DeclareLaunchArgument('shared_model', default_value='',
                              description='true: one mipnet_multi_node process serves every camera with one model '
                                          '(docs/multi_camera.md); false: one mipnet_node process per camera; '
                                          "empty = the cameras file's shared_model (false)."),
        DeclareLaunchArgument('log_level', default_value='info', description='Log level of mipnet_multi_node.'),
        DeclareLaunchArgument('rviz_dir', default_value='',
                              description='Folder where a per-camera RViz layout is written; empty = none.'),
        OpaqueFunction(function=_pipelines),
    ])
