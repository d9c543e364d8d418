"""Stop requests for a node process: SIGINT, SIGTERM and the death of the parent process.

rclpy's own handlers shut the context down inside the signal handler, racing the executor and the
worker (invalid-context errors, wait-set errors, KeyboardInterrupt inside a join). Here a signal
only sets an event, however often it comes; the main loop then stops spinning and tears down in
order. A parent that dies (e.g. `ros2 launch` killed with SIGTERM) ends the node as well:
PR_SET_PDEATHSIG on Linux sends SIGTERM at once, and a getppid() poll covers the rest.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1          # <linux/prctl.h>
PARENT_POLL_SEC = 0.5


class StopRequest:
    """An event set by signals or the parent's death; `reason` says which came first."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ''
        self.signals = 0
        self._parent = os.getppid()     # as early as possible: the parent may die while we load
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
        self.event.set()

    def _on_signal(self, signum: int, _frame) -> None:
        self.signals += 1
        self.request(signal.Signals(signum).name)

    def install_signal_handlers(self, signums=(signal.SIGINT, signal.SIGTERM)) -> None:
        """Replace the handlers of `signums` (main thread only) until `uninstall_signal_handlers`."""
        for s in signums:
            self._previous[s] = signal.signal(s, self._on_signal)

    def ignore_signals(self) -> None:
        """Ignore the handled signals from now on: at interpreter exit Python resets handlers it set
        to the default action, so a late Ctrl-C during finalisation would kill the process."""
        for s in self._previous:
            signal.signal(s, signal.SIG_IGN)

    def uninstall_signal_handlers(self) -> None:
        for s, old in self._previous.items():
            signal.signal(s, old)
        self._previous.clear()

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
    """Leave without interpreter finalisation: used when a frame is still running in native code,
    where finalisation could abort the process (std::terminate) instead of exiting."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)

