"""People as pasteable sprites: a BGR patch, its silhouette mask and its joints in patch pixels.

Real sprites come from annotated photographs (cut along the segmentation polygon or RLE);
`identity` names the annotated person so that train and test scenes can be kept disjoint.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np


@dataclass
class Sprite:
    patch: np.ndarray      # (h,w,3) uint8 BGR
    mask: np.ndarray       # (h,w) bool, the person's pixels
    joints: np.ndarray     # (K,3) x, y (patch pixels), v
    identity: str          # 'real:<file>#<ann id>' or 'figure:...'
    source_image: str = ''  # file the pixels came from ('' for drawn figures)


def annotation_mask(segmentation, height: int, width: int) -> np.ndarray:
    """COCO polygons, uncompressed or compressed RLE -> (H,W) bool."""
    from pycocotools import mask as mask_utils
    if isinstance(segmentation, list):
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation.get('counts'), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = dict(segmentation)
        if isinstance(rle['counts'], str):
            rle['counts'] = rle['counts'].encode('ascii')
    return mask_utils.decode(rle).astype(bool)


def identity_split(identities: List[str], test_fraction: float) -> Tuple[List[str], List[str]]:
    """Deterministic (train, test) split of person identities by a hash of their name.

    Independent of the order the files list people in and of the random seed, so the held-out
    people of the test split are always the same ones.
    """
    ranked = sorted(identities, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    n_test = int(round(test_fraction * len(ranked))) if ranked else 0
    if len(ranked) >= 2:
        n_test = min(max(n_test, 1), len(ranked) - 1)
    test = sorted(ranked[:n_test])
    train = sorted(ranked[n_test:])
    return train, test


def load_real_sprites(ann_files: List[str], image_root: str, min_joints: int = 8, min_height: float = 90.0,
                      margin: int = 4, only_images: Sequence[str] = ()) -> Tuple[List[Sprite], Dict[str, np.ndarray]]:
    """Every usable annotated person as a sprite, plus each source image's all-people mask.

    The people masks are returned so that backgrounds can be made from the same photographs with
    the people painted out.
    """
    sprites: List[Sprite] = []
    people_masks: Dict[str, np.ndarray] = {}
    for ann_file in ann_files:
        path = Path(ann_file)
        if not path.is_absolute():
            path = Path(image_root) / path
        with open(path) as f:
            data = json.load(f)
        images = {im['id']: im for im in data['images']}
        for ann in data['annotations']:
            if ann.get('iscrowd', 0) or 'segmentation' not in ann:
                continue
            im = images[ann['image_id']]
            file_name = im['file_name']
            if only_images and file_name not in only_images:
                continue
            img_path = str(Path(image_root) / file_name)
            h, w = int(im['height']), int(im['width'])
            mask = annotation_mask(ann['segmentation'], h, w)
            people_masks[img_path] = people_masks.get(img_path, np.zeros((h, w), bool)) | mask
            joints = np.asarray(ann.get('keypoints', []), np.float64).reshape(-1, 3)
            if joints.size == 0 or (joints[:, 2] > 0).sum() < min_joints or ann['bbox'][3] < min_height:
                continue
            image = cv2.imread(img_path, cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f'cannot read {img_path}')
            ys, xs = np.nonzero(mask)
            lab = joints[:, 2] > 0
            x1 = int(max(0, min(xs.min(), joints[lab, 0].min()) - margin))
            y1 = int(max(0, min(ys.min(), joints[lab, 1].min()) - margin))
            x2 = int(min(w, max(xs.max(), joints[lab, 0].max()) + margin + 1))
            y2 = int(min(h, max(ys.max(), joints[lab, 1].max()) + margin + 1))
            local = joints.copy()
            local[:, 0] -= x1
            local[:, 1] -= y1
            local[~lab] = 0
            sprites.append(Sprite(np.ascontiguousarray(image[y1:y2, x1:x2]), mask[y1:y2, x1:x2].copy(), local,
                                  f'real:{file_name}#{ann["id"]}', file_name))
    return sprites, people_masks
