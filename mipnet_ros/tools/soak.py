"""`python -m mipnet_ros soak`: many frames at the node's maximum rate; memory and latency over time.

  python -m mipnet_ros soak --frames 10000 --every 500 --json docs/results/soak.json

The node is started as in production (`ros2 launch mipnet_ros mipnet.launch.py`, a separate process) and fed
through DDS. By default the rate is lockstep: the next frame is published the moment the previous frame's
keypoints arrive, so the node is never idle and never has to drop (no answer within `--frame-timeout` counts
as dropped). `--rate HZ` publishes at a fixed rate instead, as a camera would, and the node's newest-frame
policy drops what it cannot keep up with. The exit code is non-zero when memory grew by `--max-growth-pct` or
more, lockstep frames were dropped, or the node died."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from mipnet_ros.core.stats import percentile_summary
from mipnet_ros.ros import topics
from mipnet_ros.ros.convert import stamp_to_ns
from mipnet_ros.tools.proc import child_pids, memory_mb

DEFAULT_JSON = Path('out') / 'soak.json'
NODE_EXECUTABLE = topics.POSE_NODE


# ---------------------------------------------------------------------------------------------
# helpers shared with the reliability tests
def device_label(device: str) -> str:
    """'cpu (N cores)' or the CUDA device name: what the figures were measured on."""
    if device.startswith('cuda'):
        try:
            import torch
            return f'{torch.cuda.get_device_name(torch.device(device))} ({device})'
        except Exception:  # noqa: BLE001 - the label is informative only
            return device
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return f'cpu ({cores} cores)'


def find_node_pid(root_pid: int, name: str = NODE_EXECUTABLE, timeout: float = 30.0) -> Optional[int]:
    """PID of the process below `root_pid` (e.g. `ros2 launch`) whose command line runs `name`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        todo, seen = [root_pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
            except OSError:
                cmd = ''
            if pid != root_pid and name in cmd and 'ros2 launch' not in cmd and ' launch ' not in cmd:
                return pid
            todo.extend(child_pids(pid))
        time.sleep(0.2)
    return None


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MiB (VmRSS), NaN when the process is gone."""
    try:
        return memory_mb(pid)[0]
    except (OSError, KeyError):
        return float('nan')


# ---------------------------------------------------------------------------------------------
class FrameSource:
    """A few fixed synthetic frames (image + person boxes) reused with new stamps.

    Reusing the message objects (only the stamp changes) keeps the publisher's own cost and
    allocations out of the measurement of the node.
    """

    def __init__(self, width: int, height: int, boxes: int, variants: int = 4, frame_id: str = 'camera'):
        import numpy as np
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
        rng = np.random.default_rng(0)
        self.images, self.detections = [], []
        for v in range(variants):
            img = Image(height=height, width=width, encoding='bgr8', is_bigendian=0, step=width * 3)
            img.header.frame_id = frame_id
            img.data = rng.integers(0, 256, size=height * width * 3, dtype=np.uint8).tobytes()
            arr = Detection2DArray()
            arr.header.frame_id = frame_id
            for b in range(boxes):
                bw, bh = width / (boxes + 1), height * 0.8
                det = Detection2D()
                det.id = f'p{b}'
                det.bbox.center.position.x = float(bw * (b + 0.5) + v)
                det.bbox.center.position.y = float(height / 2)
                det.bbox.size_x, det.bbox.size_y = float(bw * 1.2), float(bh)
                hyp = ObjectHypothesisWithPose()
                hyp.hypothesis.class_id, hyp.hypothesis.score = 'person', 0.9
                det.results.append(hyp)
                arr.detections.append(det)
            self.images.append(img)
            self.detections.append(arr)

    def frame(self, i: int, stamp_ns: int):
        img, dets = self.images[i % len(self.images)], self.detections[i % len(self.detections)]
        for h in (img.header, dets.header):
            h.stamp.sec, h.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
        for d in dets.detections:
            d.header = dets.header
        return img, dets


class SoakDriver:
    """Publishes frames to a running node and waits for / times its keypoints."""

    def __init__(self, namespace: str = '', domain_id: Optional[int] = None):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        from mipnet_ros.msg import PersonKeypointsArray
        from mipnet_ros.ros.params import qos_profile
        ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = rclpy.create_node('mipnet_soak', context=self.ctx)
        self.cond = threading.Condition()
        self.arrived: Dict[int, float] = {}
        self.keypoints_topic = f'{ns}/keypoints'
        self.node.create_subscription(PersonKeypointsArray, self.keypoints_topic, self._on_keypoints,
                                      qos_profile('reliable', 100))
        self.pub_img = self.node.create_publisher(Image, f'{ns}/image', qos_profile('reliable', 10))
        self.pub_det = self.node.create_publisher(Detection2DArray, f'{ns}/detections', qos_profile('reliable', 10))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()

    def _on_keypoints(self, msg) -> None:
        now = time.perf_counter()
        stamp = stamp_to_ns(msg.header.stamp)
        with self.cond:
            self.arrived.setdefault(stamp, now)
            self.cond.notify_all()

    def wait_for_node(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if (self.pub_img.get_subscription_count() > 0 and self.pub_det.get_subscription_count() > 0
                    and self.node.count_publishers(self.keypoints_topic) > 0):
                time.sleep(0.3)
                return True
            time.sleep(0.05)
        return False

    def send(self, img, dets) -> float:
        self.pub_img.publish(img)
        self.pub_det.publish(dets)
        return time.perf_counter()

    def wait(self, stamp: int, timeout: float) -> Optional[float]:
        with self.cond:
            self.cond.wait_for(lambda: stamp in self.arrived, timeout=timeout)
            return self.arrived.get(stamp)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        import rclpy
        rclpy.try_shutdown(context=self.ctx)


# ---------------------------------------------------------------------------------------------
def _bundled_or_none(lookup):
    try:
        return lookup()
    except FileNotFoundError:
        return None


def run_soak(args: argparse.Namespace) -> Dict:
    from mipnet_ros.core.model.untrained import write_untrained_checkpoint
    from mipnet_ros.core.resources import bundled_model_path
    from mipnet_ros.offline.launcher import NodeLauncher, write_params_file
    frames, every = int(args.frames), max(1, int(args.every))
    warmup = int(args.warmup_frames) if args.warmup_frames is not None else max(every, frames // 10)
    width, height = (int(v) for v in args.image_size.lower().split('x'))
    tmp = Path(tempfile.mkdtemp(prefix='mipnet_soak_'))
    model = args.model
    model_label = model
    found = None if model else _bundled_or_none(bundled_model_path)
    # Network input: as asked; else the model's own size (0 = model default), 128x96 for the random model.
    size = args.input_size or ('' if (model or found) else '128x96')
    in_h, in_w = (int(v) for v in size.lower().split('x')) if size else (0, 0)
    if not model:
        if found is not None:
            model, model_label = str(found), found.name
        else:
            # weights do not change memory behaviour, only the shapes do
            model = str(write_untrained_checkpoint(tmp / 'random_w16s_n2.pth', input_size=(in_h, in_w)))
            model_label = f'random-weight hrnet_w16s N=2 {in_h}x{in_w}'
    params = write_params_file(
        tmp / 'soak.yaml', {
            'input_height': in_h, 'input_width': in_w, 'max_boxes': max(1, int(args.boxes)),
            'qos.image.reliability': 'reliable', 'qos.image.depth': 10, 'warmup': True,
            'stale_frame_age_sec': 3600.0, 'publish_annotated': False, 'publish_markers': False})
    env = dict(os.environ)
    if args.domain_id is not None:
        env['ROS_DOMAIN_ID'] = str(args.domain_id)
    log_path = Path(args.node_log) if args.node_log else tmp / 'node.log'
    launcher = NodeLauncher({'model': model, 'backend': args.backend, 'device': args.device,
                             'namespace': args.namespace, 'params_file': str(params), 'log_level': 'warn'},
                            env=env, log_path=log_path)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    result: Dict = {}
    driver = None
    t_start = time.time()
    load_start = os.getloadavg()
    try:
        launcher.start()
        driver = SoakDriver(args.namespace, args.domain_id)
        if not driver.wait_for_node(args.wait_node):
            raise RuntimeError(f'the node did not come up within {args.wait_node:.0f} s; log:\n'
                               + launcher.log_text()[-3000:])
        pid = find_node_pid(launcher.proc.pid)
        if pid is None:
            raise RuntimeError('could not find the mipnet_node process below ros2 launch')
        source = FrameSource(width, height, int(args.boxes))
        stamp0 = 1_800_000_000 * 10**9
        latencies: List[float] = []
        window: List[float] = []
        rss, rss_frames, windows = [], [], []
        sent_at: Dict[int, float] = {}
        dropped = 0
        say(f'soak: {frames} frames, {width}x{height}, {args.boxes} boxes, model {model_label}, node pid {pid}, '
            f'RSS {rss_mb(pid):.1f} MB at start')
        period = 1.0 / args.rate if args.rate > 0 else 0.0
        t_loop = time.perf_counter()
        for i in range(frames):
            stamp = stamp0 + i * 33_333_333
            img, dets = source.frame(i, stamp)
            if period:
                delay = t_loop + i * period - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sent_at[stamp] = driver.send(img, dets)
            if not period:
                got = driver.wait(stamp, args.frame_timeout)
                if got is None:
                    dropped += 1
                else:
                    lat = (got - sent_at[stamp]) * 1e3
                    latencies.append(lat)
                    window.append(lat)
            if (i + 1) % every == 0:
                if period:  # free-running: collect what has arrived so far
                    window = [(driver.arrived[s] - t) * 1e3 for s, t in sent_at.items() if s in driver.arrived]
                rss.append(round(rss_mb(pid), 2))
                rss_frames.append(i + 1)
                windows.append(percentile_summary(window))
                w = windows[-1]
                say(f'  {i + 1:>6} frames  RSS {rss[-1]:8.1f} MB  latency p50 {w.get("p50", float("nan")):6.1f}'
                    f' p99 {w.get("p99", float("nan")):6.1f} ms  dropped {dropped}')
                if not period:
                    window = []
        if period:
            time.sleep(args.frame_timeout)
            answered = {s for s in sent_at if s in driver.arrived}
            dropped = len(sent_at) - len(answered)
            latencies = [(driver.arrived[s] - sent_at[s]) * 1e3 for s in answered]
        loop_s = time.perf_counter() - t_loop
        alive = launcher.alive()
        duration = time.time() - t_start
        # Growth from the first sample after the warm-up (allocator pools, lazily built kernels and caches are
        # filled by then) to the last: a leak of a few kB per frame is steady growth over 10,000 frames.
        base_index = next((j for j, f in enumerate(rss_frames) if f >= warmup), 0)
        base = rss[base_index] if rss else float('nan')
        growth = (rss[-1] - base) / base * 100.0 if rss else float('nan')
        result = {
            'frames': frames, 'every': every, 'warmup_frames': warmup, 'rss_frames': rss_frames, 'rss_mb': rss,
            'rss_baseline_mb': base, 'growth_pct': round(growth, 3),
            'latency_ms': percentile_summary(latencies), 'latency_ms_per_window': windows, 'dropped': dropped,
            'mode': f'fixed rate {args.rate} Hz' if period else 'lockstep (next frame on answer: max rate)',
            'device': device_label(args.device), 'backend': args.backend, 'model': model_label,
            'input_size': [in_h, in_w] if in_h else 'model default', 'image_size': [height, width],
            'boxes': int(args.boxes),
            'fps': round((frames - dropped) / max(1e-9, loop_s), 1),
            'duration_s': round(duration, 1), 'node_alive_at_end': alive,
            # other work on the machine inflates latency (not memory): keep the context with the figures
            'load_avg_1min': {'start': round(load_start[0], 2), 'end': round(os.getloadavg()[0], 2)},
            'command': 'python -m mipnet_ros soak ' + ' '.join(args.argv_echo),
        }
    finally:
        if driver is not None:
            driver.close()
        rc = launcher.stop()
        result['node_exit_code'] = rc
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--frames', type=int, default=10_000, help='frames to send (default 10000)')
    parser.add_argument('--every', type=int, default=500, help='record RSS and latency every N frames')
    parser.add_argument('--warmup-frames', type=int, default=None,
                        help='growth is measured from the first sample at or after this many frames '
                             '(default: max(every, frames/10))')
    parser.add_argument('--model', default='', help='model file; default the bundled one, else a random-weight '
                                                    'hrnet_w16s N=2 at --input-size')
    parser.add_argument('--backend', default='torch', choices=('torch', 'onnxruntime'), help='inference backend')
    parser.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--input-size', default='',
                        help='network input HxW the node runs at (default: the model\'s own; 128x96 for the '
                             'random-weight model used when there is no bundled one)')
    parser.add_argument('--image-size', default='320x240', help='published image WxH')
    parser.add_argument('--boxes', type=int, default=2, help='person boxes per frame')
    parser.add_argument('--rate', type=float, default=0.0,
                        help='0 (default) = lockstep at the maximum rate the node sustains; >0 = fixed Hz')
    parser.add_argument('--frame-timeout', type=float, default=10.0, help='seconds before a frame counts as dropped')
    parser.add_argument('--namespace', default='soak', help='namespace for the node and its topics')
    parser.add_argument('--domain-id', type=int, default=None, help='ROS_DOMAIN_ID (default: inherited)')
    parser.add_argument('--wait-node', type=float, default=90.0, help='seconds to wait for the node to come up')
    parser.add_argument('--max-growth-pct', type=float, default=5.0, help='fail when RSS grows more than this')
    parser.add_argument('--json', default=str(DEFAULT_JSON),
                        help='write the results here ("" = do not write; default: %(default)s)')
    parser.add_argument('--node-log', default='', help='keep the node log here (default: not kept)')
    parser.add_argument('--quiet', action='store_true', help='no progress lines')


def main(args: argparse.Namespace) -> int:
    if not hasattr(args, 'argv_echo'):
        args.argv_echo = [a for a in sys.argv[1:] if a != 'soak']
    try:
        result = run_soak(args)
    except RuntimeError as exc:
        print(f'soak: {exc}', file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + '\n')
    lat = result.get('latency_ms', {})
    print(f'soak: {result["frames"]} frames in {result["duration_s"]} s on {result["device"]}: RSS '
          f'{result["rss_baseline_mb"]:.1f} -> {result["rss_mb"][-1] if result["rss_mb"] else float("nan"):.1f} MB '
          f'({result["growth_pct"]:+.2f} % after {result["warmup_frames"]} warm-up frames), latency p50 '
          f'{lat.get("p50", float("nan")):.1f} ms p99 {lat.get("p99", float("nan")):.1f} ms, '
          f'dropped {result["dropped"]}'
          + (f'; wrote {args.json}' if args.json else ''))
    ok = result['growth_pct'] < args.max_growth_pct and result['node_alive_at_end']
    if args.rate <= 0:
        ok = ok and result['dropped'] == 0
    return 0 if ok else 1
