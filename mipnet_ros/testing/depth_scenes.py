"""Depth scenes with known geometry for the 3D tests: people at known depths, their masks, walls and holes.

Each person is a COCO-17 figure drawn as a filled torso, thick limbs and joint discs at one depth;
people are painted from the farthest to the nearest, so `owner` tells exactly which person (or -1,
the background) each pixel shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from mipnet_ros.core.skeleton import COCO17
from mipnet_ros.synth.figures import random_pose

W, H = 640, 480
K = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
TORSO = (5, 6, 12, 11)


@dataclass
class ScenePerson:
    keypoints: np.ndarray          # (17, 2) pixels
    depth: float                   # metres
    rank: int = 0                  # lambda index of the person in its detection


@dataclass
class Scene:
    depth: np.ndarray              # (H, W) float32 metres; 0 or NaN = no reading
    owner: np.ndarray              # (H, W) int: index of the person a pixel shows, -1 for the background
    people: List[ScenePerson] = field(default_factory=list)
    background: float = 0.0        # the wall's depth

    def shows(self, person: int) -> np.ndarray:
        """(17,) bool: which joints of `person` truly show that person."""
        uv = np.rint(self.people[person].keypoints).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        out = np.zeros(len(uv), bool)
        out[inside] = self.owner[uv[inside, 1], uv[inside, 0]] == person
        return out


def figure(seed: int, centre: Sequence[float], height_px: float) -> np.ndarray:
    joints, _ = random_pose(np.random.default_rng(seed), height_px)
    return joints - joints.mean(axis=0) + np.asarray(centre, np.float64)


def body_mask(kp: np.ndarray, height_px: float) -> np.ndarray:
    import cv2
    mask = np.zeros((H, W), np.uint8)
    cv2.fillPoly(mask, [np.rint(kp[list(TORSO)]).astype(np.int32)], 1)
    limb = max(3, int(round(0.07 * height_px)))
    for a, b in COCO17.edges:
        cv2.line(mask, tuple(int(v) for v in np.rint(kp[a])), tuple(int(v) for v in np.rint(kp[b])), 1, limb)
    for p in kp:
        cv2.circle(mask, tuple(int(v) for v in np.rint(p)), max(2, limb // 2 + 2), 1, -1)
    return mask > 0


def render(people: Sequence[ScenePerson], heights_px: Sequence[float], wall: float = 6.0,
           holes: Optional[Sequence[int]] = None, hole_value: float = 0.0) -> Scene:
    """People over a wall at `wall` metres; the bodies of the people listed in `holes` read `hole_value`."""
    depth = np.full((H, W), wall, np.float32)
    owner = np.full((H, W), -1, int)
    for i in sorted(range(len(people)), key=lambda j: -people[j].depth):
        m = body_mask(people[i].keypoints, heights_px[i])
        depth[m] = hole_value if holes and i in holes else people[i].depth
        owner[m] = i
    return Scene(depth, owner, list(people), wall)
