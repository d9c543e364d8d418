"""What PoseEstimator accepts as an image and as boxes, checked where they enter.

The common mistakes (x, y, w, h boxes, boxes normalised to [0, 1], a PIL image in RGB order, a
path or the None of a failed cv2.imread) would otherwise give an empty or wrong answer without a
word; here they raise a UsageError that names the fix, or, for a few bad rows among good ones,
return a note the estimator turns into a one-time warning.
"""
from typing import List, Optional, Tuple

import numpy as np

from mipnet_ros.core.box_screen import REJECT_HINTS, screen_boxes, swap_hint
from mipnet_ros.core.errors import UsageError


def _is_pil(image) -> bool:
    return type(image).__module__.split('.')[0] == 'PIL' and hasattr(image, 'convert') and hasattr(image, 'mode')


def as_bgr_image(image) -> np.ndarray:
    """An (H, W, 3) uint8 BGR array from what callers pass, or a UsageError saying how to get one.

    numpy arrays are taken as OpenCV gives them (BGR, BGRA, or one channel); PIL images are RGB by
    definition and are converted to BGR here.
    """
    if image is None:
        raise UsageError('image is None: cv2.imread returns None when it cannot read the file; '
                         'check the path and that the file is an image')
    if isinstance(image, (str, bytes)) or hasattr(image, '__fspath__'):
        raise UsageError(f'image is a path ({image!r}), not pixels: pass cv2.imread(path) (BGR uint8)')
    if _is_pil(image):
        rgb = np.asarray(image.convert('RGB'))
        return np.ascontiguousarray(rgb[..., ::-1])
    if type(image).__module__.split('.')[0] == 'torch':
        raise UsageError('image is a torch tensor: pass an (H, W, 3) uint8 BGR numpy array, e.g. '
                         'tensor.permute(1, 2, 0).cpu().numpy() for a (3, H, W) uint8 tensor (and [..., ::-1] '
                         'if it is RGB)')
    arr = np.asarray(image)
    if arr.dtype == object or arr.ndim == 0:
        raise UsageError(f'image must be an (H, W, 3) uint8 BGR array, got {type(image).__name__}')
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
        raise UsageError(f'image has shape {arr.shape}, channels first: pass image.transpose(1, 2, 0) '
                         '(H, W, 3) BGR')
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise UsageError(f'image must be (H, W, 3) BGR, (H, W, 4) BGRA or (H, W) gray, got shape {arr.shape}')
    if arr.dtype != np.uint8:
        raise UsageError(f'image must be uint8 (0..255), got {arr.dtype}: ' + _dtype_fix(arr))
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise UsageError(f'image is empty: shape {arr.shape}')
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr)


def _dtype_fix(arr: np.ndarray) -> str:
    if arr.dtype.kind == 'f':
        finite = arr[np.isfinite(arr)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            return 'values look like 0..1 floats: pass (image * 255).round().astype(np.uint8)'
        return 'pass np.clip(image, 0, 255).astype(np.uint8)'
    if arr.dtype == np.uint16:
        return '16-bit image: pass (image >> 8).astype(np.uint8)'
    return 'convert it with image.astype(np.uint8) after scaling to 0..255'


def as_boxes(boxes) -> np.ndarray:
    """(M, 4) float64 from any array-like; (0, 4) when empty."""
    if boxes is None:
        raise UsageError('boxes is None: pass an (M, 4) array of x1, y1, x2, y2 pixels (M may be 0)')
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim == 1 and arr.shape[0] == 4:
        raise UsageError('boxes must be (M, 4), got one box of shape (4,): pass [box] or box[None]')
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise UsageError(f'boxes must be (M, 4) x1, y1, x2, y2 pixels, got shape {arr.shape}')
    return arr


def check_boxes(boxes, image_shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray, List[Tuple[str, str]]]:
    """boxes (M, 4) float64, the mask of rows worth cropping, and (reason, message) notes on the others.

    The rule is core/box_screen.py's, shared with the node. Raises UsageError when the boxes as a whole
    cannot be x1, y1, x2, y2 pixels (normalised, or most of them x, y, w, h).
    """
    arr = as_boxes(boxes)
    h, w = int(image_shape[0]), int(image_shape[1])
    screen = screen_boxes(arr, (h, w))
    if screen.systemic == 'normalized':
        raise UsageError(f'all box coordinates are within [0, 1] on a {w}x{h} image: the boxes look normalised; '
                         f'boxes must be pixels: multiply them by ({w}, {h}, {w}, {h})')
    if screen.systemic == 'xywh':
        finite = np.isfinite(arr).all(axis=1)
        n_bad = sum(r == 'size' for r in screen.reasons)
        raise UsageError(f'{n_bad} of {int(finite.sum())} boxes have x2 <= x1 or y2 <= y1; boxes must be '
                         f'x1, y1, x2, y2 pixels. ' + swap_hint(arr))
    notes = [(reason, f'boxes skipped (no person is returned for them): {REJECT_HINTS[reason]}')
             for reason in sorted(screen.counts())]
    return arr, screen.valid, notes


def check_box_scores(box_scores, count: int) -> Optional[np.ndarray]:
    """(M,) detector confidences in [0, 1], or None."""
    if box_scores is None:
        return None
    det = np.asarray(box_scores, np.float64).reshape(-1)
    if det.shape[0] != count:
        raise UsageError(f'box_scores has {det.shape[0]} entries for {count} boxes')
    if not np.all((det >= 0.0) & (det <= 1.0)):
        raise UsageError('box_scores must be detector confidences in [0, 1] (they multiply the person scores), '
                         f'got values from {np.nanmin(det):g} to {np.nanmax(det):g}')
    return det


def input_size_note(trained, used) -> Optional[str]:
    """The warning for running a model at another input size than it was trained at (None when equal)."""
    if trained is None or used is None or tuple(int(v) for v in trained) == tuple(int(v) for v in used):
        return None
    th, tw = (int(v) for v in trained)
    uh, uw = (int(v) for v in used)
    return (f'the model was trained at input {th}x{tw} (HxW) and runs at {uh}x{uw}: allowed (the network is fully '
            f'convolutional) but keypoints are usually worse; leave input_size unset to use {th}x{tw}')
