"""Memory and CPU time of N cameras in one shared-model process against N single-camera processes; JSON.

    python -m mipnet_ros.tools.multi_camera_bench --json docs/results/multi_camera.json

Both layouts are started by multi_camera.launch.py from the same cameras file (shared_model true / false)
and get the same input (reliable QoS: a lost message would stall the lockstep): every step publishes one
640x480 frame with `--people` person boxes on each camera at once, and waits until every camera answered
it (so both do exactly the same frames, none dropped).
Measured on the launched node processes (not the launch itself), from /proc: resident memory after the
frames (VmRSS) and its peak (VmHWM), summed; CPU time (user + system, all threads) spent during the frames.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from mipnet_ros.core.fileio import emit_json
from mipnet_ros.tools.node_memory import image_msg, random_boxes_msg
from mipnet_ros.tools.proc import child_pids, memory_mb

STARTUP_SEC = 300.0
FRAME_SEC = 60.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all its threads) in seconds."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def node_pids(launch_pid: int) -> List[int]:
    """The node processes under a `ros2 launch` (its children and theirs)."""
    out, todo = [], child_pids(launch_pid)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(child_pids(pid))
    return sorted(out)


class Feeder:
    """Publishes each camera's frames and waits for each camera's keypoints."""

    def __init__(self, domain: int, namespaces: List[str]):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        from mipnet_ros.msg import PersonKeypointsArray
        from mipnet_ros.ros.params import qos_profile
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node('multi_camera_bench', context=self.ctx)
        self.cond = threading.Condition()
        self.latest: Dict[str, int] = {ns: -1 for ns in namespaces}
        self.people: Dict[str, int] = {ns: 0 for ns in namespaces}
        self.pubs = {}
        for ns in namespaces:
            self.pubs[ns] = (self.node.create_publisher(Image, f'{ns}/image', qos_profile('reliable', 5)),
                             self.node.create_publisher(Detection2DArray, f'{ns}/detections',
                                                        qos_profile('reliable', 5)))
            self.node.create_subscription(PersonKeypointsArray, f'{ns}/keypoints',
                                          lambda msg, ns=ns: self._on_kp(ns, msg), qos_profile('reliable', 10))
        from diagnostic_msgs.msg import DiagnosticArray
        self.diagnostics: Dict[str, Dict[str, str]] = {}
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_kp(self, ns: str, msg) -> None:
        from mipnet_ros.ros.convert import stamp_to_ns
        with self.cond:
            self.latest[ns] = stamp_to_ns(msg.header.stamp)
            self.people[ns] = len(msg.persons)
            self.cond.notify_all()

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            with self.cond:
                self.diagnostics[status.name] = {k: values.get(k, '') for k in (
                    'images_received', 'detection_arrays_received', 'frames_processed', 'unmatched_images',
                    'unmatched_detections', 'errors')}
                self.diagnostics[status.name]['message'] = status.message

    def report(self) -> str:
        with self.cond:
            return f'answered stamps {self.latest}; diagnostics {self.diagnostics}'

    def connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() for pair in self.pubs.values() for p in pair):
                return True
            time.sleep(0.1)
        return False

    def step(self, stamp_ns: int, frames: Dict[str, Any], timeout: float) -> bool:
        """Publish every camera's frame with `stamp_ns`; True once every camera answered it."""
        for ns, (image, dets) in frames.items():
            image.header.stamp.sec, image.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
            dets.header.stamp = image.header.stamp
            img_pub, det_pub = self.pubs[ns]
            img_pub.publish(image)
            det_pub.publish(dets)
        with self.cond:
            return self.cond.wait_for(lambda: all(v >= stamp_ns for v in self.latest.values()), timeout)

    def close(self) -> None:
        import rclpy
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def run_layout(shared: bool, cameras: int, people: int, frames: int, params: Path, tmp: Path,
               domain: int) -> Dict[str, Any]:
    import numpy as np
    import yaml

    from mipnet_ros.offline.launcher import NodeLauncher
    namespaces = [f'/cam{i}' for i in range(cameras)]
    cameras_file = tmp / f'cameras_{"shared" if shared else "separate"}.yaml'
    cameras_file.write_text(yaml.safe_dump({'shared_model': shared, 'defaults': {'params_file': str(params)},
                                            'cameras': [{'namespace': ns} for ns in namespaces]}))
    launcher = NodeLauncher({'cameras_file': str(cameras_file)}, env=dict(os.environ, ROS_DOMAIN_ID=str(domain)),
                            log_path=tmp / f'launch_{"shared" if shared else "separate"}.log',
                            launch_file='multi_camera.launch.py').start()
    feeder = Feeder(domain, namespaces)
    rng = np.random.default_rng(0)
    inputs = {}
    for i, ns in enumerate(namespaces):
        data = rng.integers(0, 255, 480 * 640 * 3, dtype=np.uint8).tobytes()
        inputs[ns] = (image_msg(0, 480, 640, data), random_boxes_msg(0, people, 480, 640, seed=i))
    out: Dict[str, Any] = {'layout': 'one process, shared model' if shared else 'one process per camera'}
    try:
        if not feeder.connected(STARTUP_SEC):
            raise RuntimeError('the cameras did not subscribe:\n' + launcher.log_text()[-3000:])
        stamp = 10**12
        for _ in range(2):                           # warm: first frames allocate
            stamp += 10**8
            if not feeder.step(stamp, inputs, FRAME_SEC):
                raise RuntimeError(f'no answer to the warm-up frames: {feeder.report()}\n' +
                                   launcher.log_text()[-3000:])
        pids = node_pids(launcher.proc.pid)
        cpu0 = sum(cpu_seconds(p) for p in pids)
        t0 = time.monotonic()
        for _ in range(frames):
            stamp += 10**8
            if not feeder.step(stamp, inputs, FRAME_SEC):
                raise RuntimeError(f'a frame was not answered: {feeder.report()}\n' + launcher.log_text()[-3000:])
        wall = time.monotonic() - t0
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        mem = [memory_mb(p) for p in pids]
        out.update({'processes': len(pids), 'rss_mb': round(sum(m[0] for m in mem), 1),
                    'peak_rss_mb': round(sum(m[1] for m in mem), 1),
                    'rss_mb_per_process': [round(m[0], 1) for m in mem],
                    'cpu_s': round(cpu, 2), 'cpu_ms_per_camera_frame': round(cpu / (frames * cameras) * 1e3, 1),
                    'wall_s': round(wall, 2), 'wall_ms_per_step': round(wall / frames * 1e3, 1),
                    'people_last_frame': dict(feeder.people)})
    finally:
        feeder.close()
        launcher.stop()
    import re
    batching = re.search(r'shared model: (\d+) frames in (\d+) network runs \(up to (\d+) cameras', launcher.log_text())
    if batching:      # counted over the process's life: warm-up inferences and warm-up frames included
        frames_in, runs, largest = (int(v) for v in batching.groups())
        out['batching'] = {'frames': frames_in, 'network_runs': runs, 'most_cameras_per_run': largest}
    return out


def measure(cameras: int = 4, people: int = 5, frames: int = 20, model: str = '', device: str = 'cpu',
            out_dir: Optional[Path] = None) -> Dict[str, Any]:
    from mipnet_ros.offline.launcher import domain_id_for, write_params_file
    tmp = Path(out_dir or tempfile.mkdtemp(prefix='multi-camera-bench-'))
    tmp.mkdir(parents=True, exist_ok=True)
    overrides = {'device': device, 'warmup': True, 'instance_threshold': 0.0, 'frame_budget_sec': 0.0,
                 'qos.image.reliability': 'reliable', 'qos.detections.reliability': 'reliable',
                 'publish_annotated': False, 'publish_markers': False}
    if model:
        overrides['model'] = model
    params = write_params_file(tmp / 'params.yaml', overrides)
    result: Dict[str, Any] = {
        'what': f'{cameras} cameras x {people} people, {frames} frames per camera published together, each '
                'answered before the next; node processes only (not ros2 launch)',
        'cameras': cameras, 'people': people, 'frames': frames, 'model': model or 'bundled', 'device': device,
        'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(), 'python': platform.python_version()}}
    for shared in (True, False):
        key = 'shared' if shared else 'separate'
        result[key] = run_layout(shared, cameras, people, frames, params, tmp, domain_id_for(f'mcb-{key}'))
    s, p = result['shared'], result['separate']
    result['shared_over_separate'] = {'rss': round(s['rss_mb'] / p['rss_mb'], 3),
                                      'peak_rss': round(s['peak_rss_mb'] / p['peak_rss_mb'], 3),
                                      'cpu': round(s['cpu_s'] / p['cpu_s'], 3) if p['cpu_s'] else None}
    return result


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m mipnet_ros.tools.multi_camera_bench',
                                 description=__doc__.splitlines()[0])
    ap.add_argument('--cameras', type=int, default=4)
    ap.add_argument('--people', type=int, default=5, help='person boxes per frame and camera')
    ap.add_argument('--frames', type=int, default=20, help='measured frames per camera (after 2 warm-up frames)')
    ap.add_argument('--model', default='', help='model file or zoo name; default: the bundled model')
    ap.add_argument('--device', default='cpu', help='cpu, cuda:0, auto ... (the node parameter)')
    ap.add_argument('--json', default='', help='write the figures here')
    args = ap.parse_args(argv)
    result = measure(args.cameras, args.people, args.frames, args.model, args.device)
    emit_json(result, args.json)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
