"""Fixtures shared by several test files."""
import pytest


@pytest.fixture(scope='module')
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy shared machine two spinning
    OpenMP threads per process made these tests up to 10x slower."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
