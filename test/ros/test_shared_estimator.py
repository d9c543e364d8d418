"""SharedEstimator: cameras calling one estimator at once get the people their own estimator gives them,
from fewer network runs (the calls waiting while the network runs go through it together)."""
import threading
import time

import numpy as np
import pytest

from mipnet_ros.core.estimator import PoseEstimator
from mipnet_ros.ros.shared_estimator import SharedEstimator


@pytest.fixture(scope='module')
def estimator(one_torch_thread):
    return PoseEstimator(instance_threshold=0.0)        # the bundled model


def scene(seed: int):
    """A 240x320 image with texture and 5 person-sized boxes (different per camera)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    x1, y1 = rng.uniform(0, 200, 5), rng.uniform(0, 80, 5)
    boxes = np.stack([x1, y1, x1 + rng.uniform(40, 110, 5), y1 + rng.uniform(90, 150, 5)], 1).astype(np.float32)
    return image, boxes, rng.uniform(0.3, 1.0, 5)


def same_people(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert (p.box_index, p.instance) == (q.box_index, q.instance)
        np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)
        assert p.score == pytest.approx(q.score, abs=1e-5)


def test_waiting_cameras_share_one_run_and_get_their_own_people(estimator):
    scenes = [scene(s) for s in range(4)]
    alone = [estimator(img, boxes, scores) for img, boxes, scores in scenes]
    shared = SharedEstimator(estimator)
    release = threading.Event()
    real = estimator._heatmaps
    runs = []

    def held(crops):                                  # the first run waits until the others queued up
        runs.append(len(crops))
        if len(runs) == 1:
            release.wait(60)
        return real(crops)
    results = [None] * 4
    errors = []

    def camera(i):
        try:
            results[i] = shared(*scenes[i])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    estimator._heatmaps = held
    try:
        first = threading.Thread(target=camera, args=(0,))
        first.start()
        deadline = time.time() + 60
        while not runs and time.time() < deadline:
            time.sleep(0.01)
        others = [threading.Thread(target=camera, args=(i,)) for i in (1, 2, 3)]
        for t in others:
            t.start()
        while len(shared._waiting) < 3 and time.time() < deadline:
            time.sleep(0.01)
        assert len(shared._waiting) == 3
        release.set()
        for t in [first] + others:
            t.join(120)
    finally:
        del estimator._heatmaps                       # back to the class method
    assert not errors
    assert runs == [5, 15]                            # camera 0 alone, then 1-3 together
    assert shared.stats.runs == 2 and shared.stats.calls == 4 and shared.stats.largest_run_calls == 3
    for got, want in zip(results, alone):
        same_people(got, want)


def test_bad_boxes_fail_only_their_camera_and_empty_frames_pass(estimator):
    shared = SharedEstimator(estimator)
    img, boxes, scores = scene(7)
    with pytest.raises(ValueError):
        shared(img, np.zeros((2, 3), np.float32))      # not x1, y1, x2, y2
    assert shared(img, np.zeros((0, 4), np.float32)) == []
    same_people(shared(img, boxes, scores), estimator(img, boxes, scores))
    assert shared.spec is estimator.spec and shared.skeleton is estimator.skeleton
