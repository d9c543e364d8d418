"""A body's REP-155 frame from its 3D keypoints: origin between the hips, x out of the body, z towards the head.

Points are in the camera's optical frame (x right, y down, z forward). The origin is the mid point of
the hips when both have depth, else the mean of the valid torso joints, else of all valid joints.
"Up" is hips -> shoulders (the image's up, -y, when a side is missing); "left" is right -> left hip
(or shoulder; the camera's +x, a person facing the camera, when neither pair has depth). Then
z = up, y = left made orthogonal to z, x = y cross z (right-handed: x forward, y left, z up).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

TORSO_NAMES = ('left_shoulder', 'right_shoulder', 'left_hip', 'right_hip')


def _pair_mid(xyz: np.ndarray, ok: np.ndarray, index: dict, a: str, b: str) -> Optional[np.ndarray]:
    if a in index and b in index and ok[index[a]] and ok[index[b]]:
        return (xyz[index[a]] + xyz[index[b]]) / 2.0
    return None


def _pair_vec(xyz: np.ndarray, ok: np.ndarray, index: dict, frm: str, to: str) -> Optional[np.ndarray]:
    if frm in index and to in index and ok[index[frm]] and ok[index[to]]:
        return xyz[index[to]] - xyz[index[frm]]
    return None


def _unit(v: np.ndarray) -> Optional[np.ndarray]:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else None


def quaternion_from_matrix(r: np.ndarray) -> Tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix (scipy's convention)."""
    from scipy.spatial.transform import Rotation
    x, y, z, w = Rotation.from_matrix(r).as_quat()
    return float(x), float(y), float(z), float(w)


def body_pose(xyz: np.ndarray, ok: np.ndarray, names: Sequence[str]
              ) -> Optional[Tuple[np.ndarray, Tuple[float, float, float, float]]]:
    """(origin (3,), quaternion (x, y, z, w)) of the body frame in the optical frame; None without valid joints."""
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    ok = np.asarray(ok, bool).reshape(-1) & np.all(np.isfinite(xyz), axis=1)
    if not ok.any():
        return None
    index = {n: i for i, n in enumerate(names) if i < len(xyz)}
    hips = _pair_mid(xyz, ok, index, 'left_hip', 'right_hip')
    torso = [index[n] for n in TORSO_NAMES if n in index and ok[index[n]]]
    origin = hips if hips is not None else (xyz[torso].mean(0) if torso else xyz[ok].mean(0))
    shoulders = _pair_mid(xyz, ok, index, 'left_shoulder', 'right_shoulder')
    up = _unit(shoulders - hips) if shoulders is not None and hips is not None else None
    up = up if up is not None else np.array([0.0, -1.0, 0.0])
    left = _pair_vec(xyz, ok, index, 'right_hip', 'left_hip')
    if left is None:
        left = _pair_vec(xyz, ok, index, 'right_shoulder', 'left_shoulder')
    y = _unit(left - np.dot(left, up) * up) if left is not None else None
    if y is None:
        fallback = np.array([1.0, 0.0, 0.0])
        y = _unit(fallback - np.dot(fallback, up) * up)
        if y is None:   # up along the camera's x axis: any left orthogonal to it
            y = _unit(np.cross(up, [0.0, 0.0, 1.0]))
    x = np.cross(y, up)
    return origin, quaternion_from_matrix(np.stack([x, y, up], axis=1))
