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


@pytest.mark.parametrize('arch', ['auto', 'hrnet_w99'])
def test_architecture_problems_point_at_arch(tmp_path, arch):
    """The loader's own errors (an official-format file no architecture fits, an unknown name) blame 'arch'."""
    torch = pytest.importorskip('torch')
    from mipnet_ros.core.model.checkpoint import CheckpointError, load_checkpoint
    path = tmp_path / 'official.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1, 3, 3, 3)}}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, arch=arch)
    text = failures.configure_failure(err.value, PoseParams(arch=arch))
    assert err.value.parameter == 'arch'
    assert "parameter 'arch'" in text and 'arch:=' in text and 'hrnet_w32' in text and '\n' not in text


def test_the_parameter_comes_from_the_error_type_not_its_text():
    from mipnet_ros.core.errors import ParameterError
    text = failures.configure_failure(ParameterError('cannot be written', 'trt_cache_dir'))
    assert "parameter 'trt_cache_dir'" in text
    assert failures.parameter_to_fix(ParameterError('x', 'input_size')) == 'input_height/input_width'
    # words that name a parameter in an untyped error do not choose it
    assert failures.parameter_to_fix(RuntimeError('instances=5 but the model has N=2; device')) == 'model'
    text = failures.activate_failure(RuntimeError('CUDA out of memory'), PoseParams(device='cuda:0'))
    assert 'CUDA out of memory' in text and "'cuda:0'" in text and 'warmup' in text


def test_too_many_instances_is_an_instances_error(tmp_path):
    pytest.importorskip('torch')
    from mipnet_ros.core.errors import ParameterError
    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.core.model.untrained import write_untrained_checkpoint
    model = write_untrained_checkpoint(tmp_path / 'random.pth')
    with pytest.raises(ParameterError) as err:
        PoseEstimator(model=str(model), instances=16)
    assert err.value.parameter == 'instances'
    text = failures.configure_failure(err.value, PoseParams(instances=16))
    assert "lower the parameter 'instances'" in text and '(16)' in text


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
