"""Our networks against the official code: same state_dict keys and shapes, same outputs for every lambda.

The oracle models come from ../shared/reference (official MIPNet and HRNet), get random weights, random
BatchNorm statistics and random gate layers, and their state_dict is loaded into ours with strict=True.
"""
import json

import _reference_models as ref_models
import pytest
import torch

from mipnet_ros.core.model.lambda_code import LambdaCode, lambda_table
from mipnet_ros.core.model.mimb import MIMB
from mipnet_ros.core.model.registry import ARCHS, ModelSpec, PoseNet, build_model, count_parameters

TOL = 1e-5

CASES = [
    # arch, instances, input size (H, W), batch
    ('hrnet_w32', 2, (256, 192), 2),
    ('hrnet_w32', 3, (256, 192), 1),
    ('hrnet_w48', 2, (384, 288), 1),
    ('hrnet_w32', 1, (256, 192), 1),
    ('resnet50', 1, (256, 192), 1),
    ('resnet50', 2, (256, 192), 1),
    ('resnet18', 1, (128, 96), 1),   # official gates assume Bottleneck widths: only N=1 compares
]


@pytest.mark.parametrize('arch,instances,size,batch', CASES,
                         ids=[f'{a}-N{n}-{s[0]}x{s[1]}' for a, n, s, _ in CASES])
def test_outputs_match_official_for_every_lambda(arch, instances, size, batch):
    ref = ref_models.build_reference(arch, gated=instances > 1, seed=instances)
    ours = build_model(ModelSpec(arch, instances, input_size=size)).eval()
    ref_state = ref.state_dict()
    assert list(ours.state_dict()) == list(ref_state), 'state_dict keys (and their order) differ'
    ours.load_state_dict(ref_state, strict=True)
    assert count_parameters(ours) == count_parameters(ref)

    images = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        if instances == 1:
            expected = ref(images)
            got = ours(images, torch.zeros(batch, dtype=torch.long))
            assert got.shape == (batch, 17, size[0] // 4, size[1] // 4)
            assert (got - expected).abs().max().item() <= TOL
            return
        # all lambdas in one batch: row l*B + b is image b with lambda l
        stacked = images.repeat(instances, 1, 1, 1)
        lam = torch.arange(instances).repeat_interleave(batch)
        expected = ref_models.reference_forward(ref, stacked, lam, instances)
        got = ours(stacked, lam)
    assert got.shape == (batch * instances, 17, size[0] // 4, size[1] // 4)
    diff = (got - expected).abs().max().item()
    assert diff <= TOL, f'max abs diff {diff:.3g}'
    # the comparison is only meaningful if lambda really changes the output
    per_lambda = expected.reshape(instances, batch, -1)
    for i in range(1, instances):
        assert (per_lambda[i] - per_lambda[0]).abs().max().item() > 100 * TOL


def test_mipnet_w32_parameter_count_matches_the_paper_model():
    # 28,603,313 is the parameter count of the official MIPNet HRNet-W32 (N=2)
    assert count_parameters(build_model(ModelSpec('hrnet_w32', 2))) == 28_603_313


@pytest.mark.parametrize('arch,blocks', [('hrnet_w16s', 5), ('resnet50', 2)])
def test_gates_only_when_multi_instance(arch, blocks):
    plain = build_model(ModelSpec(arch, 1))
    assert not any('_se.' in k for k in plain.state_dict())
    assert not any(isinstance(m, MIMB) for m in plain.modules())
    gated = build_model(ModelSpec(arch, 2))
    assert sum(isinstance(m, MIMB) for m in gated.modules()) == blocks
    # the lambda table is not part of the weights (official files do not have it)
    assert not any('lambda_code' in k for k in gated.state_dict())


def test_lambda_codes_follow_the_official_encoding():
    for n in (2, 3, 4):
        idx = torch.arange(n)
        assert torch.equal(LambdaCode(n)(idx), ref_models.official_lambda(idx.tolist(), n))
    assert lambda_table(2) == [[1.0, 0.0], [0.0, 1.0]]
    assert lambda_table(4)[3] == [1.0, 1.0]
    with pytest.raises(ValueError):
        lambda_table(5)
    with pytest.raises(IndexError):
        LambdaCode(2)(torch.tensor([2]))


@pytest.mark.parametrize('arch,instances', [('hrnet_w16s', 3), ('resnet50', 2), ('hrnet_w16s', 1)])
def test_forward_shared_equals_per_lambda_forward(arch, instances):
    model = ref_models.randomise_(build_model(ModelSpec(arch, instances)), seed=3).eval()
    # fully convolutional: a small crop is enough to compare the two code paths
    images = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        shared = model.forward_shared(images, instances)
        assert shared.shape == (2, instances, 17, 32, 24)
        for lam in range(instances):
            single = model(images, torch.full((2,), lam, dtype=torch.long))
            assert (shared[:, lam] - single).abs().max().item() <= TOL
            split = model.forward_head(model.forward_trunk(images), torch.full((2,), lam, dtype=torch.long))
            assert (split - single).abs().max().item() == 0
        # an explicit list of lambdas, in any order
        picked = model.forward_shared(images, torch.tensor([instances - 1, 0]))
        assert (picked[:, 0] - shared[:, instances - 1]).abs().max().item() <= TOL
        assert (picked[:, 1] - shared[:, 0]).abs().max().item() <= TOL


def test_trunk_boundary_is_the_first_lambda_dependent_op():
    hr = build_model(ModelSpec('hrnet_w16s', 2)).eval()
    feats = hr.forward_trunk(torch.zeros(1, 3, 256, 192))
    # stage-4 input: four branches at strides 4, 8, 16, 32
    assert [tuple(f.shape[1:]) for f in feats] == [(16, 64, 48), (32, 32, 24), (64, 16, 12), (128, 8, 6)]
    rn = build_model(ModelSpec('resnet50', 2)).eval()
    (feat,) = rn.forward_trunk(torch.zeros(1, 3, 256, 192))
    assert tuple(feat.shape[1:]) == (512, 32, 24)      # layer2 output = input of the first gate


def test_model_spec_round_trip_and_validation():
    spec = ModelSpec('hrnet_w48', 3, num_joints=14, input_size=(384, 288))
    data = json.loads(json.dumps(spec.to_dict()))
    assert ModelSpec.from_dict(data) == spec
    assert ModelSpec.from_dict({**data, 'future_field': 1}) == spec
    assert ModelSpec(input_size='320x256').input_size == (320, 256)
    assert spec.heatmap_size == (96, 72)
    for bad in (dict(arch='vgg'), dict(instances=0), dict(instances=5), dict(input_size=(250, 192))):
        with pytest.raises(ValueError):
            ModelSpec(**bad)
    assert set(ARCHS) == {'hrnet_w32', 'hrnet_w48', 'hrnet_w16s',
                          'resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'}
    model = build_model(spec)
    assert isinstance(model, PoseNet) and model.spec == spec
    assert model.final_layer.out_channels == 14
