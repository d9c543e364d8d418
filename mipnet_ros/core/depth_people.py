"""3D keypoints of all the people of one frame, each measured on its own body.

Why: a person MIPNet finds behind another (lambda > 0) has most of its joints on the occluder's
pixels, and a joint a few pixels off the silhouette shows the wall. A depth taken at a joint's pixel
is the depth of whatever the pixel shows, so each person's depth is decided with the whole frame:

1. Each person's body is its skeleton drawn as limbs (half-width a fraction of its size) plus the
   torso quadrilateral. A joint of person P that lies on person Q's body and whose depth is Q's depth
   shows Q: it does not vote for P's depth ("explained" by Q).
2. P's depth is the largest cluster (gaps > `cluster_gap` split clusters) of the depths of its joints
   that nothing explains; people are decided in order (lambda = 0 of a detection first: it is
   usually the one in front), then once more with every other person's depth known.
3. The body must show that depth: of the depth samples taken along P's limbs (those not explained
   by another person), at least `min_body_fraction` must lie within `person_spread` of it; a body over
   a depth hole or a skeleton drawn on the background fails here.
4. A joint is valid when enough pixels of its window (`min_valid_fraction`) lie within
   `person_spread` of P's depth and it is not explained by another person; its depth is the median
   of those pixels. A joint that shows another person or the background is invalid, never given
   that surface's depth. A person with fewer than `min_joints` valid joints has no 3D at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core.depth3d import CameraModel, DepthInputError, DepthOptions, deproject, robust_depth
from mipnet_ros.core.skeleton import skeleton_for_joints

LIMB_HALF_WIDTH = 0.05      # of the diagonal of the person's joint extent
MIN_HALF_WIDTH_PX = 3.0
SAMPLES_PER_LIMB = 12
# COCO-17 and CrowdPose-14 torso corners (left shoulder, right shoulder, right hip, left hip)
TORSO = {17: (5, 6, 12, 11), 14: (0, 1, 7, 6)}


@dataclass(frozen=True)
class PeopleDepthOptions:
    """The per-frame rule on top of the per-pixel options (DepthOptions)."""
    cluster_gap: float = 0.3          # metres between two depth clusters of one person's joints
    min_joints: int = 3               # fewer valid joints -> the person has no 3D position
    min_body_fraction: float = 0.3    # share of its limb samples that must show the person's depth


@dataclass
class PersonInput:
    uv: np.ndarray                    # (K, 2) pixels
    usable: np.ndarray                # (K,) bool: the 2D estimator found the joint
    rank: int = 0                     # decision order: lambda index of the person (0 first)


class _Body:
    """Where a person is in the image: limb segments with a half-width, and the torso polygon."""

    def __init__(self, uv: np.ndarray, usable: np.ndarray):
        k = len(uv)
        pts = uv[usable]
        diag = float(np.hypot(*(pts.max(0) - pts.min(0)))) if len(pts) >= 2 else 0.0
        self.half_width = max(MIN_HALF_WIDTH_PX, LIMB_HALF_WIDTH * diag)
        edges = [(a, b) for a, b in skeleton_for_joints(k).edges if usable[a] and usable[b]]
        self.seg_a = np.array([uv[a] for a, _ in edges], np.float64).reshape(-1, 2)
        self.seg_b = np.array([uv[b] for _, b in edges], np.float64).reshape(-1, 2)
        corners = TORSO.get(k)
        self.torso = (np.array([uv[i] for i in corners], np.float64)
                      if corners and all(usable[i] for i in corners) else None)
        self.joints = pts

    def contains(self, p: np.ndarray) -> np.ndarray:
        """(M,) bool: points (M, 2) on this body."""
        p = np.asarray(p, np.float64).reshape(-1, 2)
        inside = np.zeros(len(p), bool)
        if len(self.seg_a):
            d = self.seg_b - self.seg_a                                       # (E, 2)
            t = np.clip(((p[:, None] - self.seg_a[None]) * d[None]).sum(-1) / np.maximum((d * d).sum(-1), 1e-9),
                        0.0, 1.0)                                             # (M, E)
            near = self.seg_a[None] + t[..., None] * d[None]
            inside |= (np.hypot(*(p[:, None] - near).transpose(2, 0, 1)) <= self.half_width).any(1)
        if len(self.joints):
            dj = np.hypot(*(p[:, None] - self.joints[None]).transpose(2, 0, 1))
            inside |= (dj <= self.half_width).any(1)
        if self.torso is not None:
            inside |= _in_polygon(p, self.torso)
        return inside

    def samples(self) -> np.ndarray:
        """Points along the limbs (the pixels that should show this body)."""
        if not len(self.seg_a):
            return np.zeros((0, 2))
        t = np.linspace(0.0, 1.0, SAMPLES_PER_LIMB)[None, :, None]
        return (self.seg_a[:, None] + t * (self.seg_b - self.seg_a)[:, None]).reshape(-1, 2)


def _in_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule: which points (M, 2) lie inside the polygon (V, 2)."""
    inside = np.zeros(len(p), bool)
    x, y = p[:, 0], p[:, 1]
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide='ignore', invalid='ignore'):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xc)
    return inside


def _largest_cluster(z: np.ndarray, gap: float) -> np.ndarray:
    """Indices (into z) of the largest group of values with no gap above `gap`; ties: the nearer group."""
    if not len(z):
        return np.zeros(0, int)
    order = np.argsort(z)
    cuts = np.flatnonzero(np.diff(z[order]) > gap) + 1
    groups = np.split(order, cuts)
    return max(groups, key=len)


def _explained(points: np.ndarray, z: np.ndarray, me: int, bodies: Sequence[_Body],
               refs: Sequence[Optional[float]], tol: float) -> np.ndarray:
    """(M,) bool: the point lies on another person's body and its depth is that person's depth."""
    out = np.zeros(len(points), bool)
    for q, (body, ref) in enumerate(zip(bodies, refs)):
        if q == me or ref is None or not len(points):
            continue
        out |= body.contains(points) & (np.abs(z - ref) <= tol)
    return out


def _reference(depth_m: np.ndarray, person: PersonInput, z: np.ndarray, ok: np.ndarray, me: int,
               bodies: Sequence[_Body], refs: Sequence[Optional[float]], opts: DepthOptions,
               popts: PeopleDepthOptions) -> Optional[float]:
    """This person's depth (metres) from its unexplained joints and its limbs, None when not measurable."""
    tol = opts.person_spread
    votes = ok & ~_explained(person.uv, z, me, bodies, refs, tol)
    idx = np.flatnonzero(votes)
    group = idx[_largest_cluster(z[idx], popts.cluster_gap)]
    if len(group) < popts.min_joints:
        return None
    ref = float(np.median(z[group]))
    samples = bodies[me].samples()
    if len(samples):
        sz, sok = robust_depth(depth_m, samples, DepthOptions(window=1, min_depth=opts.min_depth,
                                                              max_depth=opts.max_depth, min_valid_fraction=1.0))
        mine = ~(sok & _explained(samples, sz, me, bodies, refs, tol))
        shows = sok & (np.abs(sz - ref) <= tol)
        if shows[mine].sum() < popts.min_body_fraction * max(int(mine.sum()), 1):
            return None
    return ref


def _joint_depths(depth_m: np.ndarray, uv: np.ndarray, ref: float, opts: DepthOptions
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """Per joint: the median of the window pixels within person_spread of `ref`, valid if there are enough."""
    h, w = depth_m.shape[:2]
    half = max(0, int(opts.window) // 2)
    z = np.zeros(len(uv))
    ok = np.zeros(len(uv), bool)
    for i, (u, v) in enumerate(uv):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        c, r = int(round(u)), int(round(v))
        if not (0 <= c < w and 0 <= r < h):
            continue
        patch = depth_m[max(0, r - half):r + half + 1, max(0, c - half):c + half + 1].reshape(-1)
        good = patch[np.isfinite(patch) & (np.abs(patch - ref) <= opts.person_spread)
                     & (patch >= opts.min_depth) & (patch <= opts.max_depth)]
        if good.size and good.size >= opts.min_valid_fraction * patch.size:
            z[i], ok[i] = float(np.median(good)), True
    return z, ok


def people_keypoints_3d(depth_m: np.ndarray, cam: CameraModel, people: Sequence[PersonInput],
                        opts: DepthOptions = DepthOptions(), popts: PeopleDepthOptions = PeopleDepthOptions()
                        ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per person: (points (K, 3) metres in the optical frame, valid (K,)); invalid points are (0, 0, 0)."""
    if depth_m.shape[:2] != (cam.height, cam.width) and cam.width > 0 and cam.height > 0:
        raise DepthInputError('depth_size', f'depth {depth_m.shape[1]}x{depth_m.shape[0]} differs from the '
                                            f'CameraInfo {cam.width}x{cam.height}')
    if opts.person_spread <= 0:
        opts = DepthOptions(opts.window, opts.min_depth, opts.max_depth, opts.min_valid_fraction, 0.7)
    uvs = [np.asarray(p.uv, np.float64).reshape(-1, 2) for p in people]
    usables = [np.asarray(p.usable, bool).reshape(-1) & np.all(np.isfinite(uv), axis=1)
               for p, uv in zip(people, uvs)]
    inputs = [PersonInput(uv, us, p.rank) for p, uv, us in zip(people, uvs, usables)]
    bodies = [_Body(uv, us) for uv, us in zip(uvs, usables)]
    raw = []
    for p in inputs:
        z, ok = robust_depth(depth_m, p.uv, opts)
        raw.append((z, ok & p.usable))
    refs: List[Optional[float]] = [None] * len(inputs)
    order = sorted(range(len(inputs)), key=lambda i: (inputs[i].rank, -int(raw[i][1].sum())))
    for _ in range(2):    # in order, then again with every other person's depth known
        for i in order:
            refs[i] = _reference(depth_m, inputs[i], raw[i][0], raw[i][1], i, bodies, refs, opts, popts)
    out = []
    for i, p in enumerate(inputs):
        xyz = np.zeros((len(p.uv), 3))
        ok = np.zeros(len(p.uv), bool)
        if refs[i] is not None:
            z, ok = _joint_depths(depth_m, p.uv, refs[i], opts)
            ok &= p.usable & ~_explained(p.uv, raw[i][0], i, bodies, refs, opts.person_spread)
            if ok.sum() >= popts.min_joints:
                xyz[ok] = deproject(p.uv[ok], z[ok], cam)
                ok &= np.all(np.isfinite(xyz), axis=1)
            else:
                ok[:] = False
        xyz[~ok] = 0.0
        out.append((xyz, ok))
    return out
