"""Parameters that cannot work are refused with the right name (never a traceback); incompatible-QoS peers log once."""
import contextlib
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from mipnet_ros.core.model.untrained import write_untrained_checkpoint  # noqa: E402
from mipnet_ros.offline.launcher import domain_id_for  # noqa: E402
from mipnet_ros.ros import pose_params  # noqa: E402
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
    assert pose_params.TABLE.check(pose_params.PoseParams(person_class_ids=[])).parameter == 'person_class_ids'
    assert pose_params.TABLE.check(pose_params.PoseParams(person_class_ids=['  '])).parameter == 'person_class_ids'
    assert pose_params.TABLE.check(pose_params.PoseParams(person_class_ids=['person'])) is None
    node = MipnetNode(context=ctx, parameter_overrides=[Parameter('model', value=str(model)),
                                                        Parameter('autostart', value=False)])
    try:
        res = node.set_parameters([Parameter('person_class_ids', Parameter.Type.STRING_ARRAY, [])])[0]
        assert not res.successful and 'person_class_ids' in res.reason
        assert node.params.person_class_ids == pose_params.DEFAULT_PERSON_CLASS_IDS
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


def _configure_with_yaml(tmp_path, model, body: str):
    """A node started with a YAML params file: (configure result, the node's error, its parameters)."""
    from mipnet_ros.ros.pose_node import MipnetNode
    yaml = tmp_path / 'p.yaml'
    yaml.write_text(f"/**:\n  ros__parameters:\n    model: '{model}'\n    autostart: false\n    warmup: false\n"
                    + ''.join(f'    {line}\n' for line in body.splitlines()))
    c = rclpy.Context()
    rclpy.init(context=c, domain_id=domain_id_for(__file__), args=['--ros-args', '--params-file', str(yaml)])
    try:
        node = MipnetNode(context=c)            # never raises, whatever the YAML holds
        try:
            result = node.trigger_configure()
            return result, node._model_error, node.params
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=c)


@pytest.mark.parametrize('body, check', [
    ('keypoint_threshold: 1', lambda p: p.keypoint_threshold == 1.0 and type(p.keypoint_threshold) is float),
    ('instance_threshold: 0', lambda p: p.instance_threshold == 0.0 and type(p.instance_threshold) is float),
    ('person_class_ids: [0]', lambda p: p.person_class_ids == ['0']),
    ('person_class_ids: 0', lambda p: p.person_class_ids == ['0']),
    ('instances: 2.0', lambda p: p.instances == 2 and type(p.instances) is int),
    ('max_boxes: 5.0', lambda p: p.max_boxes == 5 and type(p.max_boxes) is int),
])
def test_yaml_value_of_another_type_is_taken_as_the_obvious_value(model, tmp_path, body, check):
    result, error, params = _configure_with_yaml(tmp_path, model, body)
    assert result == TransitionCallbackReturn.SUCCESS, error
    assert check(params), params


@pytest.mark.parametrize('body, name', [
    ('instances: 2.5', 'instances'),
    ("keypoint_threshold: 'high'", 'keypoint_threshold'),
    ('keypoint_threshold: 1.5', 'keypoint_threshold'),          # out of the descriptor's range
    ('person_class_ids: [0.5]', 'person_class_ids'),
    ('backend: 3', 'backend'),
    ('flip: 1', 'flip'),
    ('input_height: 256', 'input_width'),                      # one of the two alone
    ('input_width: 192', 'input_height'),
])
def test_yaml_value_that_cannot_work_is_one_error_naming_the_parameter(model, tmp_path, body, name):
    result, error, _ = _configure_with_yaml(tmp_path, model, body)
    assert result == TransitionCallbackReturn.FAILURE
    assert error.startswith('configure failed:') and f"fix: set the parameter '{name}'" in error, error
    assert '\n' not in error and 'Traceback' not in error


def test_yaml_wrong_type_for_the_downstream_nodes_is_one_error(tmp_path):
    """The tracker and the 3D node read their YAML through the same code: the same refusals."""
    from mipnet_ros.ros.keypoints3d_node import Keypoints3DNode
    from mipnet_ros.ros.tracker_node import TrackerNode
    yaml = tmp_path / 'p.yaml'
    yaml.write_text("/**:\n  ros__parameters:\n    autostart: false\n    init_hits: 2.5\n    max_distance: 1\n"
                    "    depth:\n      window: 'wide'\n      min: 1\n")
    c = rclpy.Context()
    rclpy.init(context=c, domain_id=domain_id_for(__file__), args=['--ros-args', '--params-file', str(yaml)])
    try:
        for make, name in ((TrackerNode, 'init_hits'), (Keypoints3DNode, 'depth.window')):
            node = make(context=c)
            try:
                assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
                assert f"fix: set the parameter '{name}'" in node._config_error, node._config_error
            finally:
                node.destroy_node()
    finally:
        rclpy.try_shutdown(context=c)


@contextlib.contextmanager
def _active_node_and_peer(ctx, model, namespace: str, extra=()):
    """A configured and active MipnetNode and a peer node in `namespace`, spun together until the block ends."""
    from mipnet_ros.ros.pose_node import MipnetNode
    node = MipnetNode(namespace=namespace, context=ctx, parameter_overrides=[
        Parameter('model', value=str(model)), Parameter('autostart', value=False), Parameter('warmup', value=False),
        *extra])
    peer = rclpy.create_node(f'{namespace}_peer', namespace=namespace, context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(peer)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        yield node, peer
    finally:
        ex.shutdown(timeout_sec=1.0)
        peer.destroy_node()
        node.destroy_node()


def test_model_info_republished_after_a_live_change(model, ctx):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from mipnet_ros.msg import PoseModelInfo
    got = []
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    with _active_node_and_peer(ctx, model, 'info') as (node, peer):
        peer.create_subscription(PoseModelInfo, 'mipnet_node/model_info', got.append, latched)
        deadline = time.time() + 30
        while not got and time.time() < deadline:
            time.sleep(0.05)
        assert got and abs(got[-1].instance_threshold - pose_params.PoseParams().instance_threshold) < 1e-6
        assert node.set_parameters([Parameter('instance_threshold', value=0.55)])[0].successful
        while abs(got[-1].instance_threshold - 0.55) > 1e-6 and time.time() < deadline:
            time.sleep(0.05)
        assert abs(got[-1].instance_threshold - 0.55) < 1e-6
        assert got[-1].model_hash == got[0].model_hash and got[-1].arch == got[0].arch


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

    # a reliable detections subscription (the default is best effort, which every publisher matches)
    with _active_node_and_peer(ctx, model, 'guards', [Parameter('qos.detections.reliability', value='reliable')]) \
            as (node, peer):
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        pubs = [peer.create_publisher(Detection2DArray, 'detections', best_effort) for _ in range(8)]
        deadline = time.time() + 20
        while node._qos_log.counts.get('detections', 0) < len(pubs) and time.time() < deadline:
            time.sleep(0.05)
        assert node._qos_log.counts.get('detections', 0) >= len(pubs)
