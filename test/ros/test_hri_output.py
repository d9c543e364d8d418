"""ROS4HRI output of mipnet_keypoints3d (hri.enabled, no depth), read back by a subscriber.

Tracked keypoints in, REP-155 out: the tracked ids, each body's Skeleton2D (joint order from
hri_msgs' own constants, NECK between the shoulders, normalised coordinates, c in [0, 1]) and
its NormalizedRegionOfInterest2D; body topics appear and disappear with the bodies, bounded.
"""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
hri_msgs = pytest.importorskip('hri_msgs.msg')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from mipnet_ros.core.skeleton import COCO17  # noqa: E402
from mipnet_ros.offline.launcher import domain_id_for  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.convert import xyxy_to_bbox2d  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402

W, H = 640, 480
S = hri_msgs.Skeleton2D
# REP-155 joint constant -> the COCO joint it must come from (NECK is checked apart)
FROM_COCO = {S.NOSE: 'nose', S.RIGHT_SHOULDER: 'right_shoulder', S.RIGHT_ELBOW: 'right_elbow',
             S.RIGHT_WRIST: 'right_wrist', S.LEFT_SHOULDER: 'left_shoulder', S.LEFT_ELBOW: 'left_elbow',
             S.LEFT_WRIST: 'left_wrist', S.RIGHT_HIP: 'right_hip', S.RIGHT_KNEE: 'right_knee',
             S.RIGHT_ANKLE: 'right_ankle', S.LEFT_HIP: 'left_hip', S.LEFT_KNEE: 'left_knee',
             S.LEFT_ANKLE: 'left_ankle', S.LEFT_EYE: 'left_eye', S.RIGHT_EYE: 'right_eye', S.LEFT_EAR: 'left_ear',
             S.RIGHT_EAR: 'right_ear'}


def person(track_id, seed):
    from mipnet_ros.msg import PersonKeypoints
    rng = np.random.default_rng(seed)
    uv = rng.uniform([0, 0], [W - 1, H - 1], (17, 2))
    vis = np.full(17, 2, np.uint8)
    vis[COCO17.keypoint_names.index('left_knee')] = 0
    uv[vis == 0] = 0.0
    scores = rng.uniform(0.3, 1.0, 17)
    return PersonKeypoints(id=f'd{seed}#0', track_id=track_id, score=0.7, x=uv[:, 0].tolist(), y=uv[:, 1].tolist(),
                           keypoint_scores=scores.tolist(), visibility=vis.tolist(),
                           bbox=xyxy_to_bbox2d([100.0, 50.0, 300.0, 400.0]))


def frame(sec, persons):
    from mipnet_ros.msg import PersonKeypointsArray
    msg = PersonKeypointsArray(image_width=W, image_height=H, skeleton='coco17', persons=persons)
    ns = int(round(sec * 1e9))
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = ns // 10**9, ns % 10**9, 'camera'
    return msg


@pytest.fixture
def setup():
    from mipnet_ros.ros.keypoints3d_node import Keypoints3DNode
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for('hri_output'))
    node = Keypoints3DNode(context=ctx, parameter_overrides=[
        Parameter('publish_3d', value=False), Parameter('hri.enabled', value=True),
        Parameter('hri.max_bodies', value=3), Parameter('hri.body_timeout_sec', value=1.0)])
    probe = rclpy.create_node('hri_probe', context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(probe)
    node.trigger_configure()
    node.trigger_activate()
    yield node, probe, ex
    ex.shutdown(timeout_sec=1.0)
    probe.destroy_node()
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)


def spin_until(ex, pred, timeout):
    end = time.time() + timeout
    while time.time() < end and not pred():
        ex.spin_once(timeout_sec=0.05)
    return pred()


def test_bodies_skeletons_and_rois(setup):
    from mipnet_ros.msg import PersonKeypointsArray
    node, probe, ex = setup
    qos = qos_profile('reliable', 20)
    got = {'tracked': []}
    probe.create_subscription(hri_msgs.IdsList, topics.HRI_BODIES_TRACKED, got['tracked'].append, qos)
    for bid in ('b7', 'bp_9'):
        for leaf, typ in (('skeleton2d', S), ('roi', hri_msgs.NormalizedRegionOfInterest2D)):
            got[bid, leaf] = []
            probe.create_subscription(typ, topics.hri_body_topic(bid, leaf), got[bid, leaf].append, qos)
    pub = probe.create_publisher(PersonKeypointsArray, '/' + topics.KEYPOINTS, qos)
    assert spin_until(ex, lambda: pub.get_subscription_count() > 0, 10)

    def send(msg, n_tracked):
        pub.publish(msg)
        assert spin_until(ex, lambda: len(got['tracked']) >= n_tracked, 5)
        spin_until(ex, lambda: False, 0.3)     # let the per-body subscribers match and receive

    a, b = person('7', 1), person('p-9', 2)
    # a body's topics are created with its first frame: the second frame reaches the matched subscribers
    send(frame(10, [a, b, person('', 3)]), 1)
    send(frame(10, [a, b, person('', 3)]), 2)
    assert got['tracked'][-1].ids == ['b7', 'bp_9'] and got['tracked'][-1].header.stamp.sec == 10
    assert node.stats.hri_untracked == 2                          # the person without track_id is no body

    sk = got['b7', 'skeleton2d'][-1]
    assert sk.header.stamp.sec == 10 and sk.header.frame_id == 'camera'
    pts = np.array([[q.x, q.y, q.c] for q in sk.skeleton])
    assert pts.shape == (18, 3) and np.all((pts >= 0) & (pts <= 1))
    x, y, c, vis = np.array(a.x), np.array(a.y), np.array(a.keypoint_scores), np.array(a.visibility)
    for joint, name in FROM_COCO.items():
        j = COCO17.keypoint_names.index(name)
        expect = [(x[j] + 0.5) / W, (y[j] + 0.5) / H, c[j]] if vis[j] else [0.0, 0.0, 0.0]
        np.testing.assert_allclose(pts[joint], expect, atol=1e-5, err_msg=name)
    ls, rs = COCO17.keypoint_names.index('left_shoulder'), COCO17.keypoint_names.index('right_shoulder')
    np.testing.assert_allclose(pts[S.NECK], [((x[ls] + x[rs]) / 2 + 0.5) / W, ((y[ls] + y[rs]) / 2 + 0.5) / H,
                                             min(c[ls], c[rs])], atol=1e-5)
    roi = got['bp_9', 'roi'][-1]
    np.testing.assert_allclose([roi.xmin, roi.ymin, roi.xmax, roi.ymax, roi.c],
                               [100.5 / W, 50.5 / H, 300.5 / W, 400.5 / H, 0.7], atol=1e-5)

    # a body that is gone stays tracked, with its topics, for hri.body_timeout_sec (header time), then ends
    roi_topic = topics.hri_body_topic('bp_9', 'roi')
    send(frame(11, [a]), 3)
    assert got['tracked'][-1].ids == ['b7', 'bp_9'] and probe.count_publishers(roi_topic) == 1
    # late (older than the newest) and untracked messages change nothing: no body churns
    n = len(got['tracked'])
    pub.publish(frame(10, [person('', 1)]))
    spin_until(ex, lambda: False, 0.5)
    assert len(got['tracked']) == n and node._hri.bodies == ['b7', 'bp_9'] and node.stats.hri_late == 1
    send(frame(11.5, [person('', 1)]), n + 1)            # the tracker lost everyone for a frame: b7 stays,
    assert got['tracked'][-1].ids == ['b7']               # bp_9 (unseen since 10 s) is past its 1 s timeout
    assert spin_until(ex, lambda: probe.count_publishers(roi_topic) == 0, 5)
    send(frame(13, [a]), n + 2)
    assert got['tracked'][-1].ids == ['b7']
    assert node._hri.bodies == ['b7']

    # bounded: hri.max_bodies = 3 bodies with topics at once (b7 is still within its timeout)
    send(frame(14, [person(f'n{i}', 10 + i) for i in range(5)]), n + 3)
    assert got['tracked'][-1].ids == ['b7', 'bn0', 'bn1'] and node.stats.hri_over_limit == 3
    assert node._hri.bodies == ['b7', 'bn0', 'bn1']

    # deactivate: an empty tracked list tells every consumer the bodies are gone
    node.trigger_deactivate()
    assert spin_until(ex, lambda: got['tracked'][-1].ids == [], 5)


@pytest.mark.parametrize('prefix', ['', '1', 'body-', 'a__b', 'b/x'])
def test_an_id_prefix_that_is_no_topic_token_is_refused_at_configure(prefix):
    from rclpy.lifecycle import TransitionCallbackReturn

    from mipnet_ros.ros.keypoints3d_node import Keypoints3DNode
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for('hri_output'))
    try:
        node = Keypoints3DNode(context=ctx, parameter_overrides=[
            Parameter('publish_3d', value=False), Parameter('hri.enabled', value=True),
            Parameter('hri.id_prefix', value=prefix), Parameter('autostart', value=False)])
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert 'hri.id_prefix' in node._config_error
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.mark.parametrize('prefix', ['b', 'body_', 'Cam1_b'])
def test_valid_prefixes_give_valid_topic_names(prefix):
    from rclpy.validate_topic_name import validate_topic_name

    from mipnet_ros.ros.hri_output import body_id, check_id_prefix
    assert check_id_prefix(prefix) == ''
    for track in ('1', 'k3x9a1_7', 'p-9', '_x'):
        assert validate_topic_name(topics.hri_body_topic(body_id(track, prefix), 'roi'))
