"""OKS-NMS: the O(P*K) greedy implementation keeps exactly what the all-pairs formulation keeps."""
import tracemalloc

import numpy as np
import pytest

from mipnet_ros.core.oks import oks_matrix, oks_nms
from mipnet_ros.core.skeleton import COCO17


def _reference_nms(kps, scores, person, areas, sigmas, threshold, keypoint_threshold=None):
    """The textbook algorithm on the full (P,P) OKS matrix."""
    sim = oks_matrix(kps, areas, sigmas, scores, keypoint_threshold)
    order = np.argsort(-person, kind='stable')
    alive = np.ones(len(person), bool)
    keep = []
    for i in order:
        if alive[i]:
            keep.append(int(i))
            alive &= ~(sim[i] > threshold)
            alive[i] = False
    return keep


def _crowd(rng, people, copies, k=17):
    """`people` random poses, each predicted `copies` times with pixel noise of growing size."""
    centres = rng.uniform(0, 600, (people, 1, 2))
    base = centres + rng.normal(0, 40, (people, k, 2))
    noise = rng.choice([0.5, 3.0, 10.0, 40.0], size=(people, copies, 1, 1))
    kps = (base[:, None] + rng.normal(0, 1, (people, copies, k, 2)) * noise).reshape(-1, k, 2)
    areas = np.repeat(rng.uniform(2e3, 3e4, people), copies)
    scores = rng.uniform(0, 1, (people * copies, k))
    person = rng.uniform(0, 1, people * copies)
    person[::7] = person[0]            # ties: the stable order must decide as before
    return kps, scores, person, areas


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('keypoint_threshold', [None, 0.3])
@pytest.mark.parametrize('threshold', [0.5, 0.9])
def test_greedy_equals_all_pairs_reference(seed, keypoint_threshold, threshold):
    rng = np.random.default_rng(seed)
    kps, scores, person, areas = _crowd(rng, people=int(rng.integers(1, 40)), copies=int(rng.integers(2, 5)))
    sig = COCO17.sigmas_array()
    mine = oks_nms(kps, scores, person, areas, sig, threshold, keypoint_threshold)
    ref = _reference_nms(kps, scores, person, areas, sig, threshold, keypoint_threshold)
    assert mine == ref
    assert 0 < len(mine) < len(person) or len(person) == 1   # the data does exercise suppression


def test_empty_and_single():
    sig = COCO17.sigmas_array()
    assert oks_nms(np.zeros((0, 17, 2)), None, np.zeros(0), np.zeros(0), sig) == []
    assert oks_nms(np.zeros((1, 17, 2)), None, np.ones(1), np.ones(1), sig) == [0]


def test_memory_is_linear_in_candidates():
    """1000 boxes x N=2: the all-pairs version needed (P,P,K,2) float64, over 1 GB; this stays tiny."""
    rng = np.random.default_rng(0)
    kps, scores, person, areas = _crowd(rng, people=500, copies=4)       # P = 2000 candidates
    tracemalloc.start()
    try:
        keep = oks_nms(kps, scores, person, areas, COCO17.sigmas_array(), 0.9)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    p, k = kps.shape[:2]
    assert 500 <= len(keep) < p
    assert peak < 40 * p * k * 8      # a few (P,K) float64 arrays; all pairs would be P times more
