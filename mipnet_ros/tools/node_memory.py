"""Memory and stop time of a launched mipnet_node under hostile input; writes JSON.

    python -m mipnet_ros.tools.node_memory --json out/node_memory.json

The node runs under `ros2 launch` (its own process, so /proc/<pid>/status is the node's alone) and
gets one 640x480 frame with `--boxes` person boxes, then a flood of 4000x3000 bgr8 images with no
detections; its resident and peak memory are read after each, then it is stopped with SIGINT.
"""
from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from mipnet_ros.core.fileio import emit_json
from mipnet_ros.tools.proc import child_pids, memory_mb


def wait_gone(pid: int, timeout: float) -> Optional[float]:
    """Seconds until `pid` has exited (or is a zombie), None if it still runs after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with open(f'/proc/{pid}/stat') as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return time.monotonic() - t0
        except OSError:
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


class Driver:
    """Publishes images and detections into the node's domain; counts keypoints and reads diagnostics."""

    def __init__(self, domain: int):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        from mipnet_ros.msg import PersonKeypointsArray
        from mipnet_ros.ros.params import qos_profile
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node('node_memory_driver', context=self.ctx)
        self.img = self.node.create_publisher(Image, '/image', qos_profile('reliable', 5))
        self.det = self.node.create_publisher(Detection2DArray, '/detections', qos_profile('reliable', 10))
        self.cond = threading.Condition()
        self.keypoints: List[Any] = []
        self.diagnostics: Dict[str, str] = {}
        self.node.create_subscription(PersonKeypointsArray, '/keypoints', self._on_kp, qos_profile('reliable', 10))
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _on_kp(self, msg) -> None:
        with self.cond:
            self.keypoints.append(msg)
            self.cond.notify_all()

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if 'pose estimation' in status.name:
                with self.cond:
                    self.diagnostics = {kv.key: kv.value for kv in status.values}
                    self.cond.notify_all()

    def wait(self, predicate, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout=timeout)

    def connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.img.get_subscription_count() and self.det.get_subscription_count():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        import rclpy
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def image_msg(stamp_ns: int, height: int, width: int, data: bytes):
    from sensor_msgs.msg import Image
    msg = Image(height=height, width=width, encoding='bgr8', step=width * 3)
    msg.data = data
    set_stamp(msg, stamp_ns)
    return msg


def set_stamp(msg, stamp_ns: int) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
    msg.header.frame_id = 'cam'


def random_boxes_msg(stamp_ns: int, n: int, height: int, width: int, seed: int = 0):
    """n person detections of random size and place (many overlap: OKS-NMS has work to do)."""
    import numpy as np
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    rng = np.random.default_rng(seed)
    arr = Detection2DArray()
    set_stamp(arr, stamp_ns)
    for i in range(n):
        w, h = rng.uniform(30, 200), rng.uniform(60, 400)
        d = Detection2D(id=str(i))
        d.bbox.center.position.x, d.bbox.center.position.y = rng.uniform(w / 2, width - w / 2), \
            rng.uniform(h / 2, height - h / 2)
        d.bbox.size_x, d.bbox.size_y = float(w), float(h)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = 'person', float(rng.uniform(0.3, 1.0))
        d.results.append(hyp)
        arr.detections.append(d)
    return arr


def measure(model: str, boxes: int = 1000, flood: int = 60, flood_size: Tuple[int, int] = (3000, 4000),
            cache_max_mb: int = 256, frame_budget_sec: float = 0.0, domain: Optional[int] = None,
            log_dir: Optional[Path] = None, timeout: float = 600.0) -> Dict[str, Any]:
    import numpy as np

    from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file
    tmp = Path(log_dir or tempfile.mkdtemp(prefix='node-memory-'))
    domain = domain_id_for('node_memory') if domain is None else domain
    params = write_params_file(tmp / 'params.yaml', {
        'model': model, 'warmup': frame_budget_sec > 0, 'max_boxes': max(boxes, 1),
        'frame_budget_sec': float(frame_budget_sec), 'cache_max_mb': int(cache_max_mb),
        'qos.image.reliability': 'reliable', 'instance_threshold': 0.0})
    launcher = NodeLauncher({'params_file': str(params)}, env=dict(os.environ, ROS_DOMAIN_ID=str(domain)),
                            log_path=tmp / 'launch.log').start()
    driver = Driver(domain)
    out: Dict[str, Any] = {'model': model, 'boxes': boxes, 'flood_images': flood, 'flood_size': list(flood_size),
                           'cache_max_mb': cache_max_mb, 'frame_budget_sec': frame_budget_sec}
    try:
        deadline = time.monotonic() + 120
        while 'active: waiting' not in launcher.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        kids = child_pids(launcher.proc.pid)
        if not kids or not driver.connected(30):
            raise RuntimeError('the node did not start:\n' + launcher.log_text()[-3000:])
        pid = kids[0]
        out['rss_start_mb'], _ = memory_mb(pid)

        stamp = time.time_ns()
        data = np.random.default_rng(1).integers(0, 255, 480 * 640 * 3, dtype=np.uint8).tobytes()
        t0 = time.monotonic()
        driver.img.publish(image_msg(stamp, 480, 640, data))
        driver.det.publish(random_boxes_msg(stamp, boxes, 480, 640))
        if not driver.wait(lambda: len(driver.keypoints) >= 1, timeout):
            raise RuntimeError(f'no keypoints for the {boxes}-box frame within {timeout:.0f} s')
        out['boxes_frame_sec'] = time.monotonic() - t0
        out['boxes_people'] = len(driver.keypoints[-1].persons)
        out['rss_after_boxes_mb'], out['peak_after_boxes_mb'] = memory_mb(pid)

        h, w = flood_size
        big = image_msg(0, h, w, bytes(h * w * 3))
        t0 = time.monotonic()
        for i in range(flood):
            set_stamp(big, time.time_ns())
            driver.img.publish(big)
            time.sleep(0.05)
        want = flood + 1
        driver.wait(lambda: int(driver.diagnostics.get('images_received', 0)) >= want, 60)
        out['flood_sec'] = time.monotonic() - t0
        out['flood_images_received'] = int(driver.diagnostics.get('images_received', 0)) - 1
        out['boxes_cut'] = int(driver.diagnostics.get('boxes_cut', 0))
        out['rss_after_flood_mb'], out['peak_mb'] = memory_mb(pid)

        os.kill(pid, signal.SIGINT)
        out['stop_sec'] = wait_gone(pid, 30)
    finally:
        driver.close()
        out['launch_exit'] = launcher.stop()
    log = launcher.log_text()
    out['node_finished_cleanly'] = 'finished cleanly' in log
    out['log_errors'] = [line for line in log.splitlines() if 'ERROR' in line or 'Traceback' in line]
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m mipnet_ros.tools.node_memory', description=__doc__.splitlines()[0])
    ap.add_argument('--model', default='', help='model file; default: the bundled model, else an untrained one')
    ap.add_argument('--boxes', type=int, default=1000, help='person boxes in the one big frame')
    ap.add_argument('--flood', type=int, default=60, help='4000x3000 images without detections')
    ap.add_argument('--cache-max-mb', type=int, default=256)
    ap.add_argument('--frame-budget-sec', type=float, default=0.0, help='0: run every box (measures the worst case)')
    ap.add_argument('--json', default='', help='write the figures here')
    args = ap.parse_args(argv)
    from mipnet_ros.core.resources import bundled_model_path
    model = args.model or str(bundled_model_path())
    result = measure(model, args.boxes, args.flood, cache_max_mb=args.cache_max_mb,
                     frame_budget_sec=args.frame_budget_sec)
    emit_json(result, args.json)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
