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
        self._mask: Optional[np.ndarray] = None
        self._origin = (0, 0)

    def contains(self, p: np.ndarray) -> np.ndarray:
        """(M,) bool: points (M, 2) on this body (looked up in the body drawn once into a mask)."""
        p = np.asarray(p, np.float64).reshape(-1, 2)
        if self._mask is None:
            self._draw()
        mask, x0, y0 = self._mask, self._origin[0], self._origin[1]
        inside = np.zeros(len(p), bool)
        if not mask.size:
            return inside
        c, r = np.rint(p[:, 0]) - x0, np.rint(p[:, 1]) - y0
        box = np.isfinite(c) & np.isfinite(r) & (c >= 0) & (r >= 0) & (c < mask.shape[1]) & (r < mask.shape[0])
        inside[box] = mask[r[box].astype(int), c[box].astype(int)] > 0
        return inside

    def _draw(self) -> None:
        import cv2
        pts = np.vstack([self.joints, self.seg_a, self.seg_b]) if len(self.joints) else np.zeros((0, 2))
        if not len(pts):
            self._mask, self._origin = np.zeros((0, 0), np.uint8), (0, 0)
            return
        pad = int(np.ceil(self.half_width)) + 2
        x0, y0 = int(np.floor(pts[:, 0].min())) - pad, int(np.floor(pts[:, 1].min())) - pad
        x1, y1 = int(np.ceil(pts[:, 0].max())) + pad, int(np.ceil(pts[:, 1].max())) + pad
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        off = np.array([x0, y0], np.float64)
        width = max(1, int(round(2 * self.half_width)))
        for a, b in zip(self.seg_a - off, self.seg_b - off):
            cv2.line(mask, (int(round(a[0])), int(round(a[1]))), (int(round(b[0])), int(round(b[1]))), 1, width)
        for j in self.joints - off:
            cv2.circle(mask, (int(round(j[0])), int(round(j[1]))), int(round(self.half_width)), 1, -1)
        if self.torso is not None:
            cv2.fillPoly(mask, [np.rint(self.torso - off).astype(np.int32)], 1)
        self._mask, self._origin = mask, (x0, y0)

    def samples(self) -> np.ndarray:
        """Points along the limbs (the pixels that should show this body)."""
        if not len(self.seg_a):
            return np.zeros((0, 2))
        t = np.linspace(0.0, 1.0, SAMPLES_PER_LIMB)[None, :, None]
        return (self.seg_a[:, None] + t * (self.seg_b - self.seg_a)[:, None]).reshape(-1, 2)


def _largest_cluster(z: np.ndarray, gap: float) -> np.ndarray:
    """Indices (into z) of the largest group of values with no gap above `gap`; ties: the nearer group."""
    if not len(z):
        return np.zeros(0, int)
    order = np.argsort(z)
    cuts = np.flatnonzero(np.diff(z[order]) > gap) + 1
    groups = np.split(order, cuts)
    return max(groups, key=len)


def _pixel_depths(depth_m: np.ndarray, pts: np.ndarray, opts: DepthOptions):
    """(z, ok) of single pixels: the depth at each point's pixel when it is a valid reading."""
    h, w = depth_m.shape[:2]
    z = np.zeros(len(pts))
    ok = np.zeros(len(pts), bool)
    if not len(pts):
        return z, ok
    c, r = np.rint(pts[:, 0]), np.rint(pts[:, 1])
    inside = np.isfinite(c) & np.isfinite(r) & (c >= 0) & (c < w) & (r >= 0) & (r < h)
    vals = depth_m[r[inside].astype(int), c[inside].astype(int)].astype(np.float64)
    good = np.isfinite(vals) & (vals >= opts.min_depth) & (vals <= opts.max_depth)
    z[np.flatnonzero(inside)[good]] = vals[good]
    ok[np.flatnonzero(inside)[good]] = True
    return z, ok


class _Seen:
    """One person's measurements and where they fall on the other people's bodies (computed once)."""

    def __init__(self, depth_m: np.ndarray, me: int, person: PersonInput, bodies: Sequence[_Body],
                 opts: DepthOptions):
        self.z, ok = robust_depth(depth_m, person.uv, opts)
        self.ok = ok & person.usable
        self.samples = bodies[me].samples()
        self.sz, self.sok = _pixel_depths(depth_m, self.samples, opts)
        self.joint_on = [b.contains(person.uv) if q != me else None for q, b in enumerate(bodies)]
        self.sample_on = [b.contains(self.samples) if q != me and len(self.samples) else None
                          for q, b in enumerate(bodies)]


def _explained(on: Sequence[Optional[np.ndarray]], z: np.ndarray, refs: Sequence[Optional[float]],
               tol: float) -> np.ndarray:
    """(M,) bool: the point lies on another person's body and its depth is that person's depth."""
    out = np.zeros(len(z), bool)
    for inside, ref in zip(on, refs):
        if inside is not None and ref is not None:
            out |= inside & (np.abs(z - ref) <= tol)
    return out


def _reference(seen: _Seen, refs: Sequence[Optional[float]], opts: DepthOptions,
               popts: PeopleDepthOptions) -> Optional[float]:
    """This person's depth (metres) from its unexplained joints and its limbs, None when not measurable."""
    tol = opts.person_spread
    votes = seen.ok & ~_explained(seen.joint_on, seen.z, refs, tol)
    idx = np.flatnonzero(votes)
    group = idx[_largest_cluster(seen.z[idx], popts.cluster_gap)]
    if len(group) < popts.min_joints:
        return None
    ref = float(np.median(seen.z[group]))
    if len(seen.samples):
        mine = ~(seen.sok & _explained(seen.sample_on, seen.sz, refs, tol))
        shows = seen.sok & (np.abs(seen.sz - ref) <= tol)
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
    seen = [_Seen(depth_m, i, p, bodies, opts) for i, p in enumerate(inputs)]
    refs: List[Optional[float]] = [None] * len(inputs)
    order = sorted(range(len(inputs)), key=lambda i: (inputs[i].rank, -int(seen[i].ok.sum())))
    for _ in range(2):    # in order, then again with every other person's depth known
        for i in order:
            refs[i] = _reference(seen[i], refs, opts, popts)
    out = []
    for i, p in enumerate(inputs):
        xyz = np.zeros((len(p.uv), 3))
        ok = np.zeros(len(p.uv), bool)
        if refs[i] is not None:
            z, ok = _joint_depths(depth_m, p.uv, refs[i], opts)
            ok &= p.usable & ~_explained(seen[i].joint_on, seen[i].z, refs, opts.person_spread)
            if ok.sum() >= popts.min_joints:
                xyz[ok] = deproject(p.uv[ok], z[ok], cam)
                ok &= np.all(np.isfinite(xyz), axis=1)
            else:
                ok[:] = False
        xyz[~ok] = 0.0
        out.append((xyz, ok))
    return out
