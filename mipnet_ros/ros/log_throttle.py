"""At most one log line per key and period, for lines whose key varies at one call site (a reason, a topic).

rclpy's `throttle_duration_sec` throttles per call site, so two reasons logged from the same line
would hide each other; every node logs its repeated lines through `ThrottledLog`, keyed by reason.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Hashable


class LogThrottle:
    """`ready(key)` is True at most once per `period_sec` for each key (thread-safe)."""

    def __init__(self, period_sec: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.period_sec = float(period_sec)
        self._clock = clock
        self._last: Dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def ready(self, key: Hashable) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_sec:
                return False
            self._last[key] = now
            return True


class ThrottledLog:
    """A node's warnings and errors, each `key` at most once per period (one mechanism for every node).

    `logger` is called at each line (a node's `get_logger`), so a logger swapped in later is used."""

    def __init__(self, logger: Callable[[], Any], period_sec: float = 5.0):
        self._logger = logger
        self.throttle = LogThrottle(period_sec)

    def warning(self, key: Hashable, message: str) -> None:
        if self.throttle.ready(key):
            self._logger().warning(message)

    def error(self, key: Hashable, message: str) -> None:
        if self.throttle.ready(key):
            self._logger().error(message)
