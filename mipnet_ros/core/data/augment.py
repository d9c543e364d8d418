"""Random augmentation of a training crop: scale, rotation, horizontal flip, half body, colour.

Everything geometric is expressed as a change of the crop (centre, scale, rotation) or as a
mirror of the whole image, so the same affine matrix then moves the box's own person AND the
other people of the image: their targets stay consistent with the pixels.
Parameters follow the HRNet/MIPNet recipe (scale factor 0.35, rotation 45 deg applied with
probability 0.6, half body with probability 0.3 when more than 8 joints are visible).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from mipnet_ros.core.skeleton import Skeleton

_LOWER_WORDS = ('hip', 'knee', 'ankle')


@dataclass
class AugmentConfig:
    scale_factor: float = 0.35        # scale *= clip(1 + sf * N(0,1), 1 - sf, 1 + sf)
    rotation_factor: float = 45.0     # degrees; rotation = clip(rf * N(0,1), -2 rf, 2 rf)
    rotation_prob: float = 0.6
    flip: bool = True
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8     # half body only when the person shows more joints than this
    half_body_padding: float = 1.5
    color_jitter: float = 0.2         # brightness/contrast/saturation factors in [1 - c, 1 + c]; 0 = off


def lower_body_mask(skeleton: Skeleton) -> np.ndarray:
    """True for hip/knee/ankle joints: half-body augmentation keeps either these or the rest."""
    return np.array([any(w in n for w in _LOWER_WORDS) for n in skeleton.keypoint_names], bool)


def half_body_box(joints: np.ndarray, visible: np.ndarray, lower: np.ndarray, rng: np.random.Generator,
                  aspect: float, padding: float) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Centre/scale (pixels) of a crop around the upper or the lower half of the visible joints.

    Teaches the network to cope with truncated people (a crop that shows only legs or torso).
    Returns None when the chosen half has fewer than two visible joints.
    """
    upper_ids = np.nonzero(visible & ~lower)[0]
    lower_ids = np.nonzero(visible & lower)[0]
    ids = upper_ids if (rng.random() < 0.5 and len(upper_ids) > 2) else lower_ids
    if len(ids) < 2:
        ids = upper_ids
    if len(ids) < 2:
        return None
    pts = joints[ids, :2]
    lo, hi = pts.min(0), pts.max(0)
    center = pts.mean(0)
    w, h = hi - lo
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return center, np.array([w, h]) * padding


def random_geometry(rng: np.random.Generator, cfg: AugmentConfig) -> Tuple[float, float, bool]:
    """(scale multiplier, rotation in degrees, flip?) for one sample."""
    sf, rf = cfg.scale_factor, cfg.rotation_factor
    s = float(np.clip(rng.standard_normal() * sf + 1.0, 1.0 - sf, 1.0 + sf))
    r = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)) if rng.random() <= cfg.rotation_prob else 0.0
    flip = bool(cfg.flip and rng.random() < 0.5)
    return s, r, flip


def color_jitter(crop_bgr: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast and saturation of a uint8 BGR crop (one factor each)."""
    if strength <= 0:
        return crop_bgr
    img = crop_bgr.astype(np.float32)
    b, c, s = (1.0 + rng.uniform(-strength, strength, 3)).tolist()
    img *= b
    mean = img.mean()
    img = (img - mean) * c + mean
    gray = img @ np.array([0.114, 0.587, 0.299], np.float32)
    img = (img - gray[..., None]) * s + gray[..., None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
