"""Dataset targets on the real annotations: instance 0 is the box's own person, the others follow."""
import json
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros.core import transforms
from mipnet_ros.core.data import CocoPoseDataset, DatasetConfig
from mipnet_ros.core.data.augment import AugmentConfig
from mipnet_ros.core.skeleton import COCO17

SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f'real data folder {SHARED} not present')

NO_AUG = AugmentConfig(scale_factor=0, rotation_factor=0, rotation_prob=0, flip=False, half_body_prob=0,
                       color_jitter=0)


def _ochuman(**kw):
    cfg = DatasetConfig(ann_file=str(SHARED / 'ochuman' / 'test_ochuman.json'), image_dir=str(SHARED / 'ochuman'),
                        **kw)
    return CocoPoseDataset(cfg)


def _annotations(path):
    with open(path) as f:
        data = json.load(f)
    return {a['id']: a for a in data['annotations']}, data


def _to_image(sample, joints_crop, input_size):
    inv = transforms.affine_matrices(sample['center'][None], sample['scale'][None], input_size, sample['rotation'],
                            inverse=True)
    return transforms.apply_affine(joints_crop[None, :, :2], inv)[0]


def test_ochuman_pairs_give_two_instances_own_person_first():
    ds = _ochuman(train=False, input_size=(256, 192), max_instances=2)
    anns, data = _annotations(SHARED / 'ochuman' / 'test_ochuman.json')
    pair_images = {im['id'] for im in data['images'] if im['file_name'] in ('000817.jpg', '003896.jpg')}
    checked = 0
    for i in range(len(ds)):
        s = ds[i]
        if int(s['image_id']) not in pair_images:
            assert int(s['n']) == 1          # 003799 holds one annotated person
            continue
        own = anns[int(s['ann_id'])]
        other = [a for a in anns.values() if a['image_id'] == own['image_id'] and a['id'] != own['id']][0]
        assert int(s['n']) == 2, 'a box of an occluded pair must carry both people'
        for slot, ann in ((0, own), (1, other)):
            kp = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
            jc = s['joints'][slot]
            vis = jc[:, 2] > 0
            assert vis.sum() >= 4
            assert np.all(kp[vis, 2] > 0), 'only labelled joints may be visible in the target'
            back = _to_image(s, jc, (256, 192))
            np.testing.assert_allclose(back[vis], kp[vis, :2], atol=1e-3)
            # weights follow visibility, and each target peak sits on its joint (stride 4)
            assert np.array_equal(s['weight'][slot] > 0, vis)
            hm = s['target'][slot]
            for k in np.nonzero(vis)[0]:
                y, x = np.unravel_index(np.argmax(hm[k]), hm[k].shape)
                assert abs(x - jc[k, 0] / 4) <= 0.5 + 1e-6 and abs(y - jc[k, 1] / 4) <= 0.5 + 1e-6
        assert not np.allclose(s['joints'][0, :, :2], s['joints'][1, :, :2])
        checked += 1
    assert checked == 4


def test_unused_slots_repeat_instance_zero():
    ds = _ochuman(train=False, input_size=(256, 192), max_instances=3)
    for i in range(len(ds)):
        s = ds[i]
        n = int(s['n'])
        for slot in range(n, 3):
            np.testing.assert_array_equal(s['joints'][slot], s['joints'][0])
            np.testing.assert_array_equal(s['target'][slot], s['target'][0])


def test_other_person_with_three_visible_joints_is_replaced(tmp_path):
    _, data = _annotations(SHARED / 'ochuman' / 'test_ochuman.json')
    pair = [im for im in data['images'] if im['file_name'] == '000817.jpg'][0]
    anns = [dict(a) for a in data['annotations'] if a['image_id'] == pair['id']]
    kp = np.asarray(anns[1]['keypoints'], np.float64).reshape(-1, 3)
    keep = np.nonzero(kp[:, 2] > 0)[0][:3]
    kp[[k for k in range(17) if k not in keep], :] = 0
    anns[1]['keypoints'] = kp.ravel().tolist()
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps({'images': [pair], 'annotations': anns, 'categories': data['categories']}))
    ds = CocoPoseDataset(DatasetConfig(ann_file=str(path), image_dir=str(SHARED / 'ochuman'), train=False,
                                       max_instances=2))
    first = [ds[i] for i in range(len(ds)) if int(ds[i]['ann_id']) == anns[0]['id']][0]
    assert int(first['n']) == 1
    np.testing.assert_array_equal(first['joints'][1], first['joints'][0])
    # the person with 3 joints is still a sample of its own
    assert any(int(ds[i]['ann_id']) == anns[1]['id'] for i in range(len(ds)))


def test_flip_swaps_sides_and_mirrors():
    aug = AugmentConfig(scale_factor=0, rotation_factor=0, rotation_prob=0, flip=True, half_body_prob=0,
                        color_jitter=0)
    ds = _ochuman(train=True, input_size=(256, 192), max_instances=2, augment=aug)
    plain = _ochuman(train=False, input_size=(256, 192), max_instances=2)
    anns, data = _annotations(SHARED / 'ochuman' / 'test_ochuman.json')
    widths = {im['id']: im['width'] for im in data['images']}
    flips = 0
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s, ref = ds[i], plain[i]
            if np.allclose(s['center'], ref['center']):
                continue                                   # not flipped this time
            flips += 1
            w = widths[int(s['image_id'])]
            kp = np.asarray(anns[int(s['ann_id'])]['keypoints'], np.float64).reshape(-1, 3)
            back = _to_image(s, s['joints'][0], (256, 192))      # in the mirrored image
            vis = s['joints'][0, :, 2] > 0
            for left, right in COCO17.flip_pairs:
                for a, b in ((left, right), (right, left)):
                    if vis[a]:
                        np.testing.assert_allclose(back[a], [w - 1 - kp[b, 0], kp[b, 1]], atol=1e-3)
            # the image is the mirror of the unflipped crop: pixel u of the crop of the mirrored image
            # shows what column W-u of the plain crop shows (the crop centre sits at W/2, not (W-1)/2)
            np.testing.assert_allclose(s['image'][:, :, 1:], ref['image'][:, :, ::-1][:, :, :-1], atol=0.05)
    assert flips > 0


def test_augmented_samples_are_reproducible_and_well_formed():
    ds = _ochuman(train=True, input_size=(128, 96), max_instances=3)
    ds.set_epoch(3)
    a, b = ds[1], ds[1]
    for key in ('image', 'target', 'weight', 'joints'):
        np.testing.assert_array_equal(a[key], b[key])
    assert a['image'].shape == (3, 128, 96) and a['image'].dtype == np.float32
    assert a['target'].shape == (3, 17, 32, 24) and a['weight'].shape == (3, 17)
    ds.set_epoch(4)
    assert not np.array_equal(ds[1]['image'], a['image'])


def test_crowdpose_has_14_joint_targets():
    ds = CocoPoseDataset(DatasetConfig(ann_file=str(SHARED / 'crowdpose' / 'test_crowdpose.json'),
                                       image_dir=str(SHARED / 'crowdpose'), skeleton='crowdpose', train=False,
                                       max_instances=2))
    assert len(ds) == 4
    s = ds[0]
    assert s['target'].shape[1] == 14 and s['weight'].shape == (2, 14)
