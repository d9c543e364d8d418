"""Training: resume after an interruption is bit-exact; the loss goes down on a fixed batch."""
from pathlib import Path

import pytest
import torch
import yaml

from mipnet_ros.core.train import LAST, AllInstances, EpochSampler, load_init_weights, train
from mipnet_ros.core.train_config import load_config

SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f'real data folder {SHARED} not present')


def _config(tmp_path, name, max_steps, instances=2):
    cfg = {
        'model': {'arch': 'hrnet_w16s', 'instances': instances, 'input_size': [64, 64]},
        'data': {'dataset': 'ochuman', 'train_ann': str(SHARED / 'ochuman' / 'test_ochuman.json'),
                 'train_images': str(SHARED / 'ochuman'), 'num_workers': 0, 'max_instances': 2},
        'optim': {'epochs': 3, 'batch_size': 2, 'lr_steps': [1], 'lr': 1e-3},
        'run': {'name': name, 'out_dir': str(tmp_path), 'threads': 1, 'max_steps': max_steps,
                'checkpoint_every': 0, 'seed': 5},
    }
    path = tmp_path / f'{name}_{max_steps}.yaml'
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def test_resume_is_bit_exact(tmp_path):
    # 5 samples, batch 2 -> 2 steps per epoch: step 3 crosses an epoch and an LR milestone
    straight = train(load_config(_config(tmp_path, 'straight', 3)), progress=False)
    train(load_config(_config(tmp_path, 'split', 1)), progress=False)        # "killed" after one step
    assert (tmp_path / 'split' / LAST).is_file()
    resumed = train(load_config(_config(tmp_path, 'split', 3)), resume=True, progress=False)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    last = torch.load(tmp_path / 'split' / LAST, map_location='cpu', weights_only=False)
    assert last['global_step'] == 3 and last['epoch'] == 1 and last['epoch_step'] == 1
    assert last['optimizer']['param_groups'][0]['lr'] == pytest.approx(1e-4)   # MultiStepLR stepped once
    fresh = torch.load(tmp_path / 'split' / 'final.pth', map_location='cpu', weights_only=True)
    assert fresh['spec']['instances'] == 2 and fresh['steps'] == 3


def test_loss_decreases_on_a_fixed_batch():
    from mipnet_ros.core.data import CocoPoseDataset, DatasetConfig
    from mipnet_ros.core.loss import MultiInstanceLoss
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    torch.manual_seed(0)
    torch.set_num_threads(1)
    ds = CocoPoseDataset(DatasetConfig(str(SHARED / 'ochuman' / 'test_ochuman.json'), str(SHARED / 'ochuman'),
                                       input_size=(64, 64), train=False, max_instances=2))
    batch = torch.utils.data.default_collate([ds[i] for i in range(3)])
    model = AllInstances(build_model(ModelSpec('hrnet_w16s', 2, 17, (64, 64))))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = MultiInstanceLoss()
    losses = []
    for _ in range(8):
        loss = loss_fn(model(batch['image']), batch['target'], batch['weight'], batch['n'])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_sampler_is_a_function_of_seed_and_epoch():
    a = EpochSampler(10, seed=1, epoch=2).indices
    assert sorted(a) == list(range(10))
    assert EpochSampler(10, seed=1, epoch=2, start=4).indices == a[4:]
    assert EpochSampler(10, seed=1, epoch=3).indices != a
    ranks = [EpochSampler(10, 1, 2, rank=r, world_size=3).indices for r in range(3)]
    assert all(len(r) == 4 for r in ranks) and set(sum(ranks, [])) == set(range(10))


def test_init_from_plain_checkpoint_keeps_gates_random(tmp_path):
    from mipnet_ros.core.model.checkpoint import save_checkpoint
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    plain = build_model(ModelSpec('hrnet_w16s', 1, 17, (64, 64)))
    save_checkpoint(tmp_path / 'plain.pth', plain)
    gated = build_model(ModelSpec('hrnet_w16s', 2, 17, (64, 64)))
    info = load_init_weights(gated, str(tmp_path / 'plain.pth'))
    assert info['random'] > 0
    assert torch.equal(gated.state_dict()['final_layer.weight'], plain.state_dict()['final_layer.weight'])
    with pytest.raises(ValueError):
        load_init_weights(build_model(ModelSpec('hrnet_w16s', 1, 14, (64, 64))), str(tmp_path / 'plain.pth'))


def test_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('optim: {lrr: 0.1}\n')
    with pytest.raises(ValueError, match='lrr'):
        load_config(str(path))
    cfg = load_config(None, ['optim.lr=5e-4', 'model.input_size=[128, 96]'])
    assert cfg.optim.lr == 5e-4 and cfg.model.input_size == (128, 96)
