"""Published-set metrics: every person once, duplicates and false positives told apart, and the
OKS-NMS sweep of `eval` on real photographs with the bundled model."""
import json
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros.core.people_count import PeopleCount, count_image, count_people
from mipnet_ros.core.skeleton import get_skeleton

SIGMAS = get_skeleton('coco').sigmas_array()
SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'


def _person(x0, y0, hidden=False, labelled=17):
    rng = np.random.default_rng(int(x0 * 7 + y0))
    xy = np.stack([x0 + rng.uniform(0, 60, 17), y0 + rng.uniform(0, 160, 17)], 1)
    v = np.r_[np.full(labelled, 2), np.zeros(17 - labelled)]
    return {'keypoints': np.concatenate([xy, v[:, None]], 1).ravel().tolist(), 'area': 60 * 160.0,
            'hidden': hidden, 'iscrowd': 0}, xy


def test_matches_duplicates_and_false_positives_are_told_apart():
    a, xy_a = _person(100, 50)
    b, xy_b = _person(400, 60, hidden=True)
    poses = [xy_a, xy_a + 2.0, xy_b + 1.0, xy_a + 300.0]      # A, a near copy of A, B, nobody
    got = count_image([a, b], poses, SIGMAS, PeopleCount()).summary()
    assert (got['matched'], got['duplicates'], got['false_positives']) == (2, 1, 1)
    assert got['recall'] == 1.0 and got['precision'] == 0.5 and got['published_per_person'] == 2.0
    assert got['hidden'] == 1 and got['hidden_matched'] == 1 and got['hidden_recall'] == 1.0


def test_a_pose_takes_the_closest_free_person():
    a, xy_a = _person(100, 50)
    b, xy_b = _person(103, 52)                   # two people almost on top of each other
    between = xy_b + 0.5
    got = count_image([a, b], [between, xy_a], SIGMAS, PeopleCount())
    assert got.matched == 2 and got.duplicates == 0          # the first pose took B, leaving A for the second


def test_images_without_people_or_without_poses_and_unlabelled_people():
    a, xy_a = _person(100, 50)
    empty, _ = _person(300, 50, labelled=0)       # no labelled joint: not a person to find (as with gt boxes)
    total = count_people({1: [a, empty], 2: [], 3: [a]}, {1: [], 2: [xy_a]}, SIGMAS).summary()
    assert total['images'] == 3 and total['ground_truth'] == 2      # image 1: A; image 3: A (no poses)
    assert total['matched'] == 0 and total['false_positives'] == 1 and total['recall'] == 0.0
    assert total['duplicates_per_image'] == 0.0 and total['false_positives_per_image'] == pytest.approx(1 / 3)


@pytest.mark.skipif(not SHARED.is_dir(), reason='needs ../shared/data')
def test_eval_sweep_runs_the_network_once_and_brackets_nms(tmp_path, one_torch_thread):
    """Threshold 1.0 suppresses nothing (OKS never exceeds 1), 0.0 keeps one person per image."""
    import argparse

    from mipnet_ros.core import evaluate
    ann, images = SHARED / 'coco' / 'test_coco.json', SHARED / 'coco'
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    out = tmp_path / 'eval.json'
    args = parser.parse_args(['--checkpoint', 'models/mipnet_w16s_n2.pth', '--ann', str(ann), '--images', str(images),
                              '--oks-nms', '0.9,1.0,0.0', '--instance-threshold', '0,0.5', '--no-progress',
                              '--json', str(out)])
    root = Path(__file__).resolve().parents[2]
    args.checkpoint = str(root / args.checkpoint)
    calls = []
    real = evaluate.predict_raw
    evaluate.predict_raw = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        assert evaluate.main(args) == 0
    finally:
        evaluate.predict_raw = real
    report = json.loads(out.read_text())
    assert len(calls) == 1
    gt = json.loads(ann.read_text())
    people = sum(1 for a in gt['annotations'] if max(a['keypoints'][2::3]) > 0)
    images_with_people = len({a['image_id'] for a in gt['annotations'] if max(a['keypoints'][2::3]) > 0})
    grid = {(r['oks_nms_threshold'], r['instance_threshold']): r for r in report['sweep']}
    assert sorted(grid) == [(0.0, 0.0), (0.0, 0.5), (0.9, 0.0), (0.9, 0.5), (1.0, 0.0), (1.0, 0.5)]
    for nms in (0.0, 0.9, 1.0):     # the instance threshold only filters what is published
        low, high = grid[(nms, 0.0)], grid[(nms, 0.5)]
        assert low['stats'] == high['stats'] and high['people']['published'] <= low['people']['published']
    rows = {nms: grid[(nms, 0.0)] for nms in (0.0, 0.9, 1.0)}
    assert rows[0.9]['stats'] == report['stats'] and rows[0.9]['people'] == report['people']
    assert rows[1.0]['people']['published'] == 2 * people               # every box x lambda
    assert rows[0.0]['people']['published'] == images_with_people      # one survivor per image
    assert rows[1.0]['people']['published'] >= report['people']['published'] >= rows[0.0]['people']['published']
    assert report['people']['matched'] >= 1 and report['people']['ground_truth'] == people
