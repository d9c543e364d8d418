"""Object Keypoint Similarity and greedy OKS non-maximum suppression, vectorised.

OKS(a, b) = mean over joints of exp(-d^2 / (2 * area * (2 sigma)^2)), the COCO keypoint metric.
MIPNet predicts N poses per box and neighbouring boxes see the same people, so the raw output
holds near-duplicates; OKS-NMS keeps the best-scoring one of each group, as the HRNet/MIPNet
evaluation does before scoring.
"""
from typing import List, Optional, Union

import numpy as np

_EPS = np.spacing(1)


def oks(pose: np.ndarray, others: np.ndarray, area: Union[float, np.ndarray], sigmas: np.ndarray,
        mask: Optional[np.ndarray] = None) -> np.ndarray:
    """OKS between one pose (K,2) and P poses (P,K,2) -> (P,).

    `area` is the object scale s^2 (scalar, or (P,) per pair, e.g. the mean of both areas as in
    OKS-NMS). `mask` (K,) or (P,K) selects the joints that count (pycocotools: the ground truth's
    labelled joints); pairs with no joint selected get 0.
    """
    pose = np.asarray(pose, np.float64)[..., :2]
    others = np.asarray(others, np.float64)[..., :2].reshape(-1, pose.shape[0], 2)
    var = (2.0 * np.asarray(sigmas, np.float64)) ** 2                        # (K,)
    d2 = ((others - pose[None]) ** 2).sum(-1)                                # (P,K)
    area = np.asarray(area, np.float64).reshape(-1, 1)                       # (P|1, 1)
    e = d2 / var / (area + _EPS) / 2.0
    sim = np.exp(-e)
    if mask is None:
        return sim.mean(axis=1)
    m = np.broadcast_to(np.asarray(mask, bool), sim.shape)
    count = m.sum(axis=1)
    total = np.where(m, sim, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def _oks_row(poses: np.ndarray, areas: np.ndarray, var: np.ndarray, i: int, others: np.ndarray,
             vis: Optional[np.ndarray]) -> np.ndarray:
    """OKS of pose `i` with the poses `others` (indices), area = mean of the pair's areas.

    The same element-wise arithmetic as one row of `oks_matrix`, so both give identical values.
    """
    d2 = ((poses[i][None] - poses[others]) ** 2).sum(-1)                     # (Q,K)
    pair_area = 0.5 * (areas[i] + areas[others])
    sim = np.exp(-d2 / var / (pair_area[:, None] + _EPS) / 2.0)
    if vis is None:
        return sim.mean(-1)
    m = vis[i][None] & vis[others]
    count = m.sum(-1)
    return np.divide(np.where(m, sim, 0.0).sum(-1), count, out=np.zeros(count.shape), where=count > 0)


def oks_matrix(poses: np.ndarray, areas: np.ndarray, sigmas: np.ndarray,
               scores: Optional[np.ndarray] = None, keypoint_threshold: Optional[float] = None) -> np.ndarray:
    """Symmetric (P,P) OKS of every pair, area = mean of the pair's areas (OKS-NMS convention).

    With `keypoint_threshold`, a joint counts for a pair only when both poses score it above
    the threshold. Memory O(P*P*K): for analysis of small sets; `oks_nms` does not use it.
    """
    poses = np.asarray(poses, np.float64)[..., :2]
    areas = np.asarray(areas, np.float64)
    var = (2.0 * np.asarray(sigmas, np.float64)) ** 2
    d2 = ((poses[:, None] - poses[None]) ** 2).sum(-1)                       # (P,P,K)
    pair_area = 0.5 * (areas[:, None] + areas[None])
    sim = np.exp(-d2 / var / (pair_area[..., None] + _EPS) / 2.0)
    if keypoint_threshold is None or scores is None:
        return sim.mean(-1)
    vis = np.asarray(scores) > keypoint_threshold
    m = vis[:, None] & vis[None]
    count = m.sum(-1)
    return np.divide(np.where(m, sim, 0.0).sum(-1), count, out=np.zeros(count.shape), where=count > 0)


def oks_nms(keypoints: np.ndarray, scores: Optional[np.ndarray], person_scores: np.ndarray, areas: np.ndarray,
            sigmas: np.ndarray, threshold: float = 0.9, keypoint_threshold: Optional[float] = None) -> List[int]:
    """Greedy OKS-NMS -> indices kept, best score first.

    keypoints (P,K,2), scores (P,K) per-joint confidences (only used with `keypoint_threshold`),
    person_scores (P,), areas (P,). Take the best remaining pose, drop every remaining pose whose
    OKS with it exceeds `threshold`, repeat. The official HRNet/MIPNet evaluation counts all
    joints (keypoint_threshold=None). Only the kept pose's OKS with the poses still remaining is
    computed: memory O(P*K), time O(kept * P * K).
    """
    person_scores = np.asarray(person_scores, np.float64).reshape(-1)
    if person_scores.shape[0] == 0:
        return []
    poses = np.asarray(keypoints, np.float64)[..., :2]
    areas = np.asarray(areas, np.float64).reshape(-1)
    var = (2.0 * np.asarray(sigmas, np.float64)) ** 2
    vis = None if keypoint_threshold is None or scores is None else np.asarray(scores) > keypoint_threshold
    remaining = np.argsort(-person_scores, kind='stable')
    keep: List[int] = []
    while remaining.size:              # greedy: each step depends on what the previous ones removed
        i = int(remaining[0])
        keep.append(i)
        rest = remaining[1:]
        remaining = rest[~(_oks_row(poses, areas, var, i, rest, vis) > threshold)]
    return keep
