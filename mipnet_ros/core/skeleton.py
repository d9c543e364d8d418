"""Keypoint layouts (COCO-17, CrowdPose-14): names, left/right pairs, drawing edges, OKS sigmas.

One object carries everything that depends on the layout so that the estimator, the evaluation,
the visualiser and the flip test cannot disagree about which joint is which.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    name: str
    keypoint_names: Tuple[str, ...]
    flip_pairs: Tuple[Tuple[int, int], ...]   # (left, right) joint indices swapped by a horizontal flip
    edges: Tuple[Tuple[int, int], ...]        # joint index pairs drawn as limbs (0-based)
    sigmas: Tuple[float, ...]                 # per-joint OKS sigmas (already divided by 10)

    @property
    def num_joints(self) -> int:
        return len(self.keypoint_names)

    def sigmas_array(self) -> np.ndarray:
        return np.asarray(self.sigmas, np.float64)

    def flip_permutation(self) -> np.ndarray:
        """Index array p such that joints[p] is the joint list of the mirrored person."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


# COCO keypoint order and the sigmas used by pycocotools' COCOeval.
COCO17 = Skeleton(
    name='coco17',
    keypoint_names=('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
                    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
                    'left_knee', 'right_knee', 'left_ankle', 'right_ankle'),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    edges=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
           (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    sigmas=tuple(v / 10.0 for v in (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                                    1.07, 1.07, .87, .87, .89, .89)),
)

# CrowdPose order; sigmas as in the CrowdPose evaluation tools (and xtcocotools' CrowdPose demo).
CROWDPOSE14 = Skeleton(
    name='crowdpose14',
    keypoint_names=('left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
                    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
                    'head', 'neck'),
    flip_pairs=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)),
    edges=((12, 13), (13, 0), (13, 1), (0, 2), (2, 4), (1, 3), (3, 5), (0, 6), (1, 7), (6, 7),
           (6, 8), (8, 10), (7, 9), (9, 11)),
    sigmas=tuple(v / 10.0 for v in (.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79)),
)

SKELETONS: Dict[str, Skeleton] = {s.name: s for s in (COCO17, CROWDPOSE14)}
_ALIASES = {'coco': 'coco17', 'ochuman': 'coco17', 'crowdpose': 'crowdpose14'}


def get_skeleton(name: str) -> Skeleton:
    """Skeleton by name ('coco17', 'crowdpose14', or a dataset name such as 'coco', 'ochuman')."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in SKELETONS:
        raise KeyError(f'unknown skeleton {name!r}; known: {sorted(SKELETONS)} (aliases {sorted(_ALIASES)})')
    return SKELETONS[key]


def skeleton_for_joints(num_joints: int) -> Skeleton:
    """The layout a model with `num_joints` outputs was trained on (17 -> COCO, 14 -> CrowdPose).

    Other counts get a generic layout without flip pairs and with uniform sigmas, so a custom model
    still runs (flip test then only mirrors, it cannot swap sides it does not know).
    """
    for skel in SKELETONS.values():
        if skel.num_joints == num_joints:
            return skel
    return Skeleton(name=f'generic{num_joints}', keypoint_names=tuple(f'joint_{i}' for i in range(num_joints)),
                    flip_pairs=(), edges=(), sigmas=(0.07,) * num_joints)


def edges_by_name(name: str, num_joints: int = 0) -> Tuple[Tuple[int, int], ...]:
    """Drawing edges of the layout a message names (its `skeleton` field), for `num_joints` joints.

    An unknown or empty name falls back to the layout of that many joints; edges that reach past
    `num_joints` (a message with fewer joints than its layout) are left out. num_joints 0: no check.
    """
    try:
        edges = get_skeleton(name or '').edges
    except KeyError:
        edges = skeleton_for_joints(num_joints).edges if num_joints else ()
    if num_joints:
        edges = tuple((a, b) for a, b in edges if a < num_joints and b < num_joints)
    return tuple((int(a), int(b)) for a, b in edges)
