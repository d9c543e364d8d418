"""The person score: a stricter keypoint_threshold never raises it, the detector score multiplies it, and the
Python API, `eval` (postprocess) and the node's estimator call all score a person the same."""
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros.core.person_score import person_scores, pose_scores

REPO = Path(__file__).resolve().parents[2]
IMAGE_785 = REPO.parent / 'shared' / 'data' / 'coco' / '000000000785.jpg'
BOX_785 = [280.79, 44.73, 499.49, 391.41]


def test_a_stricter_keypoint_threshold_never_raises_a_score():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.0, 1.0, (200, 2, 17))
    scores[:50, :, :12] *= 0.3                                   # mostly weak joints: the old rule rose here
    thresholds = np.linspace(0.0, 0.95, 20)
    by_threshold = np.stack([person_scores(scores, t, 0.5) for t in thresholds])    # (T, M, N)
    assert np.all(np.diff(by_threshold, axis=0) <= 1e-12)
    assert np.any(np.diff(by_threshold, axis=0) < 0)             # and the threshold does matter


def test_the_pose_part_is_the_confident_sum_over_all_joints():
    sc = np.array([0.9, 0.9, 0.1, 0.1])
    assert pose_scores(sc, 0.2) == pytest.approx(0.45)          # mean over confident (0.9) x half confident
    assert pose_scores(sc, 0.0) == pytest.approx(0.5)           # every joint counts: the plain mean
    assert pose_scores(sc, 0.95) == 0.0
    assert pose_scores(np.array([np.nan, 0.8]), 0.2) == pytest.approx(0.4)   # no estimate counts as 0


def test_decay_and_the_detector_score_multiply():
    sc = np.full((2, 2, 4), 0.8)
    got = person_scores(sc, 0.2, 0.5, box_scores=np.array([1.0, 0.5]))
    assert np.allclose(got, [[0.8, 0.4], [0.4, 0.2]])
    assert np.allclose(person_scores(sc, 0.2, 0.5), [[0.8, 0.4], [0.8, 0.4]])   # no detector scores: 1


@pytest.fixture(scope='module')
def scene():
    pytest.importorskip('torch')
    if IMAGE_785.is_file():
        import cv2
        image = cv2.imread(str(IMAGE_785))
    else:
        image = np.random.default_rng(0).integers(0, 255, (425, 640, 3), dtype=np.uint8)
    return image, np.array([BOX_785, [0, 0, 60, 60], [400, 300, 630, 420]], np.float32)


@pytest.mark.usefixtures('one_torch_thread')
def test_api_eval_and_node_calls_give_one_score(scene):
    from mipnet_ros.core.estimator import PoseEstimator
    image, boxes = scene
    det = np.array([0.9, 0.4, 0.7])
    strict, loose = (PoseEstimator(instance_threshold=0.0, keypoint_threshold=t) for t in (0.45, 0.2))
    api = {(p.box_index, p.instance): p.score for p in loose(image, boxes, box_scores=det)}
    r = loose.raw(image, boxes, box_scores=det)                        # what `eval` does: raw, then postprocess
    evaluated = {(p.box_index, p.instance): p.score
                 for p in loose.postprocess(r.keypoints, r.scores, r.box_rows, r.areas, r.box_scores)}
    assert api == pytest.approx(evaluated) and len(api) >= 3
    without = {(p.box_index, p.instance): p.score for p in loose(image, boxes)}
    for key, score in api.items():                                    # the detector score is included
        assert score == pytest.approx(without[key] * det[key[0]], abs=1e-6)
    stricter = {(p.box_index, p.instance): p.score
                for p in strict.postprocess(r.keypoints, r.scores, r.box_rows, r.areas, r.box_scores,
                                            oks_nms_threshold=None)}
    everyone = {(p.box_index, p.instance): p.score
                for p in loose.postprocess(r.keypoints, r.scores, r.box_rows, r.areas, r.box_scores,
                                           oks_nms_threshold=None)}
    assert all(stricter[k] <= everyone[k] + 1e-9 for k in everyone)
    assert any(stricter[k] < everyone[k] for k in everyone)
