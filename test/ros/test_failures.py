"""Configure/activate failures: one sentence with the cause and the fix for each kind."""
import pytest

from mipnet_ros.ros import failures
from mipnet_ros.ros.pose_params import PoseParams


def test_messages_not_built():
    exc = ModuleNotFoundError("No module named 'mipnet_ros.msg'", name='mipnet_ros.msg')
    text = failures.configure_failure(exc, PoseParams())
    assert 'mipnet_ros.msg' in text and 'colcon build' in text and 'source install/setup.bash' in text
    assert '\n' not in text


def test_other_ros_package_missing():
    text = failures.configure_failure(ModuleNotFoundError("No module named 'vision_msgs'", name='vision_msgs'))
    assert 'vision_msgs' in text and 'rosdep install' in text


def test_missing_model_names_the_parameter():
    text = failures.configure_failure(FileNotFoundError('model file not found: /x.pth'), PoseParams(model='/x.pth'))
    assert "parameter 'model'" in text and 'model:=' in text and '/x.pth' in text


@pytest.mark.parametrize('message', [
    "/m.pth: official-format checkpoint whose weight shapes match none of the known architectures; name it "
    "(arch parameter, --arch, arch=): one of hrnet_w32, hrnet_w48",
    "unknown arch 'hrnet_w99'; choose one of hrnet_w32, hrnet_w48",
])
def test_architecture_problems_point_at_arch(message):
    from mipnet_ros.core.model.checkpoint import CheckpointError
    text = failures.configure_failure(CheckpointError(message), PoseParams(arch='hrnet_w99'))
    assert "parameter 'arch'" in text and 'arch:=' in text and 'hrnet_w32' in text


def test_parameter_error_and_activate():
    text = failures.configure_failure(failures.ParameterError('trt_cache_dir', 'cannot be written'))
    assert "parameter 'trt_cache_dir'" in text
    text = failures.activate_failure(RuntimeError('CUDA out of memory'), PoseParams(device='cuda:0'))
    assert 'CUDA out of memory' in text and "'cuda:0'" in text and 'warmup' in text


def test_node_run_without_built_messages_says_how_to_build(tmp_path):
    """The node started from the source tree (messages never generated): one ERROR with the build steps."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    pytest.importorskip('rclpy')
    from mipnet_ros.offline.launcher import domain_id_for
    repo = Path(__file__).resolve().parents[2]
    # the ROS underlay only: no install of this package anywhere (that is where the generated messages are)
    def installs_us(path: str) -> bool:
        p = Path(path)
        return path.startswith(str(repo / 'install')) or (p / 'share' / 'mipnet_ros').is_dir() or (
            (p / 'mipnet_ros' / 'msg').is_dir())
    env = {k: os.pathsep.join(p for p in v.split(os.pathsep) if not installs_us(p)) for k, v in os.environ.items()}
    env.update(PYTHONPATH=os.pathsep.join([str(repo), env.get('PYTHONPATH', '')]), PYTHONUNBUFFERED='1',
               ROS_DOMAIN_ID=str(domain_id_for(__file__)), RCUTILS_LOGGING_BUFFERED_STREAM='0')
    log = tmp_path / 'node.log'
    with open(log, 'wb') as out:
        proc = subprocess.Popen([sys.executable, '-m', 'mipnet_ros.ros.pose_node'], cwd=repo, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + 60
            while time.time() < deadline and 'autostart' not in log.read_text(errors='replace'):
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    errors = [line for line in log.read_text(errors='replace').splitlines() if '[ERROR]' in line]
    assert len(errors) == 1, log.read_text()[-2000:]
    assert 'mipnet_ros.msg' in errors[0] and 'colcon build' in errors[0] and 'source install/setup.bash' in errors[0]
