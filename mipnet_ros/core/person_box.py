"""One found person as consumers receive it: finite keypoints, COCO-like visibility, its own box.

A person MIPNet finds behind another comes out of the occluder's crop; giving it the crop box would
make trackers and box matchers merge the two. Its own box is built from its confident keypoints and
padded as top-down estimators pad their crops. Pixel convention: the centre of the top-left pixel is
(0, 0), so the image covers [-0.5, W - 0.5] x [-0.5, H - 0.5].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

# COCO-style visibility flags of a published keypoint
NO_ESTIMATE, BELOW_THRESHOLD, CONFIDENT = 0, 1, 2
# Top-down estimators (HRNet, MIPNet) enlarge the person box by 25 % before cropping.
BOX_PADDING = 0.25
MIN_BOX_KEYPOINTS = 2
# An own box is at least this share of the crop box's width and height (the person's scale).
MIN_CROP_FRACTION = 0.5


@dataclass
class PersonRecord:
    """What the keypoints message carries of one person (all arrays finite)."""
    keypoints: np.ndarray       # (K, 2) float32, (0, 0) where visibility is 0
    scores: np.ndarray          # (K,) float32 in [0, 1]
    visibility: np.ndarray      # (K,) uint8: 0 no estimate, 1 below threshold, 2 confident
    bbox: np.ndarray            # (4,) float32 xyxy, the person's own extent
    crop_bbox: np.ndarray       # (4,) float32 xyxy, the detection box that was cropped


def keypoint_visibility(keypoints: np.ndarray, scores: np.ndarray, threshold: float
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoints, scores, visibility) with no NaN: bad positions become (0, 0) with visibility 0."""
    kp = np.asarray(keypoints, np.float32).reshape(-1, 2)
    sc = np.asarray(scores, np.float32).reshape(-1)
    if sc.shape[0] != kp.shape[0]:
        raise ValueError(f'{kp.shape[0]} keypoints but {sc.shape[0]} scores')
    estimated = np.all(np.isfinite(kp), axis=1) & np.isfinite(sc)
    vis = np.where(estimated, np.where(sc >= threshold, CONFIDENT, BELOW_THRESHOLD), NO_ESTIMATE).astype(np.uint8)
    kp = np.where(estimated[:, None], kp, 0.0).astype(np.float32)
    sc = np.clip(np.where(estimated, sc, 0.0), 0.0, 1.0).astype(np.float32)
    return kp, sc, vis


def clip_box(xyxy: Sequence[float], image_shape: Tuple[int, int]) -> np.ndarray:
    """xyxy clipped to the image extent [-0.5, W - 0.5] x [-0.5, H - 0.5]; non-finite -> the image."""
    h, w = int(image_shape[0]), int(image_shape[1])
    lo = np.array([-0.5, -0.5, -0.5, -0.5], np.float64)
    hi = np.array([w - 0.5, h - 0.5, w - 0.5, h - 0.5], np.float64)
    box = np.asarray(xyxy, np.float64).reshape(4)
    box = np.where(np.isfinite(box), box, np.array([lo[0], lo[1], hi[2], hi[3]]))
    return np.clip(box, lo, hi).astype(np.float32)


def own_box(keypoints: np.ndarray, visibility: np.ndarray, crop_xyxy: Sequence[float],
            image_shape: Tuple[int, int], padding: float = BOX_PADDING,
            min_keypoints: int = MIN_BOX_KEYPOINTS) -> np.ndarray:
    """The person's own box: confident keypoints' extent grown by `padding`, clipped to the image.

    With fewer than `min_keypoints` confident keypoints there is no extent to speak of, so the
    crop box (clipped) stands in. A box is never narrower than MIN_CROP_FRACTION of the crop box's
    width nor lower than that fraction of its height (the crop box is the person's scale: a person
    seen only by its eyes still gets a head-and-shoulders sized box, not a 25 x 1 px line), and
    never thinner than one pixel.
    """
    kp = np.asarray(keypoints, np.float64).reshape(-1, 2)
    sure = np.asarray(visibility).reshape(-1) == CONFIDENT
    if int(sure.sum()) < min_keypoints:
        return clip_box(crop_xyxy, image_shape)
    (x1, y1), (x2, y2) = kp[sure].min(axis=0), kp[sure].max(axis=0)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    crop = np.asarray(crop_xyxy, np.float64).reshape(4)
    crop_w, crop_h = ((crop[2] - crop[0]), (crop[3] - crop[1])) if np.all(np.isfinite(crop)) else (0.0, 0.0)
    half_w = max((x2 - x1) * (1.0 + padding), MIN_CROP_FRACTION * max(crop_w, 0.0), 1.0) / 2.0
    half_h = max((y2 - y1) * (1.0 + padding), MIN_CROP_FRACTION * max(crop_h, 0.0), 1.0) / 2.0
    return clip_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), image_shape)


def person_record(keypoints: np.ndarray, scores: np.ndarray, crop_xyxy: Sequence[float],
                  image_shape: Tuple[int, int], threshold: float) -> PersonRecord:
    """The published form of one estimator person (see the module docstring for the conventions)."""
    kp, sc, vis = keypoint_visibility(keypoints, scores, threshold)
    crop = np.asarray(crop_xyxy, np.float32).reshape(4)
    return PersonRecord(kp, sc, vis, own_box(kp, vis, crop, image_shape), crop)


def unit_score(value: float, default: float = 1.0) -> float:
    """A score for the message: finite and in [0, 1] (`default` when not finite)."""
    v = float(value)
    return float(min(max(v, 0.0), 1.0)) if np.isfinite(v) else float(default)
