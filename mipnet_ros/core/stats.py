"""Latency and timing summaries shared by the replay, the soak benchmark and the node-overhead bench, and
the moving average of the nodes' diagnostics."""
from typing import Dict, Sequence

import numpy as np


def percentile_summary(values: Sequence[float], ndigits: int = 3) -> Dict[str, float]:
    """p50 / p90 / p99 / max / mean of `values` (empty dict for none), rounded for reports."""
    if len(values) == 0:
        return {}
    v = np.asarray(values, dtype=np.float64)
    out = {f'p{q}': float(np.percentile(v, q)) for q in (50, 90, 99)}
    out.update(max=float(v.max()), mean=float(v.mean()))
    return {k: round(x, ndigits) for k, x in out.items()}


def moving_average(old: float, new: float, weight: float = 0.1) -> float:
    """Exponential moving average: `new` itself when there is no average yet (`old` NaN)."""
    return float(new) if old != old else (1.0 - weight) * old + weight * float(new)
