"""mipnet_multi_node: the mipnet_node pipelines of several cameras in one process, sharing one model.

    ros2 run mipnet_ros mipnet_multi_node --cameras-file config/cameras.yaml [--gather-sec 0]
    (or: ros2 launch mipnet_ros multi_camera.launch.py shared_model:=true)

Every camera of the cameras file gets a full mipnet_node (the same class: pairing, worker thread, frame
budget, topics, headers and /diagnostics, in the camera's namespace), except that the estimator is one
SharedEstimator: one copy of the weights in memory, and the boxes of the cameras whose frames are ready
go through the network together. The model settings (model, arch, backend, device, allow_download,
params_file) must be the same for every camera; each camera's own settings are its topics, use_compressed,
image_reliability, detections_reliability and detections_type. Why one process: docs/multi_camera.md.
"""
from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from mipnet_ros.ros import topics
from mipnet_ros.ros.cameras import Camera, load_cameras
from mipnet_ros.ros.failures import ParameterError
from mipnet_ros.ros.launch_args import pose_node_overrides
from mipnet_ros.ros.shared_estimator import SharedEstimator

PROCESS_NAME = 'mipnet_multi_node'
STOP_DEADLINE_SEC = 2.0
# camera-file keys (mipnet.launch.py arguments, launch_args.POSE_NODE_ARGS) that choose the shared model:
# one value for all cameras
MODEL_KEYS = ('model', 'arch', 'backend', 'device', 'allow_download')
# camera-file keys that stay per camera
CAMERA_KEYS = ('use_compressed', 'image_reliability', 'detections_reliability', 'detections_type', 'autostart')
# keys for the nodes downstream of the pose node (the launch starts those per camera) or the launch itself
DOWNSTREAM_KEYS = ('tracker', 'tracker_name', 'tracker_params_file', 'tracked_keypoints', 'depth', 'hri',
                   'depth_image', 'camera_info', 'keypoints3d_node_name', 'keypoints3d_params_file',
                   'keypoints_3d', 'keypoints_3d_markers', 'rviz', 'rviz_config', 'rviz_log_level', 'log_level')


@dataclass
class CameraPlan:
    """How one camera's pipeline is built inside the shared process."""
    namespace: str
    node_name: str
    remaps: List[Tuple[str, str]]
    overrides: Dict[str, Any] = field(default_factory=dict)


def plan_cameras(cameras: Sequence[Camera]) -> Tuple[str, Dict[str, Any], List[CameraPlan]]:
    """(params_file, model overrides, per-camera plans); ValueError naming the key a camera cannot set."""
    shared: Dict[str, str] = {}
    plans = []
    for cam in cameras:
        args = cam.launch_args
        for key in ('params_file',) + MODEL_KEYS:
            value = args.get(key, '').strip()
            if key in shared and shared[key] != value:
                raise ValueError(f'camera {cam.namespace}: {key} {value!r} differs from {shared[key]!r} of the '
                                 'cameras before it; one process serves one model: set it in defaults')
            shared[key] = value
        unknown = sorted(set(args) - set(CAMERA_KEYS) - set(MODEL_KEYS) - set(DOWNSTREAM_KEYS)
                         - {'namespace', 'image', 'detections', 'keypoints', 'node_name', 'params_file'})
        if unknown:
            raise ValueError(f"camera {cam.namespace}: {', '.join(unknown)} cannot be set per camera in one "
                             'shared process (use separate processes: shared_model false)')
        image = args['image']
        remaps = [(topics.IMAGE, image), (topics.IMAGE_COMPRESSED, image.rstrip('/') + '/compressed'),
                  (topics.DETECTIONS, args['detections']),
                  (topics.KEYPOINTS, args.get('keypoints') or f'{cam.namespace}/{topics.KEYPOINTS}')]
        overrides = pose_node_overrides(args, CAMERA_KEYS)
        plans.append(CameraPlan(cam.namespace, args.get('node_name') or topics.POSE_NODE, remaps, overrides))
    model = pose_node_overrides(shared, MODEL_KEYS)
    return shared.get('params_file', ''), model, plans


class SharedModel:
    """The one estimator of the process: built by the first camera that configures, reused by the others."""

    def __init__(self, gather_sec: float = 0.0):
        self.gather_sec = gather_sec
        self.shared: Optional[SharedEstimator] = None
        self._key: Optional[tuple] = None
        self._lock = threading.Lock()

    @staticmethod
    def key(p: Any) -> tuple:
        """The parameters an estimator is built from (all but topics, QoS and live ones)."""
        from mipnet_ros.ros.pose_params import SPECS
        return tuple((s.name, getattr(p, s.attr)) for s in SPECS
                     if not s.live and not s.name.startswith('qos.')
                     and s.name not in ('image_transport', 'detections_type', 'autostart', 'cache_size',
                                        'cache_max_mb', 'stamp_slop_sec', 'exit_with_parent', 'warmup'))

    def get(self, p: Any, build: Callable[[], Any]) -> SharedEstimator:
        with self._lock:
            key = self.key(p)
            if self.shared is None:
                self.shared = SharedEstimator(build(), self.gather_sec)
                self._key = key
            elif key != self._key:
                differs = [name for (name, a), (_, b) in zip(key, self._key) if a != b]
                raise ParameterError(differs[0], f"{', '.join(differs)} differ from the model this process already "
                                                 'serves; every camera of a shared process uses the same model')
            return self.shared


def camera_node_class():
    """MipnetNode whose estimator comes from the process's SharedModel (imported late: rclpy)."""
    from mipnet_ros.ros.pose_node import MipnetNode

    class CameraPipeline(MipnetNode):
        def __init__(self, model: SharedModel, node_name: str, **kwargs):
            self._shared_model = model
            super().__init__(node_name, **kwargs)

        def _build_estimator(self, p):
            return self._shared_model.get(p, lambda: MipnetNode._build_estimator(self, p))

    return CameraPipeline


def build_nodes(plans: Sequence[CameraPlan], params_file: str, model_overrides: Dict[str, Any],
                shared: SharedModel, context=None) -> List[Any]:
    from rclpy.parameter import Parameter
    cls = camera_node_class()
    nodes = []
    for plan in plans:
        cli = ['--ros-args'] + (['--params-file', params_file] if params_file else [])
        for src, dst in plan.remaps:
            cli += ['-r', f'{src}:={dst}']
        values = {**model_overrides, **plan.overrides}
        nodes.append(cls(shared, plan.node_name, namespace=plan.namespace, context=context, cli_args=cli,
                         parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]))
    return nodes


def main(args: Optional[List[str]] = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.signals import SignalHandlerOptions
    from rclpy.utilities import remove_ros_args

    from mipnet_ros.ros.ros_init import START_FAILED_EXIT, init_ros
    from mipnet_ros.ros.shutdown import StopRequest, flush_and_exit
    argv = list(sys.argv if args is None else args)
    ap = argparse.ArgumentParser(prog=PROCESS_NAME, description=__doc__.split('\n\n')[0])
    ap.add_argument('--cameras-file', required=True, help='the cameras YAML of multi_camera.launch.py')
    ap.add_argument('--gather-sec', type=float, default=0.0,
                    help='how long the first camera of a batch waits for the others (default: 0, run at once)')
    opts = ap.parse_args(remove_ros_args(argv)[1:])
    try:
        params_file, model, plans = plan_cameras(load_cameras(opts.cameras_file))
    except (OSError, ValueError) as exc:
        print(f'[ERROR] [{PROCESS_NAME}]: {opts.cameras_file}: {exc}', file=sys.stderr, flush=True)
        return START_FAILED_EXIT
    if not init_ros(PROCESS_NAME, argv, [params_file], signal_handler_options=SignalHandlerOptions.NO):
        return START_FAILED_EXIT

    def out_of_time() -> None:
        rclpy.logging.get_logger(PROCESS_NAME).warning('teardown not done in time: exiting now')
        flush_and_exit(0)
    stop = StopRequest(STOP_DEADLINE_SEC, out_of_time)
    stop.install_signal_handlers()
    shared = SharedModel(opts.gather_sec)
    nodes = build_nodes(plans, params_file, model, shared)
    if all(getattr(n.params, 'exit_with_parent', True) for n in nodes):
        stop.watch_parent()
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        for node in nodes:
            if node.params.autostart and not stop.requested:
                if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                    node.trigger_activate()
                else:
                    node.get_logger().warning('autostart: configure failed (see the error above); the node waits '
                                              'for the lifecycle configure transition')
        while not stop.requested and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    for node in nodes:
        node.stop_processing()
    log = rclpy.logging.get_logger(PROCESS_NAME)
    if shared.shared is not None:
        s = shared.shared.stats
        log.info(f'shared model: {s.calls} frames in {s.runs} network runs (up to {s.largest_run_calls} cameras '
                 f'per run, {s.boxes} boxes)')
    for step in [executor.shutdown] + [n.destroy_node for n in nodes] + [rclpy.try_shutdown]:
        try:
            step()
        except Exception:  # noqa: BLE001 - teardown goes on; the process is ending anyway
            pass
    stop.ignore_signals()
    stop.finished()
    flush_and_exit(0)
    return 0


if __name__ == '__main__':
    sys.exit(main())
