"""The generated depth of the demo's people (test/data/demo_depth.mcap) and which found person is which.

The depth bag paints each labelled person of test/data/demo_expected.json at its own depth (by its
det_id); the demo prints each 3D person's median depth next to that generated depth. A found person
is the labelled person whose keypoints its confident 2D keypoints lie nearest to (mean distance).
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

# metres: the real skier, pasted copies (in front of it), mirrored ones (behind it)
PERSON_DEPTH = {'skier': 6.0, 'copy': 4.5, 'mirror': 7.0}
MAX_MATCH_PX = 40.0


def person_depth_m(det_id: str) -> float:
    return PERSON_DEPTH.get(det_id, PERSON_DEPTH['skier'])


def match_people(persons: Sequence[Any], labelled: Sequence[Dict]) -> List[str]:
    """Per PersonKeypoints: the det_id of the labelled person it is ('' when none is near), one-to-one."""
    costs = []
    for i, p in enumerate(persons):
        xy = np.stack([np.asarray(p.x, np.float64), np.asarray(p.y, np.float64)], 1)
        sure = np.asarray(p.visibility) == 2 if len(p.visibility) == len(xy) else np.ones(len(xy), bool)
        for j, truth in enumerate(labelled):
            kp = np.asarray(truth['keypoints'], np.float64).reshape(-1, 3)
            both = sure[:len(kp)] & (kp[:len(sure), 2] > 0)
            if both.any():
                d = float(np.linalg.norm(xy[:len(kp)][both] - kp[both, :2], axis=1).mean())
                costs.append((d, i, j))
    out = [''] * len(persons)
    used = set()
    for d, i, j in sorted(costs):
        if d <= MAX_MATCH_PX and not out[i] and j not in used:
            out[i] = labelled[j]['det_id']
            used.add(j)
    return out
