"""Fixtures shared by several test files."""
import hashlib

import pytest

TINY_ZOO_SIZE = (128, 96)     # input size of the tiny zoo model served by `tiny_zoo_model`


@pytest.fixture(scope='module')
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy shared machine two spinning
    OpenMP threads per process made these tests up to 10x slower."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def weights_cache(tmp_path, monkeypatch):
    """A private model-zoo cache (MIPNET_CACHE) for one test."""
    monkeypatch.setenv('MIPNET_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


@pytest.fixture
def tiny_zoo_model(weights_cache, tmp_path, monkeypatch, one_torch_thread):
    """A tiny mmpose-layout HRNet behind a zoo entry 'tiny_coco' that points at a loopback server:
    yields (network, zoo entry, server)."""
    import torch

    import _reference_models as ref_models
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    from mipnet_ros.core.weights import zoo
    from mipnet_ros.testing.loopback_http import LoopbackServer
    from mipnet_ros.testing.mmpose_layout import to_mmpose
    torch.manual_seed(0)
    net = ref_models.randomise_(build_model(ModelSpec('hrnet_w16s', 1, input_size=TINY_ZOO_SIZE)), seed=2).eval()
    source = tmp_path / 'tiny.pth'
    torch.save(to_mmpose(net.state_dict(), '1.x'), source)
    data = source.read_bytes()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    name = f'tiny_coco_128x96-{prefix}_20250101.pth'
    with LoopbackServer() as server:
        entry = zoo.ZooEntry(name='tiny_coco', arch='hrnet_w16s', instances=1, input_size=TINY_ZOO_SIZE,
                             training_data='none', published_ap=1.0, ap_note='test', licence='test', file_name=name,
                             sha256=prefix, layout='mmpose', url=server.add('/' + name, data), facts_from='test')
        monkeypatch.setitem(zoo.ZOO, 'tiny_coco', entry)
        yield net, entry, server
