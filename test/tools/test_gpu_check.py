"""The GPU self-check and the GPU throughput sweep, exercised on the CPU.

Their CUDA branches only run on a GPU machine (`bash bench/gpu_check.sh`), but everything around them
(reporting, error isolation, the device-independent checks, peak lookup, speed-up arithmetic) runs
here, so the script a GPU run relies on cannot rot unnoticed.
"""
import argparse
import json
from pathlib import Path

import pytest

from mipnet_ros.tools import gpu_check
from mipnet_ros.tools.device_peaks import peaks_for, precision_peak
from mipnet_ros.tools.gpu_throughput import measure_throughput, speedups

DATA = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'data' / 'coco'
DEVICE_ONLY = ('torch_fp32', 'tf32_default', 'fp16', 'oom_retry', 'ort_cuda', 'ort_tensorrt')


@pytest.fixture(scope='module')
def tiny_model(one_torch_thread):
    import torch

    from mipnet_ros.core.model.registry import ModelSpec, build_model
    torch.manual_seed(0)
    return build_model(ModelSpec('hrnet_w16s', instances=2, input_size=(64, 64))).eval()


def _args(*argv):
    parser = argparse.ArgumentParser()
    gpu_check.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_peaks_match_only_parts_with_a_datasheet():
    name, peaks = peaks_for('NVIDIA H200')
    assert name == 'NVIDIA H200 SXM' and peaks['fp16_tensor'] == pytest.approx(989.4)
    assert peaks_for('NVIDIA H100 80GB HBM3')[0] == 'NVIDIA H100 SXM'
    assert peaks_for('NVIDIA A100-SXM4-80GB')[0] == 'NVIDIA A100 SXM'
    for other in ('NVIDIA H100 PCIe', 'Orin', 'NVIDIA GeForce RTX 4090', '', None):
        assert peaks_for(other) is None
    assert precision_peak(peaks, 'fp32') == 67.0
    assert precision_peak(peaks, 'tf32') == pytest.approx(494.7)
    assert precision_peak(peaks, 'fp16_graph') == precision_peak(peaks, 'fp16_cl') == pytest.approx(989.4)


def test_throughput_sweep_on_cpu_isolates_a_failing_variant(tiny_model):
    gflop = 0.5
    logs = []
    out = measure_throughput(tiny_model, gflop, device='cpu', boxes=(1, 3), repeats=2, warmup=1,
                             precisions=('fp32', 'fp16_graph'), log=logs.append)
    rows = out['rows']
    assert [(r['precision'], r['boxes']) for r in rows] == [('fp32', 1), ('fp32', 3)]
    for r in rows:
        assert r['seconds'] > 0 and r['tflops'] == pytest.approx(gflop * r['boxes'] / r['seconds'] / 1e3)
        assert 'fraction_of_fp16_peak' not in r            # no datasheet for a CPU: no made-up fraction
    # a CUDA graph cannot be captured on a CPU: both batches record the error, fp32 is still measured
    assert sorted(out['errors']) == ['fp16_graph/1', 'fp16_graph/3']
    assert any('FAILED' in line for line in logs)
    assert out['peak_tflops'] is None and out['device'] == 'cpu'


def test_speedups_against_strict_fp32_and_tf32():
    rows = [{'precision': p, 'boxes': b, 'seconds': s} for p, b, s in
            [('fp32', 10, 4.0), ('tf32', 10, 2.0), ('fp16', 10, 1.0), ('fp32', 64, 8.0), ('fp16_cl', 64, 2.0)]]
    got = {e['boxes']: e for e in speedups(rows)}
    assert got[10]['fp16_over_fp32'] == 4.0 and got[10]['tf32_over_fp32'] == 2.0
    assert got[10]['fp16_over_tf32'] == 2.0
    assert got[64] == {'boxes': 64, 'fp16_cl_over_fp32': 4.0}


@pytest.mark.skipif(not DATA.is_dir(), reason='needs ../shared/data/coco')
def test_check_on_cpu_runs_the_device_independent_checks(tmp_path, one_torch_thread):
    out = tmp_path / 'check.json'
    assert gpu_check.main(_args('--device', 'cpu', '--data', str(DATA), '--json', str(out))) == 0
    report = json.loads(out.read_text())
    checks = report['checks']
    assert set(checks) == set(DEVICE_ONLY) | {'shared_vs_naive', 'estimator'}
    for name in DEVICE_ONLY:
        assert checks[name]['status'] == 'skip' and checks[name]['reason'], name
    assert checks['shared_vs_naive']['status'] == 'pass' and checks['shared_vs_naive']['max_abs_diff'] <= 1e-4
    est = checks['estimator']
    # the real photo with the most annotated people; the bundled model finds people in it
    assert est['status'] == 'pass' and '5 annotated people' in report['scene'] and est['people'] >= 3
    assert report['summary'] == {'pass': 2, 'fail': 0, 'skip': 6}


def test_check_reports_a_crashing_check_and_fails(tmp_path, monkeypatch, one_torch_thread):
    def broken(self):
        raise RuntimeError('planted failure')

    monkeypatch.setattr(gpu_check.Checker, 'shared_vs_naive', broken)
    out = tmp_path / 'check.json'
    assert gpu_check.main(_args('--device', 'cpu', '--data', str(tmp_path / 'none'), '--json', str(out))) == 1
    report = json.loads(out.read_text())
    bad = report['checks']['shared_vs_naive']
    assert bad['status'] == 'fail' and 'planted failure' in bad['error'] and 'Traceback' in bad['traceback']
    assert report['checks']['estimator']['status'] == 'pass'       # the others still ran
    assert 'generated' in report['scene']                           # no data folder: a generated image
