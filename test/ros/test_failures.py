"""Configure/activate failures: one sentence with the cause and the fix for each kind."""
import pytest

from mipnet_ros.ros import failures
from mipnet_ros.ros.params import NodeParams


def test_messages_not_built():
    exc = ModuleNotFoundError("No module named 'mipnet_ros.msg'", name='mipnet_ros.msg')
    text = failures.configure_failure(exc, NodeParams())
    assert 'mipnet_ros.msg' in text and 'colcon build' in text and 'source install/setup.bash' in text
    assert '\n' not in text


def test_other_ros_package_missing():
    text = failures.configure_failure(ModuleNotFoundError("No module named 'vision_msgs'", name='vision_msgs'))
    assert 'vision_msgs' in text and 'rosdep install' in text


def test_missing_model_names_the_parameter():
    text = failures.configure_failure(FileNotFoundError('model file not found: /x.pth'), NodeParams(model='/x.pth'))
    assert "parameter 'model'" in text and 'model:=' in text and '/x.pth' in text


@pytest.mark.parametrize('message', [
    "/m.pth: official-format checkpoint whose weight shapes match none of the known architectures; name it "
    "(arch parameter, --arch, arch=): one of hrnet_w32, hrnet_w48",
    "unknown arch 'hrnet_w99'; choose one of hrnet_w32, hrnet_w48",
])
def test_architecture_problems_point_at_arch(message):
    from mipnet_ros.core.model.checkpoint import CheckpointError
    text = failures.configure_failure(CheckpointError(message), NodeParams(arch='hrnet_w99'))
    assert "parameter 'arch'" in text and 'arch:=' in text and 'hrnet_w32' in text


def test_parameter_error_and_activate():
    text = failures.configure_failure(failures.ParameterError('trt_cache_dir', 'cannot be written'))
    assert "parameter 'trt_cache_dir'" in text
    text = failures.activate_failure(RuntimeError('CUDA out of memory'), NodeParams(device='cuda:0'))
    assert 'CUDA out of memory' in text and "'cuda:0'" in text and 'warmup' in text
