"""`python -m mipnet_ros demo --out out/`: the whole ROS 2 pipeline on the bundled bag, in one command.

1. starts the node with `ros2 launch mipnet_ros mipnet.launch.py` (a real separate process),
2. replays `test/data/demo.mcap` to it through DDS, one frame at a time (lockstep),
3. records the node's keypoints, markers, annotated images and model info to out/keypoints.mcap,
4. writes the annotated frames as out/frames/*.png and out/annotated.mp4,
5. stops the launch with SIGINT (as Ctrl-C would) and prints what happened.

`NodeLauncher` is also what the functional tests use to start the node, so the demo and the
tests exercise the same launch file.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
DEMO_BAG = REPO / 'test' / 'data' / 'demo.mcap'
DEMO_EXPECTED = REPO / 'test' / 'data' / 'demo_expected.json'
BUNDLED_MODEL_NAMES = ('mipnet_w16s_n2.pth', 'mipnet_w16s_n2.onnx')


class NodeLauncher:
    """`ros2 launch mipnet_ros mipnet.launch.py key:=value ...` as a child process, stopped with SIGINT.

    The launch runs in its own process group so that, if SIGINT is not enough, the whole group
    (launch + node) can be terminated without touching anything else.
    """

    def __init__(self, launch_args: Optional[Dict[str, str]] = None, env: Optional[Dict[str, str]] = None,
                 log_path: Optional[Path] = None, package: str = 'mipnet_ros',
                 launch_file: str = 'mipnet.launch.py'):
        self.cmd = ['ros2', 'launch', package, launch_file] + [f'{k}:={v}' for k, v in (launch_args or {}).items()]
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault('PYTHONUNBUFFERED', '1')
        self.env.setdefault('RCUTILS_LOGGING_BUFFERED_STREAM', '0')
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    def start(self) -> 'NodeLauncher':
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log or subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> Optional[int]:
        """SIGINT the launch (it forwards it to the node), then escalate on the process group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(self.proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        self.proc.wait(timeout=5)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        try:   # the node may still be finishing after the launch itself exited
            os.killpg(self.proc.pid, 0)
            deadline = time.time() + 5
            while time.time() < deadline:
                time.sleep(0.1)
                os.killpg(self.proc.pid, 0)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ''
        return self.log_path.read_text(errors='replace')

    def __enter__(self) -> 'NodeLauncher':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def domain_id_for(name: str) -> int:
    """A ROS_DOMAIN_ID in 100..199 from a name and this process id, so parallel runs do not meet."""
    import zlib
    return 100 + (zlib.crc32(name.encode()) + os.getpid()) % 100


def config_path() -> Path:
    """config/mipnet.yaml: the installed copy when there is one, else the repository's."""
    try:
        from ament_index_python.packages import get_package_share_directory
        p = Path(get_package_share_directory('mipnet_ros')) / 'config' / 'mipnet.yaml'
        if p.is_file():
            return p
    except Exception:  # noqa: BLE001
        pass
    return REPO / 'config' / 'mipnet.yaml'


def write_params_file(path: Path, overrides: Dict[str, object]) -> Path:
    """config/mipnet.yaml with `overrides` (ROS parameter names, dots for groups) applied, as a new file."""
    import yaml
    doc = yaml.safe_load(config_path().read_text())
    params = doc['/**']['ros__parameters']
    for name, value in overrides.items():
        node = params
        *groups, leaf = name.split('.')
        for g in groups:
            node = node.setdefault(g, {})
        node[leaf] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def make_random_model(path: Path, arch: str = 'hrnet_w16s', instances: int = 2,
                      input_size: tuple = (128, 96)) -> Path:
    """An untrained MIPNet checkpoint: exercises the whole pipeline when no trained model exists."""
    import torch

    from mipnet_ros.core.model.checkpoint import save_checkpoint
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch, instances=instances, input_size=tuple(input_size)))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(str(path), model)
    return path


def find_bundled_model() -> Optional[Path]:
    """The bundled model in the repository's or the installed share's models/ folder, if any."""
    dirs = [REPO / 'models']
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory('mipnet_ros')) / 'models')
    except Exception:  # noqa: BLE001
        pass
    for d in dirs:
        for name in BUNDLED_MODEL_NAMES:
            if (d / name).is_file():
                return d / name
    return None


def write_frames(bag: Path, out_dir: Path, fps: float = 2.0, video: bool = True) -> List[Path]:
    """Annotated images recorded in `bag` -> out_dir/frames/NNN_<stamp>.png and out_dir/annotated.mp4."""
    import cv2
    import numpy as np

    from mipnet_ros.ros import bag_io
    from mipnet_ros.ros.convert import raw_to_bgr
    frames_dir = out_dir / 'frames'
    frames_dir.mkdir(parents=True, exist_ok=True)
    for old in frames_dir.glob('*.png'):
        old.unlink()
    images = []
    for topic, _t, _ts, msg in bag_io.read_messages(str(bag)):
        if topic.endswith('/annotated_image'):
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            images.append((stamp, raw_to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                                             msg.data)))
    images.sort(key=lambda t: t[0])
    paths = []
    for i, (stamp, img) in enumerate(images):
        p = frames_dir / f'{i:03d}_{stamp}.png'
        cv2.imwrite(str(p), img)
        paths.append(p)
    if video and images:
        h = max(img.shape[0] for _, img in images)
        w = max(img.shape[1] for _, img in images)
        h, w = h + h % 2, w + w % 2          # MPEG-4 wants even sizes
        writer = cv2.VideoWriter(str(out_dir / 'annotated.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        for _, img in images:
            canvas = np.zeros((h, w, 3), np.uint8)
            canvas[:img.shape[0], :img.shape[1]] = img
            writer.write(canvas)
        writer.release()
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', default='out', help='output folder (created)')
    parser.add_argument('--bag', default=str(DEMO_BAG), help='input bag (default: the bundled test/data/demo.mcap)')
    parser.add_argument('--model', default='', help='model file; default: the bundled model')
    parser.add_argument('--random-weights', action='store_true',
                        help='use an untrained network (plumbing check when no trained model is available)')
    parser.add_argument('--backend', default='torch', choices=('torch', 'onnxruntime'), help='inference backend')
    parser.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--timeout', type=float, default=120.0, help='seconds to wait for the node to become active')
    parser.add_argument('--fps', type=float, default=2.0, help='frame rate of annotated.mp4')
    parser.add_argument('--screenshot', default='',
                        help='also render an RViz-like view of one frame to this PNG (default: none)')
    parser.add_argument('--screenshot-frame', type=int, default=1, help='index of the frame for --screenshot')


def main(args: argparse.Namespace) -> int:
    from mipnet_ros.ros.replay import ReplayOptions, run_replay
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = args.model
    if args.random_weights and not model:
        model = str(make_random_model(out / 'random_weights.pth'))
        print(f'demo: untrained network {model}: the keypoints are meaningless, the plumbing is real')
    if not model:
        found = find_bundled_model()
        if found is None:
            print(f'no bundled model ({" or ".join(BUNDLED_MODEL_NAMES)} in {REPO / "models"}): '
                  'pass --model PATH', file=sys.stderr)
            return 2
        model = str(found)
    # Raw 640x425 frames (816 kB) exceed Fast DDS's default shared-memory segment, and a
    # best-effort reader then loses most of them: the demo asks for a reliable image subscription.
    launch_args = {'model': model, 'backend': args.backend, 'device': args.device, 'image_reliability': 'reliable',
                   'log_level': 'info'}
    print(f'demo: starting the node (ros2 launch mipnet_ros mipnet.launch.py model:={model}); log: {out / "node.log"}')
    keypoints_bag = out / 'keypoints.mcap'
    t0 = time.time()
    launcher = NodeLauncher(launch_args, log_path=out / 'node.log')
    try:
        launcher.start()
        summary = run_replay(ReplayOptions(bag=args.bag, out=str(keypoints_bag), lockstep=True, record=(
            'keypoints', 'annotated', 'markers', 'model_info'), wait_node=args.timeout, force=True))
    except SystemExit as exc:
        print(f'demo: {exc}\n--- node log ---\n{launcher.log_text()[-3000:]}', file=sys.stderr)
        return 1
    finally:
        rc = launcher.stop()
    print(summary.text())
    print(f'demo: node stopped with SIGINT (launch exit code {rc})')
    paths = write_frames(keypoints_bag, out, fps=args.fps)
    print(f'demo: wrote {len(paths)} annotated frames to {out / "frames"}, video {out / "annotated.mp4"}')
    per_frame = _per_frame_report(summary)
    for line in per_frame:
        print('  ' + line)
    if args.screenshot:
        from mipnet_ros.ros.visualize import render_rviz_like
        shot = render_rviz_like(keypoints_bag, args.screenshot_frame)
        if shot is not None:
            import cv2
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(args.screenshot, shot)
            print(f'demo: wrote {args.screenshot}')
    print(f'demo: done in {time.time() - t0:.1f} s')
    return 0 if summary.outputs > 0 and not summary.unanswered else 1


def _per_frame_report(summary) -> List[str]:
    try:
        expected = {f['stamp_ns']: f for f in json.loads(DEMO_EXPECTED.read_text())['frames']}
    except (OSError, ValueError, KeyError):
        expected = {}
    lines = []
    for stamp, n in sorted(summary.people_per_stamp.items()):
        e = expected.get(stamp)
        lines.append(f'stamp {stamp / 1e9:.1f} s: {n} people' +
                     (f' (ground truth {len(e["people"])}: {e["description"]})' if e else ''))
    return lines


if __name__ == '__main__':
    p = argparse.ArgumentParser(prog='python -m mipnet_ros.ros.demo', description=__doc__.splitlines()[0])
    add_arguments(p)
    sys.exit(main(p.parse_args()))
