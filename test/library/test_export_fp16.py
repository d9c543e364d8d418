"""The half-precision ONNX file: written by `export --fp16`, checked against float32, recognised by the
backend, and chosen by the estimator only where it runs on onnxruntime's CUDA provider."""
import argparse
import warnings

import numpy as np
import pytest

from mipnet_ros.core import backends, device, export
from mipnet_ros.core.model.registry import ModelSpec, build_model
from mipnet_ros.core.onnx_meta import read_metadata

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')


@pytest.fixture(scope='module')
def trained_files(tmp_path_factory, one_torch_thread):
    """The bundled (trained) model exported through the CLI with --fp16: real weights, real peaks."""
    from mipnet_ros.core.resources import bundled_model_path
    out = tmp_path_factory.mktemp('fp16') / 'bundled.onnx'
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    assert export.main(parser.parse_args(['--checkpoint', str(bundled_model_path()), '--onnx', str(out),
                                          '--shared-trunk', '--fp16'])) == 0
    return out, export.fp16_path(out)


def test_fp16_file_is_half_precision_inside_float32_outside(trained_files):
    f32, f16 = trained_files
    assert f16.name == 'bundled.fp16.onnx' and f16.is_file()
    meta32, meta16 = read_metadata(f32), read_metadata(f16)
    assert meta32['precision'] == 'fp32' and meta16['precision'] == 'fp16'
    assert meta16['spec'] == meta32['spec'] and meta16['layout'] == meta32['layout'] == 'shared_trunk'
    model = onnx.load(str(f16))
    conv_weights = {n.input[1] for n in model.graph.node if n.op_type == 'Conv'}
    types = {i.data_type for i in model.graph.initializer if i.name in conv_weights}
    assert types == {onnx.TensorProto.FLOAT16}
    io = [v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)]
    assert io == [onnx.TensorProto.FLOAT, onnx.TensorProto.INT64, onnx.TensorProto.FLOAT]
    assert f16.stat().st_size < 0.6 * f32.stat().st_size


def test_fp16_backend_keeps_the_keypoints_of_real_crops(trained_files):
    from mipnet_ros.core.codec import HeatmapCodec
    from mipnet_ros.core.transforms import prepare_crops
    from mipnet_ros.tools.gpu_check import load_scene
    f32, f16 = trained_files
    spec = backends.OnnxBackend(f32).spec
    image, boxes, _ = load_scene(None)
    crops, _, _ = prepare_crops(image, boxes, spec.input_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        half = backends.OnnxBackend(f16, fp16=True)
    assert half.precision == 'fp16'
    assert any('half-precision graph on the CPU' in str(w.message) for w in caught)
    assert not any('needs the TensorRT' in str(w.message) for w in caught)
    ref, got = backends.OnnxBackend(f32).run_shared(crops, 2), half.run_shared(crops, 2)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.abs(got - ref).max() <= export.FP16_TOLERANCE * np.abs(ref).max()
    codec = HeatmapCodec(spec.input_size)
    (xy_ref, s_ref), (xy, _) = codec.decode(ref), codec.decode(got)
    confident = s_ref > 0.2
    assert confident.sum() >= 10
    assert (np.linalg.norm(xy - xy_ref, axis=-1)[confident] <= 1.0).mean() >= 0.95


def test_fp16_flag_on_a_float32_file_says_how_to_get_one(trained_files):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        backends.OnnxBackend(trained_files[0], fp16=True)
    assert any('export --fp16' in str(w.message) for w in caught)


def test_conversion_beyond_tolerance_writes_nothing(tmp_path, one_torch_thread):
    import torch
    torch.manual_seed(0)
    model = build_model(ModelSpec('hrnet_w16s', instances=2, input_size=(64, 64))).eval()
    f32 = tmp_path / 'm.onnx'
    export.export_onnx(model, f32)
    with pytest.raises(export.ExportCheckError, match='was not written'):
        export.convert_fp16(f32, tmp_path / 'm.fp16.onnx', tolerance=0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.onnx']
    assert export.convert_fp16(f32, tmp_path / 'm.fp16.onnx') <= export.FP16_TOLERANCE
    with pytest.raises(export.ExportCheckError, match='already fp16'):
        export.convert_fp16(tmp_path / 'm.fp16.onnx', tmp_path / 'again.onnx')


def test_only_the_cuda_provider_gets_the_fp16_graph():
    avail = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert device.wants_fp16_graph('cuda:0', True, available=avail)
    assert not device.wants_fp16_graph('cuda:0', False, available=avail)
    assert not device.wants_fp16_graph('tensorrt:0', True, available=avail)     # TensorRT: fp16 is a build flag
    assert not device.wants_fp16_graph('cpu', True, available=avail)
    assert not device.wants_fp16_graph('cuda:0', True, available=['CPUExecutionProvider'])   # fell back to the CPU
    assert device.wants_fp16_graph('cpu', True, providers=['cuda'], available=avail)         # explicit providers win
