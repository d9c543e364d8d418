"""The published form of a person (mipnet_ros/core/person_box.py): visibility, finite values, own box."""
import numpy as np
import pytest

from mipnet_ros.core import person_box as pb


def test_visibility_follows_the_coco_convention_and_nothing_is_nan():
    kp = np.array([[10, 20], [30, 40], [np.nan, 5], [50, np.inf], [60, 70]], np.float32)
    sc = np.array([0.9, 0.1, 0.8, 0.9, np.nan], np.float32)
    xy, s, v = pb.keypoint_visibility(kp, sc, 0.2)
    assert list(v) == [2, 1, 0, 0, 0]
    assert np.all(np.isfinite(xy)) and np.all(np.isfinite(s))
    assert np.array_equal(xy[:2], kp[:2]) and np.all(xy[2:] == 0)      # no estimate: (0, 0)
    assert s[0] == pytest.approx(0.9) and s[1] == pytest.approx(0.1) and s[4] == 0.0
    with pytest.raises(ValueError):
        pb.keypoint_visibility(kp, sc[:3], 0.2)


def test_scores_are_clipped_to_the_unit_interval():
    _, s, v = pb.keypoint_visibility(np.zeros((3, 2)), np.array([-0.2, 1.3, 0.5]), 0.2)
    assert list(s) == [0.0, 1.0, 0.5] and list(v) == [1, 2, 2]
    assert pb.unit_score(float('nan')) == 1.0 and pb.unit_score(2.0) == 1.0 and pb.unit_score(-1, 0.0) == 0.0


def test_own_box_is_the_confident_extent_padded_by_a_quarter():
    kp = np.array([[40, 50], [60, 150], [200, 10]], np.float32)   # the third joint is not confident
    vis = np.array([2, 2, 1], np.uint8)
    box = pb.own_box(kp, vis, (20, 30, 60, 190), (400, 400))
    # extent 20 x 100 around (50, 100), grown to 25 x 125 (more than half the 40 x 160 crop box)
    assert np.allclose(box, [37.5, 37.5, 62.5, 162.5])


def test_own_box_is_clipped_to_the_pixel_centre_convention_extent():
    kp = np.array([[2, 2], [98, 78]], np.float32)
    box = pb.own_box(kp, np.array([2, 2]), (0, 0, 10, 10), (80, 100))
    assert np.allclose(box, [-0.5, -0.5, 99.5, 79.5])               # image 100 x 80 covers [-0.5, W - 0.5]


def test_few_confident_keypoints_fall_back_to_the_clipped_crop_box():
    kp = np.array([[40, 50], [60, 150]], np.float32)
    assert np.allclose(pb.own_box(kp, np.array([2, 1]), (-20, 10, 90, 500), (300, 200)), [-0.5, 10, 90, 299.5])
    assert np.allclose(pb.own_box(kp, np.array([0, 0]), (np.nan, 10, 90, 50), (300, 200)), [-0.5, 10, 90, 50])


def test_person_record_two_people_from_one_crop_get_different_boxes():
    crop = (0, 0, 200, 300)
    front = np.stack([np.linspace(20, 80, 17), np.linspace(20, 280, 17)], 1)
    behind = front + [100, 0]
    sc = np.full(17, 0.8)
    a = pb.person_record(front, sc, crop, (300, 200), 0.2)
    b = pb.person_record(behind, sc, crop, (300, 200), 0.2)
    assert np.array_equal(a.crop_bbox, b.crop_bbox)
    assert a.bbox[2] < b.bbox[2] and a.bbox[0] < b.bbox[0]
    assert a.bbox.dtype == np.float32 and a.visibility.dtype == np.uint8


@pytest.mark.parametrize('joints', [(1, 2), (0, 1, 2), (5, 6), (15, 16)])
def test_two_or_three_confident_joints_give_a_usable_box(joints):
    """Only the eyes (or ankles, shoulders) confident: at least half the crop box in each direction."""
    crop = (100, 50, 200, 350)                      # 100 x 300 detection box of a standing person
    kp = np.stack([np.linspace(130, 170, 17), np.linspace(70, 330, 17)], 1)
    kp[1], kp[2] = (140, 80), (165, 80)             # the eyes on one row: a 25 x 0 px extent
    vis = np.ones(17, np.uint8)
    vis[list(joints)] = 2
    box = pb.own_box(kp, vis, crop, (480, 640))
    w, h = box[2] - box[0], box[3] - box[1]
    assert w >= 50 - 1e-3 and h >= 150 - 1e-3
    sure = kp[list(joints)]
    assert np.all(sure >= box[:2]) and np.all(sure <= box[2:])     # still around its joints
