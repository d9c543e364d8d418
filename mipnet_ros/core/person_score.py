"""The person score: one rule for the Python API, `eval` and the node, so the same image and boxes give
the same people everywhere and `instance_threshold` means one thing.

    person = detector score x decay(lambda) x (sum of the confident joints' confidences) / K

- Pose part: a joint counts when its confidence exceeds `keypoint_threshold`; the sum of those
  confidences is divided by all K joints (the mean over the confident joints times the fraction that is
  confident). A stricter `keypoint_threshold` only removes terms, so it can never raise a score, and a
  pose with few confident joints (typically a guess for a hidden person) scores low.
- Detector score: the box's confidence in [0, 1] multiplies the score (1 when the caller gives none, as
  for ground-truth boxes or a detector without scores), as top-down COCO evaluation does.
- decay: lambda > 0 poses (people found behind the box's main person) carry `instance_score_decay` of it.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def pose_scores(keypoint_scores: np.ndarray, keypoint_threshold: float) -> np.ndarray:
    """(..., K) joint confidences -> (...) pose scores in [0, 1]: confident confidences summed over K."""
    sc = np.nan_to_num(np.asarray(keypoint_scores, np.float64), nan=0.0)
    k = sc.shape[-1]
    if k == 0:
        return np.zeros(sc.shape[:-1])
    confident = np.where(sc > keypoint_threshold, np.clip(sc, 0.0, 1.0), 0.0)
    return confident.sum(-1) / k


def person_scores(keypoint_scores: np.ndarray, keypoint_threshold: float, instance_score_decay: float,
                  box_scores: Optional[np.ndarray] = None) -> np.ndarray:
    """(M, N, K) joint confidences of M boxes x N lambdas -> (M, N) person scores in [0, 1]."""
    pose = pose_scores(keypoint_scores, keypoint_threshold)
    m, n = pose.shape
    decay = np.where(np.arange(n) > 0, float(instance_score_decay), 1.0)
    det = np.ones(m) if box_scores is None else np.asarray(box_scores, np.float64).reshape(m)
    return np.clip(pose * decay[None, :] * det[:, None], 0.0, 1.0)
