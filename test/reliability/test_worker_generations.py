"""FrameWorker / PublishGate: a frame running across a transition never publishes, one thread only."""
import threading

from mipnet_ros.ros.pairing import LatestSlot
from mipnet_ros.ros.worker import FrameWorker, PublishGate


class _Recorder:
    def __init__(self):
        self.sent = []

    def publish(self, msg):
        self.sent.append(msg)


class _Blocking:
    """A frame handler that waits for the test's permission, then publishes the frame through the gate."""

    def __init__(self, pub):
        self.pub = pub
        self.entered = threading.Event()
        self.release = threading.Event()
        self.worker = None
        self.errors = []

    def __call__(self, frame, generation):
        if frame == 'slow':
            self.entered.set()
            assert self.release.wait(10)
        self.worker.gate.publish(generation, self.pub, frame)

    def on_error(self, exc, stale):
        self.errors.append((exc, stale))


def _worker(pub):
    h = _Blocking(pub)
    h.worker = FrameWorker(LatestSlot(), h, h.on_error, name='test_worker')
    return h


def _held():
    """A worker whose first frame ('slow') is inside the handler, waiting for `release`."""
    pub = _Recorder()
    h = _worker(pub)
    h.worker.activate()
    h.worker.slot.put('slow')
    assert h.entered.wait(5)
    return pub, h, h.worker


def _workers():
    return [t for t in threading.enumerate() if t.name == 'test_worker']


def _wait_for(pub, n, timeout=5.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if len(pub.sent) >= n:
            return True
        done.wait(0.01)
    return False


def test_frame_running_across_deactivate_and_reactivate_never_publishes():
    pub, h, w = _held()
    w.deactivate()                  # returns at once although the frame is still running
    assert not h.release.is_set()
    w.activate()                    # a new generation; the same (busy) thread serves it
    w.slot.put('fresh')
    h.release.set()
    assert _wait_for(pub, 1)
    assert w.shutdown(5.0)
    assert pub.sent == ['fresh']    # the slow frame finished into nothing
    assert len(_workers()) == 0 and not h.errors


def test_one_thread_over_many_cycles():
    pub = _Recorder()
    h = _worker(pub)
    w = h.worker
    h.release.set()
    for i in range(20):
        w.activate()
        w.slot.put(f'frame{i}')
        assert _wait_for(pub, i + 1)
        assert len(_workers()) == 1
        w.deactivate()
    assert w.shutdown(5.0)
    assert pub.sent == [f'frame{i}' for i in range(20)]


def test_shutdown_gives_up_on_a_stuck_frame_and_it_cannot_publish():
    pub, h, w = _held()
    assert w.shutdown(0.2) is False         # still inside the frame
    assert w.shutdown(10.0) is False        # asked again: does not wait a second time
    h.release.set()
    for _ in range(500):
        if not w.alive:
            break
        threading.Event().wait(0.01)
    assert not w.alive and pub.sent == []


def test_errors_of_stale_frames_are_marked_stale():
    gate_errors = []

    def handle(frame, generation):
        started.set()
        assert go.wait(10)
        raise RuntimeError('publisher destroyed')

    started, go = threading.Event(), threading.Event()
    w = FrameWorker(LatestSlot(), handle, lambda exc, stale: gate_errors.append(stale), name='test_worker')
    w.activate()
    w.slot.put('x')
    assert started.wait(5)
    w.deactivate()
    go.set()
    assert w.shutdown(5.0)
    assert gate_errors == [True]


def test_gate_closes_only_after_a_publish_in_progress():
    gate = PublishGate()
    g = gate.open()
    inside, leave = threading.Event(), threading.Event()
    order = []

    def slow_publish():
        inside.set()
        leave.wait(5)
        order.append('published')

    t = threading.Thread(target=gate.run, args=(g, slow_publish))
    t.start()
    assert inside.wait(5)
    closer = threading.Thread(target=lambda: (gate.close(), order.append('closed')))
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()                 # close waits for the publish call
    leave.set()
    t.join(5)
    closer.join(5)
    assert order == ['published', 'closed']
    assert gate.run(g, lambda: 'late', default='refused') == 'refused'
    assert gate.open() == g + 1
