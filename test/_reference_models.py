"""Builds the official HRNet / MIPNet / SimpleBaseline models from ../shared/reference as test oracles.

The two upstream projects both have top-level packages called `models` (and MIPNet a `config`), names
that could collide with anything else in the test process. So each file is loaded under a private
module name straight from its path, and the one bare `from models.pose_hrnet_se_lambda import ...`
inside pose_resnet_se_lambda.py is served by a temporary sys.modules entry that is removed afterwards.
"""
import importlib.util
import sys
import types
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
REFERENCE = SHARED / 'reference'
MIPNET = REFERENCE / 'mipnet'
HRNET = REFERENCE / 'hrnet'
SE_MODULES = [False, False, True, True]
# official experiment files per (arch); W16s has none, it is built by overriding the W32 file
EXPERIMENTS = {
    'hrnet_w32': MIPNET / 'experiments/coco/hrnet/w32_256x192_adam_lr1e-3.yaml',
    'hrnet_w48': MIPNET / 'experiments/coco/hrnet/w48_384x288_adam_lr1e-3.yaml',
}
_CACHE = {}


def require_reference():
    if not (MIPNET / 'lib/models/pose_hrnet_se_lambda.py').is_file():
        pytest.skip(f'official reference code not found at {REFERENCE} (../shared is absent)')
    pytest.importorskip('yacs', reason='the reference config needs yacs')


@contextmanager
def _temporary_modules(entries):
    saved = {name: sys.modules.get(name) for name in entries}
    sys.modules.update(entries)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _load_file(private_name, path, package_dir=None):
    spec = importlib.util.spec_from_file_location(
        private_name, str(path),
        submodule_search_locations=[str(package_dir)] if package_dir else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private_name] = module      # relative imports inside a package need this
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', SyntaxWarning)    # upstream uses `is '*'`; not our code
        spec.loader.exec_module(module)
    return module


def reference_module(key):
    """key: 'config' | 'hrnet_se' | 'resnet_se' | 'hrnet' | 'resnet'."""
    require_reference()
    if key in _CACHE:
        return _CACHE[key]
    if key == 'config':
        mod = _load_file('_ref_mipnet_config', MIPNET / 'lib/config/__init__.py', MIPNET / 'lib/config')
    elif key == 'hrnet_se':
        mod = _load_file('_ref_mipnet_pose_hrnet_se_lambda', MIPNET / 'lib/models/pose_hrnet_se_lambda.py')
    elif key == 'resnet_se':
        hr = reference_module('hrnet_se')
        fake_pkg = types.ModuleType('models')
        fake_pkg.pose_hrnet_se_lambda = hr
        with _temporary_modules({'models': fake_pkg, 'models.pose_hrnet_se_lambda': hr}):
            mod = _load_file('_ref_mipnet_pose_resnet_se_lambda', MIPNET / 'lib/models/pose_resnet_se_lambda.py')
    elif key == 'hrnet':
        mod = _load_file('_ref_hrnet_pose_hrnet', HRNET / 'lib/models/pose_hrnet.py')
    elif key == 'resnet':
        mod = _load_file('_ref_hrnet_pose_resnet', HRNET / 'lib/models/pose_resnet.py')
    else:
        raise KeyError(key)
    _CACHE[key] = mod
    return mod


def reference_cfg(arch, num_joints=17):
    config = reference_module('config')
    cfg = config.cfg.clone()
    cfg.defrost()
    if arch.startswith('hrnet'):
        cfg.merge_from_file(str(EXPERIMENTS.get(arch, EXPERIMENTS['hrnet_w32'])))
        if arch == 'hrnet_w16s':
            cfg.merge_from_list([
                'MODEL.EXTRA.STAGE2.NUM_CHANNELS', [16, 32],
                'MODEL.EXTRA.STAGE3.NUM_CHANNELS', [16, 32, 64], 'MODEL.EXTRA.STAGE3.NUM_MODULES', 1,
                'MODEL.EXTRA.STAGE4.NUM_CHANNELS', [16, 32, 64, 128], 'MODEL.EXTRA.STAGE4.NUM_MODULES', 1])
    else:
        cfg.MODEL.NAME = 'pose_resnet'
        cfg.MODEL.EXTRA = config.MODEL_EXTRAS['pose_resnet'].clone()
        cfg.MODEL.EXTRA.NUM_LAYERS = int(arch[len('resnet'):])
    cfg.MODEL.SE_MODULES = list(SE_MODULES)
    cfg.MODEL.NUM_JOINTS = num_joints
    cfg.freeze()
    return cfg


def build_reference(arch, gated, num_joints=17, seed=0):
    """Official model with random weights, BN statistics and gate layers (so that tests are sensitive)."""
    family = 'hrnet' if arch.startswith('hrnet') else 'resnet'
    module = reference_module(family + ('_se' if gated else ''))
    torch.manual_seed(seed)
    model = module.get_pose_net(reference_cfg(arch, num_joints), is_train=False)
    randomise_(model, seed)
    return model.eval()


@torch.no_grad()
def randomise_(model, seed=0):
    """Moves every BN away from identity and perturbs linear layers, deterministically."""
    gen = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.weight.copy_(0.5 + torch.rand(n, generator=gen))
            m.bias.copy_(0.2 * torch.randn(n, generator=gen))
            m.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
        elif isinstance(m, torch.nn.Linear):
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / m.in_features ** 0.5 * 2)
            if m.bias is not None:
                m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=gen))
    return model


def official_lambda(instance, num_instances):
    """The lambda vectors the official training code feeds, written out independently of our table."""
    if num_instances == 2:
        table = [[1.0, 0.0], [0.0, 1.0]]
    else:
        table = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    return torch.tensor([table[int(i)] for i in instance], dtype=torch.float32)


def reference_forward(model, images, instance=None, num_instances=2):
    if instance is None:
        return model(images)
    return model(images, official_lambda(instance, num_instances))
