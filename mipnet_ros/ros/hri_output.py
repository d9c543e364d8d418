"""ROS4HRI (REP-155) bodies from tracked 2D keypoints: /humans/bodies/tracked and per body skeleton2d and roi.

Body id = prefix + track_id, so a person keeps the same body across frames; persons without a
track_id are not bodies. Per-body publishers are created when a body appears and destroyed when it
was not seen for `timeout_sec` (header stamps), at most `max_bodies` at once. hri_msgs is imported
only here, when the output is switched on, so the rest of the package runs without it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from mipnet_ros.core.skeleton import get_skeleton
from mipnet_ros.ros import topics
from mipnet_ros.ros.convert import stamp_to_ns
from mipnet_ros.ros.person_record import PublishedPerson, read_people

# REP-155 Skeleton2D order (the message's constants NOSE = 0 ... RIGHT_EAR = 17), as joint names.
REP155_JOINTS = ('nose', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder', 'left_elbow',
                 'left_wrist', 'right_hip', 'right_knee', 'right_ankle', 'left_hip', 'left_knee', 'left_ankle',
                 'left_eye', 'right_eye', 'left_ear', 'right_ear')


def _normalized(u: np.ndarray, v: np.ndarray, width: int, height: int):
    """Pixel positions (centre of the top-left pixel = 0, 0) -> [0, 1] from the image's top-left corner."""
    return np.clip((u + 0.5) / max(width, 1), 0.0, 1.0), np.clip((v + 0.5) / max(height, 1), 0.0, 1.0)


def skeleton2d_points(names: Sequence[str], person: PublishedPerson, width: int, height: int) -> np.ndarray:
    """(18, 3) rows of (x, y, c) in REP-155 order: normalised image coordinates, confidence in [0, 1].

    Joints the layout lacks or the estimator did not find get (0, 0, 0). NECK is the midpoint of the
    two shoulders (confidence: the lower of the two) when the layout has no neck of its own.
    """
    x, y = person.keypoints[:, 0].astype(np.float64), person.keypoints[:, 1].astype(np.float64)
    c = np.where(person.visibility > 0, person.scores.astype(np.float64), 0.0)
    index = {n: i for i, n in enumerate(names) if i < len(x)}
    out = np.zeros((len(REP155_JOINTS), 3))
    for j, name in enumerate(REP155_JOINTS):
        if name in index:
            out[j] = x[index[name]], y[index[name]], c[index[name]]
        elif name == 'neck' and 'left_shoulder' in index and 'right_shoulder' in index:
            a, b = index['left_shoulder'], index['right_shoulder']
            out[j] = (x[a] + x[b]) / 2, (y[a] + y[b]) / 2, min(c[a], c[b])
    found = out[:, 2] > 0
    out[found, 0], out[found, 1] = _normalized(out[found, 0], out[found, 1], width, height)
    out[~found] = 0.0
    return out


def normalized_roi(xyxy: Sequence[float], width: int, height: int) -> np.ndarray:
    """Box (x1, y1, x2, y2) in pixels -> (xmin, ymin, xmax, ymax) in [0, 1]."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    xs, ys = _normalized(np.array([x1, x2]), np.array([y1, y2]), width, height)
    return np.array([xs[0], ys[0], xs[1], ys[1]])


def body_id(track_id: str, prefix: str) -> str:
    """A topic-safe REP-155 body id for a tracker id ('' when there is none)."""
    if not track_id:
        return ''
    return prefix + re.sub(r'[^A-Za-z0-9_]', '_', track_id)


@dataclass
class HriReport:
    """What one keypoints message did to the bodies."""
    tracked: List[str] = field(default_factory=list)
    added: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    untracked: int = 0         # persons without a track_id
    over_limit: int = 0        # bodies not published because max_bodies were already alive


@dataclass
class _Body:
    skeleton: Any
    roi: Any
    last_seen_ns: int


class HriOutput:
    """Publishes the ROS4HRI body topics for each PersonKeypointsArray given to `publish`."""

    def __init__(self, node: Any, qos: Any, max_bodies: int = 32, id_prefix: str = 'b'):
        from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D   # optional dependency
        self._types = (Skeleton2D, NormalizedRegionOfInterest2D, IdsList)
        self._node, self._qos = node, qos
        self._max_bodies, self._prefix = int(max_bodies), id_prefix
        self._tracked = node.create_publisher(IdsList, topics.HRI_BODIES_TRACKED, qos)
        self._bodies: Dict[str, _Body] = {}
        self._last_stamp_ns: Optional[int] = None

    @property
    def bodies(self) -> List[str]:
        return sorted(self._bodies)

    def publish(self, msg: Any, timeout_sec: float = 1.0) -> HriReport:
        Skeleton2D, Roi, IdsList = self._types
        report = HriReport()
        now = stamp_to_ns(msg.header.stamp)
        if self._last_stamp_ns is not None and now < self._last_stamp_ns:   # time went back (a bag restarted)
            report.removed += self._drop(list(self._bodies))
        self._last_stamp_ns = now
        try:
            names = get_skeleton(msg.skeleton).keypoint_names
        except KeyError:
            names = ()
        w, h = int(msg.image_width), int(msg.image_height)
        for p in read_people(msg):
            bid = body_id(p.track_id, self._prefix)
            if not bid:
                report.untracked += 1
                continue
            if bid in report.tracked:
                continue
            body = self._bodies.get(bid)
            if body is None:
                if len(self._bodies) >= self._max_bodies:
                    report.over_limit += 1
                    continue
                body = self._bodies[bid] = _Body(
                    self._node.create_publisher(Skeleton2D, topics.hri_body_topic(bid, 'skeleton2d'), self._qos),
                    self._node.create_publisher(Roi, topics.hri_body_topic(bid, 'roi'), self._qos), now)
                report.added.append(bid)
            body.last_seen_ns = now
            report.tracked.append(bid)
            sk = Skeleton2D(header=msg.header)
            for point, (x, y, c) in zip(sk.skeleton, skeleton2d_points(names, p, w, h)):
                point.x, point.y, point.c = float(x), float(y), float(c)
            body.skeleton.publish(sk)
            xmin, ymin, xmax, ymax = normalized_roi(p.box, w, h)
            body.roi.publish(Roi(header=msg.header, xmin=float(xmin), ymin=float(ymin), xmax=float(xmax),
                                 ymax=float(ymax), c=float(np.clip(p.score, 0.0, 1.0))))
        self._tracked.publish(IdsList(header=msg.header, ids=list(report.tracked)))
        stale = [b for b, body in self._bodies.items()
                 if b not in report.tracked and now - body.last_seen_ns > timeout_sec * 1e9]
        report.removed += self._drop(stale)
        return report

    def _drop(self, ids: Sequence[str]) -> List[str]:
        for bid in ids:
            body = self._bodies.pop(bid)
            self._node.destroy_publisher(body.skeleton)
            self._node.destroy_publisher(body.roi)
        return list(ids)

    def close(self) -> None:
        self._drop(list(self._bodies))
        self._node.destroy_publisher(self._tracked)
