"""Calibration crops for int8 quantization from what a robot user has: images and person boxes.

The quantizer fits its int8 ranges to the activations of these crops, so they should show what the
camera will show. Sources here are ROS-free: an image folder with boxes from a JSON file, or, without
any detector, the centre-box policy (`centre_box`). Crops from a recorded bag are assembled by
`mipnet_ros.offline.calibration` with the same helpers.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core.errors import UsageError

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# the estimator pads every box by this factor (transforms.DEFAULT_PADDING); the centre box is shrunk by
# it so that the crop it gives spans the image height
_CENTRE_BOX_HEIGHT = 0.8


@dataclass
class CalibrationSet:
    """Normalised crops (M,3,H,W) float32, as the estimator feeds the network, and where they came from."""
    crops: np.ndarray
    source: str


def centre_box(image_shape: Sequence[int], input_size: Sequence[int]) -> np.ndarray:
    """The detector-free policy: one box of the model's aspect ratio in the middle of the image, 80 % of
    its height (or of its width, for images narrower than the model's aspect), so that the crop the
    estimator makes of it (1.25 padding) spans the image: a person standing in front of the camera."""
    img_h, img_w = float(image_shape[0]), float(image_shape[1])
    aspect = float(input_size[1]) / float(input_size[0])      # width / height of the network input
    h = _CENTRE_BOX_HEIGHT * min(img_h, img_w / aspect)
    w = h * aspect
    cx, cy = img_w / 2.0, img_h / 2.0
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def spread(count_total: int, count: int, seed: int = 0) -> List[int]:
    """`count` of `count_total` candidates, in a seeded random order: the first ones (the held-out check
    crops of `quantize_checked`) come from anywhere in the recording, not from its first seconds."""
    order = np.random.default_rng(seed).permutation(int(count_total))
    return [int(i) for i in order[:max(0, int(count))]]


def crops_of(image_bgr: np.ndarray, boxes: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """Normalised crops (M,3,H,W) of `boxes` (M,4 x1,y1,x2,y2 pixels) in one image."""
    from mipnet_ros.core.transforms import prepare_crops, valid_box_mask
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    boxes = boxes[valid_box_mask(boxes, image_bgr.shape[:2])]
    if len(boxes) == 0:
        return np.zeros((0, 3) + tuple(int(v) for v in input_size), np.float32)
    return prepare_crops(image_bgr, boxes, tuple(int(v) for v in input_size))[0].astype(np.float32)


def load_boxes_json(path) -> Dict[str, np.ndarray]:
    """{image file name: (M,4) x1,y1,x2,y2 pixel boxes} from a JSON object of that shape."""
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as exc:
        raise UsageError(f'{path}: not valid JSON ({exc})') from exc
    if not isinstance(data, dict):
        raise UsageError(f'{path}: expected an object {{"image.jpg": [[x1, y1, x2, y2], ...], ...}}')
    out = {}
    for name, boxes in data.items():
        arr = np.asarray(boxes, np.float32)
        if arr.size and (arr.ndim != 2 or arr.shape[1] != 4):
            raise UsageError(f'{path}: boxes of {name!r} must be a list of [x1, y1, x2, y2], got shape {arr.shape}')
        out[str(name)] = arr.reshape(-1, 4)
    return out


def image_files(folder) -> List[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f'{folder}: not a folder of images')
    files = sorted(p for p in folder.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f'{folder}: no images ({", ".join(IMAGE_SUFFIXES)})')
    return files


def folder_crops(folder, input_size: Sequence[int], count: int, boxes_json=None, seed: int = 0) -> CalibrationSet:
    """Up to `count` crops of the images in `folder`: the boxes of `boxes_json` (keys: file names relative to
    the folder, or bare names), else one `centre_box` per image."""
    import cv2
    folder = Path(folder)
    files = image_files(folder)
    given = load_boxes_json(boxes_json) if boxes_json else None
    candidates: List[Tuple[Path, Optional[np.ndarray]]] = []     # (file, box or None = centre box)
    for f in files:
        if given is None:
            candidates.append((f, None))
            continue
        boxes = given.get(f.relative_to(folder).as_posix(), given.get(f.name))
        candidates.extend((f, b) for b in (boxes if boxes is not None else ()))
    if not candidates:
        raise UsageError(f'{boxes_json}: none of its image names is in {folder}')
    chosen = spread(len(candidates), count, seed)
    crops = []
    for i in chosen:
        f, box = candidates[i]
        image = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if image is None:
            continue
        box = centre_box(image.shape, input_size) if box is None else box
        crops.append(crops_of(image, box[None], input_size))
    crops_arr = np.concatenate(crops) if crops else np.zeros((0, 3) + tuple(input_size), np.float32)
    if len(crops_arr) == 0:
        raise UsageError(f'{folder}: no calibration crop could be made (unreadable images or boxes outside them)')
    policy = f'boxes of {Path(boxes_json).name}' if given is not None else 'one centre box per image'
    return CalibrationSet(crops_arr, f'image folder {folder.name} ({policy}: {len(crops_arr)} of {len(candidates)} '
                                     f'boxes)')
