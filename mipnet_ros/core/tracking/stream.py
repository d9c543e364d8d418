"""What a keypoints stream may do to a tracker: stamps going back, gaps, a new camera frame.

The tracker node asks `StreamGuard.check` before every message: the verdict says whether the
message is tracked, dropped (a late or repeated stamp) or first ends every track (time jumped
back, a long gap, another frame_id: old positions no longer compare). Each verdict has a reason
that the node logs and counts.
"""
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class StreamVerdict:
    track: bool          # run the tracker on this message
    reset: bool          # end every track first
    reason: str          # '' when all is well, else a counter key
    dt_sec: Optional[float] = None   # seconds since the previous tracked message (None after a reset)


class StreamGuard:
    """Remembers the last stamp and frame_id and judges the next message against them."""

    def __init__(self, backwards_reset_sec: float = 1.0, max_gap_sec: float = 5.0):
        self.backwards_reset_sec = float(backwards_reset_sec)
        self.max_gap_sec = float(max_gap_sec)
        self.last_stamp_ns: Optional[int] = None
        self.frame_id: Optional[str] = None

    def check(self, stamp_ns: int, frame_id: str) -> StreamVerdict:
        last, frame = self.last_stamp_ns, self.frame_id
        if last is None:
            return self._accept(stamp_ns, frame_id, False, '')
        if frame_id != frame:
            return self._accept(stamp_ns, frame_id, True, 'frame_id_change')
        dt = (stamp_ns - last) / 1e9
        if dt == 0:
            return StreamVerdict(False, False, 'duplicate_stamp')
        if dt < 0:
            if -dt < self.backwards_reset_sec:
                return StreamVerdict(False, False, 'out_of_order')
            return self._accept(stamp_ns, frame_id, True, 'stamp_backwards')
        if dt > self.max_gap_sec:
            return self._accept(stamp_ns, frame_id, True, 'time_gap')
        return self._accept(stamp_ns, frame_id, False, '', dt)

    def _accept(self, stamp_ns: int, frame_id: str, reset: bool, reason: str,
                dt: Optional[float] = None) -> StreamVerdict:
        self.last_stamp_ns, self.frame_id = int(stamp_ns), frame_id
        return StreamVerdict(True, reset, reason, dt)

    def clear(self) -> None:
        self.last_stamp_ns = None
        self.frame_id = None
