"""Parameters of mipnet_node: the YAML, the declarations and the launch arguments agree."""
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from mipnet_ros.ros import keypoints3d_params, pose_params, tracker_params
from mipnet_ros.ros.params import NodeParameters, ParamTable

REPO = Path(__file__).resolve().parents[2]


def _flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


@pytest.mark.parametrize('yaml_name, specs, defaults', [
    ('mipnet.yaml', pose_params.SPECS, pose_params.PoseParams()),
    ('keypoints3d.yaml', keypoints3d_params.SPECS, keypoints3d_params.Keypoints3DParams()),
    ('tracker.yaml', tracker_params.SPECS, tracker_params.TrackerNodeParams())])
def test_yaml_has_every_parameter_with_the_declared_default(yaml_name, specs, defaults):
    doc = yaml.safe_load((REPO / 'config' / yaml_name).read_text())
    assert list(doc) == ['/**'], 'parameters must apply to the node in any namespace'
    values = _flatten(doc['/**']['ros__parameters'])
    assert set(values) == {s.name for s in specs}
    for s in specs:
        want = getattr(defaults, s.attr)
        assert values[s.name] == want and type(values[s.name]) is type(want), s.name


def test_keypoints3d_values_that_cannot_work_are_refused():
    table = keypoints3d_params.TABLE
    defaults = keypoints3d_params.Keypoints3DParams()
    assert table.check(defaults) is None
    err = table.check(table.with_values(defaults, {'depth.min': 30.0}))
    assert err.parameter == 'depth.min' and 'depth.max' in str(err)
    no_output = keypoints3d_params.Keypoints3DParams(publish_3d=False, hri_enabled=False)
    assert table.check(no_output).parameter == 'publish_3d'


def test_pose_values_that_cannot_work_together_name_the_parameter():
    table = pose_params.TABLE
    assert table.check(pose_params.PoseParams()) is None
    assert table.check(pose_params.PoseParams(person_class_ids=['  '])).parameter == 'person_class_ids'
    assert table.check(pose_params.PoseParams(input_height=256)).parameter == 'input_width'
    assert table.check(pose_params.PoseParams(input_width=192)).parameter == 'input_height'
    assert table.check(pose_params.PoseParams(input_height=256, input_width=192)) is None
    assert table.check(pose_params.PoseParams(backend='tensorflow')).parameter == 'backend'


@pytest.mark.parametrize('name, value, want', [
    ('keypoint_threshold', 1, 1.0), ('instances', 2.0, 2), ('person_class_ids', [0], ['0']),
    ('person_class_ids', [0, 'person'], ['0', 'person']), ('fp16', True, 'true'), ('fp16', 'AUTO', 'auto'),
    ('flip', 'true', True),
])
def test_the_obvious_value_of_another_type_is_taken(name, value, want):
    got = pose_params.TABLE.coerce(pose_params.TABLE.by_name[name], value)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize('name, value', [
    ('instances', 2.5), ('instances', 'two'), ('keypoint_threshold', 'high'), ('keypoint_threshold', True),
    ('keypoint_threshold', 1.5), ('person_class_ids', [0.5]), ('backend', 3), ('flip', 1), ('max_boxes', -1),
    ('fp16', 'half'), ('backend', 'tensorflow'),
])
def test_a_value_that_cannot_work_is_a_parameter_error(name, value):
    from mipnet_ros.core.errors import ParameterError
    with pytest.raises(ParameterError) as err:
        pose_params.TABLE.coerce(pose_params.TABLE.by_name[name], value)
    assert err.value.parameter == name and name in str(err.value)


def test_the_three_nodes_declare_through_the_same_code(monkeypatch):
    """Every node builds a NodeParameters over its ParamTable; each table holds autostart and exit_with_parent."""
    pytest.importorskip('rclpy')
    from mipnet_ros.ros import keypoints3d_node, pose_node, tracker_node
    tables = {'pose': pose_params.TABLE, 'tracker': tracker_params.TABLE, 'keypoints3d': keypoints3d_params.TABLE}
    assert all(isinstance(t, ParamTable) for t in tables.values())
    for table in tables.values():
        assert {'autostart', 'exit_with_parent'} <= set(table.by_name)
    seen = []
    real_init = NodeParameters.__init__

    def spy(self, node, table):
        seen.append((type(node).__name__, table))
        real_init(self, node, table)
    for module in (pose_node, tracker_node, keypoints3d_node):
        assert module.NodeParameters is NodeParameters
    monkeypatch.setattr(NodeParameters, '__init__', spy)
    rclpy = pytest.importorskip('rclpy')
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=197)
    try:
        nodes = [pose_node.MipnetNode(context=ctx), tracker_node.TrackerNode(context=ctx),
                 keypoints3d_node.Keypoints3DNode(context=ctx)]
        assert [t for _, t in seen] == [pose_params.TABLE, tracker_params.TABLE, keypoints3d_params.TABLE]
        for node in nodes:
            assert node.params.exit_with_parent is True and node.params.autostart is True
            assert node.describe_parameter('exit_with_parent').description
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_declared_on_a_node_with_descriptors_and_validation():
    rclpy = pytest.importorskip('rclpy')
    from rcl_interfaces.msg import ParameterType
    from rclpy.parameter import Parameter
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=199)
    try:
        node = rclpy.create_node('params_probe', context=ctx)
        params = NodeParameters(node, pose_params.TABLE)
        assert params.read() == (pose_params.PoseParams(), None)
        d = node.describe_parameter('keypoint_threshold')
        assert d.type == ParameterType.PARAMETER_DOUBLE and d.floating_point_range[0].to_value == 1.0
        assert d.description
        assert node.describe_parameter('person_class_ids').type == ParameterType.PARAMETER_STRING_ARRAY
        assert node.describe_parameter('max_boxes').integer_range[0].from_value == 0
        # rclpy enforces the ranges ...
        res = node.set_parameters([Parameter('keypoint_threshold', value=1.5)])
        assert not res[0].successful
        # ... and live_update the types and choices, which the node's set-parameters callback applies.
        why, live = params.live_update(pose_params.PoseParams(), [Parameter('instance_threshold', value=0.7),
                                                        Parameter('backend', value='onnxruntime')])
        assert not why and live.instance_threshold == 0.7 and live.backend == 'torch'   # backend is not live
        why, same = params.live_update(live, [Parameter('backend', value='tensorflow')])
        assert 'backend' in why and same is live
        why, same = params.live_update(live, [Parameter('instance_threshold', value='high')])
        assert 'instance_threshold' in why and same is live
        why, newer = params.live_update(live, [Parameter('instance_threshold', value=1)])   # an int for a float
        assert not why and newer.instance_threshold == 1.0 and type(newer.instance_threshold) is float
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_markdown_table_lists_every_parameter():
    for table in (pose_params.TABLE, tracker_params.TABLE, keypoints3d_params.TABLE):
        text = table.markdown()
        assert all(f'`{s.name}`' in text for s in table.specs)


def test_launch_file_declares_the_topic_and_model_arguments():
    pytest.importorskip('launch_ros')
    out = subprocess.run(['ros2', 'launch', 'mipnet_ros', 'mipnet.launch.py', '--show-args'], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    for arg in ('image', 'detections', 'keypoints', 'params_file', 'namespace', 'model', 'backend', 'device',
                'use_compressed', 'image_reliability', 'detections_reliability', 'autostart'):
        assert f"'{arg}'" in out.stdout, arg
    assert 'config/mipnet.yaml' in out.stdout


def test_fp16_takes_auto_or_a_boolean():
    """fp16 is a string choice that old YAML files may still give as true/false."""
    rclpy = pytest.importorskip('rclpy')
    from rclpy.parameter import Parameter
    assert pose_params.PoseParams().fp16 == 'auto' and pose_params.PoseParams().device == 'auto'
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=199)
    try:
        node = rclpy.create_node('fp16_probe', context=ctx, parameter_overrides=[Parameter('fp16', value=True)])
        params = NodeParameters(node, pose_params.TABLE)
        assert params.read()[0].fp16 == 'true'
        assert node.set_parameters([Parameter('fp16', value='auto')])[0].successful
        assert params.read()[0].fp16 == 'auto'
        assert node.set_parameters([Parameter('fp16', value=False)])[0].successful
        assert params.read()[0].fp16 == 'false'
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
