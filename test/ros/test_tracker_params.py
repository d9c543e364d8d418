"""Parameters of mipnet_tracker: config/tracker.yaml, the declarations and the launch arguments agree."""
import os
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from mipnet_ros.core.tracking import TrackerConfig
from mipnet_ros.ros import tracker_params
from mipnet_ros.ros.params import NodeParameters

REPO = Path(__file__).resolve().parents[2]


def _flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f'{prefix}{k}.') if isinstance(v, dict) else {f'{prefix}{k}': v})
    return out


def test_yaml_has_every_parameter_with_the_declared_default():
    doc = yaml.safe_load((REPO / 'config' / 'tracker.yaml').read_text())
    assert list(doc) == ['/**']
    values = _flatten(doc['/**']['ros__parameters'])
    assert set(values) == {s.name for s in tracker_params.SPECS}
    defaults = tracker_params.TrackerNodeParams()
    for s in tracker_params.SPECS:
        want = getattr(defaults, s.attr)
        assert values[s.name] == want and type(values[s.name]) is type(want), s.name


def test_every_tracker_setting_is_a_parameter():
    attrs = {s.attr for s in tracker_params.SPECS}
    assert {f.name for f in fields(TrackerConfig)} <= attrs
    assert tracker_params.TrackerNodeParams(max_missed=7).tracker_config().max_missed == 7


def test_declared_with_descriptors_and_ranges():
    rclpy = pytest.importorskip('rclpy')
    from rclpy.parameter import Parameter
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=198)
    try:
        node = rclpy.create_node('tracker_params_probe', context=ctx)
        params = NodeParameters(node, tracker_params.TABLE)
        assert params.read() == (tracker_params.TrackerNodeParams(), None)
        d = node.describe_parameter('max_distance')
        assert d.description and d.floating_point_range[0].to_value == 1.0
        assert not node.set_parameters([Parameter('init_hits', value=0)])[0].successful
        why, _ = params.live_update(tracker_params.TrackerNodeParams(),
                                    [Parameter('qos.input.reliability', value='sometimes')])
        assert 'qos.input.reliability' in why
        assert params.live_update(tracker_params.TrackerNodeParams(), [Parameter('qos.input.depth', value=3)])[0] == ''
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_launch_file_declares_the_tracker_arguments():
    pytest.importorskip('launch_ros')
    out = subprocess.run(['ros2', 'launch', 'mipnet_ros', 'mipnet.launch.py', '--show-args'], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    for arg in ('tracker', 'tracker_params_file', 'tracked_keypoints', 'tracker_name', 'keypoints'):
        assert f"'{arg}'" in out.stdout, arg
    assert 'config/tracker.yaml' in out.stdout
