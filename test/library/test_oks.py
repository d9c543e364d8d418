"""OKS against pycocotools / xtcocotools on real poses; OKS-NMS behaviour."""
import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros.core.oks import oks, oks_matrix, oks_nms
from mipnet_ros.core.skeleton import COCO17, CROWDPOSE14, get_skeleton

SHARED = Path(__file__).resolve().parents[2].parent / 'shared'
DATA = SHARED / 'data'


def _load(rel):
    if not (DATA / rel).exists():
        pytest.skip(f'real annotations not found at {DATA / rel} (../shared/data is absent)')
    return json.load(open(DATA / rel))


def _perturbed_detections(gt, rng, copies=2):
    dets = []
    score = 1.0
    for a in gt['annotations']:
        kp = np.asarray(a['keypoints'], float).reshape(-1, 3)
        if (kp[:, 2] > 0).sum() == 0:
            continue
        for c in range(copies):
            noisy = kp.copy()
            noisy[:, :2] += rng.normal(0, 3 + 6 * c, (kp.shape[0], 2))
            noisy[:, 2] = 1.0
            score -= 0.01                      # strictly decreasing: the evaluator keeps our order
            dets.append({'image_id': a['image_id'], 'category_id': 1, 'keypoints': noisy.ravel().tolist(),
                         'score': score})
    return dets


def _check_against(evaluator_cls, coco_cls, gt, our_sigmas, area_of, **kwargs):
    rng = np.random.default_rng(0)
    dets = _perturbed_detections(gt, rng)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_cls()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = evaluator_cls(coco_gt, coco_dt, **kwargs)
        ev.params.imgIds = sorted(coco_gt.getImgIds())
        ev._prepare()
    compared = 0
    for img_id in ev.params.imgIds:
        ref = np.asarray(ev.computeOks(img_id, 1))
        gts = ev._gts[img_id, 1]
        dts = [d for d in dets if d['image_id'] == img_id]
        if ref.size == 0:
            continue
        dkp = np.array([np.reshape(d['keypoints'], (-1, 3))[:, :2] for d in dts])
        for j, g in enumerate(gts):
            gkp = np.reshape(g['keypoints'], (-1, 3))
            if (gkp[:, 2] > 0).sum() == 0:
                continue                      # pycocotools then measures distance to the box instead
            mine = oks(gkp[:, :2], dkp, area_of(g), our_sigmas, mask=gkp[:, 2] > 0)
            np.testing.assert_allclose(mine, ref[:, j], rtol=1e-9, atol=1e-12)
            compared += 1
    return compared


@pytest.mark.parametrize('rel', ['coco/test_coco.json', 'ochuman/test_ochuman.json'])
def test_oks_equals_pycocotools(rel):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    n = _check_against(COCOeval, COCO, _load(rel), COCO17.sigmas_array(), lambda g: g['area'], iouType='keypoints')
    assert n >= 4


def test_oks_equals_xtcocotools_crowdpose():
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval
    sig = CROWDPOSE14.sigmas_array()
    n = _check_against(COCOeval, COCO, _load('crowdpose/test_crowdpose.json'), sig,
                       lambda g: g['bbox'][2] * g['bbox'][3] * 0.53,
                       iouType='keypoints_crowd', sigmas=sig, use_area=False)
    assert n >= 3


def _real_poses():
    gt = _load('coco/test_coco.json')
    poses, areas, img = [], [], None
    by_img = {}
    for a in gt['annotations']:
        kp = np.asarray(a['keypoints'], float).reshape(-1, 3)
        if (kp[:, 2] > 0).sum() >= 8:
            by_img.setdefault(a['image_id'], []).append((kp, a['area']))
    img = max(by_img, key=lambda k: len(by_img[k]))
    for kp, area in by_img[img]:
        # fill unlabelled joints with the visible centroid so every joint is a plausible prediction
        kp = kp.copy()
        kp[kp[:, 2] == 0, :2] = kp[kp[:, 2] > 0, :2].mean(0)
        poses.append(kp[:, :2])
        areas.append(area)
    assert len(poses) >= 2
    return np.array(poses), np.array(areas)


def test_oks_nms_keeps_distinct_people_and_drops_duplicate():
    poses, areas = _real_poses()
    p = len(poses)
    rng = np.random.default_rng(1)
    dup = poses[0] + rng.normal(0, 1.0, poses[0].shape)
    kps = np.concatenate([poses, dup[None]])
    ar = np.concatenate([areas, areas[:1]])
    scores = np.ones(kps.shape[:2])
    person = np.linspace(0.9, 0.5, p).tolist() + [0.3]
    keep = oks_nms(kps, scores, np.array(person), ar, COCO17.sigmas_array(), threshold=0.9)
    assert sorted(keep) == list(range(p))                 # every real person survives, the duplicate goes
    assert keep == sorted(keep, key=lambda i: -person[i])  # best first
    # a better-scoring duplicate replaces the original instead
    person[-1] = 0.95
    keep = oks_nms(kps, scores, np.array(person), ar, COCO17.sigmas_array(), threshold=0.9)
    assert keep[0] == p and 0 not in keep and sorted(keep[1:]) == list(range(1, p))
    # threshold 1 disables suppression (CrowdPose keeps everything)
    everything = oks_nms(kps, scores, np.array(person), ar, COCO17.sigmas_array(), threshold=1.0)
    assert sorted(everything) == list(range(p + 1))
    assert oks_nms(np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros(0), np.zeros(0), COCO17.sigmas_array()) == []


def test_oks_nms_keypoint_threshold_counts_only_confident_joints():
    poses, areas = _real_poses()
    a = poses[0]
    b = a.copy()
    b[8:] += 80.0                                   # second pose agrees only on joints 0..7
    scores = np.ones((2, 17))
    scores[1, 8:] = 0.05                            # ... and is unsure about the rest
    kps, ar, ps = np.stack([a, b]), np.array([areas[0]] * 2), np.array([0.9, 0.8])
    sig = COCO17.sigmas_array()
    assert sorted(oks_nms(kps, scores, ps, ar, sig, 0.9)) == [0, 1]
    assert oks_nms(kps, scores, ps, ar, sig, 0.9, keypoint_threshold=0.2) == [0]


def test_oks_matrix_matches_pairwise_oks():
    poses, areas = _real_poses()
    sig = COCO17.sigmas_array()
    mat = oks_matrix(poses, areas, sig)
    assert np.allclose(np.diag(mat), 1.0) and np.allclose(mat, mat.T)
    for i in range(len(poses)):
        np.testing.assert_allclose(mat[i], oks(poses[i], poses, 0.5 * (areas[i] + areas), sig))


def test_skeletons():
    assert get_skeleton('coco') is COCO17 and get_skeleton('CrowdPose') is CROWDPOSE14
    for s in (COCO17, CROWDPOSE14):
        assert len(s.sigmas) == len(s.keypoint_names) == s.num_joints
        perm = s.flip_permutation()
        assert sorted(perm) == list(range(s.num_joints)) and (perm[perm] == np.arange(s.num_joints)).all()
        for a, b in s.flip_pairs:
            na, nb = s.keypoint_names[a], s.keypoint_names[b]
            assert na.startswith('left_') and nb == 'right_' + na[5:]
        assert all(0 <= i < s.num_joints for e in s.edges for i in e)
    with pytest.raises(KeyError):
        get_skeleton('mpii')
