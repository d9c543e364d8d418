"""Which detections of a frame the pose node runs: person classes, score threshold, box screening, max_boxes.

Other classes and low scores are policy and are not counted; person boxes that cannot be run are
rejected by the library's rule (core/box_screen.py, the same as the Python API's) plus a NaN person
score, and each rejection is counted and logged with the fix (REJECT_HINTS), while the frame's other
boxes are still processed. The selection is sorted best score first and carries each box's score, so
the frame budget keeps a prefix and the person score reuses it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core import box_screen, person_box
from mipnet_ros.ros.convert import bbox2d_to_xyxy

# what each rejection reason means for a vision_msgs/Detection2D and how to fix it (for the node's log)
REJECT_HINTS: Dict[str, str] = {
    'score': 'the person score is NaN or infinite',
    'nonfinite': 'NaN or infinite box coordinates',
    'size': 'size_x or size_y <= 0: BoundingBox2D is center + size in pixels',
    'outside': 'the box lies entirely outside the image',
    'normalized': 'every box of the frame lies within [0, 1]: the detector publishes normalised coordinates; '
                  'scale center and size by the image width and height',
}


@dataclass(frozen=True)
class DetectionPolicy:
    """The detection parameters of the node (person_class_ids, detection_score_threshold, ...)."""
    class_ids: Tuple[str, ...]
    score_threshold: float
    max_boxes: int = 0                  # 0: no limit
    unlabeled_is_person: bool = False

    @classmethod
    def from_params(cls, params: Any) -> 'DetectionPolicy':
        return cls(tuple(str(c) for c in params.person_class_ids), float(params.detection_score_threshold),
                   int(params.max_boxes), bool(params.unlabeled_is_person))


@dataclass
class PersonBox:
    """One selected person detection."""
    index: int                  # position in the detection array (published as detection_index)
    id: str                     # the detector's id ('' when it gave none)
    xyxy: np.ndarray            # (4,) float32 pixels
    score: float                # the detector's person score in [0, 1] (1 when it gave none)


@dataclass
class Selection:
    boxes: List[PersonBox]                                  # best score first, at most max_boxes
    rejected: Dict[str, int] = field(default_factory=dict)  # reason -> person boxes that cannot be run

    def rejection_log(self) -> str:
        """One log line naming each reason with its count and fix ('' when nothing was rejected)."""
        if not self.rejected:
            return ''
        parts = [f'{k}: {n} ({REJECT_HINTS.get(k, k)})' for k, n in sorted(self.rejected.items())]
        return f'{sum(self.rejected.values())} detection box(es) rejected: ' + '; '.join(parts) + \
            '. The rest of the frame is processed'


def person_score(det: Any, class_ids: Sequence[str], unlabeled_is_person: bool) -> Optional[float]:
    """Best person-class hypothesis score of a vision_msgs/Detection2D, or None when it is no person.

    Detectors disagree on how they name the person class ("person", COCO's 0-based "0" or 1-based
    "1"), hence the configurable list. A detection without any hypothesis counts as a person with
    score 1 only when `unlabeled_is_person` is set (person-only detectors often leave it empty).
    """
    if not det.results:
        return 1.0 if unlabeled_is_person else None
    wanted = set(class_ids)
    scores = [float(r.hypothesis.score) for r in det.results if str(r.hypothesis.class_id) in wanted]
    if not scores:
        return None
    finite = [s for s in scores if math.isfinite(s)]
    return max(finite) if finite else float('nan')   # NaN: a person with a broken score (rejected)


def select_person_boxes(dets: Sequence[Any], policy: DetectionPolicy,
                        image_shape: Optional[Tuple[int, int]] = None) -> Selection:
    """The person detections to run, best score first (ties: array order), at most `policy.max_boxes`."""
    rejected: Dict[str, int] = {}
    candidates = []
    for i, det in enumerate(dets):
        s = person_score(det, policy.class_ids, policy.unlabeled_is_person)
        if s is None:
            continue
        if not math.isfinite(s):
            rejected['score'] = rejected.get('score', 0) + 1
            continue
        if s >= policy.score_threshold:
            candidates.append(PersonBox(i, str(det.id), bbox2d_to_xyxy(det.bbox), person_box.unit_score(s)))
    if candidates:
        screen = box_screen.screen_boxes(np.stack([c.xyxy for c in candidates]), image_shape)
        for reason, n in screen.counts().items():
            rejected[reason] = rejected.get(reason, 0) + n
        candidates = [c for c, ok in zip(candidates, screen.valid) if ok]
    candidates.sort(key=lambda c: -c.score)      # stable: equal scores keep the array order
    if policy.max_boxes > 0:
        candidates = candidates[:policy.max_boxes]
    return Selection(candidates, rejected)
