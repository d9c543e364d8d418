"""Occlusion scene generator: keypoints land on the pasted pixels; held-out identities; COCO output."""
import json
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros.synth.compose import joint_pixel
from mipnet_ros.synth.config import SynthConfig
from mipnet_ros.synth.generate import build_pools, generate_scene, write_split
from mipnet_ros.synth.sprites import identity_split

SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f'real data folder {SHARED} not present')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    cfg = SynthConfig(image_root=str(SHARED), out_dir=str(tmp_path_factory.mktemp('synth')), seed=7,
                      real_person_prob=0.7)
    return cfg, build_pools(cfg)


def _bilinear(img, x, y):
    """Independent bilinear sample of img (h,w,3) at float (x, y); also the 2x2 neighbourhood."""
    h, w = img.shape[:2]
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0
    pts = []
    for yy in (y0, y0 + 1):
        for xx in (x0, x0 + 1):
            pts.append(img[yy, xx].astype(np.float64) if 0 <= xx < w and 0 <= yy < h else np.zeros(3))
    val = (pts[0] * (1 - fx) * (1 - fy) + pts[1] * fx * (1 - fy) + pts[2] * (1 - fx) * fy + pts[3] * fx * fy)
    return val, np.stack(pts)


def test_visible_keypoints_land_on_the_pasted_pixels(setup):
    cfg, pools = setup
    checked = real_checked = 0
    for split in ('train', 'test'):
        for index in range(12):
            scene = generate_scene(cfg, pools, split, index)
            for i, person in enumerate(scene.people):
                pl = person.placement
                a = np.vstack([pl.matrix, [0, 0, 1]])
                inv = np.linalg.inv(a)[:2]
                for k in np.nonzero(person.joints[:, 2] == 2)[0]:
                    px, py = joint_pixel(person.joints[k, :2])
                    # the pixel shows this person: owner map and the pasted silhouette agree
                    assert scene.owner[py, px] == i
                    assert person.full_mask[py, px] and person.visible_mask[py, px]
                    # and its colour is the source pixel after the same colour transform
                    sx, sy = inv @ np.array([px, py, 1.0])
                    exact, neigh = _bilinear(person.sprite.patch, sx, sy)
                    colour = scene.image[py, px].astype(np.float64)
                    expect = np.clip(exact * pl.gain + pl.bias, 0, 255)
                    lo = np.clip(neigh.min(0) * pl.gain + pl.bias, 0, 255) - 2
                    hi = np.clip(neigh.max(0) * pl.gain + pl.bias, 0, 255) + 2
                    assert np.all(colour >= lo) and np.all(colour <= hi)
                    assert np.abs(colour - expect).max() <= 12
                    checked += 1
                    real_checked += person.sprite.identity.startswith('real:')
                # a joint visible in its photograph but v=1 here: the pixel shows someone pasted later
                # (or lies off the silhouette); joints occluded in the photograph stay v=1 anyway
                src_v = person.sprite.joints[:, 2]
                if pl.flip:
                    from mipnet_ros.core.skeleton import COCO17
                    src_v = src_v[COCO17.flip_permutation()]
                assert np.all(person.joints[:, 2] <= np.where(src_v > 0, 2, 0))
                for k in np.nonzero((person.joints[:, 2] == 1) & (src_v == 2))[0]:
                    px, py = joint_pixel(person.joints[k, :2])
                    assert scene.owner[py, px] != i
    assert checked > 200 and real_checked > 50


def test_occluded_people_are_flagged_hidden(setup):
    cfg, pools = setup
    hidden = 0
    for index in range(20):
        scene = generate_scene(cfg, pools, 'test', index)
        assert 2 <= len(scene.people) <= 4
        last = scene.people[-1]
        assert last.covered_fraction == 0 and not last.hidden     # nobody is pasted over the last one
        for p in scene.people:
            assert p.hidden == (p.covered_fraction >= cfg.hidden_fraction)
            covered = p.full_mask & ~p.visible_mask
            assert abs(covered.sum() / p.full_mask.sum() - p.covered_fraction) < 1e-9
        hidden += sum(p.hidden for p in scene.people)
    assert hidden > 0


def test_held_out_identities_never_reach_training_scenes(setup):
    cfg, pools = setup
    assert pools.test_identities and pools.train_identities
    assert not set(pools.test_identities) & set(pools.train_identities)
    seen = {'train': set(), 'test': set()}
    for split in seen:
        for index in range(30):
            for p in generate_scene(cfg, pools, split, index).people:
                if p.sprite.identity.startswith('real:'):
                    seen[split].add(p.sprite.identity)
    assert seen['test'] and seen['train']
    assert not seen['test'] & seen['train']
    assert seen['test'] <= set(pools.test_identities)
    # the split is a function of the names only (not of their order or of the seed)
    names = pools.train_identities + pools.test_identities
    assert identity_split(list(reversed(names)), cfg.test_identity_fraction) == \
        identity_split(sorted(names), cfg.test_identity_fraction)


def test_scenes_are_reproducible(setup):
    cfg, pools = setup
    a, b = generate_scene(cfg, pools, 'test', 5), generate_scene(cfg, pools, 'test', 5)
    np.testing.assert_array_equal(a.image, b.image)
    assert [p.sprite.identity for p in a.people] == [p.sprite.identity for p in b.people]


def test_coco_output_loads_and_is_consistent(setup):
    cfg, pools = setup
    path = write_split(cfg, pools, 'test', 4, progress=False)
    from pycocotools.coco import COCO
    coco = COCO(str(path))
    data = json.loads(Path(path).read_text())
    assert len(data['images']) == 4
    for ann in data['annotations']:
        kp = np.asarray(ann['keypoints']).reshape(17, 3)
        assert ann['num_keypoints'] == int((kp[:, 2] > 0).sum()) >= cfg.min_labelled_joints
        x, y, w, h = ann['bbox']
        lab = kp[:, 2] > 0
        assert np.all(kp[lab, 0] >= x - 1e-6) and np.all(kp[lab, 0] <= x + w)
        assert ann['area'] >= ann['visible_area'] > 0 or ann['hidden']
        assert ann['hidden'] in (0, 1)
        assert abs(coco.annToMask(ann).sum() - ann['visible_area']) < 1e-6
        assert (Path(cfg.out_dir) / 'test' / coco.imgs[ann['image_id']]['file_name']).is_file()
