"""Latency and timing summaries shared by the replay, the soak benchmark and the node-overhead bench."""
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
