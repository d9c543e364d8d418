"""How many person boxes of a frame fit in the frame time budget.

The network's cost grows with the boxes of a frame (boxes x instances crops), so one frame
with hundreds of boxes would hold the worker for many seconds. The time per box of the recent
frames predicts a frame's time; when it exceeds the budget, the node runs only the best-scoring
boxes that fit and counts the rest.

The estimate must not cut people because of one slow call: the warm-up inference (graph
optimisation, allocator growth, lazy CUDA set-up) and a stall (swap, another process holding
the CPU or GPU) each take many times a normal frame. So the estimate is the median of the
per-box times of the last few frames, each sample capped at a multiple of the current estimate;
the warm-up only reports its time (`warmup`) and never enters the estimate. Until `min_frames`
frames were measured, every box runs.
"""
from __future__ import annotations

import statistics
from collections import deque
from typing import Deque, Optional

WINDOW = 9          # frames whose per-box time form the median
MIN_FRAMES = 3      # frames measured before any box is cut
OUTLIER_CAP = 4.0   # a sample counts at most this many times the current estimate


class BoxBudget:
    """Median of recent seconds per box; `allowed(n, budget)` is how many of n score-sorted boxes fit."""

    def __init__(self, window: int = WINDOW, min_frames: int = MIN_FRAMES, outlier_cap: float = OUTLIER_CAP):
        if window < 1 or min_frames < 1 or outlier_cap < 1.0:
            raise ValueError('window and min_frames must be >= 1 and outlier_cap >= 1')
        self.window, self.min_frames, self.outlier_cap = int(window), int(min_frames), float(outlier_cap)
        self._samples: Deque[float] = deque(maxlen=self.window)
        self.warmup_sec: Optional[float] = None

    def warmup(self, seconds: float) -> None:
        """The warm-up inference's time: kept for the log, never part of the estimate."""
        if seconds >= 0.0:
            self.warmup_sec = float(seconds)

    def record(self, boxes: int, seconds: float) -> None:
        """A processed frame: `boxes` boxes ran through the model in `seconds`."""
        if boxes <= 0 or not seconds >= 0.0 or seconds == float('inf'):
            return
        per = seconds / boxes
        current = self.sec_per_box
        if current is not None and current > 0.0:
            per = min(per, self.outlier_cap * current)   # one stall moves the median by one rank at most
        self._samples.append(per)

    @property
    def frames(self) -> int:
        return len(self._samples)

    @property
    def sec_per_box(self) -> Optional[float]:
        """The estimate (None before the first measured frame)."""
        if not self._samples:
            return None
        return float(statistics.median(self._samples))

    def allowed(self, boxes: int, budget_sec: float) -> int:
        """Boxes to run (at least 1 of a non-empty frame); all of them without a budget or enough measurements."""
        per = self.sec_per_box
        if budget_sec <= 0.0 or per is None or per <= 0.0 or boxes <= 1 or self.frames < self.min_frames:
            return boxes
        return max(1, min(boxes, int(budget_sec / per)))
