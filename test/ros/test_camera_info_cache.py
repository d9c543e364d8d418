"""Which CameraInfo a depth image gets and how long its frame waits for it (no DDS: plain messages)."""
from types import SimpleNamespace as NS

import pytest

from mipnet_ros.core.depth3d import DepthInputError
from mipnet_ros.ros.camera_info_cache import CameraInfoCache


def msg(sec, tag=''):
    return NS(header=NS(stamp=NS(sec=sec, nanosec=0)), tag=tag)


def test_a_frame_waits_for_the_camera_info_with_its_stamp():
    c = CameraInfoCache()
    c.add_info(msg(1, 'info1'))
    c.add_pair('kp1', msg(1), now=0.0)
    assert [kp for kp, _ in c.due(0.0, wait_sec=0.5, queue_size=10)] == ['kp1']
    c.add_pair('kp2', msg(2), now=0.0)
    assert c.due(0.1, 0.5, 10) == []                         # its CameraInfo is not here yet: wait
    c.add_info(msg(2, 'info2'))
    due = c.due(0.2, 0.5, 10)
    assert [kp for kp, _ in due] == ['kp2'] and c.pick(due[0][1], 1.0, '/ci').tag == 'info2'


def test_a_latched_camera_info_makes_frames_wait_once_then_never():
    c = CameraInfoCache()
    c.add_info(msg(0, 'latched'))
    c.add_pair('kp5', msg(5), now=0.0)
    assert c.due(0.1, 0.5, 10) == []
    due = c.due(0.6, 0.5, 10)                                 # waited in vain: stamps do not match
    assert [kp for kp, _ in due] == ['kp5'] and c.pick(due[0][1], 0.0, '/ci').tag == 'latched'
    c.add_pair('kp6', msg(6), now=1.0)
    assert [kp for kp, _ in c.due(1.0, 0.5, 10)] == ['kp6']  # no more waiting
    with pytest.raises(DepthInputError) as e:
        c.pick(msg(6), 1.0, '/ci')                            # 6 s old with max_age 1 s
    assert e.value.reason == 'camera_info_late'


def test_before_the_first_camera_info_at_most_queue_size_frames_wait():
    c = CameraInfoCache()
    for i in range(3):
        c.add_pair(f'kp{i}', msg(i), now=0.0)
    due = c.due(100.0, 0.5, queue_size=2)                     # no time limit, but only two may wait
    assert [kp for kp, _ in due] == ['kp0']
    with pytest.raises(DepthInputError) as e:
        c.pick(due[0][1], 1.0, '/cam/info')
    assert e.value.reason == 'camera_info_missing' and '/cam/info' in str(e.value)
