"""INT8 export (`export --int8`): the bundled model quantized with real calibration crops must stay
close to float32 on real people, keep its metadata so every backend loads it, and refuse to leave a
file behind when the check fails. Real data: the 17 annotated people of ../shared/data (skipped
without it)."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('onnxruntime')
from mipnet_ros.core import (
    export,  # noqa: E402
    quantize,  # noqa: E402
)
from mipnet_ros.core.onnx_meta import LAYOUT_SHARED, read_metadata  # noqa: E402
from mipnet_ros.core.resources import bundled_model_path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / 'shared' / 'data'
MERGED = DATA / 'coco17_merged.json'


def _need_data():
    if not MERGED.is_file():
        pytest.skip(f'real annotations not found at {MERGED} (../shared/data is absent)')


def _export_args(out: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    return parser.parse_args(['--checkpoint', str(bundled_model_path()), '--onnx', str(out), '--shared-trunk',
                              *extra])


@pytest.fixture(scope='module')
def int8_model(tmp_path_factory, one_torch_thread):
    _need_data()
    out = tmp_path_factory.mktemp('int8') / 'bundled.onnx'
    args = _export_args(out, '--int8', '--calib-ann', str(MERGED), '--calib-images', str(DATA))
    assert export.main(args) == 0
    return out, export.int8_path(out)


def test_int8_file_is_quantized_and_keeps_metadata(int8_model):
    import onnx
    fp32, int8 = int8_model
    assert int8.name == 'bundled.int8.onnx' and int8.is_file()
    assert quantize.is_int8(int8) and not quantize.is_int8(fp32)
    meta32, meta8 = read_metadata(fp32), read_metadata(int8)
    assert meta8['spec'] == meta32['spec'] and meta8['layout'] == meta32['layout'] == LAYOUT_SHARED
    assert (meta32['precision'], meta8['precision']) == ('fp32', 'int8')
    ops = [n.op_type for n in onnx.load(str(int8)).graph.node]
    convs = ops.count('Conv')
    assert convs > 50 and ops.count('DequantizeLinear') >= convs, 'the convolutions were not quantized'
    assert int8.stat().st_size < 0.6 * fp32.stat().st_size      # int8 weights: about a quarter of float32


def test_int8_estimator_matches_float32_on_real_people(int8_model):
    """Same people, keypoints within a few pixels: what a user of the quantized file relies on."""
    _assert_close_on_real_people(*int8_model)


def test_shipped_int8_model_matches_the_bundled_float32_one():
    """models/*.int8.onnx is what `model: ...int8.onnx` in the node loads: it must be the bundled
    network, quantized, not a stale file from an older model."""
    _need_data()
    shipped = bundled_model_path().with_suffix('.int8.onnx')
    fp32 = bundled_model_path().with_suffix('.onnx')
    assert quantize.is_int8(shipped)
    assert {**read_metadata(shipped), 'precision': 'fp32'} == read_metadata(fp32)
    _assert_close_on_real_people(fp32, shipped)


def _assert_close_on_real_people(fp32: Path, int8: Path) -> None:
    import cv2

    from mipnet_ros.core.data.coco_dataset import load_people
    from mipnet_ros.core.estimator import PoseEstimator
    people, by_image, _ = load_people(str(MERGED), str(DATA), 17)
    est32 = PoseEstimator(str(fp32), backend='onnxruntime', instances=1, oks_nms_threshold=None)
    est8 = PoseEstimator(str(int8), backend='onnxruntime', instances=1, oks_nms_threshold=None)
    errors, sizes = [], []
    for idx in by_image.values():
        image = cv2.imread(people[idx[0]].image_path)
        boxes = np.stack([people[i].box for i in idx]).astype(np.float32)
        kp32, sc32 = est32.estimate_batch(image, boxes)
        kp8, _ = est8.estimate_batch(image, boxes)
        confident = sc32 > 0.3
        errors.append(np.linalg.norm(kp8 - kp32, axis=-1)[confident])
        sizes.append(np.broadcast_to(np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
                                     .reshape((-1,) + (1,) * (kp32.ndim - 2)), sc32.shape)[confident])
    err, size = np.concatenate(errors), np.concatenate(sizes)
    assert err.size >= 30, 'too few confident joints to judge'
    # a heatmap pixel of the 96x64 model is ~1/24 of the box height: most joints must stay within it
    within = (err <= size / 24).mean()
    print(f'int8 vs fp32: {err.size} joints, median {np.median(err / size):.4f} of the box diagonal, '
          f'{within:.1%} within')
    assert within >= 0.85, f'only {within:.0%} of confident joints stay within a heatmap pixel'


def test_int8_check_failure_leaves_no_file(tmp_path, one_torch_thread):
    _need_data()
    from mipnet_ros.core.model.checkpoint import load_checkpoint
    model = load_checkpoint(bundled_model_path())
    fp32 = tmp_path / 'm.onnx'
    export.export_onnx(model, fp32, shared_trunk=True)
    crops = quantize.calibration_crops(MERGED, DATA, model.spec.input_size, count=12)
    assert crops.shape == (12, 3) + tuple(model.spec.input_size) and crops.dtype == np.float32
    out = tmp_path / 'm.int8.onnx'
    with pytest.raises(quantize.QuantizationError, match='was not written'):
        quantize.quantize_checked(fp32, out, crops, min_agreement=1.01, holdout=4)
    assert not out.exists()
    info = quantize.quantize_checked(fp32, out, crops, min_agreement=None, holdout=4)
    assert info['calibration_crops'] == 8 and info['check_crops'] == 4 and 0 <= info['agreement'] <= 1
    with pytest.raises(quantize.QuantizationError, match='already int8'):
        quantize.quantize_onnx(out, tmp_path / 'again.onnx', crops)


def test_int8_needs_calibration_data(tmp_path, capsys):
    from mipnet_ros import cli
    assert cli.main(['export', '--checkpoint', str(bundled_model_path()), '--onnx', str(tmp_path / 'x.onnx'),
                     '--int8']) == 2
    assert '--calib-ann' in capsys.readouterr().err
    assert not (tmp_path / 'x.onnx').exists()


def test_bench_compares_int8_at_each_thread_count(one_torch_thread):
    """The backend comparison names every variant at every requested thread count, with consistent ratios."""
    import torch

    from mipnet_ros.core.model.registry import ModelSpec, build_model
    from mipnet_ros.tools.bench import _bench_backends
    torch.manual_seed(0)
    model = build_model(ModelSpec('hrnet_w16s', instances=2, input_size=(64, 64))).eval()
    crops = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    out = _bench_backends(model, crops, repeats=1, device='cpu', onnx=True, log=lambda _m: None, warmup=0,
                          thread_counts=[2])
    assert [e['threads'] for e in out['by_threads']] == [1, 2] and out['threads'] == 1
    for entry in out['by_threads']:
        res = entry['results']
        assert {'torch_fp32', 'ort_cpu_shared', 'ort_cpu_per_instance', 'ort_cpu_shared_int8'} <= set(res)
        for r in res.values():
            assert r['speedup_vs_torch_fp32'] == pytest.approx(1 / r['relative_to_torch_fp32'])
            assert r['boxes_per_s'] == pytest.approx(2 / r['seconds'])
    assert out['results'] is out['by_threads'][0]['results']
    assert torch.get_num_threads() == 1
    json.dumps(out)
