"""Parameters of mipnet_node: the YAML, the declarations and the launch arguments agree."""
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from mipnet_ros.ros import keypoints3d_params as P3, params as P

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
    ('mipnet.yaml', P.SPECS, P.PoseParams()), ('keypoints3d.yaml', P3.SPECS, P3.Keypoints3DParams())])
def test_yaml_has_every_parameter_with_the_declared_default(yaml_name, specs, defaults):
    doc = yaml.safe_load((REPO / 'config' / yaml_name).read_text())
    assert list(doc) == ['/**'], 'parameters must apply to the node in any namespace'
    values = _flatten(doc['/**']['ros__parameters'])
    assert set(values) == {s.name for s in specs}
    for s in specs:
        want = getattr(defaults, s.attr)
        assert values[s.name] == want and type(values[s.name]) is type(want), s.name


def test_keypoints3d_values_that_cannot_work_are_refused():
    defaults = P3.Keypoints3DParams()
    assert P3.check(defaults) == ''
    assert 'depth.min' in P3.check(P3.with_live(defaults, {'depth.min': 30.0}))
    assert 'do nothing' in P3.check(P3.Keypoints3DParams(publish_3d=False, hri_enabled=False))


def test_declared_on_a_node_with_descriptors_and_validation():
    rclpy = pytest.importorskip('rclpy')
    from rcl_interfaces.msg import ParameterType
    from rclpy.parameter import Parameter
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=199)
    try:
        node = rclpy.create_node('params_probe', context=ctx)
        P.declare_parameters(node)
        assert P.read_parameters(node) == P.PoseParams()
        d = node.describe_parameter('keypoint_threshold')
        assert d.type == ParameterType.PARAMETER_DOUBLE and d.floating_point_range[0].to_value == 1.0
        assert d.description
        assert node.describe_parameter('person_class_ids').type == ParameterType.PARAMETER_STRING_ARRAY
        assert node.describe_parameter('max_boxes').integer_range[0].from_value == 0
        # rclpy enforces the ranges ...
        res = node.set_parameters([Parameter('keypoint_threshold', value=1.5)])
        assert not res[0].successful
        # ... and check_value the choices, which the node's set-parameters callback applies.
        assert P.check_value('backend', 'tensorflow') and P.check_value('backend', 'onnxruntime') is None
        why, live = P.live_update(P.PoseParams(), [Parameter('instance_threshold', value=0.7),
                                                   Parameter('backend', value='onnxruntime')])
        assert not why and live.instance_threshold == 0.7 and live.backend == 'torch'   # backend is not live
        why, same = P.live_update(live, [Parameter('backend', value='tensorflow')])
        assert 'backend' in why and same is live
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_markdown_table_lists_every_parameter():
    table = P.markdown_table()
    assert all(f'`{s.name}`' in table for s in P.SPECS)


def test_launch_file_declares_the_topic_and_model_arguments():
    pytest.importorskip('launch_ros')
    out = subprocess.run(['ros2', 'launch', 'mipnet_ros', 'mipnet.launch.py', '--show-args'], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    for arg in ('image', 'detections', 'keypoints', 'params_file', 'namespace', 'model', 'backend', 'device',
                'use_compressed', 'image_reliability', 'autostart'):
        assert f"'{arg}'" in out.stdout, arg
    assert 'config/mipnet.yaml' in out.stdout


def test_fp16_takes_auto_or_a_boolean():
    """fp16 is a string choice that old YAML files may still give as true/false."""
    rclpy = pytest.importorskip('rclpy')
    from rclpy.parameter import Parameter
    assert P.PoseParams().fp16 == 'auto' and P.PoseParams().device == 'auto'
    assert P.check_value('fp16', True) is None and P.check_value('fp16', 'AUTO') is None
    assert 'fp16 must be one of' in P.check_value('fp16', 'half')
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=199)
    try:
        node = rclpy.create_node('fp16_probe', context=ctx, parameter_overrides=[Parameter('fp16', value=True)])
        P.declare_parameters(node)
        assert P.read_parameters(node).fp16 == 'true'
        assert node.set_parameters([Parameter('fp16', value='auto')])[0].successful
        assert P.read_parameters(node).fp16 == 'auto'
        assert node.set_parameters([Parameter('fp16', value=False)])[0].successful
        assert P.read_parameters(node).fp16 == 'false'
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
