"""REP-155 `/cropped`: the body's box cut out of the camera image whose stamp the keypoints carry.

Images wait in a small cache keyed by header stamp (bounded in count and bytes); the cut keeps the
image's encoding for the raw encodings below (bytes copied row by row, no conversion) and gives
bgr8 for the others (through convert.image_msg_to_bgr). Pixel rule: a box (x1, y1, x2, y2) whose
pixel centres are integers covers columns floor(x1 + 0.5) .. ceil(x2 + 0.5) - 1, clipped to the image.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.ros.convert import image_msg_to_bgr, stamp_to_ns

# raw encodings cut without conversion: bytes per pixel
BYTES_PER_PIXEL = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, 'mono16': 2, '8UC1': 1, '8UC3': 3,
                   '8UC4': 4, '16UC1': 2, '32FC1': 4}
MAX_CACHE_BYTES = 64 * 1024 * 1024


def pixel_rect(xyxy: Sequence[float], width: int, height: int) -> Optional[Tuple[int, int, int, int]]:
    """(col0, row0, col1, row1), end exclusive, of a box in pixel-centre coordinates; None when empty."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if not all(np.isfinite([x1, y1, x2, y2])):
        return None
    c0, r0 = max(int(np.floor(x1 + 0.5)), 0), max(int(np.floor(y1 + 0.5)), 0)
    c1, r1 = min(int(np.ceil(x2 + 0.5)), width), min(int(np.ceil(y2 + 0.5)), height)
    return (c0, r0, c1, r1) if c1 > c0 and r1 > r0 else None


def crop_image(image: Any, xyxy: Sequence[float]):
    """sensor_msgs/Image of the box, the source header copied; None for an empty box or a bad image."""
    from sensor_msgs.msg import Image
    w, h = int(image.width), int(image.height)
    rect = pixel_rect(xyxy, w, h)
    if rect is None:
        return None
    c0, r0, c1, r1 = rect
    bpp = BYTES_PER_PIXEL.get(image.encoding)
    if bpp is not None and int(image.step) >= w * bpp and len(image.data) >= int(image.step) * h:
        rows = np.frombuffer(bytes(image.data) if not isinstance(image.data, np.ndarray) else image.data,
                             np.uint8)[:int(image.step) * h].reshape(h, int(image.step))
        cut = np.ascontiguousarray(rows[r0:r1, c0 * bpp:c1 * bpp])
        encoding, big = image.encoding, int(image.is_bigendian)
    else:
        try:
            bgr = image_msg_to_bgr(image)
        except Exception:  # noqa: BLE001 - an image that cannot be read gives no crop
            return None
        cut = np.ascontiguousarray(bgr[r0:r1, c0:c1]).reshape(r1 - r0, -1)
        encoding, big = 'bgr8', 0
    out = Image(header=image.header, height=r1 - r0, width=c1 - c0, encoding=encoding, is_bigendian=big,
                step=int(cut.shape[1]))
    out.data = cut.tobytes()
    return out


class ImageCache:
    """The latest images by header stamp, at most `size` of them and MAX_CACHE_BYTES together."""

    def __init__(self, size: int = 10):
        self._size = max(int(size), 1)
        self._images: 'OrderedDict[int, Any]' = OrderedDict()
        self._bytes = 0

    def add(self, msg: Any) -> None:
        key = stamp_to_ns(msg.header.stamp)
        if key in self._images:
            self._bytes -= len(self._images.pop(key).data)
        self._images[key] = msg
        self._bytes += len(msg.data)
        while self._images and (len(self._images) > self._size or self._bytes > MAX_CACHE_BYTES):
            _, old = self._images.popitem(last=False)
            self._bytes -= len(old.data)

    def get(self, stamp: Any) -> Optional[Any]:
        return self._images.get(stamp_to_ns(stamp))

    def clear(self) -> None:
        self._images.clear()
        self._bytes = 0
