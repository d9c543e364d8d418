"""Track ids that are never reused: within a process they only count up, across restarts a start token differs.

Rule: a track id is "<start>_<n>": <start> is the time this process made its first id source, in
milliseconds since the epoch, written in base 36 (7 characters; it repeats only after about 2.5 years),
and n counts from 1 for the whole life of the process, across tracker resets and node reconfigures.
A PoseTracker built without an id source numbers its own tracks "1", "2", ... (tests, offline jobs).
"""
from __future__ import annotations

import itertools
import threading
import time
from typing import Optional

_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
TOKEN_LENGTH = 7


def start_token(epoch_ms: Optional[int] = None) -> str:
    """Base-36 token of a start time (now by default), TOKEN_LENGTH lowercase characters."""
    value = int(time.time() * 1000) if epoch_ms is None else int(epoch_ms)
    value %= 36 ** TOKEN_LENGTH
    out = []
    for _ in range(TOKEN_LENGTH):
        value, digit = divmod(value, 36)
        out.append(_DIGITS[digit])
    return ''.join(reversed(out))


class TrackIds:
    """A thread-safe source of track ids "<prefix><n>", n = 1, 2, ... never repeated by this source."""

    def __init__(self, prefix: str = ''):
        self.prefix = prefix
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return f'{self.prefix}{next(self._count)}'


_PROCESS: Optional[TrackIds] = None
_PROCESS_LOCK = threading.Lock()


def process_track_ids() -> TrackIds:
    """The one id source of this process ("<start>_<n>"), made on first use."""
    global _PROCESS
    with _PROCESS_LOCK:
        if _PROCESS is None:
            _PROCESS = TrackIds(start_token() + '_')
        return _PROCESS
