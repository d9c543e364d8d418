"""REP-155 body frame from 3D keypoints: origin between the hips, x out of the body, z towards the head."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mipnet_ros.core.body_frame import body_pose
from mipnet_ros.core.skeleton import COCO17

NAMES = COCO17.keypoint_names


def torso(facing_yaw_deg=0.0, centre=(0.2, 0.1, 3.0)):
    """Shoulders and hips of an upright person (optical frame: y down) turned by yaw from facing the camera."""
    pts = np.zeros((17, 3))
    local = {'left_shoulder': (0.2, -0.5), 'right_shoulder': (-0.2, -0.5), 'left_hip': (0.15, 0.0),
             'right_hip': (-0.15, 0.0)}     # the person's left is the camera's +x when it faces the camera
    yaw = np.deg2rad(facing_yaw_deg)
    for name, (x, y) in local.items():
        pts[NAMES.index(name)] = np.asarray(centre) + [x * np.cos(yaw), y, x * np.sin(yaw)]
    ok = np.zeros(17, bool)
    ok[[NAMES.index(n) for n in local]] = True
    return pts, ok


@pytest.mark.parametrize('yaw', [0.0, 30.0, -45.0])
def test_axes_follow_the_body(yaw):
    pts, ok = torso(yaw)
    origin, q = body_pose(pts, ok, NAMES)
    np.testing.assert_allclose(origin, [0.2, 0.1, 3.0], atol=1e-9)       # mid point of the hips
    r = Rotation.from_quat(q)
    up, left, forward = r.apply([0, 0, 1]), r.apply([0, 1, 0]), r.apply([1, 0, 0])
    np.testing.assert_allclose(up, [0, -1, 0], atol=1e-9)                # towards the head: image up
    np.testing.assert_allclose(left, [np.cos(np.deg2rad(yaw)), 0, np.sin(np.deg2rad(yaw))], atol=1e-9)
    assert forward[2] < 0 and np.isclose(np.linalg.norm(forward), 1.0)  # out of the body, towards the camera


def test_without_hips_or_pairs_it_falls_back_and_never_fails():
    pts, ok = torso()
    ok[[NAMES.index('left_hip'), NAMES.index('right_hip')]] = False
    origin, q = body_pose(pts, ok, NAMES)
    np.testing.assert_allclose(origin, pts[[5, 6]].mean(0))              # the valid torso joints
    assert Rotation.from_quat(q).apply([1, 0, 0])[2] == pytest.approx(-1.0)   # facing the camera
    assert body_pose(pts, np.zeros(17, bool), NAMES) is None
