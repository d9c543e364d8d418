"""Conversions between ROS messages and what the ROS-free core works with.

Why it works this way: docs/design_notes.md."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core import person_box

# encoding -> (channels, cv2 conversion code name to BGR or None when already BGR)
RAW_ENCODINGS: Dict[str, Tuple[int, Optional[str]]] = {
    'bgr8': (3, None),
    'rgb8': (3, 'COLOR_RGB2BGR'),
    'mono8': (1, 'COLOR_GRAY2BGR'),
    'bgra8': (4, 'COLOR_BGRA2BGR'),
    'rgba8': (4, 'COLOR_RGBA2BGR'),
}
# sensor_msgs/CompressedImage.format strings look like "jpeg", "png", "bgr8; jpeg compressed bgr8"
COMPRESSED_FORMATS = ('jpeg', 'jpg', 'png')


class ImageConversionError(ValueError):
    """An image the node will not process. `reason` is a short counter key for diagnostics."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _cv2():
    import cv2  # local: keeps `import mipnet_ros.ros.convert` light for the message-only users
    return cv2


try:  # pragma: no cover - depends on the installation
    from cv_bridge import CvBridge as _CvBridge  # type: ignore
    _BRIDGE = _CvBridge()
except Exception:  # noqa: BLE001 - any failure means "not usable", we have our own path
    _BRIDGE = None


def raw_to_bgr(encoding: str, height: int, width: int, step: int, is_bigendian: int,
               data: Any) -> np.ndarray:
    """Return a contiguous (H, W, 3) uint8 BGR copy of a sensor_msgs/Image payload.

    All accepted encodings have 1-byte channels, so `is_bigendian` cannot change their meaning:
    it is accepted either way (only 0/1 are sane values). Rows may be padded (`step` larger than
    width * channels) but the payload must be exactly `step * height` bytes, as sensor_msgs says.
    """
    enc = (encoding or '').strip().lower()
    if enc not in RAW_ENCODINGS:
        raise ImageConversionError(
            'encoding', f'unsupported image encoding {encoding!r} (supported: '
            f'{", ".join(sorted(RAW_ENCODINGS))}, or CompressedImage jpeg/png)')
    channels, code = RAW_ENCODINGS[enc]
    if is_bigendian not in (0, 1, False, True):
        raise ImageConversionError('layout', f'is_bigendian must be 0 or 1, got {is_bigendian!r}')
    if height <= 0 or width <= 0:
        raise ImageConversionError('layout', f'empty image {width}x{height}')
    row = width * channels
    if step < row:
        raise ImageConversionError('layout', f'step {step} < width*channels {row} for {enc}')
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        raise ImageConversionError(
            'layout', f'data has {buf.size} bytes, expected step*height = {step}*{height} = {step * height}')
    pixels = buf.reshape(height, step)[:, :row].reshape(height, width, channels)
    if code is None:
        return np.ascontiguousarray(pixels)
    cv2 = _cv2()
    if channels == 1:
        pixels = pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), getattr(cv2, code))


def compressed_to_bgr(fmt: str, data: Any) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg or png) to (H, W, 3) uint8 BGR."""
    f = (fmt or '').lower()
    if f and not any(name in f for name in COMPRESSED_FORMATS):
        raise ImageConversionError('encoding', f'unsupported compressed format {fmt!r} (jpeg or png only)')
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ImageConversionError('decode', 'empty compressed image')
    cv2 = _cv2()
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageConversionError('decode', f'could not decode compressed image (format {fmt!r})')
    return img


def bgr_to_raw(bgr: np.ndarray, encoding: str = 'bgr8') -> Tuple[int, int, int, bytes]:
    """(height, width, step, data) of `bgr` re-encoded as `encoding` (no row padding)."""
    enc = encoding.lower()
    if enc not in RAW_ENCODINGS:
        raise ImageConversionError('encoding', f'cannot encode {encoding!r}')
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ValueError(f'expected (H, W, 3) uint8 BGR, got {bgr.shape} {bgr.dtype}')
    cv2 = _cv2()
    inverse = {'bgr8': None, 'rgb8': cv2.COLOR_BGR2RGB, 'mono8': cv2.COLOR_BGR2GRAY,
               'bgra8': cv2.COLOR_BGR2BGRA, 'rgba8': cv2.COLOR_BGR2RGBA}[enc]
    out = bgr if inverse is None else cv2.cvtColor(bgr, inverse)
    out = np.ascontiguousarray(out)
    h, w = out.shape[:2]
    return h, w, out.strides[0], out.tobytes()


def compress_bgr(bgr: np.ndarray, fmt: str = 'jpeg', quality: int = 90) -> bytes:
    cv2 = _cv2()
    ext = '.png' if fmt == 'png' else '.jpg'
    params = [] if ext == '.png' else [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise ImageConversionError('decode', f'could not encode {fmt}')
    return buf.tobytes()


# ---------------------------------------------------------------- ROS message helpers (duck-typed)
def image_msg_to_bgr(msg: Any) -> np.ndarray:
    """sensor_msgs/Image or sensor_msgs/CompressedImage -> BGR uint8 (raises ImageConversionError)."""
    if hasattr(msg, 'encoding'):
        enc = (msg.encoding or '').strip().lower()
        if _BRIDGE is not None and enc in RAW_ENCODINGS:  # pragma: no cover - no cv_bridge in CI
            try:
                return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding='bgr8'))
            except Exception as exc:  # noqa: BLE001 - report as a layout problem
                raise ImageConversionError('layout', f'cv_bridge: {exc}') from exc
        return raw_to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
    return compressed_to_bgr(msg.format, msg.data)


def stamp_to_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def bgr_to_image_msg(bgr: np.ndarray, header: Any, encoding: str = 'bgr8'):
    from sensor_msgs.msg import Image
    h, w, step, data = bgr_to_raw(bgr, encoding)
    msg = Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0, step=step)
    msg.data = data
    return msg


def bbox2d_to_xyxy(bbox: Any) -> np.ndarray:
    """vision_msgs/BoundingBox2D (center + size, theta ignored) -> [x1, y1, x2, y2]."""
    cx, cy = float(bbox.center.position.x), float(bbox.center.position.y)
    hw, hh = float(bbox.size_x) / 2.0, float(bbox.size_y) / 2.0
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], dtype=np.float32)


def xyxy_to_bbox2d(xyxy: Sequence[float]):
    from vision_msgs.msg import BoundingBox2D
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    box = BoundingBox2D()
    box.center.position.x = (x1 + x2) / 2.0
    box.center.position.y = (y1 + y2) / 2.0
    box.size_x = x2 - x1
    box.size_y = y2 - y1
    return box


def detection_person_score(det: Any, class_ids: Sequence[str], unlabeled_is_person: bool) -> Optional[float]:
    """Best person-class hypothesis score of a vision_msgs/Detection2D, or None when it is no person.

    Detectors disagree on how they name the person class ("person", COCO's 0-based "0" or 1-based
    "1"), hence the configurable list. A detection without any hypothesis counts as a person with
    score 1 only when `unlabeled_is_person` is set (person-only detectors often leave it empty).
    """
    if not det.results:
        return 1.0 if unlabeled_is_person else None
    wanted = set(class_ids)
    scores = [float(r.hypothesis.score) for r in det.results if str(r.hypothesis.class_id) in wanted]
    if not scores:
        return None
    finite = [s for s in scores if math.isfinite(s)]
    return max(finite) if finite else float('nan')   # NaN: a person with a broken score (rejected)


# what each rejection reason of select_person_boxes means and how to fix it (for the node's log)
BOX_REJECT_HINTS: Dict[str, str] = {
    'score': 'the person score is NaN or infinite',
    'nonfinite': 'NaN or infinite box coordinates',
    'size': 'size_x or size_y <= 0: BoundingBox2D is center + size in pixels',
    'outside': 'the box lies entirely outside the image',
    'normalized': 'every box of the frame lies within [0, 1]: the detector publishes normalised coordinates; '
                  'scale center and size by the image width and height',
}


def select_person_boxes(dets: Sequence[Any], class_ids: Sequence[str], score_threshold: float,
                        max_boxes: int, unlabeled_is_person: bool = False,
                        image_shape: Optional[Tuple[int, int]] = None,
                        rejected: Optional[Dict[str, int]] = None) -> List[Tuple[int, str, np.ndarray]]:
    """(index in the array, id, xyxy) of the person detections to run, best `max_boxes` first kept.

    The result is in the original array order so that `detection_index` stays meaningful.
    Person boxes that cannot be run (non-finite score or coordinates, no area, entirely outside
    `image_shape`, or all of the frame's boxes within [0, 1] on a larger image: normalised
    coordinates) are counted per reason in `rejected` (see BOX_REJECT_HINTS); other classes and
    low scores are policy, not faults, and are not counted. The same checks as the Python API's
    (core/inputs.py), except that one bad box never costs the others their results.
    """
    def reject(reason: str) -> None:
        if rejected is not None:
            rejected[reason] = rejected.get(reason, 0) + 1

    scored = []
    for i, det in enumerate(dets):
        s = detection_person_score(det, class_ids, unlabeled_is_person)
        if s is None:
            continue
        if not math.isfinite(s):
            reject('score')
            continue
        if s < score_threshold:
            continue
        xyxy = bbox2d_to_xyxy(det.bbox)
        if not np.all(np.isfinite(xyxy)):
            reject('nonfinite')
            continue
        if not (xyxy[2] > xyxy[0] and xyxy[3] > xyxy[1]):
            reject('size')
            continue
        if image_shape is not None and not (xyxy[2] > 0 and xyxy[3] > 0 and xyxy[0] < image_shape[1]
                                            and xyxy[1] < image_shape[0]):
            reject('outside')
            continue
        scored.append((s, i, str(det.id), xyxy))
    if scored and image_shape is not None and max(image_shape[:2]) > 2 and \
            all(float(b.min()) >= 0.0 and float(b.max()) <= 1.0 for _, _, _, b in scored):
        for _ in scored:
            reject('normalized')
        return []
    if max_boxes > 0 and len(scored) > max_boxes:
        scored = sorted(scored, key=lambda t: -t[0])[:max_boxes]
    return [(i, did, xyxy) for _, i, did, xyxy in sorted(scored, key=lambda t: t[1])]


def detection_scores(dets: Sequence[Any], boxes: Sequence[Tuple[int, str, np.ndarray]], class_ids: Sequence[str],
                     unlabeled_is_person: bool) -> List[float]:
    """Person score of the detection behind each selected box (1 when the detector gave none)."""
    out = []
    for index, _id, _xyxy in boxes:
        s = detection_person_score(dets[index], class_ids, unlabeled_is_person) if 0 <= index < len(dets) else None
        out.append(person_box.unit_score(1.0 if s is None else s))
    return out


def person_id(detection_index: int, detection_id: str, instance: int) -> str:
    """"<detection>#<lambda>": the detector's id when it gave one, else the detection's index."""
    return f'{detection_id or detection_index}#{int(instance)}'


def people_to_msg(header: Any, image_shape: Tuple[int, int], skeleton: str, people: Sequence[Any],
                  boxes: Sequence[Tuple[int, str, np.ndarray]], keypoint_threshold: float,
                  instance_threshold: float = 0.0, box_scores: Optional[Sequence[float]] = None):
    """mipnet_ros/PersonKeypointsArray from estimator people (conventions: msg/PersonKeypoints.msg).

    `boxes[p.box_index]` is (detection index, detection id, xyxy) of the box each person came from,
    `box_scores` the matching detection scores. Each person gets its own id and its own box; the
    crop box and the detection's id and score go in their own fields. Nothing published is NaN.
    """
    from mipnet_ros.msg import PersonKeypoints, PersonKeypointsArray
    out = PersonKeypointsArray(header=header, image_height=int(image_shape[0]),
                               image_width=int(image_shape[1]), skeleton=skeleton)
    seen = set()
    for p in people:
        score = float(p.score)
        if not math.isfinite(score) or score < instance_threshold:
            continue
        det_index, det_id, xyxy = boxes[p.box_index]
        rec = person_box.person_record(p.keypoints, p.keypoint_scores, xyxy, image_shape, keypoint_threshold)
        pid = person_id(det_index, det_id, p.instance)
        if pid in seen:   # a detector that repeats ids: the index keeps ours unique
            pid = f'{det_index}:{pid}'
        seen.add(pid)
        det_score = 1.0 if box_scores is None else person_box.unit_score(box_scores[p.box_index])
        out.persons.append(PersonKeypoints(
            id=pid, detection_id=str(det_id), detection_index=int(det_index), detection_score=det_score,
            instance_index=int(p.instance), score=person_box.unit_score(score, 0.0),
            bbox=xyxy_to_bbox2d(rec.bbox), crop_bbox=xyxy_to_bbox2d(rec.crop_bbox),
            x=rec.keypoints[:, 0].tolist(), y=rec.keypoints[:, 1].tolist(),
            keypoint_scores=rec.scores.tolist(), visibility=rec.visibility.tolist()))
    return out


def msg_to_arrays(msg: Any) -> List[Dict[str, Any]]:
    """PersonKeypointsArray -> list of plain dicts (keypoints (K,2), visibility (K,), box xyxy, ids ...).

    Used by the visualiser, the tracker and the replay summary, so all read the published message,
    not internal state: what you see is what was sent. A message without visibility (an older
    publisher) gets it from the positions: finite = confident, NaN = no estimate.
    """
    people = []
    for p in msg.persons:
        x, y = np.asarray(p.x, np.float32), np.asarray(p.y, np.float32)
        k = min(len(x), len(y))
        kp = np.stack([x[:k], y[:k]], axis=1) if k else np.zeros((0, 2), np.float32)
        vis = np.asarray(p.visibility, np.uint8).reshape(-1)
        if len(vis) != k:
            vis = np.where(np.all(np.isfinite(kp), axis=1), person_box.CONFIDENT, person_box.NO_ESTIMATE)
        vis = np.where(np.all(np.isfinite(kp), axis=1), vis, person_box.NO_ESTIMATE).astype(np.uint8)
        kp = np.where(vis[:, None] > 0, kp, 0.0).astype(np.float32)
        people.append({'keypoints': kp, 'visibility': vis, 'scores': np.asarray(p.keypoint_scores, np.float32),
                       'box': bbox2d_to_xyxy(p.bbox), 'crop_box': bbox2d_to_xyxy(p.crop_bbox),
                       'score': float(p.score), 'id': p.id, 'track_id': p.track_id,
                       'detection_id': p.detection_id, 'instance': int(p.instance_index),
                       'detection_index': int(p.detection_index)})
    return people


def model_info_msg(header: Any, estimator: Any, backend: str, device: str, keypoint_threshold: float,
                   instance_threshold: float, oks_nms_threshold: float):
    """mipnet_ros/PoseModelInfo describing the loaded estimator (names, edges, hash, sizes)."""
    import os

    from mipnet_ros.msg import PoseModelInfo
    spec = estimator.spec
    skel = estimator.skeleton
    edges = [(int(a), int(b)) for a, b in getattr(skel, 'edges', ())]
    path = str(getattr(estimator, 'model_path', '') or '')
    h, w = (int(v) for v in spec.input_size)
    return PoseModelInfo(
        header=header, model_name=os.path.basename(path) or str(spec.arch),
        model_hash=str(getattr(estimator, 'model_hash', '') or ''), arch=str(spec.arch), backend=backend,
        layout=str(getattr(estimator, 'layout', '')),
        device=device, num_instances=int(spec.instances), input_height=h, input_width=w,
        skeleton=str(getattr(skel, 'name', '')), keypoint_names=[str(n) for n in skel.keypoint_names],
        edges_from=[a for a, _ in edges], edges_to=[b for _, b in edges],
        keypoint_threshold=float(keypoint_threshold), instance_threshold=float(instance_threshold),
        oks_nms_threshold=float(oks_nms_threshold))
