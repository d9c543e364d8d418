"""Write the bundled demo bag `test/data/demo.mcap` and its ground truth `demo_expected.json`.

  python -m mipnet_ros.testing.make_demo_bag [--data ../shared/data] [--out test/data/demo.mcap]

Only COCO val2017 image 785 (CC-BY 2.0, a skier: the one real photograph we may ship) is used: the frame as it
is, and scenes where the skier, cut out along the COCO segmentation polygon, is pasted again so that one person
partly hides the other, the situation MIPNet is for. Every copy's keypoints, box and visibility follow from the
same affine transform and masks, so the expected people are exact. The bag also holds what the node must handle
without inventing anyone: a frame without detections, one whose only detection is not a person, an image
nobody detected anything in, and a detection array whose image never came."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core.skeleton import COCO17

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / 'shared' / 'data'
IMAGE_ID = 785
IMAGE_TOPIC = '/camera/image_raw'
DETECTIONS_TOPIC = '/camera/detections'
FRAME_ID = 'camera'
T0_NS = 1_000 * 10**9          # synthetic clock: stamps start at 1000 s
PERIOD_NS = 100 * 10**6        # 10 Hz
DETECTION_DELAY_NS = 30 * 10**6  # detections are logged 30 ms after their image, as from a detector
ATTRIBUTION = ('COCO val2017 image 000000000785 (Flickr 6795644157), CC-BY 2.0 '
               '(http://creativecommons.org/licenses/by/2.0/); annotations CC-BY 4.0 (COCO Consortium)')


@dataclass
class Cutout:
    """The annotated person of 785: pixels, mask, keypoints (17, 3) and box."""
    image: np.ndarray
    mask: np.ndarray              # (H, W) bool
    keypoints: np.ndarray         # (17, 3) x, y, v
    box: np.ndarray               # xyxy


@dataclass
class DemoPerson:
    box: List[float]
    keypoints: List[List[float]]  # 17 x (x, y, v); v = 1 where another pasted person covers it
    det_id: str


@dataclass
class DemoFrame:
    name: str
    description: str
    image: Optional[np.ndarray]
    people: List[DemoPerson] = field(default_factory=list)
    detections: Optional[List[Tuple[List[float], str, float, str]]] = None   # (xyxy, class_id, score, id)


def load_cutout(data_dir: Path) -> Cutout:
    import cv2
    ann_file = data_dir / 'coco' / 'test_coco.json'
    coco = json.loads(ann_file.read_text())
    img_info = next(i for i in coco['images'] if i['id'] == IMAGE_ID)
    ann = next(a for a in coco['annotations'] if a['image_id'] == IMAGE_ID and a['num_keypoints'] > 0)
    image = cv2.imread(str(data_dir / 'coco' / img_info['file_name']), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read image {IMAGE_ID} under {data_dir}/coco')
    mask = np.zeros(image.shape[:2], np.uint8)
    for poly in ann['segmentation']:
        cv2.fillPoly(mask, [np.asarray(poly, np.float64).reshape(-1, 2).round().astype(np.int32)], 1)
    x, y, w, h = ann['bbox']
    return Cutout(image, mask.astype(bool), np.asarray(ann['keypoints'], np.float64).reshape(17, 3),
                  np.array([x, y, x + w, y + h]))


def paste(canvas: np.ndarray, cut: Cutout, affine: np.ndarray, mirror: bool = False
          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paste the warped cut-out over `canvas`; returns (canvas, mask, keypoints (17,3), box xyxy)."""
    import cv2
    h, w = canvas.shape[:2]
    warped = cv2.warpAffine(cut.image, affine, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(cut.mask.astype(np.uint8) * 255, affine, (w, h), flags=cv2.INTER_LINEAR) > 127
    out = canvas.copy()
    out[mask] = warped[mask]
    kp = cut.keypoints.copy()
    kp[:, :2] = kp[:, :2] @ affine[:, :2].T + affine[:, 2]
    if mirror:   # a mirrored left wrist is the right wrist: swap the labels too
        for a, b in COCO17.flip_pairs:
            kp[[a, b]] = kp[[b, a]]
    x1, y1, x2, y2 = cut.box
    corners = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) @ affine[:, :2].T + affine[:, 2]
    box = np.concatenate([corners.min(0), corners.max(0)])
    box[[0, 2]] = box[[0, 2]].clip(0, w - 1)
    box[[1, 3]] = box[[1, 3]].clip(0, h - 1)
    return out, mask, kp, box


def occlude(kp: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Visibility 2 -> 1 for the labelled keypoints that `mask` (a person in front) covers."""
    kp = kp.copy()
    h, w = mask.shape
    for j in range(len(kp)):
        x, y = int(round(kp[j, 0])), int(round(kp[j, 1]))
        if kp[j, 2] > 0 and 0 <= x < w and 0 <= y < h and mask[y, x]:
            kp[j, 2] = 1
    return kp


def _person(kp: np.ndarray, box: np.ndarray, det_id: str) -> DemoPerson:
    return DemoPerson([round(float(v), 2) for v in box], [[round(float(a), 2) for a in row] for row in kp], det_id)


def build_frames(cut: Cutout) -> List[DemoFrame]:
    base = cut.image
    shift = lambda dx, dy: np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])  # noqa: E731
    frames: List[DemoFrame] = []
    original = _person(cut.keypoints, cut.box, 'skier')
    frames.append(DemoFrame('real', 'COCO 785 as it is: one skier', base, [original]))

    for name, dx, dy, text in (('pair_right', 85.0, 0.0, 'a copy pasted 85 px to the right, in front'),
                               ('pair_left', -95.0, 15.0, 'a copy pasted 95 px to the left and 15 px down, in front')):
        img, mask, kp, box = paste(base, cut, shift(dx, dy))
        behind = occlude(cut.keypoints, mask)
        frames.append(DemoFrame(name, f'occlusion: {text}; the real skier is partly hidden', img,
                                [_person(behind, cut.box, 'skier'), _person(kp, box, 'copy')]))

    x1, _, x2, _ = cut.box
    mirror = np.array([[-1.0, 0.0, x1 + x2 - 260.0], [0.0, 1.0, 0.0]])   # mirrored, moved left, no overlap
    img, _, kp, box = paste(base, cut, mirror, mirror=True)
    frames.append(DemoFrame('mirror_apart', 'a mirrored copy at the left, no overlap: two separate skiers', img,
                            [original, _person(kp, box, 'mirror')]))

    frames.append(DemoFrame('no_detections', 'an empty detection array: the node must publish nobody', base,
                            [], detections=[]))
    frames.append(DemoFrame('not_a_person', "the only detection has class 'skis': filtered out, nobody", base,
                            [], detections=[(list(map(float, cut.box)), 'skis', 0.9, 'skis')]))
    frames.append(DemoFrame('image_only', 'an image without a detection array: no output at all', base,
                            [], detections=None))
    frames.append(DemoFrame('detections_only', 'a detection array whose image never came: no output at all',
                            None, [], detections=[(list(map(float, cut.box)), 'person', 1.0, 'orphan')]))
    for f in frames:   # by default every labelled person is a ground-truth detection
        if f.detections is None and f.name != 'image_only':
            f.detections = [(p.box, 'person', 1.0, p.det_id) for p in f.people]
    return frames


def _header(stamp_ns: int):
    from mipnet_ros.offline.bag_io import make_msg
    return make_msg('std_msgs/msg/Header', frame_id=FRAME_ID,
                    stamp=make_msg('builtin_interfaces/msg/Time', sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9))


def image_msg(img: np.ndarray, stamp_ns: int):
    from mipnet_ros.offline.bag_io import make_msg
    h, w = img.shape[:2]
    return make_msg('sensor_msgs/msg/Image', header=_header(stamp_ns), height=h, width=w, encoding='bgr8',
                    is_bigendian=0, step=w * 3, data=np.ascontiguousarray(img).reshape(-1))


def detections_msg(dets: Sequence[Tuple[List[float], str, float, str]], stamp_ns: int):
    from mipnet_ros.offline.bag_io import make_msg
    out = []
    for (x1, y1, x2, y2), cls, score, det_id in dets:
        bbox = make_msg('vision_msgs/msg/BoundingBox2D', size_x=float(x2 - x1), size_y=float(y2 - y1),
                        center=make_msg('vision_msgs/msg/Pose2D', position=make_msg(
                            'vision_msgs/msg/Point2D', x=float(x1 + x2) / 2, y=float(y1 + y2) / 2)))
        hyp = make_msg('vision_msgs/msg/ObjectHypothesisWithPose',
                       hypothesis=make_msg('vision_msgs/msg/ObjectHypothesis', class_id=cls, score=float(score)))
        out.append(make_msg('vision_msgs/msg/Detection2D', header=_header(stamp_ns), results=[hyp], bbox=bbox,
                            id=det_id))
    return make_msg('vision_msgs/msg/Detection2DArray', header=_header(stamp_ns), detections=out)


def write_bag(frames: Sequence[DemoFrame], out: Path, expected: Path) -> Dict:
    from mipnet_ros.offline.bag_io import BagWriter
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    with BagWriter(str(out), overwrite=True).compress() as bag:
        bag.add_topic(IMAGE_TOPIC, 'sensor_msgs/msg/Image')
        bag.add_topic(DETECTIONS_TOPIC, 'vision_msgs/msg/Detection2DArray')
        for i, f in enumerate(frames):
            stamp = T0_NS + i * PERIOD_NS
            if f.image is not None:
                bag.write_msg(IMAGE_TOPIC, 'sensor_msgs/msg/Image', stamp, image_msg(f.image, stamp))
            if f.detections is not None:
                bag.write_msg(DETECTIONS_TOPIC, 'vision_msgs/msg/Detection2DArray', stamp + DETECTION_DELAY_NS,
                              detections_msg(f.detections, stamp))
            records.append({
                'index': i, 'name': f.name, 'description': f.description, 'stamp_ns': stamp,
                'has_image': f.image is not None, 'has_detections': f.detections is not None,
                'expect_output': f.image is not None and f.detections is not None,
                'num_person_detections': sum(1 for d in (f.detections or []) if d[1] == 'person'),
                'image_size': list(f.image.shape[:2]) if f.image is not None else None,
                'people': [p.__dict__ for p in f.people],
            })
    doc = {'source': ATTRIBUTION, 'image_topic': IMAGE_TOPIC, 'detections_topic': DETECTIONS_TOPIC,
           'frame_id': FRAME_ID, 'keypoint_format': 'COCO-17 (x, y, v): v=2 visible, 1 hidden by a pasted person',
           'frames': records}
    expected.write_text(json.dumps(doc, indent=1) + '\n')
    return doc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--data', default=str(DEFAULT_DATA), help='the shared data folder (holds coco/)')
    parser.add_argument('--out', default=str(REPO / 'test' / 'data' / 'demo.mcap'), help='output .mcap file')
    parser.add_argument('--expected', default=None, help='ground-truth JSON (default: <out dir>/demo_expected.json)')


def main(args: argparse.Namespace) -> int:
    out = Path(args.out)
    expected = Path(args.expected) if args.expected else out.parent / 'demo_expected.json'
    frames = build_frames(load_cutout(Path(args.data)))
    doc = write_bag(frames, out, expected)
    print(f'wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(doc["frames"])} frames) and {expected}')
    for r in doc['frames']:
        print(f'  {r["index"]} {r["name"]:<16} people={len(r["people"])} output={r["expect_output"]}')
    return 0


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    sys.exit(main(p.parse_args()))
