"""COCO-format keypoint dataset producing MIPNet multi-instance targets.

One sample is one annotated person box. Its crop usually shows other people too, and MIPNet learns to output
each of them under another lambda: slot 0 is the box's own person, the others follow by the official rules
(build_instance_joints). COCO-17, OCHuman (COCO-17 layout) and CrowdPose-14 differ only in the skeleton."""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from mipnet_ros.core import transforms
from mipnet_ros.core.codec import HeatmapCodec, flip_keypoints
from mipnet_ros.core.data.augment import AugmentConfig, color_jitter, half_body_box, lower_body_mask, random_geometry
from mipnet_ros.core.skeleton import Skeleton, get_skeleton

MIN_OTHER_VISIBLE = 4     # an other person needs more than 3 visible joints in the crop


@dataclass
class DatasetConfig:
    ann_file: str = ''
    image_dir: str = ''
    skeleton: str = 'coco17'            # coco17 | crowdpose14 (or a dataset name: coco, ochuman, crowdpose)
    input_size: Tuple[int, int] = (256, 192)
    heatmap_sigma: Optional[float] = None   # None -> 2 at 64x48 heatmaps, scaled with the heatmap size
    max_instances: int = 2              # M target slots (>= the model's N)
    train: bool = True                  # augmentation on/off
    padding: float = 1.25
    min_box_size: float = 1.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class PersonRecord:
    """One annotated person: what a sample needs, read once from the JSON."""
    ann_id: int
    image_id: int
    image_path: str
    box: np.ndarray          # (4,) x1,y1,x2,y2 clipped to the image
    joints: np.ndarray       # (K,3) x, y, v  (v: 0 unlabelled, 1 occluded, 2 visible)
    width: int
    height: int


def _clean_box(bbox, width: int, height: int) -> Optional[np.ndarray]:
    """COCO xywh -> x1y1x2y2 clipped to the image (None when nothing is left), as HRNet does."""
    x, y, w, h = [float(v) for v in bbox]
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(width - 1.0, x1 + max(0.0, w - 1.0)), min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2, y2], np.float64)


def load_people(ann_file: str, image_dir: str, num_joints: int, min_box_size: float = 1.0
                ) -> Tuple[List[PersonRecord], Dict[int, List[int]], dict]:
    """Every non-crowd person with at least one labelled joint, and their indices per image.

    People without labelled joints can neither be a sample nor a useful other-person target.
    """
    with open(ann_file) as f:
        data = json.load(f)
    images = {im['id']: im for im in data['images']}
    people: List[PersonRecord] = []
    by_image: Dict[int, List[int]] = {}
    for ann in data['annotations']:
        if ann.get('iscrowd', 0) or 'keypoints' not in ann:
            continue
        joints = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
        if joints.shape[0] != num_joints:
            raise ValueError(f'{ann_file}: annotation {ann.get("id")} has {joints.shape[0]} joints, '
                             f'the skeleton has {num_joints}')
        if not (joints[:, 2] > 0).any():
            continue
        im = images[ann['image_id']]
        box = _clean_box(ann['bbox'], int(im['width']), int(im['height']))
        if box is None or ann.get('area', 1.0) <= 0 or min(box[2] - box[0], box[3] - box[1]) < min_box_size:
            continue
        people.append(PersonRecord(int(ann['id']), int(ann['image_id']), str(Path(image_dir) / im['file_name']),
                                   box, joints, int(im['width']), int(im['height'])))
        by_image.setdefault(people[-1].image_id, []).append(len(people) - 1)
    return people, by_image, data


def order_others(own: int, candidates: List[int], people: List[PersonRecord]) -> List[int]:
    """Other people of the image, nearest box centre (squared distance) first; ties keep file order."""
    c0 = (people[own].box[:2] + people[own].box[2:]) / 2
    others = [i for i in candidates if i != own]
    d2 = [float((((people[i].box[:2] + people[i].box[2:]) / 2 - c0) ** 2).sum()) for i in others]
    return [others[j] for j in np.argsort(d2, kind='stable')]


def build_instance_joints(joints: List[np.ndarray], matrix: np.ndarray, input_size: Tuple[int, int],
                          max_instances: int) -> Tuple[np.ndarray, int]:
    """People joints in image pixels (own first, then others by distance) -> crop joints (M,K,3), n.

    Everyone is warped by the image's own crop matrix; joints outside the crop get visibility 0. An other
    person with fewer than MIN_OTHER_VISIBLE joints left is useless as a target, so that slot repeats person 0,
    as does every unused slot; `n` (the real people) stops before the first repeat.
    """
    h, w = input_size
    slots: List[np.ndarray] = []
    n = 1
    for i, jt in enumerate(joints[:max_instances]):
        xy = transforms.apply_affine(jt[None, :, :2], matrix[None])[0]
        vis = jt[:, 2].copy()
        inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
        vis[~inside] = 0
        out = np.concatenate([xy, vis[:, None]], 1)
        if i > 0 and (vis > 0).sum() < MIN_OTHER_VISIBLE:
            out = slots[0]
        elif i == n:
            n += 1
        slots.append(out)
    while len(slots) < max_instances:
        slots.append(slots[0])
    return np.stack(slots), n


class CocoPoseDataset:
    """torch-style map dataset (no torch import needed to build it) of MIPNet training samples.

    __getitem__ returns a dict of numpy arrays: image (3,H,W) float32 normalised RGB, target
    (M,K,h,w), weight (M,K), n (number of real people in the slots), joints (M,K,3) in crop pixels,
    and the box's ann_id/image_id/center/scale/rotation for debugging and evaluation.
    Randomness comes from `set_epoch`/the index so that a resumed run sees the same samples.
    """

    def __init__(self, cfg: DatasetConfig, seed: int = 0):
        self.cfg = cfg
        self.skeleton: Skeleton = get_skeleton(cfg.skeleton)
        self.input_size = (int(cfg.input_size[0]), int(cfg.input_size[1]))
        self.codec = HeatmapCodec(self.input_size, sigma=cfg.heatmap_sigma)
        self.people, self.by_image, _ = load_people(cfg.ann_file, cfg.image_dir, self.skeleton.num_joints,
                                                    cfg.min_box_size)
        self.lower = lower_body_mask(self.skeleton)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.people)

    def set_epoch(self, epoch: int) -> None:
        """Augmentation of sample i in epoch e depends only on (seed, e, i): workers and resumes agree."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def _read(self, path: str) -> np.ndarray:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'cannot read image {path}')
        return image

    def __getitem__(self, index: int) -> Dict[str, np.ndarray]:
        cfg, rec = self.cfg, self.people[index]
        image = self._read(rec.image_path)
        others = order_others(index, self.by_image.get(rec.image_id, []), self.people)
        all_joints = [rec.joints] + [self.people[i].joints for i in others]
        center, scale = transforms.box_to_center_scale(rec.box[None], self.input_size, cfg.padding)
        center, scale = center[0], scale[0]
        rotation = 0.0
        rng = self._rng(index)
        if cfg.train:
            aug = cfg.augment
            vis = rec.joints[:, 2] > 0
            if vis.sum() > aug.half_body_min_joints and rng.random() < aug.half_body_prob:
                hb = half_body_box(rec.joints, vis, self.lower, rng, self.input_size[1] / self.input_size[0],
                                   aug.half_body_padding)
                if hb is not None:
                    center, scale = hb
            s, rotation, flip = random_geometry(rng, aug)
            scale = scale * s
            if flip:
                width = image.shape[1]
                image = image[:, ::-1]
                all_joints = [flip_keypoints(j, width, self.skeleton.flip_pairs) for j in all_joints]
                center = np.array([width - 1 - center[0], center[1]])
        matrix = transforms.affine_matrices(center[None], scale[None], self.input_size, rotation)
        crop = transforms.crop_images(np.ascontiguousarray(image), matrix, self.input_size)[0]
        if cfg.train:
            crop = color_jitter(crop, rng, cfg.augment.color_jitter)
        joints, n = build_instance_joints(all_joints, matrix[0], self.input_size, max(1, cfg.max_instances))
        target, weight = self.codec.encode(joints[..., :2], joints[..., 2])
        return {
            'image': transforms.normalize_crops(crop[None])[0],
            'target': target,
            'weight': weight,
            'n': np.int64(n),
            'joints': joints.astype(np.float32),
            'ann_id': np.int64(rec.ann_id),
            'image_id': np.int64(rec.image_id),
            'center': center.astype(np.float32),
            'scale': scale.astype(np.float32),
            'rotation': np.float32(rotation),
        }
