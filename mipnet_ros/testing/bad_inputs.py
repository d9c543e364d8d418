"""Generate the bad-input corpus: a bag of faulty images and detections plus a manifest of what
the node must do with each frame.

  python -m mipnet_ros.testing.bad_inputs --out /tmp/bad_inputs.mcap [--manifest test/data/bad_inputs.json]

A deployed node meets these faults through DDS (a driver with a new encoding, a detector that emits NaN boxes,
a clock that jumps), so the test replays them through a launched node. Each fault is one Kind: an ordered list
of messages (arrival order, duplicate stamps, orphans) and the frames with their expected outcome (Frame).
The test regenerates the manifest and compares it with the committed copy, so it cannot drift; the bag is built
at test time in a temporary folder (the 8000x8000 frame alone is 64 MB raw) and never committed. Messages are
serialised with rosbags (pure Python), which takes field values rclpy would refuse (step/size mismatch, absurd
dimensions)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.ros.topics import DETECTIONS_TYPE

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / 'test' / 'data' / 'bad_inputs.json'
RAW_IMAGE_TOPIC = '/bad/image'
COMPRESSED_IMAGE_TOPIC = '/bad/image/compressed'
RAW_DETECTIONS_TOPIC = '/bad/detections'
COMPRESSED_DETECTIONS_TOPIC = '/bad/compressed/detections'
TOPICS = {  # transport -> (image topic, image type, detections topic)
    'raw': (RAW_IMAGE_TOPIC, 'sensor_msgs/msg/Image', RAW_DETECTIONS_TOPIC),
    'compressed': (COMPRESSED_IMAGE_TOPIC, 'sensor_msgs/msg/CompressedImage', COMPRESSED_DETECTIONS_TOPIC),
}
FRAME_ID = 'camera'
T0_SEC = 1_700_000_000               # stream clock: stamps start here (2023), one second per kind
FRAME_STEP_NS = 10_000_000           # 10 ms between frames of one kind
FUTURE_SEC = 2_100_000_000           # 2036: still fits builtin_interfaces/Time.sec (int32)
PAST_SEC = 1                         # 1970
W, H = 160, 120                      # the ordinary test image
PERSON_BOX = (60.0, 15.0, 100.0, 110.0)   # xyxy of the one valid person in an ordinary frame
HUGE = 8000                          # the 8000x8000 mono8 frame (64 MB raw)
MAX_BOXES = 20                       # the node's default `max_boxes`; the 1000-box kind relies on it
SCORE_THRESHOLD = 0.3                # the node's default `detection_score_threshold`

# Every sensor_msgs/image_encodings.hpp name the node does not take, with bytes per pixel
# (a fractional value for the 4:2:0 / 4:2:2 layouts), so that only the encoding is wrong.
UNSUPPORTED_ENCODINGS: Tuple[Tuple[str, float], ...] = (
    ('rgb16', 6), ('rgba16', 8), ('bgr16', 6), ('bgra16', 8), ('mono16', 2),
    ('8UC1', 1), ('8UC2', 2), ('8UC3', 3), ('8UC4', 4), ('8SC1', 1), ('8SC2', 2), ('8SC3', 3), ('8SC4', 4),
    ('16UC1', 2), ('16UC2', 4), ('16UC3', 6), ('16UC4', 8), ('16SC1', 2), ('16SC2', 4), ('16SC3', 6),
    ('16SC4', 8), ('32SC1', 4), ('32SC2', 8), ('32SC3', 12), ('32SC4', 16), ('32FC1', 4), ('32FC2', 8),
    ('32FC3', 12), ('32FC4', 16), ('64FC1', 8), ('64FC2', 16), ('64FC3', 24), ('64FC4', 32),
    ('bayer_rggb8', 1), ('bayer_bggr8', 1), ('bayer_gbrg8', 1), ('bayer_grbg8', 1),
    ('bayer_rggb16', 2), ('bayer_bggr16', 2), ('bayer_gbrg16', 2), ('bayer_grbg16', 2),
    ('uyvy', 2), ('yuv422', 2), ('yuyv', 2), ('yuv422_yuy2', 2), ('nv12', 1.5), ('nv21', 1.5), ('nv24', 3),
)
SUPPORTED_ENCODINGS: Tuple[Tuple[str, int], ...] = (('bgr8', 3), ('rgb8', 3), ('mono8', 1), ('bgra8', 4),
                                                    ('rgba8', 4))


# ---------------------------------------------------------------------------------------------
# Plain descriptions of messages (turned into rosbags objects only when the bag is written)
@dataclass
class Det:
    """One vision_msgs/Detection2D as centre/size (so NaN, inf and negative sizes are expressible)."""
    cx: float
    cy: float
    sx: float
    sy: float
    class_id: Optional[str] = 'person'     # None = no hypothesis at all
    score: float = 0.9
    det_id: str = ''
    theta: float = 0.0

    @staticmethod
    def xyxy(x1: float, y1: float, x2: float, y2: float, **kw) -> 'Det':
        return Det((x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1, **kw)


@dataclass
class RawImage:
    width: int
    height: int
    encoding: str = 'bgr8'
    step: Optional[int] = None             # None = width * bytes per pixel
    data_len: Optional[int] = None         # None = step * height (bytes are generated)
    is_bigendian: int = 0
    bpp: float = 3                         # bytes per pixel of `encoding` (for the defaults)
    seed: int = 0


@dataclass
class CompressedImg:
    fmt: str
    payload: str                           # 'jpeg' | 'png' | 'tiff' | 'truncated_jpeg' | 'garbage' | 'empty'
    width: int = W
    height: int = H


@dataclass
class Message:
    topic: str                             # 'image' | 'detections'
    stamp_ns: int
    frame_id: str
    body: Any                              # RawImage | CompressedImg | List[Det]


@dataclass
class Frame:
    """One stamp of a kind and what the node must publish for it.

    output: a PersonKeypointsArray with the image's exact header, persons only from `person_boxes`;
    partial: the same, but part of the input is bad (boxes) or may be dropped by policy (a flood), and only
    that part yields nothing; rejected: no PersonKeypointsArray at all for that stamp.
    """
    stamp_ns: int
    expected: str                          # output | partial | rejected
    frame_id: str = FRAME_ID
    image_size: Optional[List[int]] = None  # [height, width] the output must report
    boxes: int = 0                         # detections in the array that is paired
    person_boxes: List[int] = field(default_factory=list)   # detection indices that may yield persons
    may_drop: bool = False                 # a flood frame: the newest-frame policy may skip it
    note: str = ''


@dataclass
class Kind:
    kind: str
    expected: str
    why: str
    transport: str = 'raw'
    pacing: str = 'lockstep'               # lockstep: each frame waits for its answer; flood: 10x rate
    frames: List[Frame] = field(default_factory=list)
    messages: List[Message] = field(default_factory=list)
    # counter increments this kind must cause in the node's diagnostics
    counters: Dict[str, int] = field(default_factory=dict)

    def manifest(self) -> Dict[str, Any]:
        return {
            'kind': self.kind, 'expected': self.expected, 'why': self.why, 'transport': self.transport,
            'pacing': self.pacing, 'frames': [asdict(f) for f in self.frames],
            'messages': [{'topic': m.topic, 'stamp_ns': m.stamp_ns} for m in self.messages],
            'counters': dict(sorted(self.counters.items())),
        }


# ---------------------------------------------------------------------------------------------
class CorpusBuilder:
    """Collects the kinds; each kind gets its own second of stream time so stamps never collide."""

    def __init__(self):
        self.kinds: List[Kind] = []

    def new(self, kind: str, expected: str, why: str, transport: str = 'raw', pacing: str = 'lockstep') -> Kind:
        k = Kind(kind, expected, why, transport, pacing)
        self.kinds.append(k)
        return k

    def stamp(self, i: int = 0) -> int:
        """Stamp of frame `i` of the kind being built (the last one created)."""
        return (T0_SEC + len(self.kinds)) * 10**9 + i * FRAME_STEP_NS


def _count(k: Kind, name: str, n: int = 1) -> None:
    if n:
        k.counters[name] = k.counters.get(name, 0) + n


def _person(det_id: str = 'p', score: float = 0.9) -> Det:
    return Det.xyxy(*PERSON_BOX, det_id=det_id, score=score)


def add_pair(k: Kind, stamp: int, image: Any, dets: Optional[List[Det]], expected: str,
             frame_id: str = FRAME_ID, person_boxes: Optional[List[int]] = None, note: str = '',
             det_frame_id: Optional[str] = None, detections_first: bool = False,
             may_drop: bool = False, rejected_boxes: int = 0) -> Frame:
    """Append an image and/or detections with one stamp and the frame's expectation."""
    size = None
    if isinstance(image, RawImage):
        size = [image.height, image.width]
    elif isinstance(image, CompressedImg):
        size = [image.height, image.width]
    msgs = []
    if image is not None:
        msgs.append(Message('image', stamp, frame_id, image))
    if dets is not None:
        msgs.append(Message('detections', stamp, FRAME_ID if det_frame_id is None else det_frame_id, dets))
    if detections_first:
        msgs.reverse()
    k.messages.extend(msgs)
    if person_boxes is None:
        person_boxes = [i for i, d in enumerate(dets or []) if _valid_person(d)]
    f = Frame(stamp, expected, frame_id, size if expected != 'rejected' else None,
              len(dets or []), person_boxes if expected != 'rejected' else [], may_drop, note)
    k.frames.append(f)
    if image is not None and dets is not None:
        if expected == 'rejected':
            _count(k, 'rejected_images')
        else:
            _count(k, 'rejected_boxes', rejected_boxes)
    else:
        _count(k, 'unmatched_images' if image is not None else 'unmatched_detections')
    return f


def _valid_person(d: Det) -> bool:
    """The node's box policy, written independently: a person class, a finite score at or above
    the threshold, a finite box of positive size (used for the ordinary frames, whose boxes lie
    inside the image; the box-fault kinds list their valid boxes explicitly)."""
    vals = (d.cx, d.cy, d.sx, d.sy, d.score)
    return (d.class_id in ('person', '0', '1') and all(math.isfinite(v) for v in vals)
            and d.sx > 0 and d.sy > 0 and d.score >= SCORE_THRESHOLD)


def ordinary(seed: int = 0, encoding: str = 'bgr8', bpp: int = 3, **kw) -> RawImage:
    return RawImage(W, H, encoding=encoding, bpp=bpp, seed=seed, **kw)


# ---------------------------------------------------------------------------------------------
def build_corpus(huge: bool = True) -> List[Kind]:
    """All kinds, in the order they are played. `huge=False` leaves the 8000x8000 frame out."""
    b = CorpusBuilder()

    # ---------------------------------------------------------------- image encodings and layout
    k = b.new('supported_encodings', 'output', 'control: every raw encoding the node takes yields keypoints')
    for i, (enc, bpp) in enumerate(SUPPORTED_ENCODINGS):
        add_pair(k, b.stamp(i), ordinary(i, enc, bpp), [_person()], 'output', note=enc)

    k = b.new('unsupported_encoding', 'rejected',
              'every other sensor_msgs encoding (16-bit, float, signed, Bayer, YUV, NV12/21/24): '
              'counted as rejected_images, warned (rate-limited), no output')
    for i, (enc, bpp) in enumerate(UNSUPPORTED_ENCODINGS):
        step = int(math.ceil(W * bpp))
        add_pair(k, b.stamp(i), RawImage(W, H, encoding=enc, bpp=bpp, step=step, data_len=step * H, seed=i),
                 [_person()], 'rejected', note=enc)

    k = b.new('unknown_encoding', 'rejected', 'an empty or made-up encoding string cannot be interpreted')
    add_pair(k, b.stamp(0), ordinary(encoding=''), [_person()], 'rejected', note="''")
    add_pair(k, b.stamp(1), ordinary(encoding='rgb9000'), [_person()], 'rejected', note='rgb9000')

    k = b.new('step_smaller_than_row', 'rejected', 'step < width * channels: rows would overlap')
    add_pair(k, b.stamp(), ordinary(step=W * 3 - 1, data_len=(W * 3 - 1) * H), [_person()], 'rejected')

    k = b.new('data_shorter_than_step_x_height', 'rejected', 'truncated payload: fewer bytes than step * height')
    add_pair(k, b.stamp(), ordinary(data_len=W * 3 * H - 7), [_person()], 'rejected')

    k = b.new('data_longer_than_step_x_height', 'rejected', 'payload longer than step * height: layout unknown')
    add_pair(k, b.stamp(), ordinary(data_len=W * 3 * H + 3 * W), [_person()], 'rejected')

    k = b.new('padded_rows', 'output', 'control: step > width * channels with step * height bytes is legal '
                                       '(row padding) and must be read correctly')
    add_pair(k, b.stamp(), ordinary(step=W * 3 + 32), [_person()], 'output')

    k = b.new('zero_size_image', 'rejected', 'an image with no pixels (0x0, 0 wide, 0 high) has nothing to crop')
    add_pair(k, b.stamp(0), RawImage(0, 0, step=0), [_person()], 'rejected', note='0x0')
    add_pair(k, b.stamp(1), RawImage(0, H, step=0), [_person()], 'rejected', note=f'0x{H}')
    add_pair(k, b.stamp(2), RawImage(W, 0, step=W * 3), [_person()], 'rejected', note=f'{W}x0')

    k = b.new('one_by_one_image', 'output', 'a 1x1 image with a 1x1 box is tiny but valid')
    add_pair(k, b.stamp(), RawImage(1, 1), [Det.xyxy(0.0, 0.0, 1.0, 1.0)], 'output', person_boxes=[0])

    k = b.new('huge_8000x8000_mono8', 'output',
              'a 64 MB mono8 frame must be converted and cropped without the node dying; only the box is '
              'resized to the network input (built at test time only, never committed)')
    if huge:
        add_pair(k, b.stamp(), RawImage(HUGE, HUGE, encoding='mono8', bpp=1),
                 [Det.xyxy(3000.0, 2000.0, 4000.0, 6000.0)], 'output', person_boxes=[0])

    k = b.new('absurd_dimensions', 'rejected', 'dimensions that cannot match the payload (4294967295 wide, '
                                               'a million squared with a tiny payload) are refused, not allocated')
    add_pair(k, b.stamp(0), RawImage(4294967295, 4294967295, step=4294967295, data_len=64), [_person()],
             'rejected', note='uint32 max')
    add_pair(k, b.stamp(1), RawImage(1_000_000, 1_000_000, step=3_000_000, data_len=W * H * 3), [_person()],
             'rejected', note='1e6 x 1e6')

    k = b.new('bad_is_bigendian', 'rejected', 'is_bigendian is a boolean: 7 means a corrupt header')
    add_pair(k, b.stamp(), ordinary(is_bigendian=7), [_person()], 'rejected')

    k = b.new('bigendian_8bit', 'output', 'control: is_bigendian=1 does not change 8-bit channels')
    add_pair(k, b.stamp(), ordinary(is_bigendian=1), [_person()], 'output')

    # ---------------------------------------------------------------- boxes
    good = _person('good')
    k = b.new('box_nan', 'partial', 'NaN centre or size: that box is dropped and counted, the good one is run')
    add_pair(k, b.stamp(0), ordinary(1), [good, Det(math.nan, 50.0, 30.0, 60.0, det_id='nan_x')], 'partial',
             person_boxes=[0], rejected_boxes=1)
    add_pair(k, b.stamp(1), ordinary(2), [Det(80.0, 60.0, math.nan, math.nan, det_id='nan_size'), good],
             'partial', person_boxes=[1], rejected_boxes=1)

    k = b.new('box_inf', 'partial', 'infinite coordinates or size: dropped and counted')
    add_pair(k, b.stamp(0), ordinary(3), [good, Det(math.inf, 50.0, 30.0, 60.0), Det(40.0, 50.0, 30.0, -math.inf),
                                          Det(40.0, 50.0, math.inf, 60.0)], 'partial', person_boxes=[0],
             rejected_boxes=3)

    k = b.new('box_negative_size', 'partial', 'negative width or height (x2 < x1): dropped and counted')
    add_pair(k, b.stamp(), ordinary(4), [Det(50.0, 50.0, -30.0, 60.0), Det(50.0, 50.0, 30.0, -60.0), good],
             'partial', person_boxes=[2], rejected_boxes=2)

    k = b.new('box_zero_size', 'partial', 'zero width or height: nothing to crop; dropped and counted')
    add_pair(k, b.stamp(), ordinary(5), [good, Det(50.0, 50.0, 0.0, 60.0), Det(50.0, 50.0, 30.0, 0.0),
                                         Det(50.0, 50.0, 0.0, 0.0)], 'partial', person_boxes=[0], rejected_boxes=3)

    k = b.new('box_outside_frame', 'partial', 'a box entirely outside the image (left, right, above, below, '
                                              'far away) shows nobody: dropped and counted')
    add_pair(k, b.stamp(), ordinary(6), [
        Det.xyxy(-80.0, 10.0, -10.0, 100.0), Det.xyxy(W + 10.0, 10.0, W + 60.0, 100.0), good,
        Det.xyxy(20.0, -90.0, 60.0, -5.0), Det.xyxy(20.0, H + 5.0, 60.0, H + 90.0),
        Det.xyxy(1e6, 1e6, 1e6 + 50.0, 1e6 + 90.0)], 'partial', person_boxes=[2], rejected_boxes=5)

    k = b.new('box_partly_outside', 'output', 'a box overlapping the border is a person at the edge: it is run')
    add_pair(k, b.stamp(), ordinary(7), [Det.xyxy(-20.0, 10.0, 40.0, 100.0), Det.xyxy(120.0, 60.0, 200.0, 160.0)],
             'output', person_boxes=[0, 1])

    k = b.new('box_larger_than_frame', 'output', 'a box containing the whole image overlaps it: it is run')
    add_pair(k, b.stamp(), ordinary(8), [Det.xyxy(-50.0, -50.0, W + 50.0, H + 50.0)], 'output', person_boxes=[0])

    k = b.new('box_rotated', 'output', 'a rotated BoundingBox2D (theta != 0) is run as its axis-aligned box')
    add_pair(k, b.stamp(), ordinary(9), [Det.xyxy(*PERSON_BOX, theta=0.7)], 'output', person_boxes=[0])

    k = b.new('boxes_1000', 'partial', f'1000 boxes in one array: only the best max_boxes={MAX_BOXES} by score '
                                       'are run (bounded latency); the rest yield nothing')
    rng = np.random.default_rng(1000)
    dets = []
    for i in range(1000):
        x1, y1 = float(rng.uniform(0, W - 30)), float(rng.uniform(0, H - 40))
        dets.append(Det.xyxy(x1, y1, x1 + float(rng.uniform(15, 30)), y1 + float(rng.uniform(20, 40)),
                             score=0.31 + 0.6 * i / 1000.0, det_id=f'b{i}'))
    add_pair(k, b.stamp(), ordinary(10), dets, 'partial', person_boxes=list(range(1000 - MAX_BOXES, 1000)))

    k = b.new('box_nan_score', 'partial', 'a person hypothesis with a NaN score cannot pass a threshold: dropped '
                                          'and counted')
    add_pair(k, b.stamp(), ordinary(11), [Det.xyxy(*PERSON_BOX, score=math.nan), good], 'partial',
             person_boxes=[1], rejected_boxes=1)

    k = b.new('all_boxes_invalid', 'partial', 'every box is bad: the frame still gets its (empty) answer, '
                                              '"nobody usable here" is information')
    add_pair(k, b.stamp(), ordinary(12), [Det(math.nan, 1.0, 1.0, 1.0), Det(50.0, 50.0, -1.0, 5.0)], 'partial',
             person_boxes=[], rejected_boxes=2)

    k = b.new('non_person_classes', 'output', 'detections of other classes are not run: an empty answer')
    add_pair(k, b.stamp(), ordinary(13), [Det.xyxy(*PERSON_BOX, class_id=c) for c in ('car', 'dog', '2', '')],
             'output', person_boxes=[])

    k = b.new('mixed_classes', 'output', 'only the person detections of a mixed array are run')
    add_pair(k, b.stamp(), ordinary(14), [Det.xyxy(10.0, 10.0, 50.0, 100.0, class_id='bicycle'),
                                          Det.xyxy(60.0, 15.0, 100.0, 110.0, class_id='person'),
                                          Det.xyxy(100.0, 20.0, 150.0, 110.0, class_id='0')],
             'output', person_boxes=[1, 2])

    k = b.new('low_score_person', 'output', 'a person below detection_score_threshold is not run')
    add_pair(k, b.stamp(), ordinary(15), [_person(score=0.05)], 'output', person_boxes=[])

    k = b.new('empty_detection_array', 'output', 'an empty array is a valid "nobody": empty answer, right header')
    add_pair(k, b.stamp(), ordinary(16), [], 'output')

    k = b.new('detection_without_hypothesis', 'output', 'no class at all: not a person unless '
                                                        'unlabeled_is_person is set (it is not)')
    add_pair(k, b.stamp(), ordinary(17), [Det.xyxy(*PERSON_BOX, class_id=None)], 'output', person_boxes=[])

    # ---------------------------------------------------------------- pairing and time
    k = b.new('image_without_detections', 'rejected', 'no detections ever come for this image: no output, '
                                                      'counted as unmatched_images when it leaves the cache')
    add_pair(k, b.stamp(0), ordinary(18), None, 'rejected')
    add_pair(k, b.stamp(1), ordinary(19), None, 'rejected')

    k = b.new('detections_without_image', 'rejected', 'no image ever comes for these detections: no output, '
                                                      'counted as unmatched_detections')
    add_pair(k, b.stamp(), None, [_person()], 'rejected')

    k = b.new('detections_stamp_future', 'rejected', 'detections stamped an hour after their image pair with '
                                                     'nothing: both sides are unmatched, nothing is guessed')
    add_pair(k, b.stamp(), ordinary(20), None, 'rejected')
    add_pair(k, b.stamp() + 3600 * 10**9, None, [_person()], 'rejected')

    k = b.new('detections_stamp_past', 'rejected', 'detections stamped an hour before their image: unmatched')
    add_pair(k, b.stamp(), ordinary(21), None, 'rejected')
    add_pair(k, b.stamp() - 3600 * 10**9, None, [_person()], 'rejected')

    k = b.new('stamp_off_by_1ns', 'rejected', 'pairing is exact: a 1 ns difference is a different frame')
    add_pair(k, b.stamp(), ordinary(22), None, 'rejected')
    add_pair(k, b.stamp() + 1, None, [_person()], 'rejected')

    k = b.new('pair_stamped_in_future', 'output', 'a consistent pair from the future (2036) is processed; the '
                                                  'header is copied as it is')
    add_pair(k, FUTURE_SEC * 10**9 + 123, ordinary(23), [_person()], 'output')

    k = b.new('pair_stamped_in_past', 'output', 'a consistent pair from 1970 is processed; header copied')
    add_pair(k, PAST_SEC * 10**9 + 456, ordinary(24), [_person()], 'output')

    k = b.new('duplicate_image_stamp', 'output', 'two images with one stamp before their detections: the second '
                                                 'replaces the first (counted unmatched), one answer, second size')
    s = b.stamp()
    k.messages.append(Message('image', s, FRAME_ID, ordinary(25)))
    _count(k, 'unmatched_images')
    add_pair(k, s, RawImage(120, 90, seed=26), [Det.xyxy(30.0, 10.0, 70.0, 85.0)], 'output', person_boxes=[0])

    k = b.new('duplicate_detections_stamp', 'output', 'two detection arrays with one stamp before the image: the '
                                                      'second replaces the first (counted), one answer from it')
    s = b.stamp()
    k.messages.append(Message('detections', s, FRAME_ID, [_person('first')]))
    _count(k, 'unmatched_detections')
    add_pair(k, s, ordinary(27), [_person('second_a'), Det.xyxy(10.0, 10.0, 50.0, 100.0, det_id='second_b')],
             'output', detections_first=True, person_boxes=[0, 1])

    k = b.new('detections_before_image', 'output', 'the detector answers before the image arrives: still paired')
    add_pair(k, b.stamp(), ordinary(28), [_person()], 'output', detections_first=True)

    k = b.new('out_of_order_stamps', 'output', 'frames arrive with stamps going backwards: each is its own frame')
    for i in (2, 0, 3, 1):
        add_pair(k, b.stamp(i), ordinary(29 + i), [_person()], 'output')

    k = b.new('interleaved_pairs', 'output', 'two images, then their detections in reverse order: exact stamps '
                                             'pair each with its own')
    s1, s2 = b.stamp(0), b.stamp(1)
    k.messages += [Message('image', s1, FRAME_ID, ordinary(33)), Message('image', s2, FRAME_ID, ordinary(34))]
    for s in (s2, s1):
        k.messages.append(Message('detections', s, FRAME_ID, [_person()]))
        k.frames.append(Frame(s, 'output', FRAME_ID, [H, W], 1, [0]))

    k = b.new('frame_id_change', 'output', 'the camera frame changes mid-stream (and once is empty): every '
                                           'answer carries its own image frame_id')
    for i, fid in enumerate(('camera', 'camera_left', '', 'camera')):
        add_pair(k, b.stamp(i), ordinary(35 + i), [_person()], 'output', frame_id=fid)

    k = b.new('detections_frame_id_differs', 'output', "detections in another frame_id: the answer's header is the "
                                                       "image's, exactly")
    add_pair(k, b.stamp(), ordinary(39), [_person()], 'output', frame_id='camera_optical', det_frame_id='base_link')

    k = b.new('flood_10x', 'partial', 'frames at 10x the processing rate: the node keeps the newest, drops the '
                                      'rest (counted in dropped), never queues, and answers the last one',
              pacing='flood')
    n_flood = 30
    for i in range(n_flood):
        add_pair(k, b.stamp(i), ordinary(40 + i % 4), [_person()], 'output' if i == n_flood - 1 else 'partial',
                 may_drop=i < n_flood - 1)

    # ---------------------------------------------------------------- compressed transport
    k = b.new('compressed_valid', 'output', 'control: jpeg and png CompressedImage decode and yield keypoints',
              transport='compressed')
    add_pair(k, b.stamp(0), CompressedImg('jpeg', 'jpeg'), [_person()], 'output', note='jpeg')
    add_pair(k, b.stamp(1), CompressedImg('png', 'png'), [_person()], 'output', note='png')
    add_pair(k, b.stamp(2), CompressedImg('bgr8; jpeg compressed bgr8', 'jpeg'), [_person()], 'output',
             note='image_transport style format string')

    k = b.new('compressed_truncated', 'rejected', 'a jpeg cut in half (and a png cut short) cannot be decoded',
              transport='compressed')
    add_pair(k, b.stamp(0), CompressedImg('jpeg', 'truncated_jpeg'), [_person()], 'rejected', note='jpeg')
    add_pair(k, b.stamp(1), CompressedImg('png', 'truncated_png'), [_person()], 'rejected', note='png')

    k = b.new('compressed_garbage', 'rejected', 'random bytes labelled jpeg are not an image',
              transport='compressed')
    add_pair(k, b.stamp(), CompressedImg('jpeg', 'garbage'), [_person()], 'rejected')

    k = b.new('compressed_empty', 'rejected', 'an empty CompressedImage payload', transport='compressed')
    add_pair(k, b.stamp(), CompressedImg('jpeg', 'empty'), [_person()], 'rejected')

    k = b.new('compressed_unsupported_format', 'rejected', 'formats other than jpeg/png (tiff, h264) are refused '
                                                           'by name', transport='compressed')
    add_pair(k, b.stamp(0), CompressedImg('tiff', 'tiff'), [_person()], 'rejected', note='tiff')
    add_pair(k, b.stamp(1), CompressedImg('h264', 'garbage'), [_person()], 'rejected', note='h264')
    return b.kinds


# ---------------------------------------------------------------------------------------------
def manifest(kinds: Sequence[Kind]) -> List[Dict[str, Any]]:
    return [k.manifest() for k in kinds]


def write_manifest(kinds: Sequence[Kind], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(manifest(kinds)))


def json_text(doc: Any) -> str:
    """Stable JSON (NaN never appears in the manifest: it holds stamps, sizes and indices only)."""
    return json.dumps(doc, indent=1, allow_nan=False) + '\n'


def _pixels(img: RawImage) -> np.ndarray:
    """Deterministic bytes for an image: a smooth pattern (compresses well) plus a figure-like block."""
    step = img.step if img.step is not None else int(img.width * img.bpp)
    n = img.data_len if img.data_len is not None else step * img.height
    if img.width == HUGE and img.height == HUGE:   # 64 MB: a cheap gradient, no Python loops
        row = (np.arange(step, dtype=np.uint32) * 255 // max(step, 1)).astype(np.uint8)
        return np.broadcast_to(row, (img.height, step)).reshape(-1)[:n].copy()
    rng = np.random.default_rng(img.seed)
    base = np.arange(n, dtype=np.uint32)
    data = ((base * (7 + img.seed)) % 251).astype(np.uint8)
    if n:
        data[rng.integers(0, n, size=min(n, 64))] = 255
    return data


def _compressed_bytes(c: CompressedImg) -> np.ndarray:
    import cv2
    rng = np.random.default_rng(7)
    img = np.zeros((c.height, c.width, 3), np.uint8)
    img[:] = (40, 90, 140)
    cv2.rectangle(img, (60, 15), (100, 110), (200, 200, 200), -1)
    cv2.circle(img, (80, 25), 9, (30, 30, 220), -1)
    if c.payload in ('jpeg', 'truncated_jpeg'):
        buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].reshape(-1)
        return buf[:len(buf) // 2].copy() if c.payload == 'truncated_jpeg' else buf
    if c.payload in ('png', 'truncated_png'):
        buf = cv2.imencode('.png', img)[1].reshape(-1)
        return buf[:len(buf) // 3].copy() if c.payload == 'truncated_png' else buf
    if c.payload == 'tiff':
        return cv2.imencode('.tiff', img)[1].reshape(-1)
    if c.payload == 'garbage':
        return rng.integers(0, 256, size=4096, dtype=np.uint8)
    return np.zeros(0, np.uint8)


def _to_rosbags(m: Message, transport: str):
    from mipnet_ros.offline.bag_io import make_msg
    header = make_msg('std_msgs/msg/Header', frame_id=m.frame_id, stamp=make_msg(
        'builtin_interfaces/msg/Time', sec=m.stamp_ns // 10**9, nanosec=m.stamp_ns % 10**9))
    if m.topic == 'image' and transport == 'raw':
        img: RawImage = m.body
        step = img.step if img.step is not None else int(img.width * img.bpp)
        return 'sensor_msgs/msg/Image', make_msg(
            'sensor_msgs/msg/Image', header=header, height=img.height, width=img.width, encoding=img.encoding,
            is_bigendian=img.is_bigendian, step=step, data=_pixels(img))
    if m.topic == 'image':
        c: CompressedImg = m.body
        return 'sensor_msgs/msg/CompressedImage', make_msg(
            'sensor_msgs/msg/CompressedImage', header=header, format=c.fmt, data=_compressed_bytes(c))
    dets = []
    for d in m.body:
        bbox = make_msg('vision_msgs/msg/BoundingBox2D', size_x=float(d.sx), size_y=float(d.sy),
                        center=make_msg('vision_msgs/msg/Pose2D', theta=float(d.theta), position=make_msg(
                            'vision_msgs/msg/Point2D', x=float(d.cx), y=float(d.cy))))
        results = []
        if d.class_id is not None:
            results.append(make_msg('vision_msgs/msg/ObjectHypothesisWithPose', hypothesis=make_msg(
                'vision_msgs/msg/ObjectHypothesis', class_id=d.class_id, score=float(d.score))))
        dets.append(make_msg('vision_msgs/msg/Detection2D', header=header, results=results, bbox=bbox, id=d.det_id))
    return DETECTIONS_TYPE, make_msg(DETECTIONS_TYPE, header=header, detections=dets)


def iter_messages(kinds: Sequence[Kind]) -> Iterator[Tuple[int, str, str, Message]]:
    """(kind index, topic, type, message) in play order."""
    for i, k in enumerate(kinds):
        img_topic, img_type, det_topic = TOPICS[k.transport]
        for m in k.messages:
            yield i, (img_topic if m.topic == 'image' else det_topic), \
                (img_type if m.topic == 'image' else DETECTIONS_TYPE), m


def write_bag(kinds: Sequence[Kind], out: Path) -> Dict[str, int]:
    """Write every kind's messages to `out` (.mcap file); log times increase in play order."""
    from mipnet_ros.offline.bag_io import BagWriter, get_typestore
    store = get_typestore()
    out.parent.mkdir(parents=True, exist_ok=True)
    t_ns = T0_SEC * 10**9
    with BagWriter(str(out), overwrite=True).compress() as bag:
        for transport in ('raw', 'compressed'):
            img_topic, img_type, det_topic = TOPICS[transport]
            bag.add_topic(img_topic, img_type)
            bag.add_topic(det_topic, DETECTIONS_TYPE)
        for i, topic, _msgtype, m in iter_messages(kinds):
            msgtype, obj = _to_rosbags(m, kinds[i].transport)
            t_ns += 1_000_000
            bag.write(topic, t_ns, bytes(store.serialize_cdr(obj, msgtype)))
            del obj
        return dict(bag.counts)


def kind_of_message(kinds: Sequence[Kind]) -> List[str]:
    """The kind name of every message in bag order (the bag itself does not store it)."""
    return [kinds[i].kind for i, _t, _ty, _m in iter_messages(kinds)]


def summary(kinds: Sequence[Kind]) -> Dict[str, int]:
    frames = [f for k in kinds for f in k.frames]
    return {'kinds': len(kinds), 'frames': len(frames),
            'output': sum(f.expected == 'output' for f in frames),
            'partial': sum(f.expected == 'partial' for f in frames),
            'rejected': sum(f.expected == 'rejected' for f in frames),
            'messages': sum(len(k.messages) for k in kinds)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', default='', help='write the bag here (.mcap); empty = manifest only')
    parser.add_argument('--manifest', default=str(MANIFEST), help='manifest JSON to write')
    parser.add_argument('--no-huge', action='store_true', help='leave the 8000x8000 frame (64 MB) out of the bag')


def main(args: argparse.Namespace) -> int:
    kinds = build_corpus(huge=not args.no_huge)
    write_manifest(build_corpus(huge=True), Path(args.manifest))
    print(f'wrote {args.manifest}: {summary(kinds)}')
    if args.out:
        counts = write_bag(kinds, Path(args.out))
        print(f'wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB): {counts}')
    return 0


if __name__ == '__main__':
    p = argparse.ArgumentParser(prog='python -m mipnet_ros.testing.bad_inputs', description=__doc__.splitlines()[0])
    add_arguments(p)
    sys.exit(main(p.parse_args()))
