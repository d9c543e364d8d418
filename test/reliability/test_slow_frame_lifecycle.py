"""Lifecycle transitions while a frame is stuck inside the network: never waited on, never a second worker.

The node runs in this process (so the test can hold its network at will); transitions go through
the real lifecycle services. A frame held inside the model across deactivate, cleanup, configure
and activate must finish into nothing (no publish through destroyed publishers, no error), the
next frame is served by the same single worker thread, and a burst of transition requests is
answered in full.
"""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from mipnet_ros.core.model.untrained import write_untrained_checkpoint  # noqa: E402
from mipnet_ros.offline.launcher import domain_id_for  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402


class HeldModel:
    """Wraps the node's estimator; the first call waits until the test releases it."""

    def __init__(self, est):
        self.est = est
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.est, name)

    def __call__(self, image, boxes, **kwargs):
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(60)
        return self.est(image, boxes, **kwargs)


def _frame(stamp_ns):
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    img = Image(height=120, width=160, encoding='bgr8', step=480)
    img.data = np.random.default_rng(stamp_ns % 1000).integers(0, 255, 120 * 480, dtype=np.uint8).tobytes()
    dets = Detection2DArray()
    for m in (img, dets):
        m.header.stamp.sec, m.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
        m.header.frame_id = 'cam'
    d = Detection2D(id='a')
    d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y = 80.0, 60.0, 60.0, 100.0
    h = ObjectHypothesisWithPose()
    h.hypothesis.class_id, h.hypothesis.score = 'person', 0.9
    d.results.append(h)
    dets.detections.append(d)
    return img, dets


def _workers():
    return [t for t in threading.enumerate() if t.name == 'mipnet_worker']


def _until(pred, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_transitions_during_a_held_frame(tmp_path, one_torch_thread):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.msg import PersonKeypointsArray
    from mipnet_ros.ros.pose_node import MipnetNode

    model = write_untrained_checkpoint(tmp_path / 'random.pth')
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for(__file__))
    ns = f'slow{int(time.time() * 1000) % 100000}'
    node = MipnetNode(namespace=ns, context=ctx, parameter_overrides=[
        Parameter('model', value=str(model)), Parameter('warmup', value=False), Parameter('autostart', value=False),
        Parameter('instance_threshold', value=0.0), Parameter('qos.image.reliability', value='reliable')])
    probe = rclpy.create_node('slow_probe', namespace=ns, context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    executor.add_node(probe)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    got = []
    probe.create_subscription(PersonKeypointsArray, 'keypoints', lambda m: got.append(m), qos_profile('reliable', 50))
    img_pub = probe.create_publisher(Image, 'image', qos_profile('reliable', 10))
    det_pub = probe.create_publisher(Detection2DArray, 'detections', qos_profile('reliable', 10))
    change = probe.create_client(ChangeState, f'/{ns}/mipnet_node/change_state')

    def request(tid):
        return change.call_async(ChangeState.Request(transition=Transition(id=tid)))

    def transition(tid):
        fut = request(tid)
        assert _until(fut.done), f'transition {tid} was not answered'
        return fut.result().success

    def send(stamp):
        img, dets = _frame(stamp)
        img_pub.publish(img)
        det_pub.publish(dets)

    try:
        assert change.wait_for_service(timeout_sec=20)
        assert transition(Transition.TRANSITION_CONFIGURE)
        held = node._estimator = HeldModel(node._estimator)
        assert transition(Transition.TRANSITION_ACTIVATE)
        assert _until(lambda: img_pub.get_subscription_count() and det_pub.get_subscription_count())
        send(1_000_000_000)
        assert held.entered.wait(30), 'the first frame never reached the model'

        # every transition is answered while the frame is still held inside the model
        for tid in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP,
                    Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert transition(tid), f'transition {tid} failed'
            assert not held.release.is_set() and len(_workers()) == 1
        assert _until(lambda: img_pub.get_subscription_count() and det_pub.get_subscription_count())
        send(2_000_000_000)             # waits in the mailbox: the only worker is still busy
        time.sleep(0.3)
        assert got == [] and len(_workers()) == 1
        held.release.set()
        assert _until(lambda: len(got) >= 1)
        time.sleep(0.5)
        stamps = [m.header.stamp.sec for m in got]
        assert stamps == [2], f'the held frame published after its generation ended: {stamps}'
        assert node.stats.errors == 0 and len(_workers()) == 1

        # a burst of requests: each one answered (success or refusal), none lost. 10 is the depth of
        # the lifecycle services' request queue, which rcl_lifecycle creates with the default service
        # QoS (KEEP_LAST 10): a larger burst loses its oldest requests in the middleware.
        tids = [Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_ACTIVATE] * 5
        futures = [request(t) for t in tids]
        assert _until(lambda: all(f.done() for f in futures)), \
            f'{sum(not f.done() for f in futures)} of {len(futures)} requests unanswered'
        assert futures[0].result().success and len(_workers()) == 1
    finally:
        held_obj = getattr(node, '_estimator', None)
        if isinstance(held_obj, HeldModel):
            held_obj.release.set()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert _until(lambda: not _workers(), 5.0), 'the worker outlived destroy_node'
