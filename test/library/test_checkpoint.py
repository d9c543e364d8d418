"""load_checkpoint / save_checkpoint: every accepted format, clear errors, atomic writes."""
import hashlib
import os
import random
from collections import OrderedDict

import pytest
import torch
from _reference_models import randomise_

from mipnet_ros.core.fileio import file_sha256
from mipnet_ros.core.model import checkpoint as ckpt
from mipnet_ros.core.model.checkpoint import CheckpointError, load_backbone, load_checkpoint, save_checkpoint
from mipnet_ros.core.model.registry import ModelSpec, build_model

ARCH = 'hrnet_w16s'


@pytest.fixture(scope='module')
def model():
    return randomise_(build_model(ModelSpec(ARCH, 2)), seed=5).eval()


@pytest.fixture(scope='module')
def images():
    # the networks are fully convolutional: a small crop keeps these tests fast
    return torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(0))


_EXPECTED = {}


def _same_outputs(a, b, images):
    inst = torch.tensor([0, 1])
    with torch.no_grad():
        if id(a) not in _EXPECTED:
            _EXPECTED[id(a)] = a(images, inst)
        return torch.equal(_EXPECTED[id(a)], b(images, inst))


def _prefixed(state):
    return OrderedDict(('module.' + k, v) for k, v in state.items())


OFFICIAL_WRAPPERS = {
    'raw': lambda sd: sd,
    'state_dict': lambda sd: {'state_dict': sd, 'epoch': 3, 'model': 'pose_hrnet', 'perf': 0.7},
    'latest_state_dict': lambda sd: {'latest_state_dict': sd, 'epoch': 3},
    'module_prefix': _prefixed,
    'module_prefix_in_state_dict': lambda sd: {'state_dict': _prefixed(sd)},
}


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy_pickle'])
@pytest.mark.parametrize('wrapper', sorted(OFFICIAL_WRAPPERS))
def test_official_formats_round_trip(tmp_path, model, images, wrapper, legacy):
    path = tmp_path / 'official.pth'
    # the published HRNet/MIPNet files predate torch 1.6's zip format
    torch.save(OFFICIAL_WRAPPERS[wrapper](model.state_dict()), path, _use_new_zipfile_serialization=not legacy)
    loaded = load_checkpoint(path, arch=ARCH)
    assert loaded.spec == ModelSpec(ARCH, 2)          # instances inferred from the gate keys
    assert not loaded.training
    assert _same_outputs(model, loaded, images)


def test_our_format_round_trips_without_arch(tmp_path, model, images):
    path = save_checkpoint(tmp_path / 'ours.pth', model, epoch=7, metrics={'ap': 0.5})
    loaded = load_checkpoint(path)
    assert loaded.spec == model.spec
    assert _same_outputs(model, loaded, images)
    raw = torch.load(path, weights_only=True)          # stays loadable without pickle trust
    assert raw['epoch'] == 7 and raw['metrics'] == {'ap': 0.5} and raw['spec']['arch'] == ARCH
    # N=3 cannot be told from the keys of an official file, but ours remember it
    three = build_model(ModelSpec(ARCH, 3, num_joints=14))
    loaded3 = load_checkpoint(save_checkpoint(tmp_path / 'three.pth', three))
    assert loaded3.spec.instances == 3 and loaded3.spec.num_joints == 14
    # a different crop size is fine for a fully convolutional net, a different arch is not
    assert load_checkpoint(path, input_size='384x288').spec.input_size == (384, 288)
    with pytest.raises(CheckpointError, match='arch'):
        load_checkpoint(path, arch='hrnet_w32')


def test_plain_official_file_infers_one_instance_and_joints(tmp_path, images):
    plain = randomise_(build_model(ModelSpec(ARCH, 1, num_joints=14)), seed=1).eval()
    path = tmp_path / 'plain.pth'
    torch.save(plain.state_dict(), path)
    loaded = load_checkpoint(path, arch=ARCH)
    assert loaded.spec.instances == 1 and loaded.spec.num_joints == 14
    with torch.no_grad():
        assert torch.equal(loaded(images), plain(images))


def test_official_file_needs_arch(tmp_path, model):
    path = tmp_path / 'official.pth'
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert '--arch' in str(err.value) and str(path) in str(err.value)
    assert repr(ARCH) in str(err.value)                 # the guess from the weights


def test_missing_and_unexpected_keys_are_named(tmp_path, model):
    state = OrderedDict(model.state_dict())
    removed = [k for k in state if k.startswith('stage4_se.') and not k.endswith('num_batches_tracked')]
    for k in [k for k in state if k.startswith('stage4_se.')]:
        del state[k]
    state['extra.weight'] = torch.zeros(1)
    path = tmp_path / 'broken.pth'
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, arch=ARCH, instances=2)
    msg = str(err.value)
    assert f'{len(removed)} missing keys' in msg and removed[0] in msg
    assert '1 unexpected keys: extra.weight' in msg
    assert str(path) in msg


def test_shape_mismatch_and_gate_mismatch_are_explained(tmp_path, model):
    path = tmp_path / 'w16s.pth'
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, arch='hrnet_w32', instances=2)
    assert 'shape mismatches' in str(err.value) and "look like 'hrnet_w16s'" in str(err.value)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, arch=ARCH, instances=1)
    assert 'unexpected keys' in str(err.value) and 'stage3_se.' in str(err.value)
    assert 'instances >= 2' in str(err.value)


def test_missing_bn_counters_are_tolerated(tmp_path, model, images):
    state = {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    path = tmp_path / 'old.pth'
    torch.save(state, path)
    assert _same_outputs(model, load_checkpoint(path, arch=ARCH), images)


@pytest.mark.parametrize('damage', ['truncated', 'truncated_legacy', 'garbage', 'empty', 'zeroed_middle'])
def test_corrupt_files_give_a_clear_error(tmp_path, model, damage):
    data = save_checkpoint(tmp_path / 'good.pth', model).read_bytes()
    legacy = tmp_path / 'legacy.pth'
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    rng = random.Random(damage)
    bad = tmp_path / f'{damage}.pth'
    bad.write_bytes({'truncated': data[: len(data) // 2],
                     'truncated_legacy': legacy.read_bytes()[: legacy.stat().st_size // 3],
                     'garbage': bytes(rng.getrandbits(8) for _ in range(4096)),
                     'empty': b'',
                     # zip directory intact, tensor bytes damaged: torch.load alone would not notice
                     'zeroed_middle': data[:len(data) // 2] + bytes(4096) + data[len(data) // 2 + 4096:],
                     }[damage])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    assert str(bad) in str(err.value) and 'corrupt' in str(err.value)


@pytest.mark.skipif(not hasattr(torch.serialization, 'set_crc32_options'), reason='torch without CRC options')
def test_files_saved_without_checksums_still_load(tmp_path, model, images):
    path = tmp_path / 'nocrc.pth'
    torch.serialization.set_crc32_options(False)
    try:
        torch.save(model.state_dict(), path)
    finally:
        torch.serialization.set_crc32_options(True)
    assert _same_outputs(model, load_checkpoint(path, arch=ARCH), images)


def test_missing_file_and_non_weight_objects(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint(tmp_path / 'nope.pth', arch=ARCH)
    path = tmp_path / 'pickled.pth'
    torch.save({'state_dict': {'a': torch.zeros(1)}, 'when': __import__('datetime').date(2021, 1, 1)}, path)
    with pytest.raises(CheckpointError, match='allow_pickle'):
        load_checkpoint(path, arch=ARCH)
    path = tmp_path / 'list.pth'
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match='no weights found'):
        load_checkpoint(path, arch=ARCH)


def test_save_is_atomic(tmp_path, model, monkeypatch):
    target = tmp_path / 'model.pth'
    save_checkpoint(target, model, epoch=1)
    before = target.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b'half a file')
        raise OSError('disk full')

    monkeypatch.setattr(ckpt.torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        save_checkpoint(target, model, epoch=2)
    monkeypatch.undo()
    assert target.read_bytes() == before                # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.pth']   # no temp file left
    save_checkpoint(target, torch.nn.DataParallel(model), epoch=3)        # wrappers are unwrapped
    assert torch.load(target, weights_only=True)['epoch'] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.pth']
    with pytest.raises(ValueError, match='reserved'):
        save_checkpoint(target, model, spec={})


def test_file_sha256(tmp_path):
    path = tmp_path / 'blob.bin'
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_plain_weights_start_a_multi_instance_model(tmp_path, images):
    plain = randomise_(build_model(ModelSpec(ARCH, 1)), seed=2).eval()
    path = tmp_path / 'coco_hrnet.pth'
    torch.save({'state_dict': plain.state_dict()}, path)
    with pytest.raises(CheckpointError, match='load_backbone'):
        load_checkpoint(path, arch=ARCH, instances=2)
    mip = build_model(ModelSpec(ARCH, 2)).eval()
    gate_before = mip.stage3_se.se_layers[0].fc_lambda[0].weight.clone()
    kept = load_backbone(mip, path)
    assert kept and all(k.startswith(('stage3_se.', 'stage4_se.')) for k in kept)
    assert torch.equal(mip.stage3_se.se_layers[0].fc_lambda[0].weight, gate_before)
    with torch.no_grad():
        assert torch.equal(mip.forward_trunk(images)[3], plain.forward_trunk(images)[3])
    other = tmp_path / 'w32.pth'
    torch.save(build_model(ModelSpec('hrnet_w32', 1)).state_dict(), other)
    with pytest.raises(CheckpointError, match='shape mismatches'):
        load_backbone(mip, other)


def test_auto_arch_takes_ours_or_the_one_the_weights_fit(tmp_path, model, images):
    path = tmp_path / 'official.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    loaded = load_checkpoint(path, arch=ckpt.AUTO_ARCH)
    assert loaded.spec.arch == ARCH and loaded.spec.instances == 2
    assert _same_outputs(model, loaded, images)
    ours = save_checkpoint(tmp_path / 'ours.pth', model)
    assert load_checkpoint(ours, arch=ckpt.AUTO_ARCH).spec.arch == ARCH
    odd = {k: v for k, v in model.state_dict().items() if not k.startswith('final_layer.')}
    torch.save(odd, tmp_path / 'odd.pth')
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / 'odd.pth', arch=ckpt.AUTO_ARCH)
    assert 'none of the known architectures' in str(err.value) and 'hrnet_w32' in str(err.value)
