"""3D keypoints from synthetic depth with known geometry, through a real (distorting) camera model.

The scene: a wall turned 17 degrees (4.5 m away on the optical axis) and a standing figure whose
joints are small discs at their own known depths (one arm reaches towards the camera). Points are projected
with cv2.projectPoints (the forward lens model), so the deprojection (its inverse) is checked
against an independent answer.
"""
import cv2
import numpy as np
import pytest

from mipnet_ros.core.depth3d import (
    DepthInputError,
    DepthOptions,
    camera_model,
    decode_depth,
    keypoints_3d,
    robust_depth,
)

W, H = 640, 480
# A Kinect-style RGB calibration (strong radial distortion, plumb_bob).
K = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
D = [0.262383, -0.953104, -0.005358, 0.002628, 1.163314]
WALL_Z0, WALL_SLOPE = 4.5, 0.3           # wall plane: Z = WALL_Z0 + WALL_SLOPE * X
# COCO-17 joints of a figure 2.5 m away; the right wrist and elbow reach forward.
FIGURE = np.array([
    [0.30, -0.55, 2.50], [0.27, -0.58, 2.50], [0.33, -0.58, 2.50], [0.23, -0.56, 2.52], [0.37, -0.56, 2.52],
    [0.12, -0.35, 2.55], [0.48, -0.35, 2.55], [0.05, -0.05, 2.55], [0.56, -0.20, 2.25], [0.02, 0.22, 2.50],
    [0.62, -0.18, 1.95], [0.20, 0.15, 2.55], [0.40, 0.15, 2.55], [0.19, 0.55, 2.55], [0.41, 0.55, 2.55],
    [0.18, 0.95, 2.60], [0.42, 0.95, 2.60]])
WALL_POINTS = np.array([[x, y, WALL_Z0 + WALL_SLOPE * x] for x, y in ((-1.5, -1.0), (1.6, 0.9), (-0.6, 1.3))])
DISC_PX = 7


def project(points):
    uv, _ = cv2.projectPoints(np.asarray(points, np.float64), np.zeros(3), np.zeros(3),
                              np.asarray(K).reshape(3, 3), np.asarray(D))
    return uv.reshape(-1, 2)


def render_scene():
    """Depth in metres: the wall splatted from a dense grid of its points (mean per pixel), then the figure."""
    xs, ys = np.meshgrid(np.arange(-3.5, 3.5, 0.005), np.arange(-2.6, 2.6, 0.005))
    pts = np.stack([xs.ravel(), ys.ravel(), WALL_Z0 + WALL_SLOPE * xs.ravel()], 1)
    uv = np.rint(project(pts)).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    flat = uv[inside, 1] * W + uv[inside, 0]
    total = np.bincount(flat, pts[inside, 2], H * W)
    count = np.bincount(flat, None, H * W)
    assert count.min() > 0, 'the wall grid is too coarse to cover every pixel'
    depth = (total / count).reshape(H, W)
    # figure: one disc per joint at the joint's depth, far to near
    for j in np.argsort(-FIGURE[:, 2]):
        c = tuple(int(round(a)) for a in project(FIGURE[j:j + 1])[0])
        mask = np.zeros((H, W), np.uint8)
        cv2.circle(mask, c, DISC_PX, 1, -1)
        depth[mask > 0] = FIGURE[j, 2]
    return depth


@pytest.fixture(scope='module')
def scene():
    return render_scene()


def as_16uc1_bytes(depth_m, pad=6, bigendian=False):
    mm = np.rint(depth_m * 1000).astype('>u2' if bigendian else '<u2')
    rows = np.zeros((H, W * 2 + pad), np.uint8)
    rows[:, :W * 2] = mm.view(np.uint8).reshape(H, W * 2)
    return rows.tobytes(), W * 2 + pad


@pytest.mark.parametrize('encoding', ['16UC1', '16UC1_bigendian', '32FC1'])
def test_figure_and_wall_within_1cm(scene, encoding):
    if encoding.startswith('16UC1'):
        big = encoding.endswith('bigendian')
        data, step = as_16uc1_bytes(scene, bigendian=big)
        depth = decode_depth('16UC1', H, W, step, int(big), data)
    else:
        depth = decode_depth('32FC1', H, W, W * 4, 0, scene.astype('<f4').tobytes())
    cam = camera_model(K, D, W, H, 'plumb_bob')
    truth = np.vstack([FIGURE, WALL_POINTS])
    uv = project(truth)
    xyz, ok = keypoints_3d(depth, cam, uv, opts=DepthOptions(person_spread=0.0))   # not one person: no outliers
    assert ok.all()
    err = np.linalg.norm(xyz - truth, axis=1)
    assert err.max() < 0.01, err
    # without the distortion model the far-off-centre points are wrong by centimetres: the model matters
    xyz_pinhole, _ = keypoints_3d(depth, camera_model(K, [], W, H), uv, opts=DepthOptions(person_spread=0.0))
    assert np.linalg.norm(xyz_pinhole - truth, axis=1).max() > 0.03


def test_fisheye_model_round_trip():
    Kf, Df = np.array([[300.0, 0, 320], [0, 300.0, 240], [0, 0, 1]]), np.array([0.05, -0.01, 0.003, -0.001])
    pts = np.array([[-1.5, -0.8, 2.0], [1.0, 0.9, 1.5], [0.0, 0.0, 3.0]])
    uv, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), Kf, Df)
    depth = np.zeros((H, W), np.float32)
    for (u, v), z in zip(uv.reshape(-1, 2), pts[:, 2]):
        depth[int(round(v)) - 3:int(round(v)) + 4, int(round(u)) - 3:int(round(u)) + 4] = z
    xyz, ok = keypoints_3d(depth, camera_model(Kf.ravel(), Df, W, H, 'equidistant'), uv.reshape(-1, 2),
                           opts=DepthOptions(person_spread=0.0))   # three points at three depths, not one person
    assert ok.all() and np.abs(xyz - pts).max() < 0.01


def test_median_ignores_holes_nan_and_the_background_edge(scene):
    rng = np.random.default_rng(0)
    depth = scene.astype(np.float32).copy()
    holes = rng.random(depth.shape) < 0.4
    depth[holes] = 0.0
    depth[rng.random(depth.shape) < 0.1] = np.nan
    cam = camera_model(K, D, W, H)
    uv = project(FIGURE)
    edge = uv[10] + [DISC_PX - 2, 0]          # right wrist, window partly on the wall behind
    z, ok = robust_depth(depth, np.vstack([uv, edge]), DepthOptions(window=5))
    assert ok.all()
    np.testing.assert_allclose(z[:17], FIGURE[:, 2], atol=1e-6)
    assert z[17] == pytest.approx(FIGURE[10, 2])
    xyz, ok = keypoints_3d(depth, cam, uv)
    assert ok.all() and np.linalg.norm(xyz - FIGURE, axis=1).max() < 0.01


def test_a_joint_off_the_body_is_not_given_the_background_depth(scene):
    cam = camera_model(K, D, W, H)
    uv = project(FIGURE)
    uv[9] += [30, 0]                          # the left wrist estimate lands on the wall beside the figure
    xyz, ok = keypoints_3d(scene, cam, uv)
    assert ok.tolist() == [j != 9 for j in range(17)]
    assert np.linalg.norm(xyz[ok] - FIGURE[ok], axis=1).max() < 0.01
    _, ok = keypoints_3d(scene, cam, uv, opts=DepthOptions(person_spread=0.0))
    assert ok.all()


def test_no_valid_depth_gives_invalid_points_never_nan():
    cam = camera_model(K, D, W, H)
    uv = project(FIGURE)
    for fill in (0.0, np.nan, 50.0, 0.02):      # no reading, NaN, beyond max_depth, nearer than min_depth
        xyz, ok = keypoints_3d(np.full((H, W), fill, np.float32), cam, uv)
        assert not ok.any() and np.all(xyz == 0.0)


def test_window_is_clipped_at_the_border_and_outside_points_are_invalid():
    depth = np.full((H, W), 2.0, np.float32)
    cam = camera_model(K, [], W, H)
    uv = np.array([[0.0, 0.0], [W - 1, H - 1], [-0.4, 10.0], [-5.0, 10.0], [W + 3, 5.0], [np.nan, 5.0]])
    xyz, ok = keypoints_3d(depth, cam, uv)
    assert ok.tolist() == [True, True, True, False, False, False]
    assert np.isfinite(xyz).all()
    assert xyz[0, 2] == pytest.approx(2.0) and xyz[0, 0] == pytest.approx(-319.5 / 525.0 * 2.0)
    # keypoints the 2D estimator did not find stay invalid even on good depth
    _, ok = keypoints_3d(depth, cam, uv[:2], usable=np.array([True, False]))
    assert ok.tolist() == [True, False]


@pytest.mark.parametrize('args, reason', [
    (('rgb8', H, W, W * 3, 0, bytes(H * W * 3)), 'depth_encoding'),
    (('16UC1', H, W, W * 2, 0, bytes(100)), 'depth_layout'),
    (('32FC1', H, W, W * 2, 0, bytes(H * W * 4)), 'depth_layout'),   # step shorter than a row
])
def test_bad_depth_images_raise_a_reason(args, reason):
    with pytest.raises(DepthInputError) as e:
        decode_depth(*args)
    assert e.value.reason == reason


@pytest.mark.parametrize('k, d, model', [
    ([0.0] * 9, [], 'plumb_bob'), ([525, 0, 319.5, 0, 525, 239.5, 0, 0, float('nan')], [], 'plumb_bob'),
    (K, [float('nan')] * 5, 'plumb_bob'), (K, D, 'some_model'), (K, D, 'equidistant'), ([1.0] * 4, [], '')])
def test_bad_camera_info_raises_a_reason(k, d, model):
    with pytest.raises(DepthInputError) as e:
        camera_model(k, d, W, H, model)
    assert e.value.reason == 'camera_info_invalid'


def test_depth_of_another_size_is_rejected():
    with pytest.raises(DepthInputError) as e:
        keypoints_3d(np.ones((240, 320), np.float32), camera_model(K, D, W, H), np.zeros((1, 2)))
    assert e.value.reason == 'depth_size'
