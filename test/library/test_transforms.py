"""Crop geometry: aspect fix, affine matrices vs the 3-point construction, inverse mapping, batched crops."""
import cv2
import numpy as np
import pytest

from mipnet_ros.core import transforms


def _three_point_matrix(center, scale_px, output_size, rot_deg=0.0, shift=(0.0, 0.0), inverse=False):
    """HRNet's documented construction: centre -> output middle, centre + rotated half-width 'up' vector
    -> middle + half output width 'up', third point at 90 degrees; solved by cv2.getAffineTransform."""
    out_h, out_w = output_size
    src_w = scale_px[0]
    r = np.deg2rad(rot_deg)
    up = np.array([0.0, -0.5 * src_w])
    src_dir = np.array([up[0] * np.cos(r) - up[1] * np.sin(r), up[0] * np.sin(r) + up[1] * np.cos(r)])
    c = np.asarray(center, float) + np.asarray(scale_px, float) * np.asarray(shift, float)
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0], src[1] = c, c + src_dir
    dst[0] = [out_w * 0.5, out_h * 0.5]
    dst[1] = dst[0] + np.array([0.0, -0.5 * out_w])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]], np.float32)

    src[2], dst[2] = third(src[0], src[1]), third(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)


def test_box_to_center_scale_aspect_and_padding():
    boxes = np.array([[10, 20, 110, 420], [0, 0, 300, 100], [5, 5, 5 + 96, 5 + 128]], float)
    centers, scales = transforms.box_to_center_scale(boxes, (256, 192))
    np.testing.assert_allclose(centers, [[60, 220], [150, 50], [53, 69]])
    np.testing.assert_allclose(scales[:, 0] / scales[:, 1], 192 / 256)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (scales[:, 0] >= 1.25 * w - 1e-9).all() and (scales[:, 1] >= 1.25 * h - 1e-9).all()
    # a box that already has the input aspect is only padded
    np.testing.assert_allclose(scales[2], [1.25 * 96, 1.25 * 128])
    # tall box: height kept, width grown
    np.testing.assert_allclose(scales[0], [1.25 * 400 * 0.75, 1.25 * 400])


@pytest.mark.parametrize('rot,shift', [(0.0, (0.0, 0.0)), (30.0, (0.0, 0.0)), (-17.0, (0.1, -0.05))])
@pytest.mark.parametrize('output_size', [(256, 192), (64, 48)])
def test_affine_matches_three_point_construction(rot, shift, output_size):
    centers = np.array([[100.0, 200.0], [321.5, 45.25]])
    scales = np.array([[150.0, 200.0], [72.0, 96.0]])
    mats = transforms.affine_matrices(centers, scales, output_size, rotation=rot, shift=shift)
    invs = transforms.affine_matrices(centers, scales, output_size, rotation=rot, shift=shift, inverse=True)
    for i in range(2):
        ref = _three_point_matrix(centers[i], scales[i], output_size, rot, shift)
        ref_inv = _three_point_matrix(centers[i], scales[i], output_size, rot, shift, inverse=True)
        np.testing.assert_allclose(mats[i], ref, atol=1e-3)
        np.testing.assert_allclose(invs[i], ref_inv, atol=1e-3)


def test_inverse_mapping_round_trip():
    rng = np.random.default_rng(0)
    centers = rng.uniform(50, 500, (5, 2))
    scales = np.stack([rng.uniform(40, 300, 5)] * 2, 1) * [0.75, 1.0]
    pts = rng.uniform(0, 600, (5, 3, 17, 2))           # (M, N, K, 2): many poses per box
    hm = transforms.image_to_heatmap(pts, centers, scales, (64, 48))
    np.testing.assert_allclose(transforms.heatmap_to_image(hm, centers, scales, (64, 48)), pts, atol=1e-8)
    # the box centre lands in the middle of the heatmap; heatmap = crop / 4
    mid = transforms.image_to_heatmap(centers[:, None], centers, scales, (64, 48))
    np.testing.assert_allclose(mid[:, 0], np.tile([24.0, 32.0], (5, 1)))
    crop = transforms.apply_affine(pts, transforms.affine_matrices(centers, scales, (256, 192)))
    np.testing.assert_allclose(crop / 4, hm, atol=1e-8)


def test_vectorised_crop_equals_per_box_crop():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 100, 200], [200, 50, 330, 260], [-20, -30, 60, 40], [150, 100, 151, 102]], float)
    crops, centers, scales = transforms.prepare_crops(image, boxes, (256, 192))
    assert crops.shape == (4, 3, 256, 192) and crops.dtype == np.float32
    for i, box in enumerate(boxes):
        c, s = transforms.box_to_center_scale(box, (256, 192))
        mat = _three_point_matrix(c[0], s[0], (256, 192))
        one = cv2.warpAffine(image, mat, (192, 256), flags=cv2.INTER_LINEAR)
        rgb = one[..., ::-1].astype(np.float32) / 255.0
        ref = ((rgb - transforms.IMAGENET_MEAN_RGB) / transforms.IMAGENET_STD_RGB).transpose(2, 0, 1)
        np.testing.assert_allclose(crops[i], ref, atol=2e-2)   # float32 matrices in the oracle
    back = transforms.denormalize_crops(crops)
    raw = transforms.crop_images(image, transforms.affine_matrices(centers, scales, (256, 192)), (256, 192))
    np.testing.assert_array_equal(back, raw)


def test_crop_puts_box_centre_in_the_middle():
    image = np.zeros((300, 400, 3), np.uint8)
    cv2.circle(image, (250, 120), 3, (255, 255, 255), -1)
    center, scale = transforms.box_to_center_scale([[200, 40, 300, 200]], (256, 192))
    raw = transforms.crop_images(image, transforms.affine_matrices(center, scale, (256, 192)), (256, 192))[0]
    ys, xs = np.nonzero(raw[..., 0] > 128)
    assert abs(xs.mean() - 96) < 1.0 and abs(ys.mean() - 128) < 1.0


def test_normalize_channel_order_and_stats():
    crop = np.zeros((1, 2, 2, 3), np.uint8)
    crop[..., 0] = 255            # pure blue in BGR
    out = transforms.normalize_crops(crop)
    assert out.shape == (1, 3, 2, 2) and out.dtype == np.float32 and out.flags['C_CONTIGUOUS']
    np.testing.assert_allclose(out[0, :, 0, 0], [(0 - .485) / .229, (0 - .456) / .224, (1 - .406) / .225], rtol=1e-5)


def test_valid_box_mask():
    boxes = np.array([
        [10, 10, 50, 80],          # ok
        [np.nan, 0, 10, 10],       # NaN
        [0, 0, np.inf, 10],        # inf
        [10, 10, 10, 50],          # zero width
        [10, 50, 40, 20],          # negative height
        [700, 10, 800, 50],        # right of the image
        [-50, -50, -1, -1],        # above-left of the image
        [-50, -50, 5, 5],          # partly inside: kept
    ])
    assert transforms.valid_box_mask(boxes, (480, 640)).tolist() == \
        [True, False, False, False, False, False, False, True]
    assert transforms.valid_box_mask(np.zeros((0, 4)), (10, 10)).shape == (0,)


def test_per_box_rotation_array():
    centers = np.array([[100.0, 200.0], [321.5, 45.25]])
    scales = np.array([[150.0, 200.0], [72.0, 96.0]])
    both = transforms.affine_matrices(centers, scales, (256, 192), rotation=np.array([30.0, -17.0]))
    one = transforms.affine_matrices
    np.testing.assert_allclose(both[0], one(centers[:1], scales[:1], (256, 192), rotation=30.0)[0])
    np.testing.assert_allclose(both[1], one(centers[1:], scales[1:], (256, 192), rotation=-17.0)[0])
