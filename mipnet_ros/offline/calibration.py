"""int8 calibration crops from a bag of the user's own camera: the person detections in it, on their images.

A robot user has no keypoint annotations, but a recording of the camera with a detector running is
easy to make (`ros2 bag record` of the image and detections topics). Each vision_msgs/Detection2DArray
is paired with the image of the same header stamp, exactly as the node pairs them (a detector copies the
image stamp into its output), and its person boxes are chosen as the node chooses them (the node's
default person class ids and detection score threshold).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core.calibration import CalibrationSet, crops_of, spread
from mipnet_ros.core.errors import UsageError
from mipnet_ros.ros import topics


def pick_topic(topics: Dict[str, str], wanted: Optional[str], types: Sequence[str], what: str, option: str) -> str:
    """The one topic of `types` in the bag, or the one named; a UsageError that lists them otherwise."""
    if wanted:
        if wanted not in topics:
            raise UsageError(f'{what} topic {wanted!r} is not in the bag (topics: {sorted(topics)})')
        if topics[wanted] not in types:
            raise UsageError(f'{wanted} holds {topics[wanted]}, not {" or ".join(types)}')
        return wanted
    found = sorted(t for t, ty in topics.items() if ty in types)
    if len(found) != 1:
        raise UsageError(f'the bag has {len(found)} {what} topics of type {" or ".join(types)} ({found}): '
                         f'name the one to use with {option}')
    return found[0]


def person_boxes_by_stamp(bag: str, topic: str, class_ids: Sequence[str], score_threshold: float,
                          ) -> Tuple[Dict[int, np.ndarray], int]:
    """{header stamp ns: (M,4) person boxes} of every detections message with a person, and the message count."""
    from mipnet_ros.offline import bag_io
    from mipnet_ros.ros.convert import stamp_to_ns
    from mipnet_ros.ros.detection_policy import DetectionPolicy, select_person_boxes
    policy = DetectionPolicy(tuple(str(c) for c in class_ids), float(score_threshold))   # as the node, no max_boxes
    out: Dict[int, np.ndarray] = {}
    messages = 0
    for _, _, _, msg in bag_io.read_messages(bag, [topic]):
        messages += 1
        chosen = select_person_boxes(msg.detections, policy).boxes
        if chosen:
            out[stamp_to_ns(msg.header.stamp)] = np.stack([b.xyxy for b in chosen]).astype(np.float32)
    return out, messages


def bag_crops(bag: str, input_size: Sequence[int], count: int, image_topic: Optional[str] = None,
              detections_topic: Optional[str] = None, class_ids: Optional[Sequence[str]] = None,
              score_threshold: Optional[float] = None, seed: int = 0) -> CalibrationSet:
    """Up to `count` normalised person crops (the estimator's crops) from the detections and images of `bag`.

    Boxes are drawn from the whole recording (seeded); only the images that hold a chosen box are decoded.
    """
    from mipnet_ros.core.transforms import valid_box_mask
    from mipnet_ros.offline import bag_io
    from mipnet_ros.offline.replay import header_stamp_ns
    from mipnet_ros.ros.convert import image_msg_to_bgr
    from mipnet_ros.ros.pose_params import PoseParams
    defaults = PoseParams()
    class_ids = list(defaults.person_class_ids if class_ids is None else class_ids)
    score_threshold = defaults.detection_score_threshold if score_threshold is None else float(score_threshold)
    in_bag = bag_io.bag_topics(bag)
    img_topic = pick_topic(in_bag, image_topic, topics.IMAGE_TYPES, 'image', '--calib-image-topic')
    det_topic = pick_topic(in_bag, detections_topic, (topics.DETECTIONS_TYPE,), 'detections',
                           '--calib-detections-topic')
    boxes, messages = person_boxes_by_stamp(bag, det_topic, class_ids, score_threshold)
    # the image stamps, read from the serialised header (no image is decoded for this)
    stamps = {header_stamp_ns(raw) for _, _, _, raw in bag_io.read_raw(bag, [img_topic])}
    paired = sorted(s for s in boxes if s in stamps)
    if not paired:
        why = (f'none of its {messages} detection messages has a person box (class ids {class_ids}, '
               f'score >= {score_threshold})' if not boxes else
               f'none of the {len(boxes)} detection messages with people has an image of the same stamp on '
               f'{img_topic} (the detector must copy the image header stamp)')
        raise UsageError(f'{bag}: no calibration crop: {why}')
    candidates: List[Tuple[int, int]] = [(s, j) for s in paired for j in range(len(boxes[s]))]
    chosen = [candidates[i] for i in spread(len(candidates), count, seed)]
    wanted: Dict[int, List[int]] = {}
    for s, j in chosen:
        wanted.setdefault(s, []).append(j)
    crops: Dict[Tuple[int, int], np.ndarray] = {}
    store = bag_io.get_typestore()
    for _, msgtype, _, raw in bag_io.read_raw(bag, [img_topic]):
        s = header_stamp_ns(raw)
        if s not in wanted or any((s, j) in crops for j in wanted[s]):
            continue
        image = image_msg_to_bgr(store.deserialize_cdr(raw, msgtype))
        rows = [j for j in wanted[s] if valid_box_mask(boxes[s][j:j + 1], image.shape[:2])[0]]
        for j, crop in zip(rows, crops_of(image, boxes[s][rows], input_size)):
            crops[(s, j)] = crop
    ordered = [crops[key] for key in chosen if key in crops]
    if not ordered:
        raise UsageError(f'{bag}: the chosen person boxes all lie outside their images')
    frames = len({s for s, _ in chosen})
    source = (f'person boxes of bag {Path(bag).name} ({img_topic} + {det_topic}: {len(ordered)} of '
              f'{len(candidates)} boxes, from {frames} of {len(paired)} paired frames)')
    return CalibrationSet(np.stack(ordered).astype(np.float32), source)
