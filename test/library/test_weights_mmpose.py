"""mmpose checkpoints (0.x and 1.x layouts) converted to ours give the official HRNet's outputs.

The official HRNet-W32 from ../shared/reference gets random weights and BN statistics; its state dict
is renamed into mmpose's layout (backbone under `backbone.`, the 1x1 head conv as
`keypoint_head.final_layer` in 0.x or `head.final_layer` in 1.x, 1.x preprocessor buffers, numpy
scores in `meta` as mmpose's evaluation hook leaves them), saved, converted and loaded back.
"""

import _reference_models as ref_models  # noqa: E402
import pytest
import torch

from mipnet_ros.core.model.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from mipnet_ros.core.weights.mmpose import from_mmpose  # noqa: E402
from mipnet_ros.core.weights.resolve import convert  # noqa: E402
from mipnet_ros.core.weights.zoo import ZooEntry  # noqa: E402
from mipnet_ros.testing.mmpose_layout import to_mmpose  # noqa: E402

SIZE = (128, 96)
TOL = 1e-5


def entry(layout='mmpose', arch='hrnet_w32'):
    return ZooEntry(name='test_w32', arch=arch, instances=1, input_size=SIZE, training_data='none',
                    published_ap=0.0, ap_note='', licence='', file_name='test.pth', sha256='', layout=layout,
                    manual='test')


@pytest.fixture(scope='module')
def reference(one_torch_thread):
    return ref_models.build_reference('hrnet_w32', gated=False, seed=5)


@pytest.mark.parametrize('layout', ['mmpose 0.x', 'mmpose 1.x', 'official'])
def test_converted_checkpoint_gives_the_official_outputs(reference, layout, tmp_path):
    state = reference.state_dict()
    if layout == 'official':
        payload = {'state_dict': state}
    else:
        payload = to_mmpose(state, layout.split()[1])
        assert not any(k.startswith(('conv1', 'stage4', 'final_layer')) for k in payload['state_dict'])
    source = tmp_path / 'source.pth'
    torch.save(payload, source)
    target = convert(entry('official' if layout == 'official' else 'mmpose'), source, tmp_path / 'ours.pth')

    model = load_checkpoint(target)          # self-describing now: no arch needed
    assert (model.spec.arch, model.spec.instances, tuple(model.spec.input_size)) == ('hrnet_w32', 1, SIZE)
    images = torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        expected = reference(images)
        got = model(images)
    assert expected.abs().max() > 1e-3, 'random weights should give non-trivial heatmaps'
    assert (got - expected).abs().max().item() <= TOL


def test_a_head_with_deconv_layers_is_refused_by_name(reference):
    payload = to_mmpose(reference.state_dict(), '0.x')['state_dict']
    payload['keypoint_head.deconv_layers.0.weight'] = torch.zeros(32, 256, 4, 4)
    with pytest.raises(CheckpointError, match=r'keypoint_head\.deconv_layers\.0\.weight'):
        from_mmpose(payload, 'deconv.pth')


def test_wrong_architecture_is_refused_with_a_hint(reference, tmp_path):
    source = tmp_path / 'w32.pth'
    torch.save(to_mmpose(reference.state_dict(), '1.x'), source)
    with pytest.raises(CheckpointError, match='hrnet_w48'):
        convert(entry(arch='hrnet_w48'), source, tmp_path / 'ours.pth')
    assert not (tmp_path / 'ours.pth').exists()
