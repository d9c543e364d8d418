"""Fixtures shared by several test files."""
import gc
import hashlib
import sys
import threading

import pytest

TINY_ZOO_SIZE = (128, 96)     # input size of the tiny zoo model served by `tiny_zoo_model`
SPIN_JOIN_SEC = 5.0   # how long a module's leftover executor threads may take to end after shutdown


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
    import _reference_models as ref_models
    import torch

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


def _spinning_executor(thread: threading.Thread):
    """The rclpy executor a thread spins (its target is `executor.spin`), else None."""
    target = getattr(thread, '_target', None)
    owner = getattr(target, '__self__', None)
    executors = sys.modules.get('rclpy.executors')
    return owner if executors is not None and isinstance(owner, executors.Executor) else None


@pytest.fixture(scope='module', autouse=True)
def ros_leftovers_stay_in_their_module():
    """What an in-process ROS test module leaves behind ends with the module, not in a later test.

    rclpy prints 'The following exception was never retrieved: ...' when a callback task that failed at
    teardown (its node was being destroyed) is garbage-collected: whenever the collector next runs, i.e.
    inside whatever test runs then, whose captured stderr it spoils. At the end of each module the executor
    threads it started are shut down and joined, then the collector runs, so those lines (if any) belong to
    the module that caused them.
    """
    before = set(threading.enumerate())
    yield
    if 'rclpy' not in sys.modules:
        return
    spinners = [(t, _spinning_executor(t)) for t in threading.enumerate() if t not in before]
    for thread, executor in spinners:
        if executor is not None:
            try:
                executor.shutdown(timeout_sec=1.0)
            except Exception:  # noqa: BLE001 - its context may be gone already; the join below still waits
                pass
            thread.join(SPIN_JOIN_SEC)
    gc.collect()
