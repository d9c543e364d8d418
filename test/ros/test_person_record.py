"""Reading a PersonKeypointsArray (ros/person_record.py): one record, one set of repairs, for every reader."""
import numpy as np
import pytest

pk = pytest.importorskip('mipnet_ros.msg')
from mipnet_ros.ros.convert import xyxy_to_bbox2d  # noqa: E402
from mipnet_ros.ros.person_record import read_people, read_person  # noqa: E402


def _person(**fields):
    base = dict(id='d#0', track_id='t1', detection_id='d', detection_index=3, instance_index=1, score=0.7,
                x=[10.0, 20.0, 30.0], y=[5.0, 6.0, 7.0], keypoint_scores=[0.9, 0.1, 0.5], visibility=[2, 1, 2],
                bbox=xyxy_to_bbox2d([1, 2, 40, 50]), crop_bbox=xyxy_to_bbox2d([0, 0, 60, 60]))
    base.update(fields)
    return pk.PersonKeypoints(**base)


def test_a_well_formed_person_reads_as_sent():
    p = read_person(_person())
    assert not p.repaired and p.num_joints == 3
    assert np.allclose(p.keypoints, [[10, 5], [20, 6], [30, 7]]) and list(p.visibility) == [2, 1, 2]
    assert np.allclose(p.scores, [0.9, 0.1, 0.5]) and np.allclose(p.box, [1, 2, 40, 50])
    assert np.allclose(p.crop_box, [0, 0, 60, 60])
    assert (p.id, p.track_id, p.detection_id, p.detection_index, p.instance, p.score) == \
        ('d#0', 't1', 'd', 3, 1, pytest.approx(0.7))


def test_an_older_message_without_visibility_gets_it_from_the_positions():
    p = read_person(_person(x=[1.0, float('nan')], y=[2.0, float('nan')], keypoint_scores=[0.9, 0.1], visibility=[]))
    assert p.repaired and list(p.visibility) == [2, 0] and np.all(np.isfinite(p.keypoints))
    assert np.allclose(p.keypoints[1], 0.0)


def test_broken_fields_are_repaired_once_here():
    p = read_person(_person(x=[1.0, 2.0, 3.0, 4.0], y=[1.0, np.inf, 3.0], keypoint_scores=[np.nan, 1.7],
                            visibility=[2, 2, 2]))
    assert p.repaired and p.num_joints == 3                       # unequal x/y: the shorter length
    assert list(p.visibility) == [2, 0, 2] and np.allclose(p.keypoints[1], 0.0)
    assert np.allclose(p.scores, [0.0, 1.0, 0.0])                 # NaN -> 0, clipped, zero-padded
    assert read_person(_person(bbox=xyxy_to_bbox2d([np.nan, 0, 1, 1]))).repaired


def test_read_people_keeps_the_message_order():
    msg = pk.PersonKeypointsArray(persons=[_person(id='a'), _person(id='b')])
    assert [p.id for p in read_people(msg)] == ['a', 'b']
