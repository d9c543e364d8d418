"""Backends: provider selection and fallback, OOM chunking, torch vs onnxruntime, both ONNX layouts."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from mipnet_ros.core import backends, device  # noqa: E402

SIZE = (64, 64)


pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def model():
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    torch.manual_seed(0)
    return build_model(ModelSpec('hrnet_w16s', instances=3, input_size=SIZE)).eval()


@pytest.fixture(scope='module')
def crops():
    return np.random.default_rng(0).standard_normal((5, 3) + SIZE).astype(np.float32)


@pytest.fixture(scope='module')
def reference(model, crops):
    with torch.no_grad():
        return model.forward_shared(torch.from_numpy(crops), 3).numpy()     # (5,3,K,h,w)


@pytest.fixture(scope='module')
def onnx_files(model, tmp_path_factory):
    pytest.importorskip('onnxruntime')
    from mipnet_ros.core.export import export_onnx
    d = tmp_path_factory.mktemp('onnx')
    export_onnx(model, d / 'per.onnx', shared_trunk=False)
    export_onnx(model, d / 'shared.onnx', shared_trunk=True)
    return {'per_instance': d / 'per.onnx', 'shared_trunk': d / 'shared.onnx'}


# ---------------------------------------------------------------------- providers
def test_provider_defaults_aliases_and_options():
    avail = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert device.resolve_providers(None, 'cpu', available=avail) == ['CPUExecutionProvider']
    assert device.resolve_providers(None, 'cuda:1', available=avail) == [
        ('CUDAExecutionProvider', {'device_id': '1'}), 'CPUExecutionProvider']
    trt = device.resolve_providers(['trt', 'cuda'], 'cuda:0', fp16=True, trt_cache_dir='/tmp/engines', available=avail)
    assert trt[0] == ('TensorrtExecutionProvider', {'device_id': '0', 'trt_fp16_enable': 'True',
                                                    'trt_engine_cache_enable': 'True',
                                                    'trt_engine_cache_path': '/tmp/engines'})
    assert trt[1][0] == 'CUDAExecutionProvider' and trt[-1] == 'CPUExecutionProvider'
    # explicit options (as the ROS node passes them) are kept
    user = device.resolve_providers([('TensorrtExecutionProvider', {'trt_engine_cache_path': '/x'})], 'cuda',
                               trt_cache_dir='/y', available=avail)
    assert user[0][1]['trt_engine_cache_path'] == '/x'


def test_missing_provider_falls_back_or_raises():
    with pytest.warns(RuntimeWarning, match='CUDAExecutionProvider'):
        got = device.resolve_providers(None, 'cuda:0', available=['CPUExecutionProvider'])
    assert got == ['CPUExecutionProvider']
    with pytest.raises(backends.BackendError, match='allow_fallback') as err:
        device.resolve_providers(['cuda'], 'cuda:0', allow_fallback=False, available=['CPUExecutionProvider'])
    assert err.value.parameter == 'providers'       # what the node names in its ERROR line
    with pytest.raises(ValueError) as err:
        device.resolve_providers(None, 'tpu:0', available=['CPUExecutionProvider'])
    assert err.value.parameter == 'device'


def test_torch_cuda_request_without_gpu(model):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    with pytest.raises(backends.BackendError, match='CUDA') as err:
        backends.TorchBackend(model, device='cuda:0', allow_fallback=False)
    assert err.value.parameter == 'device'
    with pytest.warns(RuntimeWarning):
        be = backends.TorchBackend(model, device='cuda:0', fp16=True)
    assert be.device.type == 'cpu' and not be.fp16


# ---------------------------------------------------------------------- chunking
def test_run_chunked_halves_on_oom():
    calls = []

    def fn(a, b):
        calls.append(b - a)
        if b - a > 3:
            raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')
        return np.arange(a, b)

    out = backends.run_chunked(fn, 10, 8)
    np.testing.assert_array_equal(out, np.arange(10))
    assert calls[:3] == [8, 4, 2] and max(calls[3:]) <= 2

    # cuDNN reports a failed workspace allocation in its own words: that is memory too
    calls.clear()

    def cudnn(a, b):
        calls.append(b - a)
        if b - a > 2:
            raise RuntimeError('cuDNN error: CUDNN_STATUS_ALLOC_FAILED')
        return np.arange(a, b)

    np.testing.assert_array_equal(backends.run_chunked(cudnn, 5, 8), np.arange(5))
    assert calls[:3] == [5, 4, 2]

    def broken(a, b):
        raise RuntimeError('shape mismatch')

    with pytest.raises(RuntimeError, match='shape mismatch'):
        backends.run_chunked(broken, 4, 2)


def test_torch_backend_chunking_and_layouts(model, crops, reference):
    be = backends.TorchBackend(model, max_batch=4)       # 4 rows: shared runs 1 box (3 lambdas) per chunk
    shared = be.run_shared(crops, 3)
    assert shared.shape == (5, 3, 17, 16, 16) and shared.dtype == np.float32
    np.testing.assert_allclose(shared, reference, atol=1e-5)
    inst = np.array([2, 0, 1, 1, 0], np.int64)
    rows = be.run(crops, inst)
    np.testing.assert_allclose(rows, reference[np.arange(5), inst], atol=1e-5)
    assert be.run(crops[:0], inst[:0]).shape == (0, 17, 16, 16)
    assert be.run_shared(crops[:0], 3).shape == (0, 3, 17, 16, 16)


# ---------------------------------------------------------------------- onnxruntime
@pytest.mark.parametrize('layout', ['per_instance', 'shared_trunk'])
def test_onnx_backend_matches_torch(layout, onnx_files, crops, reference):
    be = backends.OnnxBackend(onnx_files[layout], max_batch=4)
    assert be.layout == layout and be.spec.instances == 3 and be.spec.input_size == SIZE
    assert be.providers[0] == 'CPUExecutionProvider'
    np.testing.assert_allclose(be.run_shared(crops, 3), reference, atol=1e-4)
    np.testing.assert_allclose(be.run_shared(crops, 2), reference[:, :2], atol=1e-4)
    inst = np.array([2, 0, 1, 1, 0], np.int64)
    np.testing.assert_allclose(be.run(crops, inst), reference[np.arange(5), inst], atol=1e-4)
    assert be.run(crops[:0], inst[:0]).shape == (0, 17, 16, 16)


def test_onnx_backend_fallback_and_strict(onnx_files):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        be = backends.OnnxBackend(onnx_files['per_instance'], device='cuda:0', fp16=True)
    import onnxruntime as ort
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        assert be.providers == ['CPUExecutionProvider']
        assert any('CUDAExecutionProvider' in str(w.message) for w in caught)
        assert any('fp16' in str(w.message) for w in caught)
        with pytest.raises(backends.BackendError, match='not available'):
            backends.OnnxBackend(onnx_files['per_instance'], providers=['CUDAExecutionProvider'], allow_fallback=False)


def test_onnx_backend_rejects_garbage(tmp_path):
    pytest.importorskip('onnxruntime')
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'not a model')
    with pytest.raises(backends.BackendError, match='bad.onnx'):
        backends.OnnxBackend(bad)


# ---------------------------------------------------------------------- bench helpers
def test_mac_counter_by_hand():
    from torch import nn

    from mipnet_ros.tools.bench import count_macs, flop_bound
    conv = nn.Conv2d(3, 8, 3, padding=1)
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
    deconv = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    fc = nn.Linear(10, 5)
    net = nn.ModuleList([conv, grouped, deconv, fc])
    x = torch.zeros(1, 3, 16, 16)

    def run():
        y = grouped(conv(x))
        deconv(y)
        fc(torch.zeros(2, 10))

    expected = (8 * 16 * 16) * (3 * 9) + (8 * 16 * 16) * (2 * 9) + (8 * 16 * 16) * (4 * 16) + 2 * 5 * 10
    assert count_macs(net, run) == expected
    assert count_macs(net, run) == expected            # hooks were removed: no double counting
    assert flop_bound(0.6, 1) == pytest.approx(1.0) and flop_bound(1.0, 4) == pytest.approx(0.25)
    assert flop_bound(0.0, 3) == pytest.approx(1.0)


def test_bench_tiny_run_writes_report(tmp_path):
    import argparse

    from mipnet_ros.tools import bench
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    (tmp_path / 'node.json').write_text('{"overhead_ms": 1.5}')
    args = parser.parse_args(['--arch', 'hrnet_w16s', '--input-size', '64x64', '--instances', '1,2',
                              '--boxes', '1,2', '--repeats', '1', '--warmup', '0', '--no-onnx',
                              '--backend-boxes', '2', '--threads', '1', '--extra-json', str(tmp_path / 'node.json'),
                              '--json', str(tmp_path / 'b.json')])
    assert bench.main(args) == 0
    import json
    report = json.loads((tmp_path / 'b.json').read_text())
    assert (tmp_path / 'b.png').stat().st_size > 1000
    rows = report['instances_vs_shared']
    assert [(r['boxes'], r['instances']) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    f = report['macs']['gated']['trunk_fraction']
    assert 0 < f < 1 and rows[1]['flop_bound_ratio'] == pytest.approx((f + 2 * (1 - f)) / 2)
    assert rows[3]['gmac_naive'] > rows[3]['gmac_shared'] > 0
    for r in rows:    # achieved GMAC/s is the counted work over the measured time of that variant
        assert r['gmacs_per_s_shared'] == pytest.approx(r['gmac_shared'] / r['shared_s'])
        assert r['gmacs_per_s_naive'] == pytest.approx(r['gmac_naive'] / r['naive_s'])
    torch_row = report['backends']['results']['torch_fp32']
    gated = report['macs']['gated']
    assert torch_row['gmacs_per_s'] == pytest.approx(2 * (gated['gmac_trunk'] + 2 * gated['gmac_head'])
                                                     / torch_row['seconds'])
    assert 'gpu_throughput' not in report and 'gpu' not in report['environment']
    assert report['extra']['node'] == {'overhead_ms': 1.5}
    assert 'torch_fp32' in report['backends']['results'] and report['pipeline']['boxes'] == 2
    # no GPU ran it: the GPU figures are estimates, labelled as such, consistent with the MACs
    est = report['gpu_estimates']
    assert 'not measured' in est['ESTIMATE']
    h100 = est['devices']['NVIDIA H100 SXM']
    per_box = 2 * (report['macs']['gated']['gmac_trunk'] + 2 * report['macs']['gated']['gmac_head'])
    assert est['gflop_per_box_shared'] == pytest.approx(per_box)
    assert h100['boxes_per_s_fp16_tensor']['u0.3'] == pytest.approx(0.3 * 989.4e3 / per_box)
    assert h100['boxes_per_s_fp16_tensor']['u0.3'] > h100['boxes_per_s_fp32']['u0.3']
