"""The standard ROS 2 path, as a new user takes it: the repository in ws/src, plain `colcon build`,
`source install/setup.bash`, then `ros2 pkg executables`, `ros2 interface show` and `ros2 launch`.

The repository's files (tracked, plus new files git does not ignore) are copied into a temporary
workspace; nothing is passed to colcon. CMake finds the venv's Python because the venv is first on
PATH (scripts/env.sh), as it would be for a user with an activated venv or a system ROS install.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mipnet_ros.offline.launcher import domain_id_for

REPO = Path(__file__).resolve().parents[2]


def _repo_files():
    out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z'], cwd=REPO,
                         capture_output=True, check=True).stdout.decode()
    return [f for f in out.split('\0') if f and (REPO / f).is_file()]


def _in_workspace(ws: Path, command: str, env, timeout: float) -> subprocess.CompletedProcess:
    """`command` in a bash that sourced the workspace, as a user's terminal would."""
    return subprocess.run(['bash', '-c', f'source install/setup.bash && {command}'], cwd=ws, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    if shutil.which('colcon') is None or shutil.which('git') is None or not (REPO / '.git').exists():
        pytest.skip('needs colcon and a git checkout')
    ws = tmp_path_factory.mktemp('ws')
    src = ws / 'src' / 'mipnet_ros'
    for rel in _repo_files():
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest)
    # a clean environment of the underlay only: this checkout's own install/ must not leak in
    env = {key: os.pathsep.join(p for p in value.split(os.pathsep) if not p.startswith(str(REPO)))
           for key, value in os.environ.items()}
    env['ROS_DOMAIN_ID'] = str(domain_id_for(__file__))
    build = subprocess.run(['colcon', 'build'], cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield ws, env
    subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30)


def test_executables_and_messages_are_installed(workspace):
    ws, env = workspace
    out = _in_workspace(ws, 'ros2 pkg executables mipnet_ros && ros2 interface show '
                            'mipnet_ros/msg/PersonKeypointsArray', env, 120)
    assert out.returncode == 0, out.stderr
    assert 'mipnet_ros mipnet_node' in out.stdout
    assert 'PersonKeypoints[] persons' in out.stdout
    prefix = _in_workspace(ws, 'ros2 pkg prefix mipnet_ros', env, 60).stdout.strip()
    assert Path(prefix).resolve() == (ws / 'install' / 'mipnet_ros').resolve()


def test_launch_reaches_active(workspace):
    ws, env = workspace
    proc = subprocess.Popen(['bash', '-c', 'source install/setup.bash && exec ros2 launch mipnet_ros mipnet.launch.py'],
                            cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        state = ''
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            got = _in_workspace(ws, 'ros2 lifecycle get /mipnet_node', env, 60)
            state = got.stdout.strip()
            if state.startswith('active'):
                break
            time.sleep(2)
        assert state.startswith('active'), f'state {state!r}; launch exited {proc.poll()}'
    finally:
        os.killpg(proc.pid, 2)
        try:
            log, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            log, _ = proc.communicate()
    assert 'configured: hrnet_w16s' in log and str(ws / 'install') in log   # the workspace's own model
    assert '[mipnet_node-1] [ERROR]' not in log                                 # nothing the node complained of
