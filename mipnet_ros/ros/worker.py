"""The node's one worker thread, and the generation gate that keeps a stale frame from publishing.

One thread lives from the first activation to shutdown and takes frames from the 1-slot mailbox. Each
activation opens a generation; deactivate, cleanup and shutdown close it. A frame works under the
generation open when it was taken and publishes only while that generation is still open, checked under
the lock that closing takes. So a frame still running at a transition finishes into nothing, a
transition waits at most for one publish call, and there is never a second worker. Plain Python (no
ROS), so the policy is tested on its own.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from mipnet_ros.ros.pairing import LatestSlot


class PublishGate:
    """Generations of an active node: `open` starts one, `close` ends it, `run` acts only within one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Optional[int] = None
        self._last = 0

    def open(self) -> int:
        with self._lock:
            self._last += 1
            self._open = self._last
            return self._last

    def close(self) -> None:
        """End the open generation; returns once no call through `run` is in progress."""
        with self._lock:
            self._open = None

    def current(self) -> Optional[int]:
        return self._open

    def is_open(self, generation: int) -> bool:
        return self._open == generation

    def run(self, generation: int, fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        """fn(*args) if `generation` is still open (and cannot close meanwhile), else `default`."""
        with self._lock:
            if self._open != generation:
                return default
            return fn(*args)

    def publish(self, generation: int, publisher: Any, msg: Any) -> bool:
        """Publish `msg` unless `generation` has ended (then the publisher may be gone): True if sent."""
        return bool(self.run(generation, _publish, publisher, msg, default=False))


def _publish(publisher: Any, msg: Any) -> bool:
    publisher.publish(msg)
    return True


class FrameWorker:
    """Runs `handle(frame, generation)` on the newest frame from `slot`, in one thread.

    `on_error(exc, stale)` is told about exceptions from `handle`; `stale` is True when the
    frame's generation ended meanwhile (its failure is then expected and not worth an error).
    """

    def __init__(self, slot: LatestSlot, handle: Callable[[Any, int], None],
                 on_error: Callable[[BaseException, bool], None], name: str = 'mipnet_worker'):
        self.slot = slot
        self.gate = PublishGate()
        self._handle = handle
        self._on_error = on_error
        self._name = name
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()     # set once, at shutdown; never cleared

    def activate(self) -> int:
        """Open a new generation (starting the thread the first time) and return it."""
        if self._stop.is_set():
            raise RuntimeError('the worker was shut down')
        self.slot.reopen()
        generation = self.gate.open()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return generation

    def deactivate(self) -> None:
        """End the generation and drop the waiting frame; a frame in progress cannot publish any more."""
        self.gate.close()
        self.slot.clear()

    def shutdown(self, timeout: float) -> bool:
        """Deactivate and end the thread; False if a frame was still running after `timeout` s."""
        if self._stop.is_set():
            timeout = 0.0               # asked before: do not wait twice
        self.deactivate()
        self._stop.set()
        self.slot.close()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=max(0.0, timeout))
            return not thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.slot.get(timeout=0.2)
            generation = self.gate.current()
            if frame is None or generation is None or self._stop.is_set():
                continue                    # taken between generations: dropped unseen
            try:
                self._handle(frame, generation)
            except Exception as exc:  # noqa: BLE001 - keep serving; the node reports it
                self._on_error(exc, not self.gate.is_open(generation))
