"""At most one log line per key and period, for lines whose key varies at one call site (a reason, a topic).

rclpy's `throttle_duration_sec` throttles per call site, so two reasons logged from the same line
would hide each other; the nodes use this for those and rclpy's for fixed lines.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Hashable


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
