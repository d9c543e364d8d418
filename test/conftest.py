"""Fixtures shared by several test files."""
import gc
import sys
import threading

import pytest

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
