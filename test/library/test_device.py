"""core/device.py: what `device: auto` and `fp16: auto` become, with the GPU and the fp16 check mocked."""
import numpy as np
import pytest
import torch

from mipnet_ros.core import device as core_device
from mipnet_ros.core.onnx_meta import FP16_TOLERANCE

ALL = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_auto_is_the_cpu_here_and_says_why():
    device, why = core_device.resolve_device('auto')
    assert device == 'cpu'
    assert 'device auto' in why and torch.__version__ in why


def test_auto_is_the_first_gpu_when_torch_sees_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda i=0: 'NVIDIA Fake 9000')
    device, why = core_device.resolve_device('AUTO ')
    assert device == 'cuda:0'
    assert '2 CUDA device(s)' in why and 'NVIDIA Fake 9000' in why


def test_auto_is_the_cpu_when_cuda_torch_sees_no_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.version, 'cuda', '12.8')
    device, why = core_device.resolve_device('auto')
    assert device == 'cpu' and 'CUDA 12.8' in why and 'sees no CUDA device' in why


def test_an_explicit_device_is_kept():
    assert core_device.resolve_device('cuda:1') == ('cuda:1', 'device cuda:1 as configured')
    assert core_device.resolve_device('cpu')[0] == 'cpu'


def test_providers_default_to_tensorrt_cuda_cpu_of_what_is_available():
    names, why = core_device.default_providers('cuda:0', ALL, tensorrt_ok=True)
    assert names == ALL and why == 'providers: TensorRT, CUDA, CPU'
    # the order is ours, not the order onnxruntime lists them in
    assert core_device.default_providers('cuda:0', ALL[::-1], tensorrt_ok=True)[0] == ALL


def test_tensorrt_without_its_libraries_is_left_out():
    names, why = core_device.default_providers('cuda:0', ALL, tensorrt_ok=False)
    assert names == ALL[1:] and 'libnvinfer' in why


def test_cpu_onnxruntime_on_a_gpu_says_what_to_install():
    names, why = core_device.default_providers('cuda:0', ['CPUExecutionProvider'])
    assert names == ['CPUExecutionProvider'] and 'onnxruntime-gpu' in why


def test_cpu_device_takes_the_cpu_provider_even_from_onnxruntime_gpu():
    assert core_device.default_providers('cpu', ALL, tensorrt_ok=True)[0] == ['CPUExecutionProvider']


def test_uses_tensorrt():
    assert core_device.uses_tensorrt(None, 'tensorrt:0') and not core_device.uses_tensorrt(None, 'cuda:0')
    assert core_device.uses_tensorrt(['trt', 'cpu'], 'cuda:0')
    assert core_device.uses_tensorrt([('TensorrtExecutionProvider', {'device_id': 0})], 'cpu')
    assert not core_device.uses_tensorrt(['CUDAExecutionProvider', 'CPUExecutionProvider'], 'cuda:0')


@pytest.mark.parametrize('value, want', [('auto', 'auto'), (' Auto', 'auto'), (True, True), (False, False),
                                         ('true', True), ('0', False), ('off', False), (None, False)])
def test_parse_fp16(value, want):
    assert core_device.parse_fp16(value) == want


def test_parse_fp16_rejects_other_words():
    with pytest.raises(ValueError, match='auto, true or false'):
        core_device.parse_fp16('half')


class _Recorder:
    """A build() that remembers the precisions asked for and returns them as the 'backend'."""

    def __init__(self):
        self.calls = []

    def __call__(self, half):
        self.calls.append(half)
        return 'fp16-backend' if half else 'fp32-backend'


def test_fp16_auto_keeps_fp16_on_a_gpu_when_the_check_passes():
    build = _Recorder()
    backend, used, why = core_device.choose_precision('auto', 'cuda:0', build, lambda b32, b16: FP16_TOLERANCE / 4)
    assert (backend, used, build.calls) == ('fp16-backend', True, [False, True])
    assert 'agrees with fp32' in why


def test_fp16_auto_stays_fp32_when_the_check_fails():
    build = _Recorder()
    backend, used, why = core_device.choose_precision('auto', 'cuda:0', build, lambda b32, b16: FP16_TOLERANCE * 3)
    assert (backend, used) == ('fp32-backend', False) and 'differs' in why
    backend, used, why = core_device.choose_precision('auto', 'cuda:0', _Recorder(), lambda b32, b16: float('nan'))
    assert (backend, used) == ('fp32-backend', False)


def test_fp16_auto_stays_fp32_when_the_fp16_path_breaks():
    def compare(b32, b16):
        raise RuntimeError('no half-precision path here')
    backend, used, why = core_device.choose_precision('auto', 'cuda:0', _Recorder(), compare)
    assert (backend, used) == ('fp32-backend', False) and 'no half-precision path' in why


def test_fp16_auto_on_the_cpu_builds_fp32_only_and_never_checks():
    build = _Recorder()
    backend, used, why = core_device.choose_precision('auto', 'cpu', build,
                                                      lambda *a: pytest.fail('checked on the CPU'))
    assert (backend, used, build.calls) == ('fp32-backend', False, [False]) and 'CPU' in why


def test_fp16_auto_does_not_try_fp16_when_the_gpu_fell_back_to_the_cpu():
    build = _Recorder()
    backend, used, why = core_device.choose_precision('auto', 'cuda:0', build, lambda *a: pytest.fail('checked'),
                                            on_gpu=lambda b: False)
    assert (backend, used, build.calls) == ('fp32-backend', False, [False]) and 'on the CPU' in why


def test_explicit_fp16_is_obeyed_without_a_check():
    build = _Recorder()
    chosen = core_device.choose_precision('true', 'cuda:0', build, lambda *a: pytest.fail('checked'))
    assert chosen[:2] == ('fp16-backend', True)
    assert build.calls == [True]


def test_relative_difference_and_probe_crops():
    ref = np.array([0.0, 2.0, -4.0])
    assert core_device.relative_difference(ref + np.array([0.0, 0.1, 0.0]), ref) == pytest.approx(0.025)
    a, b = core_device.probe_crops((64, 48)), core_device.probe_crops((64, 48))
    assert a.shape == (2, 3, 64, 48) and a.dtype == np.float32 and np.array_equal(a, b)
    assert 0.5 < a.std() < 1.5     # the spread of normalized image pixels


def test_user_cache_dir_follows_the_override(tmp_path, monkeypatch):
    monkeypatch.setenv('MIPNET_ROS_CACHE', str(tmp_path))
    assert core_device.user_cache_dir('trt') == tmp_path / 'trt' and (tmp_path / 'trt').is_dir()


def test_the_estimator_says_what_it_chose_and_why():
    from mipnet_ros.core.estimator import PoseEstimator
    est = PoseEstimator(backend='onnxruntime', device='cpu', fp16='auto')
    choice = est.device_choice
    assert choice.device == 'cpu' and choice.precision == 'fp32'
    assert choice.providers == ('CPUExecutionProvider',)
    assert 'device cpu as configured' in choice.reason and 'fp16 auto: fp32 on the CPU' in choice.reason
    assert choice.summary().startswith('cpu via CPU fp32 (')


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_an_unavailable_gpu_is_reported_and_fp16_auto_stays_fp32():
    from mipnet_ros.core.estimator import PoseEstimator
    with pytest.warns(RuntimeWarning, match='falling back to the CPU'):
        choice = PoseEstimator(device='cuda:0').device_choice
    assert (choice.device, choice.precision) == ('cpu', 'fp32')
    assert 'cuda:0 is not available here' in choice.reason and 'fp16 auto: fp32 on the CPU' in choice.reason


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_the_estimator_defaults_to_auto():
    from mipnet_ros.core.estimator import PoseEstimator
    choice = PoseEstimator().device_choice
    assert (choice.device, choice.precision, choice.providers) == ('cpu', 'fp32', ())
    assert choice.reason.startswith('device auto:')


def test_fp16_auto_checks_the_real_half_graph_against_fp32(tmp_path, monkeypatch):
    """The estimator's own check on the bundled model, with the half graph run by the CPU provider.

    Only the "this is a GPU" gates are mocked: the export, the fp16 conversion, the probe and the
    comparison are the ones a GPU start runs.
    """
    import warnings

    from mipnet_ros.core import estimator
    monkeypatch.setenv('MIPNET_ROS_CACHE', str(tmp_path))
    monkeypatch.setattr(core_device, 'is_gpu', lambda device: True)
    monkeypatch.setattr(core_device, 'wants_fp16_graph', lambda *a, **k: True)
    monkeypatch.setattr(core_device, 'runs_on', lambda backend, device: 'cuda:0')
    seen = []
    real = core_device.relative_difference
    monkeypatch.setattr(core_device, 'relative_difference', lambda got, ref: seen.append(real(got, ref)) or seen[-1])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')      # half graph on the CPU provider: slow, and it says so
        est = estimator.PoseEstimator(backend='onnxruntime', device='cpu')
    assert len(seen) == 1 and 0 < seen[0] <= FP16_TOLERANCE
    assert est.device_choice.precision == 'fp16' and est.backend.precision == 'fp16'
    assert f'{seen[0]:.1e}' in est.device_choice.reason
