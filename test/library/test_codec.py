"""Heatmap codec: real-annotation round trips, weights, DARK, flip-test geometry."""
import json
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros.core import transforms
from mipnet_ros.core.codec import HeatmapCodec, flip_back, flip_keypoints, merge_flip, shift_right
from mipnet_ros.core.skeleton import COCO17, CROWDPOSE14

SHARED = Path(__file__).resolve().parents[2].parent / 'shared'
DATA = SHARED / 'data'
DATASETS = [('coco/test_coco.json', COCO17), ('ochuman/test_ochuman.json', COCO17),
            ('crowdpose/test_crowdpose.json', CROWDPOSE14)]


def _people(rel):
    if not (DATA / rel).exists():
        pytest.skip(f'real annotations not found at {DATA / rel} (../shared/data is absent)')
    anns = json.load(open(DATA / rel))['annotations']
    out = []
    for a in anns:
        kp = np.asarray(a['keypoints'], np.float64).reshape(-1, 3)
        if (kp[:, 2] > 0).sum() == 0:
            continue
        x, y, w, h = a['bbox']
        out.append((kp, np.array([x, y, x + w, y + h])))
    assert out, rel
    return out


def _interior(hm, visible, heatmap_size):
    """Joints whose argmax is not on the border row/column (there one neighbour is missing: no quarter step)."""
    h, w = heatmap_size
    return visible & (hm[:, 0] >= 0.5) & (hm[:, 0] < w - 1.5) & (hm[:, 1] >= 0.5) & (hm[:, 1] < h - 1.5)


@pytest.mark.parametrize('rel,skel', DATASETS)
@pytest.mark.parametrize('input_size', [(256, 192), (384, 288)])
def test_round_trip_real_annotations(rel, skel, input_size):
    """crop -> encode -> decode -> back to the image lands within a quarter heatmap pixel."""
    codec = HeatmapCodec(input_size)
    checked = 0
    for kp, box in _people(rel):
        assert kp.shape[0] == skel.num_joints
        center, scale = transforms.box_to_center_scale(box, input_size)
        mat = transforms.affine_matrices(center, scale, input_size)
        crop_kp = transforms.apply_affine(kp[None, :, :2], mat)[0]
        target, weight = codec.encode(crop_kp, kp[:, 2])
        coords, maxvals = codec.decode(target)
        back = transforms.heatmap_to_image(coords[None], center, scale, codec.heatmap_size)[0]
        h, w = codec.heatmap_size
        hm = crop_kp / np.asarray(codec.stride)
        on_map = (kp[:, 2] > 0) & (hm[:, 0] >= 0) & (hm[:, 0] <= w - 1) & (hm[:, 1] >= 0) & (hm[:, 1] <= h - 1)
        assert (weight[on_map] == 1).all() and (weight[kp[:, 2] == 0] == 0).all()
        inside = _interior(hm, kp[:, 2] > 0, codec.heatmap_size)
        px_per_hm = scale[0, 0] / w                      # image pixels per heatmap pixel
        err = np.abs(back - kp[:, :2])[inside]
        assert err.max() <= 0.25 * px_per_hm + 1e-6, (rel, err.max() / px_per_hm)
        assert (maxvals[inside] > 0.88).all()             # the Gaussian peak is within half a pixel
        checked += int(inside.sum())
    assert checked >= 10


@pytest.mark.parametrize('rel,skel', DATASETS)
def test_round_trip_with_rotation(rel, skel):
    """The augmentation transform (rotation + shift) inverts too; bound is 0.25 px per axis in heatmap space."""
    codec = HeatmapCodec((256, 192))
    rng = np.random.default_rng(0)
    for kp, box in _people(rel):
        rot, shift = rng.uniform(-40, 40), rng.uniform(-0.1, 0.1, 2)
        center, scale = transforms.box_to_center_scale(box, codec.input_size)
        mat = transforms.affine_matrices(center, scale, codec.input_size, rotation=rot, shift=shift)
        crop_kp = transforms.apply_affine(kp[None, :, :2], mat)[0]
        target, weight = codec.encode(crop_kp, kp[:, 2])
        coords, _ = codec.decode(target)
        inv = transforms.affine_matrices(center, scale, codec.heatmap_size, rotation=rot, shift=shift, inverse=True)
        back = transforms.apply_affine(coords[None], inv)[0]
        hm = crop_kp / np.asarray(codec.stride)
        ok = _interior(hm, weight > 0, codec.heatmap_size)
        px_per_hm = scale[0, 0] / codec.heatmap_size[1]
        dist = np.linalg.norm(back - kp[:, :2], axis=1)[ok]
        assert dist.size == 0 or dist.max() <= 0.25 * np.sqrt(2) * px_per_hm + 1e-6


def test_quantized_targets_are_hrnet_integer_centres():
    codec = HeatmapCodec((256, 192), quantize=True)
    kp = np.array([[100.9, 60.3, 2], [10.0, 10.0, 0]])
    target, weight = codec.encode(kp)
    assert weight.tolist() == [1.0, 0.0]
    assert not target[1].any()
    y, x = np.unravel_index(np.argmax(target[0]), target[0].shape)
    assert (x, y) == (25, 15) and target[0, y, x] == pytest.approx(1.0)   # 100.9/4 = 25.2, 60.3/4 = 15.1


def test_weights_zero_outside_and_sigma_defaults():
    codec = HeatmapCodec((256, 192))
    assert codec.heatmap_size == (64, 48) and codec.sigma == pytest.approx(2.0)
    assert HeatmapCodec((384, 288)).sigma == pytest.approx(3.0)
    # heatmap pixel 47 covers crop x in [186, 190): 189 (47.25) is inside, 190.5 (47.6) is not
    kp = np.array([[-10.0, 50.0], [50.0, 300.0], [189.0, 253.0], [np.nan, 3.0], [190.5, 100.0]])
    target, weight = codec.encode(kp)
    assert weight.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert not target[[0, 1, 3, 4]].any() and target[2].max() > 0.5
    assert target.dtype == np.float32 and target.shape == (5, 64, 48)


def test_decode_is_vectorised_over_leading_axes():
    codec = HeatmapCodec((256, 192))
    rng = np.random.default_rng(1)
    kp = rng.uniform([5, 5], [186, 250], size=(3, 2, 17, 2))
    target, _ = codec.encode(kp)
    assert target.shape == (3, 2, 17, 64, 48)
    coords, maxvals = codec.decode(target)
    assert coords.shape == (3, 2, 17, 2) and maxvals.shape == (3, 2, 17)
    one, _ = codec.decode(target[1, 1])
    np.testing.assert_array_equal(coords[1, 1], one)
    assert np.abs(coords - kp / 4).max() <= 0.25 + 1e-6


def test_dark_is_more_precise_than_quarter_offset():
    codec = HeatmapCodec((256, 192))
    rng = np.random.default_rng(2)
    kp = rng.uniform([20, 20], [170, 235], size=(200, 2))
    target, _ = codec.encode(kp)
    truth = kp / 4
    plain, _ = codec.decode(target)
    dark, _ = codec.decode(target, dark=True)
    err_plain = np.abs(plain - truth).max()
    err_dark = np.abs(dark - truth).max()
    assert err_plain <= 0.25 + 1e-6
    assert err_dark < 0.1 and err_dark < 0.5 * err_plain


def test_flip_back_geometry_and_channels():
    """Heatmaps of the mirrored crop, flipped back, sit 0.75 px left; HRNet's 1-px shift gives +0.25."""
    codec = HeatmapCodec((256, 192))
    rng = np.random.default_rng(3)
    kp = rng.uniform([20, 20], [170, 235], size=(17, 2))
    flipped_kp = flip_keypoints(kp, codec.input_size[1], COCO17.flip_pairs)
    np.testing.assert_allclose(flip_keypoints(flipped_kp, 192, COCO17.flip_pairs), kp)
    hm_flipped, _ = codec.encode(flipped_kp)
    back = flip_back(hm_flipped, COCO17.flip_pairs)
    np.testing.assert_array_equal(flip_back(back, COCO17.flip_pairs), hm_flipped)
    truth = kp / 4
    coords, _ = codec.decode(back, dark=True)
    np.testing.assert_allclose(coords[:, 0], truth[:, 0] - 0.75, atol=0.1)   # left wrist in the left channel
    np.testing.assert_allclose(coords[:, 1], truth[:, 1], atol=0.1)
    shifted, _ = codec.decode(shift_right(back, 1), dark=True)
    np.testing.assert_allclose(shifted[:, 0], truth[:, 0] + 0.25, atol=0.1)
    merged = merge_flip(codec.encode(kp)[0], hm_flipped, COCO17.flip_pairs, shift=True)
    m_coords, _ = codec.decode(merged)
    assert np.abs(m_coords - truth).max() <= 0.25 + 0.125 + 1e-6


def test_flip_back_on_batches():
    rng = np.random.default_rng(4)
    hm = rng.random((2, 3, 14, 8, 6)).astype(np.float32)
    back = flip_back(hm, CROWDPOSE14.flip_pairs)
    assert back.shape == hm.shape
    np.testing.assert_array_equal(back[1, 2, 0], hm[1, 2, 1, :, ::-1])
    np.testing.assert_array_equal(back[0, 0, 12], hm[0, 0, 12, :, ::-1])
    shifted = shift_right(hm, 1)
    np.testing.assert_array_equal(shifted[..., 1:], hm[..., :-1])
    np.testing.assert_array_equal(shifted[..., 0], hm[..., 0])
