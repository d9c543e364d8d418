"""Conversions between ROS messages and what the ROS-free core works with (and nothing else: which
detections to run is ros/detection_policy.py, reading a keypoints message is ros/person_record.py).

The pixel functions (`raw_to_bgr`, `compressed_to_bgr`, `bgr_to_raw`) take plain fields, so they are
tested without ROS and state exactly which sensor_msgs/Image layouts are accepted. Message builders
import their message types when called: importing this module never needs rclpy.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

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
    """sensor_msgs/Image or sensor_msgs/CompressedImage -> BGR uint8 (raises ImageConversionError).

    Our own conversion on every install, cv_bridge or not: the one the tests cover, and the one that
    reports a bad layout as a counted reason instead of an exception from a C++ extension.
    """
    if hasattr(msg, 'encoding'):
        return raw_to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
    return compressed_to_bgr(msg.format, msg.data)


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (a header stamp, rosbags' too) -> integer nanoseconds."""
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


def person_id(detection_index: int, detection_id: str, instance: int) -> str:
    """"<detection>#<lambda>": the detector's id when it gave one, else the detection's index."""
    return f'{detection_id or detection_index}#{int(instance)}'


def people_to_msg(header: Any, image_shape: Tuple[int, int], skeleton: str, people: Sequence[Any],
                  boxes: Sequence[Any], keypoint_threshold: float, instance_threshold: float = 0.0):
    """mipnet_ros/PersonKeypointsArray from estimator people (conventions: msg/PersonKeypoints.msg).

    `boxes[p.box_index]` is the box each person came from (ros/detection_policy.PersonBox: index and
    id in the detection array, xyxy, detector score). Each person gets its own id and its own box; the
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
        box = boxes[p.box_index]
        rec = person_box.person_record(p.keypoints, p.keypoint_scores, box.xyxy, image_shape, keypoint_threshold)
        pid = person_id(box.index, box.id, p.instance)
        if pid in seen:   # a detector that repeats ids: the index keeps ours unique
            pid = f'{box.index}:{pid}'
        seen.add(pid)
        out.persons.append(PersonKeypoints(
            id=pid, detection_id=str(box.id), detection_index=int(box.index),
            detection_score=person_box.unit_score(box.score), instance_index=int(p.instance),
            score=person_box.unit_score(score, 0.0),
            bbox=xyxy_to_bbox2d(rec.bbox), crop_bbox=xyxy_to_bbox2d(rec.crop_bbox),
            x=rec.keypoints[:, 0].tolist(), y=rec.keypoints[:, 1].tolist(),
            keypoint_scores=rec.scores.tolist(), visibility=rec.visibility.tolist()))
    return out


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
