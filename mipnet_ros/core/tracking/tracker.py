"""PoseTracker: people of consecutive frames -> stable track ids (births and deaths with hysteresis).

Each frame: every track predicts its skeleton (constant-velocity centre + keypoint template), then
confirmed tracks and afterwards tentative ones are assigned to the people of the frame by
scipy's linear_sum_assignment on an OKS-like distance. The distance counts only joints the person
is confident about (visibility 2) and the track knows, and its scale grows with the frames a track
went unseen, so a person who comes out from behind someone is found where the track expected it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from mipnet_ros.core.skeleton import skeleton_for_joints
from mipnet_ros.core.tracking.config import TrackerConfig
from mipnet_ros.core.tracking.ids import TrackIds
from mipnet_ros.core.tracking.motion import CONFIDENT, BodyMotion

# OKS area ~ segment area, about half the area of a padded person box
BOX_TO_AREA = 0.53
NOT_ALLOWED = 1e6


@dataclass
class Observation:
    """One person of a frame as the tracker sees it."""
    keypoints: np.ndarray            # (K, 2) finite
    visibility: np.ndarray           # (K,) 0/1/2
    box: np.ndarray                  # (4,) xyxy, the person's own box
    score: float = 1.0


@dataclass
class Track:
    track_id: str
    motion: BodyMotion
    hits: int = 1
    missed: int = 0
    confirmed: bool = False


@dataclass
class StepResult:
    track_ids: List[str]             # per observation: the track id, '' when not (yet) tracked
    born: List[str] = field(default_factory=list)
    ended: List[str] = field(default_factory=list)
    untracked_over_limit: int = 0    # observations beyond cfg.max_people


def _sigmas(k: int) -> np.ndarray:
    return skeleton_for_joints(k).sigmas_array()


def _box_area(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0)) * BOX_TO_AREA


def keypoint_distance(track_kp: np.ndarray, known: np.ndarray, area: float, obs: Observation,
                      position_var: float = 0.0) -> float:
    """1 - OKS over the joints both sides can vouch for (1 when there is none).

    `position_var` (pixels squared) is how uncertain the track's predicted position is; it widens every
    joint's tolerance, so a new track whose speed is not known yet still finds its person in the next
    frame even when only joints with tight OKS sigmas (the eyes) are confident.
    """
    vis = np.asarray(obs.visibility)
    mask = known & (vis == CONFIDENT)
    if not mask.any():
        mask = known & (vis > 0)
    if not mask.any():
        return 1.0
    var = (2.0 * _sigmas(len(track_kp))) ** 2
    d2 = ((track_kp - obs.keypoints) ** 2).sum(axis=1)
    sim = np.exp(-d2 / (2.0 * (max(area, 1.0) * var + max(position_var, 0.0))))
    return float(1.0 - sim[mask].mean())


class PoseTracker:
    """Stateful tracker; one per camera stream. `step` once per frame, in stamp order."""

    def __init__(self, cfg: Optional[TrackerConfig] = None, ids: Optional[TrackIds] = None):
        self.cfg = cfg or TrackerConfig()
        self.cfg.check()
        self.tracks: List[Track] = []
        self._ids = ids if ids is not None else TrackIds()   # the node passes the process-wide source

    # ------------------------------------------------------------------ public
    def step(self, observations: Sequence[Observation], dt: Optional[float] = None) -> StepResult:
        cfg = self.cfg
        dt = cfg.default_dt_sec if dt is None or not dt > 0 else float(dt)
        for t in self.tracks:
            t.motion.predict(dt)
        order = sorted(range(len(observations)), key=lambda i: -float(observations[i].score))
        used = order[:cfg.max_people] if cfg.max_people > 0 else order
        result = StepResult([''] * len(observations), untracked_over_limit=len(observations) - len(used))
        unmatched = list(used)
        matched: Dict[int, Track] = {}
        for group in ([t for t in self.tracks if t.confirmed], [t for t in self.tracks if not t.confirmed]):
            pairs = self._assign(group, [observations[i] for i in unmatched])
            for ti, oi in pairs:
                matched[unmatched[oi]] = group[ti]
            taken = {unmatched[oi] for _, oi in pairs}
            unmatched = [i for i in unmatched if i not in taken]
        for i, t in matched.items():
            self._hit(t, observations[i])
            if t.confirmed and t.hits == cfg.init_hits:
                result.born.append(str(t.track_id))
        seen = {id(t) for t in matched.values()}
        for t in self.tracks:
            if id(t) not in seen:
                t.missed += 1
        for i in unmatched:
            if not self._duplicate(observations[i], [observations[j] for j in matched]):
                self.tracks.append(self._new_track(observations[i]))
                if self.tracks[-1].confirmed:
                    result.born.append(str(self.tracks[-1].track_id))
                    matched[i] = self.tracks[-1]
        keep = []
        for t in self.tracks:
            limit = cfg.max_missed if t.confirmed else cfg.max_missed_tentative
            if t.missed > limit:
                if t.confirmed:
                    result.ended.append(str(t.track_id))
            else:
                keep.append(t)
        self.tracks = keep
        for i, t in matched.items():
            if t.confirmed:
                result.track_ids[i] = str(t.track_id)
        return result

    def reset(self) -> List[str]:
        """End every track (ids are never reused); returns the confirmed ones that ended."""
        ended = [str(t.track_id) for t in self.tracks if t.confirmed]
        self.tracks = []
        return ended

    @property
    def confirmed_count(self) -> int:
        return sum(t.confirmed for t in self.tracks)

    # ------------------------------------------------------------------ internals
    def _distance(self, t: Track, obs: Observation) -> float:
        area = t.motion.area * (1.0 + self.cfg.uncertainty_growth * t.missed)
        return keypoint_distance(t.motion.keypoints(), t.motion.known, area, obs, t.motion.position_variance)

    def _assign(self, tracks: List[Track], obs: List[Observation]):
        if not tracks or not obs:
            return []
        cost = np.array([[self._distance(t, o) for o in obs] for t in tracks])
        cost = np.where(cost <= self.cfg.max_distance, cost, NOT_ALLOWED)
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < NOT_ALLOWED]

    def _hit(self, t: Track, obs: Observation) -> None:
        vis = np.asarray(obs.visibility)
        full = int((vis == CONFIDENT).sum()) * 2 >= len(vis)
        t.motion.update(obs.keypoints, vis, _box_area(obs.box) if full else None)
        t.hits += 1
        t.missed = 0
        if t.hits >= self.cfg.init_hits:
            t.confirmed = True

    def _duplicate(self, obs: Observation, matched: List[Observation]) -> bool:
        area = _box_area(obs.box)
        return any(keypoint_distance(m.keypoints, np.asarray(m.visibility) > 0, area, obs)
                   <= self.cfg.duplicate_distance for m in matched)

    def _new_track(self, obs: Observation) -> Track:
        t = Track(self._ids.next(), BodyMotion(np.asarray(obs.keypoints, np.float64), np.asarray(obs.visibility),
                                               _box_area(obs.box), self.cfg))
        t.confirmed = self.cfg.init_hits <= 1
        return t
