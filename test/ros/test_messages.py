"""mipnet_ros messages through real DDS: one process publishes, this one receives, every field survives."""
import math
import os
import subprocess
import sys
import textwrap
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='ROS 2 (rclpy) is not sourced: run through `make test`')
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from mipnet_ros.msg import PersonKeypointsArray, PoseModelInfo  # noqa: E402

TALKER = textwrap.dedent('''
    import math, sys, time
    import rclpy
    from rclpy.qos import QoSProfile, DurabilityPolicy, ReliabilityPolicy
    from mipnet_ros.msg import PersonKeypoints, PersonKeypointsArray, PoseModelInfo
    rclpy.init()
    node = rclpy.create_node('mipnet_ros_msgs_talker')
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE)
    info_pub = node.create_publisher(PoseModelInfo, 'model_info', latched)
    info = PoseModelInfo(model_name='m', model_hash='ab' * 32, arch='hrnet_w32', num_instances=3,
                         input_height=256, input_width=192, skeleton='coco17',
                         keypoint_names=['nose', 'left_eye'], edges_from=[0], edges_to=[1],
                         keypoint_threshold=0.2, instance_threshold=0.3, oks_nms_threshold=0.9)
    info.header.frame_id = 'cam'
    info_pub.publish(info)   # once, before anyone listens: transient-local must deliver it
    pub = node.create_publisher(PersonKeypointsArray, 'keypoints', 10)
    end = time.time() + 30
    while time.time() < end:
        msg = PersonKeypointsArray(image_width=640, image_height=480, skeleton='coco17')
        msg.header.frame_id = 'camera_optical'
        msg.header.stamp.sec = 1234
        msg.header.stamp.nanosec = 567
        p = PersonKeypoints(id='det-2#1', track_id='7', detection_id='det-2', score=0.75, detection_index=2,
                            detection_score=0.5, instance_index=1)
        p.bbox.center.position.x = 100.5
        p.bbox.size_x = 40.0
        p.crop_bbox.size_y = 80.0
        p.x = [1.0, 0.0, 3.5]
        p.y = [4.0, 0.0, 6.25]
        p.keypoint_scores = [0.9, 0.0, 0.1]
        p.visibility = [2, 0, 1]
        msg.persons = [p]
        pub.publish(msg)
        pub.publish(PersonKeypointsArray(skeleton='empty'))  # "nobody here" is a message too
        rclpy.spin_once(node, timeout_sec=0.05)
    ''')


def test_keypoint_messages_cross_processes():
    talker = subprocess.Popen([sys.executable, '-c', TALKER], env=dict(os.environ))
    rclpy.init()
    try:
        node = rclpy.create_node('mipnet_ros_msgs_listener')
        got, infos = [], []
        node.create_subscription(PersonKeypointsArray, 'keypoints', got.append, 10)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        time.sleep(1.0)  # join late on purpose: the model info was published before we existed
        node.create_subscription(PoseModelInfo, 'model_info', infos.append, latched)
        end = time.time() + 25
        while time.time() < end and not (infos and any(m.persons for m in got)
                                         and any(not m.persons for m in got)):
            rclpy.spin_once(node, timeout_sec=0.1)
        full = [m for m in got if m.persons]
        assert full, 'no PersonKeypointsArray with people arrived'
        assert any(m.skeleton == 'empty' and not m.persons for m in got), 'empty array was lost'
        msg = full[0]
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1234, 567)
        assert msg.header.frame_id == 'camera_optical'
        assert (msg.image_width, msg.image_height, msg.skeleton) == (640, 480, 'coco17')
        p = msg.persons[0]
        assert (p.id, p.track_id, p.detection_id) == ('det-2#1', '7', 'det-2')
        assert (p.detection_index, p.instance_index) == (2, 1)
        assert p.score == pytest.approx(0.75) and p.detection_score == pytest.approx(0.5)
        assert p.bbox.center.position.x == pytest.approx(100.5) and p.bbox.size_x == pytest.approx(40.0)
        assert p.crop_bbox.size_y == pytest.approx(80.0)
        assert list(p.x) == [1.0, 0.0, 3.5] and p.y[2] == 6.25 and list(p.visibility) == [2, 0, 1]
        assert all(math.isfinite(v) for v in list(p.x) + list(p.y) + list(p.keypoint_scores))
        assert p.keypoint_scores[0] == pytest.approx(0.9)
        assert infos, 'transient-local PoseModelInfo did not reach a late subscriber'
        info = infos[0]
        assert (info.arch, info.num_instances, info.input_height, info.input_width) == ('hrnet_w32', 3, 256, 192)
        assert list(info.keypoint_names) == ['nose', 'left_eye']
        assert list(info.edges_from) == [0] and list(info.edges_to) == [1]
        assert info.header.frame_id == 'cam'
    finally:
        talker.terminate()
        talker.wait(timeout=10)
        rclpy.shutdown()
