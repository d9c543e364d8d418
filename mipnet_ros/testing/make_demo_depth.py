"""Write `test/data/demo_depth.mcap`: a generated depth stream aligned to the demo bag's images, with CameraInfo.

  python -m mipnet_ros.testing.make_demo_depth [--expected test/data/demo_expected.json] [--out ...]

The photograph has no depth, so a plausible one is drawn from the ground truth: a snow slope that comes nearer
towards the bottom of the picture, and every person as a figure (thick limbs and a filled torso through the
labelled keypoints) at a known distance. 16UC1 in millimetres, one image and one CameraInfo per demo image,
same stamps and frame, as an RGB-D camera publishes its aligned depth."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from mipnet_ros.core.skeleton import COCO17
from mipnet_ros.offline.depth_truth import PERSON_DEPTH, person_depth_m  # noqa: F401 - one table for the demo

REPO = Path(__file__).resolve().parents[2]
DEPTH_TOPIC = '/camera/aligned_depth_to_color/image_raw'
INFO_TOPIC = '/camera/aligned_depth_to_color/camera_info'
# A 640 px wide colour camera with ~56 degrees horizontal field of view and a mild lens.
FOCAL_PX = 600.0
DISTORTION = [0.04, -0.08, 0.0, 0.0, 0.0]
# metres: the slope at the top and bottom rows (the people's depths: offline/depth_truth.py)
SLOPE_FAR, SLOPE_NEAR = 14.0, 5.0
LIMB_PX, JOINT_PX = 14, 9
TORSO = ('left_shoulder', 'right_shoulder', 'right_hip', 'left_hip')


def camera_k(width: int, height: int) -> List[float]:
    return [FOCAL_PX, 0.0, (width - 1) / 2.0, 0.0, FOCAL_PX, (height - 1) / 2.0, 0.0, 0.0, 1.0]


def render_depth(height: int, width: int, people: Sequence[Dict]) -> np.ndarray:
    """(H, W) depth in metres: the slope, then each person from the farthest to the nearest."""
    import cv2
    rows = np.linspace(SLOPE_FAR, SLOPE_NEAR, height)[:, None]
    depth = np.repeat(rows, width, axis=1)
    names = COCO17.keypoint_names
    for p in sorted(people, key=lambda q: -person_depth_m(q['det_id'])):
        kp = np.asarray(p['keypoints'], np.float64).reshape(-1, 3)
        seen = kp[:, 2] > 0
        mask = np.zeros((height, width), np.uint8)
        torso = [kp[names.index(n), :2] for n in TORSO if seen[names.index(n)]]
        if len(torso) >= 3:
            cv2.fillPoly(mask, [np.rint(torso).astype(np.int32)], 1)
        for a, b in COCO17.edges:
            if seen[a] and seen[b]:
                cv2.line(mask, tuple(int(v) for v in np.rint(kp[a, :2])), tuple(int(v) for v in np.rint(kp[b, :2])),
                         1, LIMB_PX)
        for j in np.flatnonzero(seen):
            cv2.circle(mask, tuple(int(v) for v in np.rint(kp[j, :2])), JOINT_PX, 1, -1)
        depth[mask > 0] = person_depth_m(p['det_id'])
    return depth


def write_depth_bag(expected: Dict, out: Path) -> int:
    from mipnet_ros.offline.bag_io import BagWriter, make_msg
    from mipnet_ros.testing.make_demo_bag import _header
    frames = expected['frames']
    default_people = next((f['people'] for f in frames if f['people']), [])
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with BagWriter(str(out), overwrite=True).compress() as bag:
        bag.add_topic(DEPTH_TOPIC, 'sensor_msgs/msg/Image')
        bag.add_topic(INFO_TOPIC, 'sensor_msgs/msg/CameraInfo')
        for f in frames:
            if not f['has_image']:
                continue
            h, w = f['image_size']
            stamp = int(f['stamp_ns'])
            # frames without labelled people still show the real skier (they reuse the photograph)
            mm = np.rint(render_depth(h, w, f['people'] or default_people) * 1000).astype('<u2')
            k = np.asarray(camera_k(w, h), np.float64)
            bag.write_msg(INFO_TOPIC, 'sensor_msgs/msg/CameraInfo', stamp, make_msg(
                'sensor_msgs/msg/CameraInfo', header=_header(stamp), height=h, width=w, distortion_model='plumb_bob',
                d=np.asarray(DISTORTION, np.float64), k=k, r=np.eye(3).ravel(),
                p=np.hstack([k.reshape(3, 3), np.zeros((3, 1))]).ravel()))
            bag.write_msg(DEPTH_TOPIC, 'sensor_msgs/msg/Image', stamp, make_msg(
                'sensor_msgs/msg/Image', header=_header(stamp), height=h, width=w, encoding='16UC1', is_bigendian=0,
                step=w * 2, data=mm.view(np.uint8).reshape(-1)))
            n += 1
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--expected', default=str(REPO / 'test' / 'data' / 'demo_expected.json'),
                        help="the demo bag's ground truth (people, stamps, image sizes)")
    parser.add_argument('--out', default=str(REPO / 'test' / 'data' / 'demo_depth.mcap'), help='output .mcap file')


def main(args: argparse.Namespace) -> int:
    out = Path(args.out)
    n = write_depth_bag(json.loads(Path(args.expected).read_text()), out)
    print(f'wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {n} depth images with CameraInfo)')
    return 0


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    sys.exit(main(p.parse_args()))
