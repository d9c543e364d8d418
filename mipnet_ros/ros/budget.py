"""How many person boxes of a frame fit in the frame time budget.

The network's cost grows with the boxes of a frame (boxes x instances crops), so one frame
with hundreds of boxes would hold the worker for many seconds. The time per box measured on
the frames so far (a moving average, seeded by the warm-up) predicts a frame's time; when it
exceeds the budget, the node runs only the best-scoring boxes that fit and counts the rest.
"""
from __future__ import annotations

from typing import Optional


class BoxBudget:
    """Moving average of seconds per box; `allowed(n, budget)` is how many of n boxes fit."""

    def __init__(self, smoothing: float = 0.3):
        self.smoothing = float(smoothing)
        self.sec_per_box: Optional[float] = None

    def record(self, boxes: int, seconds: float) -> None:
        if boxes <= 0 or not seconds >= 0.0:
            return
        per = seconds / boxes
        old = self.sec_per_box
        self.sec_per_box = per if old is None else (1.0 - self.smoothing) * old + self.smoothing * per

    def allowed(self, boxes: int, budget_sec: float) -> int:
        """Boxes to run (at least 1 of a non-empty frame); all of them without a budget or a measurement."""
        per = self.sec_per_box
        if budget_sec <= 0.0 or per is None or per <= 0.0 or boxes <= 1:
            return boxes
        return max(1, min(boxes, int(budget_sec / per)))
