"""`python -m mipnet_ros demo --out out/`: the whole ROS 2 pipeline on the bundled bag, in one command.

It starts the nodes with `ros2 launch` (a real separate process), replays the bundled bag to them over DDS
one frame at a time (lockstep), records what they publish to out/keypoints.mcap, writes the annotated frames
(out/frames, out/annotated.mp4) and, with the bundled depth stream, the 3D keypoints (out/keypoints3d.png,
each person's median depth printed next to its generated depth), then stops the launch with SIGINT."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List

from mipnet_ros.core.resources import bundled_model_path, share_file
from mipnet_ros.offline.launcher import NodeLauncher
from mipnet_ros.ros import topics
from mipnet_ros.ros.convert import stamp_to_ns

DEMO_BAG = 'demo/demo.mcap'                    # relative to share/mipnet_ros
DEMO_EXPECTED = 'demo/demo_expected.json'
DEMO_DEPTH_BAG = 'demo/demo_depth.mcap'


def write_frames(bag: Path, out_dir: Path, fps: float = 2.0, video: bool = True) -> List[Path]:
    """Annotated images recorded in `bag` -> out_dir/frames/NNN_<stamp>.png and out_dir/annotated.mp4."""
    import cv2
    import numpy as np

    from mipnet_ros.offline import bag_io
    from mipnet_ros.ros.convert import raw_to_bgr
    frames_dir = out_dir / 'frames'
    frames_dir.mkdir(parents=True, exist_ok=True)
    for old in frames_dir.glob('*.png'):
        old.unlink()
    images = []
    for topic, _t, _ts, msg in bag_io.read_messages(str(bag)):
        if topic.endswith('/' + topics.private_leaf(topics.ANNOTATED_IMAGE)):
            stamp = stamp_to_ns(msg.header.stamp)
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
    parser.add_argument('--bag', default='', help='input bag (default: the installed share/mipnet_ros/demo/demo.mcap)')
    parser.add_argument('--model', default='', help='model file; default: the bundled model')
    parser.add_argument('--random-weights', action='store_true',
                        help='use an untrained network (plumbing check when no trained model is available)')
    parser.add_argument('--backend', default='torch', choices=('torch', 'onnxruntime'), help='inference backend')
    parser.add_argument('--device', default='auto', help='auto: cuda:0 when torch sees a GPU, else cpu')
    parser.add_argument('--timeout', type=float, default=120.0, help='seconds to wait for the node to become active')
    parser.add_argument('--fps', type=float, default=2.0, help='frame rate of annotated.mp4')
    parser.add_argument('--depth-bag', default='',
                        help='aligned depth + camera_info bag (default: the installed demo/demo_depth.mcap)')
    parser.add_argument('--no-depth', action='store_true', help='2D only: do not start mipnet_keypoints3d')


def main(args: argparse.Namespace) -> int:
    from mipnet_ros.offline.replay import ReplayOptions, run_replay
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = args.model
    if args.random_weights and not model:
        from mipnet_ros.core.model.untrained import write_untrained_checkpoint
        model = str(write_untrained_checkpoint(out / 'random_weights.pth'))
        print(f'demo: untrained network {model}: the keypoints are meaningless, the plumbing is real')
    if not model:
        try:
            model = str(bundled_model_path())
        except FileNotFoundError as exc:
            print(f'demo: error: {exc}', file=sys.stderr)
            return 2
    bag = args.bag or share_file(DEMO_BAG)
    if not bag:
        print(f'demo: error: the demo bag share/mipnet_ros/{DEMO_BAG} is not installed: build and source the '
              'workspace, or pass --bag', file=sys.stderr)
        return 2
    # Raw 640x425 frames (816 kB) exceed Fast DDS's default shared-memory segment, and a
    # best-effort reader then loses most of them; a busy machine loses small detection arrays over best effort
    # too: the demo asks for reliable input subscriptions, so every recorded frame is answered.
    launch_args = {'model': model, 'backend': args.backend, 'device': args.device, 'image_reliability': 'reliable',
                   'detections_reliability': 'reliable', 'log_level': 'info'}
    record = ['keypoints', 'annotated', 'markers', 'model_info']
    depth_bag = '' if args.no_depth else str(args.depth_bag or share_file(DEMO_DEPTH_BAG) or '')
    if depth_bag:
        launch_args.update(_depth_launch_args(depth_bag))
        record += ['keypoints_3d', 'markers_3d']
    print(f'demo: starting the node (ros2 launch mipnet_ros mipnet.launch.py model:={model}); log: {out / "node.log"}')
    keypoints_bag = out / 'keypoints.mcap'
    t0 = time.time()
    launcher = NodeLauncher(launch_args, log_path=out / 'node.log')
    try:
        launcher.start()
        summary = run_replay(ReplayOptions(bag=str(bag), out=str(keypoints_bag), lockstep=True, record=record,
                                           wait_node=args.timeout, force=True, extra_bag=depth_bag or None))
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
    if depth_bag:
        from mipnet_ros.offline.render3d import generated_depths, read_keypoints_3d, render_keypoints_3d, summary_lines
        try:
            truth = generated_depths(keypoints_bag, json.loads(share_file(DEMO_EXPECTED).read_text())['frames'])
        except (AttributeError, OSError, ValueError, KeyError):
            truth = {}
        for line in summary_lines(read_keypoints_3d(keypoints_bag), truth):
            print('  3D ' + line)
        if render_keypoints_3d(keypoints_bag, out / 'keypoints3d.png'):
            print(f'demo: wrote {out / "keypoints3d.png"}')
    print(f'demo: done in {time.time() - t0:.1f} s')
    print('demo: to watch it in RViz 2: make rviz (once), then ros2 launch mipnet_ros mipnet.launch.py rviz:=true '
          'depth:=true and play the bag (docs/rviz.md)')
    return 0 if summary.outputs > 0 and not summary.unanswered else 1


def _depth_launch_args(depth_bag: str) -> dict:
    """Launch arguments that start mipnet_keypoints3d on the depth bag's Image and CameraInfo topics."""
    from mipnet_ros.offline import bag_io
    found = bag_io.bag_topics(depth_bag)
    image = [t for t, ty in found.items() if ty == topics.IMAGE_TYPE]
    info = [t for t, ty in found.items() if ty == topics.CAMERA_INFO_TYPE]
    if len(image) != 1 or len(info) != 1:
        raise SystemExit(f'{depth_bag}: need one Image and one CameraInfo topic, found {found}')
    return {'depth': 'true', 'depth_image': image[0], 'camera_info': info[0]}


def _per_frame_report(summary) -> List[str]:
    try:
        expected = {f['stamp_ns']: f for f in json.loads(share_file(DEMO_EXPECTED).read_text())['frames']}
    except (AttributeError, OSError, ValueError, KeyError):
        expected = {}
    lines = []
    for stamp, n in sorted(summary.people_per_stamp.items()):
        e = expected.get(stamp)
        lines.append(f'stamp {stamp / 1e9:.1f} s: {n} people' +
                     (f' (ground truth {len(e["people"])}: {e["description"]})' if e else ''))
    return lines
