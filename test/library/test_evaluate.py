"""Evaluation: GT scored against itself is perfect; our numbers are the libraries' numbers."""
import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros.core.evaluate import COCO_NAMES, CROWD_NAMES, EvalOptions, evaluate, load_boxes, score_results

SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f'real data folder {SHARED} not present')
COCO_GT = SHARED / 'coco17_merged.json'
CROWD_GT = SHARED / 'crowdpose' / 'test_crowdpose.json'


def _gt_as_results(gt_file, seed=None, noise=0.0):
    data = json.loads(Path(gt_file).read_text())
    rng = np.random.default_rng(seed)
    results = []
    for a in data['annotations']:
        kp = np.asarray(a['keypoints'], np.float64).reshape(-1, 3)
        if a.get('iscrowd', 0) or not (kp[:, 2] > 0).any():
            continue
        scale = np.sqrt(max(a.get('area', a['bbox'][2] * a['bbox'][3]), 1.0))
        xy = kp[:, :2] + (rng.normal(0, noise, kp[:, :2].shape) * scale / 10 if noise else 0)
        sc = np.full((kp.shape[0], 1), 1.0)
        results.append({'image_id': a['image_id'], 'category_id': 1,
                        'keypoints': np.concatenate([xy, sc], 1).ravel().tolist(),
                        'score': float(rng.uniform(0.2, 1.0)) if noise else 1.0})
    return results


def _direct(gt_file, results, crowd):
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        if crowd:
            from xtcocotools.coco import COCO
            from xtcocotools.cocoeval import COCOeval
            gt = COCO(str(gt_file))
            ev = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), 'keypoints_crowd',
                          np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0,
                          use_area=False)
        else:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval
            gt = COCO(str(gt_file))
            ev = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), 'keypoints')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_ground_truth_scores_perfectly():
    stats = score_results(str(COCO_GT), _gt_as_results(COCO_GT), 'coco')
    assert stats['AP'] == pytest.approx(100.0) and stats['AR'] == pytest.approx(100.0)
    crowd = score_results(str(CROWD_GT), _gt_as_results(CROWD_GT), 'crowdpose')
    assert crowd['AP'] == pytest.approx(100.0)


@pytest.mark.parametrize('gt_file,crowd', [(COCO_GT, False), (SHARED / 'ochuman' / 'test_ochuman.json', False),
                                           (CROWD_GT, True)])
def test_perturbed_results_equal_the_libraries(gt_file, crowd):
    results = _gt_as_results(gt_file, seed=3, noise=0.25)
    ours = score_results(str(gt_file), copy.deepcopy(results), 'crowdpose' if crowd else 'coco')
    ref = _direct(gt_file, results, crowd)
    names = CROWD_NAMES if crowd else COCO_NAMES
    for name, value in zip(names, ref):
        assert ours[name] == pytest.approx(100.0 * value, abs=1e-3), name
    assert 0 < ours['AP'] < 100       # the perturbation really changes the score


def test_hidden_recall_counts_one_to_one_matches(tmp_path):
    data = json.loads(COCO_GT.read_text())
    pair = [a for a in data['annotations'] if a['image_id'] == 6]      # OCHuman 000817: an occluded pair
    assert len(pair) == 2
    for a, hidden in zip(pair, (0, 1)):
        a['hidden'] = hidden
    gt = {'images': [im for im in data['images'] if im['id'] == 6], 'annotations': pair,
          'categories': data['categories']}
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    every = _gt_as_results(path)
    front_only = [every[0]]
    assert score_results(str(path), every, 'coco')['hidden_recall'] == 1.0
    assert score_results(str(path), front_only, 'coco')['hidden_recall'] == 0.0


def test_boxes_from_gt_and_detections():
    gt = json.loads(CROWD_GT.read_text())
    boxes = load_boxes(gt, 'gt')
    assert sum(len(v) for v in boxes.values()) == 4          # the person without keypoints is skipped
    dets = load_boxes(gt, str(SHARED / 'crowdpose' / 'test_crowdpose_det_AP_40.json'), 0.5)
    assert all(len(r) == 5 and r[2] > r[0] for v in dets.values() for r in v)


def test_pipeline_runs_end_to_end_with_a_model():
    import torch

    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    torch.manual_seed(0)
    model = build_model(ModelSpec('hrnet_w16s', 2, 17, (64, 64))).eval()
    est = PoseEstimator(model, keypoint_threshold=0.2)
    out = evaluate(est, str(SHARED / 'ochuman' / 'test_ochuman.json'), str(SHARED / 'ochuman'),
                   EvalOptions(dataset='ochuman'), progress=False)
    assert out['num_images'] == 3 and out['num_results'] >= 1
    assert set(COCO_NAMES) <= set(out['stats'])
    assert out['instances'] == 2
