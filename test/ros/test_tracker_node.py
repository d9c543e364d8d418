"""mipnet_tracker as a real lifecycle node over DDS, fed oracle keypoints and bad input.

Bad input (empty arrays, a late stamp, a stamp far back, a new frame_id, NaN keypoints, a restarted
publisher, a flood) never crashes it, every message is answered, and every ended track is counted.
"""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from diagnostic_updater import DiagnosticStatusWrapper  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

from mipnet_ros.msg import PersonKeypoints, PersonKeypointsArray  # noqa: E402
from mipnet_ros.offline.launcher import domain_id_for  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.convert import xyxy_to_bbox2d  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.ros.tracker_node import TrackerNode  # noqa: E402
from mipnet_ros.synth.figures import random_pose  # noqa: E402

SKELETONS = [random_pose(np.random.default_rng(s), 150.0)[0] for s in (1, 2)]


def person(k: int, i: int, nan: bool = False) -> PersonKeypoints:
    """Person i of frame k: A walks right, B walks left (no overlap: the ids must simply stay)."""
    centre = np.array([100 + 4.0 * k, 200.0]) if i == 0 else np.array([500 - 4.0 * k, 200.0])
    kp = SKELETONS[i] - SKELETONS[i].mean(0) + centre
    x, y = kp[:, 0].tolist(), kp[:, 1].tolist()
    if nan:
        x[3] = float('nan')
    box = np.concatenate([kp.min(0), kp.max(0)])
    return PersonKeypoints(id=f'{i}#0', detection_id=str(i), detection_index=i, detection_score=0.9, score=0.9,
                           bbox=xyxy_to_bbox2d(box), crop_bbox=xyxy_to_bbox2d(box), x=x, y=y,
                           keypoint_scores=[0.9] * 17, visibility=[2] * 17)


def frame(stamp_ns: int, people, frame_id: str = 'cam') -> PersonKeypointsArray:
    msg = PersonKeypointsArray(image_width=640, image_height=480, skeleton='coco17', persons=list(people))
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
    msg.header.frame_id = frame_id
    return msg


class Bench:
    """The tracker and a feeder node in one context, spun by a background executor."""

    def __init__(self, domain: int):
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.tracker = TrackerNode(context=self.ctx)
        assert self.tracker.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert self.tracker.trigger_activate() == TransitionCallbackReturn.SUCCESS
        self.feeder = rclpy.create_node('feeder', context=self.ctx)
        self.cond = threading.Condition()
        self.got = []
        self.feeder.create_subscription(PersonKeypointsArray, topics.TRACKED_KEYPOINTS, self._on_out,
                                        qos_profile('reliable', 1000))
        self.pub = self.feeder.create_publisher(PersonKeypointsArray, topics.KEYPOINTS, qos_profile('reliable', 1000))
        self.executor = MultiThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.tracker)
        self.executor.add_node(self.feeder)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while self.pub.get_subscription_count() == 0 and time.time() < deadline:
            time.sleep(0.05)

    def _on_out(self, msg):
        with self.cond:
            self.got.append(msg)
            self.cond.notify_all()

    def send(self, msg, wait: bool = True):
        n = len(self.got)
        self.pub.publish(msg)
        if wait:
            with self.cond:
                assert self.cond.wait_for(lambda: len(self.got) > n, 10), 'no answer'
            return self.got[-1]
        return None

    def restart_feeder_publisher(self):
        """What a restarted estimator looks like from here: its publisher goes away and comes back."""
        self.feeder.destroy_publisher(self.pub)
        time.sleep(0.3)
        self.pub = self.feeder.create_publisher(PersonKeypointsArray, topics.KEYPOINTS, qos_profile('reliable', 1000))
        deadline = time.time() + 10
        while self.pub.get_subscription_count() == 0 and time.time() < deadline:
            time.sleep(0.05)

    def diagnostics(self) -> dict:
        stat = self.tracker._diagnose(DiagnosticStatusWrapper())
        values = {kv.key: kv.value for kv in stat.values}
        values['_level'] = int.from_bytes(stat.level, 'little') if isinstance(stat.level, bytes) else int(stat.level)
        values['_message'] = stat.message
        return values

    def close(self):
        self.executor.shutdown(timeout_sec=1.0)
        self.tracker.destroy_node()
        self.feeder.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


@pytest.fixture
def bench():
    b = Bench(domain_id_for(__file__))
    yield b
    b.close()


def ids_of(msg):
    return {p.detection_id: p.track_id for p in msg.persons}


def test_ids_are_stable_and_the_header_is_copied(bench):
    outs = [bench.send(frame(10**9 + k * 10**8, [person(k, 0), person(k, 1)])) for k in range(12)]
    assert outs[-1].header.stamp.sec == 2 and outs[-1].header.stamp.nanosec == 10**8
    assert outs[-1].header.frame_id == 'cam'
    assert ids_of(outs[0]) == {'0': '', '1': ''}                   # not yet confirmed (init_hits = 3)
    tracked = [ids_of(m) for m in outs[2:]]
    assert all(t == tracked[0] for t in tracked) and tracked[0]['0'] != tracked[0]['1'] and all(tracked[0].values())
    assert [p.id for p in outs[-1].persons] == ['0#0', '1#0']     # the people pass unchanged
    d = bench.diagnostics()
    assert (d['received'], d['tracked'], d['tracks_born'], d['tracks_active']) == ('12', '12', '2', '2')
    assert d['_level'] == 0 and d['errors'] == '0'


def test_bad_input_is_survived_answered_and_counted(bench):
    t = 10**9
    step = 10**8
    k = 0

    def normal(**kw):
        nonlocal t, k
        t += step
        k += 1
        return bench.send(frame(t, [person(k, 0), person(k, 1)], **kw))

    for _ in range(5):
        first = normal()
    ids = ids_of(first)
    # empty arrays for a few frames: answered (empty), tracks kept
    for _ in range(4):
        t += step
        assert bench.send(frame(t, [])).persons == []
    assert ids_of(normal()) == ids
    # a late message: republished untracked, tracks kept
    late = bench.send(frame(t - step // 2, [person(k, 0), person(k, 1)]))
    assert [p.track_id for p in late.persons] == ['', ''] and ids_of(normal()) == ids
    # NaN keypoints from a careless publisher: repaired (visibility 0), still tracked
    t += step
    k += 1
    fixed = bench.send(frame(t, [person(k, 0, nan=True), person(k, 1)]))
    assert np.all(np.isfinite(fixed.persons[0].x)) and fixed.persons[0].visibility[3] == 0
    assert ids_of(fixed) == ids
    # the estimator restarts: the publisher goes and comes back, stamps go on: nothing is lost
    bench.restart_feeder_publisher()
    assert ids_of(normal()) == ids
    # another frame_id: positions no longer compare, every track ends (counted), new ids follow
    for _ in range(3):
        other = normal(frame_id='cam2')
    assert set(ids_of(other).values()).isdisjoint(ids.values()) and all(ids_of(other).values())
    # the stamp jumps far back (a bag loop): reset again
    t -= 100 * step
    for _ in range(3):
        back = normal(frame_id='cam2')
    assert all(ids_of(back).values())
    # a flood: 300 messages without waiting. The queue (depth qos.input.depth) keeps the newest;
    # whatever reaches the tracker is answered, in order, the newest included.
    n_before = len(bench.got)
    for _ in range(300):
        t += 10**7                                   # 100 Hz: what is dropped leaves no time gap
        k += 1
        bench.send(frame(t, [person(k % 50, 0), person(k % 50, 1)], frame_id='cam2'), wait=False)
    last = t
    with bench.cond:
        assert bench.cond.wait_for(lambda: any(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == last
                                               for m in bench.got[n_before:]), 60)
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in bench.got[n_before:]]
    assert stamps == sorted(stamps) and len(stamps) >= 10
    d = bench.diagnostics()
    assert d['errors'] == '0' and bench.tracker.stats.received == len(bench.got)
    assert 'frame_id_change: 1' in d['resets'] and 'stamp_backwards: 1' in d['resets']
    assert 'out_of_order: 1' in d['untracked_messages'] and int(d['repaired_people']) == 1
    assert int(d['empty']) == 4 and int(d['tracks_ended_by_reset']) == 4
    # no track vanishes unnoticed: born = ended + still active
    assert int(d['tracks_born']) == int(d['tracks_ended']) + int(d['tracks_active'])


def test_lifecycle_bad_parameter_fails_configure_and_reports_it():
    from rclpy.parameter import Parameter
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for(__file__ + 'lifecycle'))
    try:
        node = TrackerNode(context=ctx, parameter_overrides=[Parameter('qos.input.reliability', value='sometimes')])
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        stat = node._diagnose(DiagnosticStatusWrapper())
        level = int.from_bytes(stat.level, 'little') if isinstance(stat.level, bytes) else int(stat.level)
        assert level == 2 and 'qos.input.reliability' in stat.message
        node.set_parameters([Parameter('qos.input.reliability', value='best_effort')])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node._tracker is None and node._pub is None
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_track_ids_are_not_reused_after_a_reconfigure(bench):
    """Deactivate, clean up, configure and activate again: the same people get new ids, never old ones."""
    before = [bench.send(frame(10**9 + k * 10**8, [person(k, 0), person(k, 1)])) for k in range(4)]
    old = set(ids_of(before[-1]).values())
    t = bench.tracker
    for step in (t.trigger_deactivate, t.trigger_cleanup, t.trigger_configure, t.trigger_activate):
        assert step() == TransitionCallbackReturn.SUCCESS
    bench.restart_feeder_publisher()
    after = [bench.send(frame(10**9 + k * 10**8, [person(k, 0), person(k, 1)])) for k in range(4)]
    new = set(ids_of(after[-1]).values())
    assert all(old) and all(new) and len(new) == 2 and not old & new, (old, new)
    prefix = {i.split('_')[0] for i in old | new}
    assert len(prefix) == 1 and len(prefix.pop()) == 7           # one start token for the process
