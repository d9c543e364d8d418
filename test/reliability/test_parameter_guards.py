"""Parameters that cannot work are refused with the right name; incompatible-QoS peers log once per period."""
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from mipnet_ros.ros import params as P  # noqa: E402
from mipnet_ros.core.model.untrained import write_untrained_checkpoint  # noqa: E402
from mipnet_ros.offline.launcher import domain_id_for  # noqa: E402
from mipnet_ros.ros.qos_events import IncompatibleQosLog  # noqa: E402
from mipnet_ros.testing.log_lines import LogLines  # noqa: E402


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return write_untrained_checkpoint(tmp_path_factory.mktemp('guards') / 'random.pth')


@pytest.fixture
def ctx():
    c = rclpy.Context()
    rclpy.init(context=c, domain_id=domain_id_for(__file__))
    yield c
    rclpy.try_shutdown(context=c)


def test_too_many_instances_names_the_instances_parameter(model):
    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.ros.failures import parameter_to_fix
    with pytest.raises(Exception) as err:
        PoseEstimator(model=str(model), instances=16)
    assert parameter_to_fix(err.value) == "instances"


def test_empty_person_class_ids_refused(model, ctx, tmp_path):
    from mipnet_ros.ros.pose_node import MipnetNode
    assert P.check_value('person_class_ids', []) and P.check_value('person_class_ids', ['  '])
    assert P.check_value('person_class_ids', ['person']) is None
    node = MipnetNode(context=ctx, parameter_overrides=[Parameter('model', value=str(model)),
                                                        Parameter('autostart', value=False)])
    try:
        res = node.set_parameters([Parameter('person_class_ids', Parameter.Type.STRING_ARRAY, [])])[0]
        assert not res.successful and 'person_class_ids' in res.reason
        assert node.params.person_class_ids == P.DEFAULT_PERSON_CLASS_IDS
    finally:
        node.destroy_node()


def test_empty_person_class_ids_in_yaml_fails_configure(model, tmp_path):
    from mipnet_ros.ros.pose_node import MipnetNode
    yaml = tmp_path / 'p.yaml'
    yaml.write_text(f"/**:\n  ros__parameters:\n    person_class_ids: []\n    model: '{model}'\n    autostart: false\n")
    c = rclpy.Context()
    rclpy.init(context=c, domain_id=domain_id_for(__file__), args=['--ros-args', '--params-file', str(yaml)])
    try:
        node = MipnetNode(context=c)            # a YAML [] must not crash the constructor
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert 'person_class_ids' in node._model_error
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=c)


def test_qos_log_throttles_per_topic():
    log = LogLines()
    q = IncompatibleQosLog(log, period_sec=60.0)
    for _ in range(67):
        q.on_event('detections', 'publisher', object())
    q.on_event('image', 'publisher', object())
    assert q.counts == {'detections': 67, 'image': 1}
    assert len(log.warnings) == 2 and "'detections'" in log.warnings[0] and "'image'" in log.warnings[1]
    q.period_sec = 0.0
    q.on_event('detections', 'publisher', object())
    assert len(log.warnings) == 3 and log.warnings[2].startswith('67 publisher(s)')   # the 66 held back + this one


def test_incompatible_publishers_counted_by_the_node(model, ctx):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.ros.pose_node import MipnetNode
    # a reliable detections subscription (the default is best effort, which every publisher matches)
    node = MipnetNode(namespace='guards', context=ctx, parameter_overrides=[
        Parameter('model', value=str(model)), Parameter('autostart', value=False), Parameter('warmup', value=False),
        Parameter('qos.detections.reliability', value='reliable')])
    peer = rclpy.create_node('qos_peer', namespace='guards', context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(peer)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        pubs = [peer.create_publisher(Detection2DArray, 'detections', best_effort) for _ in range(8)]
        deadline = time.time() + 20
        while node._qos_log.counts.get('detections', 0) < len(pubs) and time.time() < deadline:
            time.sleep(0.05)
        assert node._qos_log.counts.get('detections', 0) >= len(pubs)
    finally:
        ex.shutdown(timeout_sec=1.0)
        peer.destroy_node()
        node.destroy_node()
