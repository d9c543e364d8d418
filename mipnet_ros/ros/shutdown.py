"""Stop requests for a node process: SIGINT, SIGTERM and the death of the parent process.

rclpy's own handlers shut the context down inside the signal handler, racing the executor and the
worker (invalid-context errors, wait-set errors, KeyboardInterrupt inside a join). Here a signal,
taken by a dedicated thread even while the main thread is inside native code (model loading), only
sets an event; the main loop then tears down in order, and a deadline ends the process if that
hangs. A dying parent (PR_SET_PDEATHSIG, plus a getppid() poll) counts as a stop request too.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from typing import Callable, Optional

PR_SET_PDEATHSIG = 1          # <linux/prctl.h>
PARENT_POLL_SEC = 0.5


class StopRequest:
    """An event set by signals or the parent's death; `reason` says which came first.

    With `deadline_sec`, `on_deadline()` runs that long after the first request unless `finished()`
    was called first (the node uses it to exit even when a teardown step hangs).
    """

    def __init__(self, deadline_sec: Optional[float] = None, on_deadline: Optional[Callable[[], None]] = None):
        self.event = threading.Event()
        self.reason = ''
        self.signals = 0
        self.deadline_sec = deadline_sec
        self._on_deadline = on_deadline
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._parent = os.getppid()     # as early as possible: the parent may die while we load
        self._previous: dict = {}
        self._blocked: tuple = ()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self, reason: str) -> None:
        with self._lock:
            first = not self.event.is_set()
            if first:
                self.reason = reason
                self.event.set()
        if first and self.deadline_sec is not None and self._on_deadline is not None:
            threading.Thread(target=self._expire, name='stop_deadline', daemon=True).start()

    def finished(self) -> None:
        """The teardown is complete: the deadline no longer applies."""
        self._finished.set()

    def _expire(self) -> None:
        if not self._finished.wait(self.deadline_sec):
            self._on_deadline()

    def _on_signal(self, signum: int, _frame) -> None:
        self.signals += 1
        self.request(signal.Signals(signum).name)

    def install_signal_handlers(self, signums=(signal.SIGINT, signal.SIGTERM)) -> None:
        """Take `signums` from now on (call from the main thread before other threads start).

        They are blocked in this thread (and so in every thread started later) and collected by a
        sigwait thread; the Python handlers cover any thread that started earlier.
        """
        for s in signums:
            self._previous[s] = signal.signal(s, self._on_signal)
        if hasattr(signal, 'pthread_sigmask') and hasattr(signal, 'sigwait'):
            self._blocked = tuple(signums)
            signal.pthread_sigmask(signal.SIG_BLOCK, self._blocked)
            threading.Thread(target=self._wait_signals, name='signal_wait', daemon=True).start()

    def _wait_signals(self) -> None:
        while True:
            signum = signal.sigwait(self._blocked)
            self.signals += 1
            self.request(signal.Signals(signum).name)

    def ignore_signals(self) -> None:
        """Ignore the handled signals from now on: at interpreter exit Python resets handlers it set
        to the default action, so a late Ctrl-C during finalisation would kill the process."""
        for s in self._previous:
            signal.signal(s, signal.SIG_IGN)

    def watch_parent(self, poll_sec: float = PARENT_POLL_SEC) -> None:
        """Request a stop when the process that started us exits."""
        if sys.platform.startswith('linux'):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            except (OSError, AttributeError):
                pass                    # the poll below still notices
        threading.Thread(target=self._poll_parent, args=(poll_sec,), name='parent_watch', daemon=True).start()

    def parent_gone(self) -> bool:
        return os.getppid() != self._parent

    def _poll_parent(self, poll_sec: float) -> None:
        while not self.event.wait(poll_sec):
            if self.parent_gone():
                self.request('parent exited')
                return


def flush_and_exit(status: int = 0) -> None:
    """Leave without interpreter finalisation: with torch loaded it takes seconds, and while a frame
    still runs in native code it can abort the process (std::terminate) instead of exiting."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
