"""A params file rcl refuses stops the executables with one ERROR line naming the file and the parameter."""
import os
import re
import subprocess

import pytest

from mipnet_ros.ros.ros_init import mixed_lists, params_file_problems, params_files


def _params(body: dict) -> dict:
    return {'mipnet_node': {'ros__parameters': body}}


def test_mixed_lists_names_each_list_rcl_refuses():
    doc = _params({'person_class_ids': [0, 'person'], 'input_size': [1, 2.5], 'ok': [1, 2], 'names': ['a', 'b'],
                   'qos': {'image': {'flags': [True, 'x']}}, 'nested': [[1], [2]], 'empty': []})
    reasons = mixed_lists(doc)
    named = sorted(re.match(r'/mipnet_node: ([\w.]+):', r).group(1) for r in reasons)
    assert named == ['input_size', 'nested', 'person_class_ids', 'qos.image.flags']
    assert any('integer and string' in r and 'one type' in r for r in reasons)
    assert mixed_lists(_params({'person_class_ids': [0], 'names': ['person']})) == []
    assert mixed_lists({'/**': {'ros__parameters': {'a': [1, 'b']}}})[0].startswith('/**: a:')


def test_params_files_and_unreadable_files(tmp_path):
    assert params_files(['x', '--ros-args', '--params-file', 'a.yaml', '-r', 'a:=b', '--params-file', 'b.yaml']) == [
        'a.yaml', 'b.yaml']
    broken = tmp_path / 'broken.yaml'
    broken.write_text('mipnet_node:\n  ros__parameters:\n    model: [unclosed\n')
    missing = tmp_path / 'missing.yaml'
    problems = params_file_problems(['--params-file', str(broken), '--params-file', str(missing)])
    assert len(problems) == 2 and problems[0].startswith(str(broken)) and str(missing) in problems[1]


@pytest.mark.parametrize('executable, body, expect', [
    ('mipnet_node', 'person_class_ids: [0, "person"]', 'person_class_ids: [0, \'person\'] holds integer and string'),
    ('mipnet_tracker', 'max_distance: [0.3, "x"]', 'max_distance'),
    ('mipnet_node', 'model: [unclosed', 'while parsing'),      # YAML syntax: PyYAML's reason
])
def test_executable_refuses_the_file_with_one_line(tmp_path, executable, body, expect):
    pytest.importorskip('rclpy')
    path = tmp_path / 'broken.yaml'
    path.write_text(f'/**:\n  ros__parameters:\n    {body}\n')
    out = subprocess.run(['ros2', 'run', 'mipnet_ros', executable, '--ros-args', '--params-file', str(path)],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, ROS_DOMAIN_ID=os.environ.get('ROS_DOMAIN_ID', '0')))
    text = out.stdout + out.stderr
    ours = [ln for ln in text.splitlines() if re.match(rf'\[ERROR\] \[[\d.]+\] \[{executable}\]', ln)]
    assert out.returncode != 0, text
    assert 'Traceback' not in text, text
    assert len(ours) == 1 and str(path) in ours[0] and expect in ours[0] and 'cannot start' in ours[0], text
