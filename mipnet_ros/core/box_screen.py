"""Which person boxes can be cropped: one rule for the Python API and the node.

Per box: NaN/inf coordinates ('nonfinite'), x2 <= x1 or y2 <= y1 ('size'), entirely outside the image
('outside'). For the boxes as a whole, two mistakes are systemic, because they come from the caller's
convention and not from one bad detection: every finite coordinate within [0, 1] on a larger image
('normalized': every finite box is rejected), and most finite boxes with x2 <= x1 or y2 <= y1
('xywh': boxes given as x, y, w, h). The API raises on a systemic mistake and warns about the others;
the node counts and logs every rejected box with its hint and runs the rest of the frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

XYWH_FIX = 'boxes[:, 2:] += boxes[:, :2]'

# what each rejection reason means and how to fix it, in the API's terms (x1, y1, x2, y2 pixel arrays)
REJECT_HINTS: Dict[str, str] = {
    'nonfinite': 'NaN or infinite box coordinates',
    'size': f'x2 <= x1 or y2 <= y1: boxes must be x1, y1, x2, y2 pixels (from x, y, w, h: {XYWH_FIX})',
    'outside': 'the box lies entirely outside the image',
    'normalized': 'every box coordinate lies within [0, 1]: the boxes look normalised; multiply them by the '
                  'image width and height',
    'xywh': 'most boxes have x2 <= x1 or y2 <= y1: boxes must be x1, y1, x2, y2 pixels',
}


@dataclass
class BoxScreen:
    """The verdict on the (M, 4) boxes of one image."""
    valid: np.ndarray              # (M,) bool: worth cropping
    reasons: List[str]             # (M,) '' for a valid box, else a key of REJECT_HINTS
    systemic: Optional[str] = None  # 'normalized' or 'xywh' when the boxes as a whole are wrong

    def counts(self) -> Dict[str, int]:
        """Rejected boxes per reason."""
        out: Dict[str, int] = {}
        for r in self.reasons:
            if r:
                out[r] = out.get(r, 0) + 1
        return out


def screen_boxes(boxes: np.ndarray, image_shape: Optional[Tuple[int, int]] = None) -> BoxScreen:
    """Screen (M, 4) x1, y1, x2, y2 pixel boxes of an image of `image_shape` (H, W); None skips the
    checks that need the image ('outside', 'normalized')."""
    arr = np.asarray(boxes, np.float64).reshape(-1, 4)
    finite = np.isfinite(arr).all(axis=1)
    with np.errstate(invalid='ignore'):
        sized = finite & (arr[:, 2] > arr[:, 0]) & (arr[:, 3] > arr[:, 1])
        inside = sized.copy()
        if image_shape is not None:
            h, w = int(image_shape[0]), int(image_shape[1])
            inside &= (arr[:, 2] > 0) & (arr[:, 3] > 0) & (arr[:, 0] < w) & (arr[:, 1] < h)
    reasons = ['' if ok else 'nonfinite' if not f else 'size' if not s else 'outside'
               for ok, f, s in zip(inside, finite, sized)]
    good = arr[finite]
    systemic = None
    if image_shape is not None and len(good) and max(int(image_shape[0]), int(image_shape[1])) > 2 \
            and good.min() >= 0.0 and good.max() <= 1.0:
        systemic = 'normalized'
        reasons = ['normalized' if f else r for f, r in zip(finite, reasons)]
        inside = np.zeros_like(inside)
    elif len(good) and int((~sized[finite]).sum()) * 2 > len(good):
        systemic = 'xywh'
    return BoxScreen(inside, reasons, systemic)


def swap_hint(boxes: np.ndarray) -> str:
    """For 'xywh': whether the boxes look like x, y, w, h or have their corners out of order."""
    arr = np.asarray(boxes, np.float64).reshape(-1, 4)
    good = arr[np.isfinite(arr).all(axis=1)]
    if len(good) and (good[:, 2:] > 0).all():
        return f'They look like x, y, w, h: convert with {XYWH_FIX}'
    return 'Check the corner order (x1 < x2, y1 < y2)'
