"""One person of a PersonKeypointsArray as the downstream code reads it (tracker, 3D, ROS4HRI, pictures).

They all read the published message, not the pose node's internal state: what they show is what was
sent. Reading repairs what a careless publisher breaks, in one place: unequal x/y lengths (cut to the
shorter), NaN/inf positions (visibility 0 at (0, 0)), scores missing or out of range (0..1, zero-padded),
and a missing visibility array (an older publisher): finite position = confident, else no estimate.
`repaired` says whether any of that was needed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List

import numpy as np

from mipnet_ros.core import person_box
from mipnet_ros.ros.convert import bbox2d_to_xyxy


@dataclass
class PublishedPerson:
    keypoints: np.ndarray       # (K, 2) float32 pixels, (0, 0) where visibility is 0
    visibility: np.ndarray      # (K,) uint8: 0 no estimate, 1 below keypoint_threshold, 2 confident
    scores: np.ndarray          # (K,) float32 in [0, 1]
    box: np.ndarray             # (4,) float32 xyxy: the person's own box (may be non-finite if the sender broke it)
    crop_box: np.ndarray        # (4,) float32 xyxy: the detection box that was cropped
    score: float                # the person score as sent
    id: str = ''
    track_id: str = ''
    detection_id: str = ''
    detection_index: int = 0
    instance: int = 0           # lambda index: > 0 is a person found behind the box's main person
    repaired: bool = False      # the message broke msg/PersonKeypoints.msg for this person

    @property
    def num_joints(self) -> int:
        return int(len(self.keypoints))


def read_person(p: Any) -> PublishedPerson:
    """One mipnet_ros/PersonKeypoints -> PublishedPerson (see the module docstring for the repairs)."""
    x, y = np.asarray(p.x, np.float64).reshape(-1), np.asarray(p.y, np.float64).reshape(-1)
    k = min(len(x), len(y))
    kp = np.stack([x[:k], y[:k]], axis=1) if k else np.zeros((0, 2))
    finite = np.all(np.isfinite(kp), axis=1)
    vis = np.asarray(p.visibility, np.uint8).reshape(-1)
    has_vis = len(vis) == k
    if not has_vis:
        vis = np.where(finite, person_box.CONFIDENT, person_box.NO_ESTIMATE)
    vis = np.where(finite, vis, person_box.NO_ESTIMATE).astype(np.uint8)
    raw_scores = np.asarray(p.keypoint_scores, np.float64).reshape(-1)
    scores = np.zeros(k)
    n = min(k, len(raw_scores))
    scores[:n] = np.clip(np.nan_to_num(raw_scores[:n], nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    box, crop = bbox2d_to_xyxy(p.bbox), bbox2d_to_xyxy(p.crop_bbox)
    repaired = (len(x) != len(y) or not has_vis or len(raw_scores) != k or not bool(finite.all())
                or not bool(np.isfinite(raw_scores).all()) or not bool(np.isfinite(box).all())
                or not bool(np.isfinite(crop).all()))
    return PublishedPerson(
        keypoints=np.where(vis[:, None] > 0, kp, 0.0).astype(np.float32), visibility=vis,
        scores=scores.astype(np.float32), box=box, crop_box=crop, score=float(p.score), id=str(p.id),
        track_id=str(p.track_id), detection_id=str(p.detection_id), detection_index=int(p.detection_index),
        instance=int(p.instance_index), repaired=repaired)


def read_people(msg: Any) -> List[PublishedPerson]:
    """Every person of a mipnet_ros/PersonKeypointsArray, in message order."""
    return [read_person(p) for p in msg.persons]
