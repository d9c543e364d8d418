"""ONNX export: official checkpoint -> `export` CLI -> onnxruntime equals the official model; both layouts."""
import argparse

import _reference_models as ref_models
import numpy as np
import pytest
import torch

from mipnet_ros.core import export
from mipnet_ros.core.model.registry import ModelSpec, build_model
from mipnet_ros.core.onnx_meta import read_metadata

ort = pytest.importorskip('onnxruntime')
TOL = 1e-4


def _run_export(argv):
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    return export.main(parser.parse_args(argv))


def _session(path):
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])


def test_official_checkpoint_exports_and_matches_the_official_model(tmp_path, capsys):
    # The official MIPNet code with the small-HRNet widths (W32 itself costs ~20 s to export on 2 CPU
    # cores; its eager equivalence is covered by test_model_conformance).
    ref = ref_models.build_reference('hrnet_w16s', gated=True, seed=11)
    ckpt = tmp_path / 'mipnet_official.pth'
    torch.save(ref.state_dict(), ckpt)                  # what the official training code writes
    onnx_path = tmp_path / 'mipnet.onnx'
    rc = _run_export(['--checkpoint', str(ckpt), '--arch', 'hrnet_w16s', '--input-size', '256x192',
                      '--onnx', str(onnx_path), '--per-instance'])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert 'max abs diff' in out and onnx_path.is_file()

    session = _session(onnx_path)
    inputs = {i.name: i for i in session.get_inputs()}
    assert list(inputs) == ['image', 'instance']
    assert inputs['image'].type == 'tensor(float)' and inputs['image'].shape[1:] == [3, 256, 192]
    assert inputs['instance'].type == 'tensor(int64)'
    (output,) = session.get_outputs()
    assert output.name == 'heatmaps' and output.shape[1:] == [17, 64, 48]
    meta = read_metadata(onnx_path)
    assert meta['layout'] == 'per_instance'
    assert ModelSpec.from_dict(meta['spec']) == ModelSpec('hrnet_w16s', 2)

    # batch 3 (the export traced batch 2): the same image with both lambdas, and another image
    images = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(2))[[0, 0, 1]]
    instance = torch.tensor([0, 1, 1])
    with torch.no_grad():
        expected = ref_models.reference_forward(ref, images, instance, 2).numpy()
    (got,) = session.run(['heatmaps'], {'image': images.numpy(), 'instance': instance.numpy()})
    assert np.abs(got - expected).max() <= TOL
    assert np.abs(got[0] - got[1]).max() > 100 * TOL     # lambda reaches the gates in the graph


def test_shared_trunk_graph_equals_per_lambda_eager(tmp_path):
    model = ref_models.randomise_(build_model(ModelSpec('hrnet_w16s', 3, input_size=(128, 96))), seed=4).eval()
    path = tmp_path / 'shared.onnx'
    diff = export.export_onnx(model, path, shared_trunk=True)
    assert diff <= TOL
    assert read_metadata(path)['layout'] == 'shared_trunk'
    session = _session(path)
    assert session.get_outputs()[0].shape == ['batch', 'instances', 17, 32, 24]
    images = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(3))
    for lambdas in ([0, 1, 2], [2, 0]):
        (got,) = session.run(['heatmaps'], {'image': images.numpy(), 'instance': np.array(lambdas, np.int64)})
        assert got.shape == (2, len(lambdas), 17, 32, 24)
        with torch.no_grad():
            for col, lam in enumerate(lambdas):
                expected = model(images, torch.full((2,), lam, dtype=torch.long)).numpy()
                assert np.abs(got[:, col] - expected).max() <= TOL
    assert np.abs(got[:, 0] - got[:, 1]).max() > 100 * TOL    # lambda matters in the graph


def test_single_instance_graph_still_declares_instance(tmp_path):
    model = ref_models.randomise_(build_model(ModelSpec('hrnet_w16s', 1, input_size=(128, 96))), seed=6).eval()
    path = tmp_path / 'plain.onnx'
    export.export_onnx(model, path)
    session = _session(path)
    assert [(i.name, i.type) for i in session.get_inputs()] == [('image', 'tensor(float)'),
                                                                ('instance', 'tensor(int64)')]
    images = torch.randn(2, 3, 128, 96)
    (a,) = session.run(None, {'image': images.numpy(), 'instance': np.array([0, 0], np.int64)})
    (b,) = session.run(None, {'image': images.numpy(), 'instance': np.array([3, 1], np.int64)})
    with torch.no_grad():
        assert np.abs(a - model(images).numpy()).max() <= TOL
    assert np.array_equal(a, b)


def test_failures_return_non_zero_and_write_nothing(tmp_path, capsys):
    model = build_model(ModelSpec('hrnet_w16s', 2))
    ckpt = tmp_path / 'official.pth'
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / 'never.onnx'
    from mipnet_ros import cli
    assert cli.main(['export', '--checkpoint', str(ckpt), '--onnx', str(out)]) == 2     # one line, no traceback
    err = capsys.readouterr().err
    assert err.startswith('export: error: ') and '--arch' in err and 'Traceback' not in err
    # an impossible tolerance makes the onnxruntime check fail
    assert _run_export(['--checkpoint', str(ckpt), '--arch', 'hrnet_w16s', '--onnx', str(out),
                        '--input-size', '64x64', '--tolerance', '-1']) == 1
    assert 'FAILED' in capsys.readouterr().out
    assert not out.exists() and list(tmp_path.iterdir()) == [ckpt]


def test_default_export_is_the_shared_trunk_graph_and_reproduces_the_shipped_file(tmp_path, capsys):
    """The models/README.md command (no layout flag) gives the shared-trunk graph, byte for byte the shipped one."""
    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.core.fileio import file_sha256
    from mipnet_ros.core.resources import bundled_model_path
    out = tmp_path / 'bundled.onnx'
    assert _run_export(['--checkpoint', str(bundled_model_path()), '--onnx', str(out)]) == 0, capsys.readouterr().out
    assert read_metadata(out)['layout'] == 'shared_trunk'
    shipped = bundled_model_path().with_suffix('.onnx')
    assert read_metadata(shipped)['layout'] == 'shared_trunk'
    assert file_sha256(out) == file_sha256(shipped)
    assert PoseEstimator(shipped).layout == 'shared_trunk'
    assert PoseEstimator(shipped, shared_trunk=False).layout == 'per_instance'
    per_instance = tmp_path / 'per_instance.onnx'
    assert _run_export(['--checkpoint', str(bundled_model_path()), '--onnx', str(per_instance), '--per-instance']) == 0
    assert PoseEstimator(per_instance).layout == 'per_instance'
