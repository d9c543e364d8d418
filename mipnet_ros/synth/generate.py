"""Turn composed scenes into COCO-format splits with held-out identities.

Scene s of split X is drawn from its own generator seeded by (seed, X, s), so any scene can be
regenerated alone and the test split does not change when the train split grows.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import cv2
import numpy as np

from mipnet_ros.core.fileio import atomic_path
from mipnet_ros.core.skeleton import COCO17
from mipnet_ros.synth.backgrounds import inpainted_backgrounds, procedural_background, real_background
from mipnet_ros.synth.compose import Scene, compose_scene
from mipnet_ros.synth.config import SynthConfig
from mipnet_ros.synth.figures import draw_figure
from mipnet_ros.synth.sprites import Sprite, identity_split, load_real_sprites

SPLIT_CODES = {'train': 1, 'test': 2}
MAX_TRIES = 50


@dataclass
class Pools:
    real: Dict[str, List[Sprite]]      # split -> real sprites allowed in that split
    backgrounds: List[np.ndarray]
    train_identities: List[str]
    test_identities: List[str]


def build_pools(cfg: SynthConfig) -> Pools:
    sprites, people_masks = load_real_sprites(cfg.sources, cfg.image_root, cfg.min_source_joints,
                                              cfg.min_source_height, only_images=cfg.source_images)
    train_ids, test_ids = identity_split([s.identity for s in sprites], cfg.test_identity_fraction)
    real = {'train': [s for s in sprites if s.identity in set(train_ids)],
            'test': [s for s in sprites if s.identity in set(test_ids)]}
    return Pools(real, inpainted_backgrounds(people_masks), train_ids, test_ids)


def generate_scene(cfg: SynthConfig, pools: Pools, split: str, index: int) -> Scene:
    """Scene `index` of `split`, deterministic given the config."""
    rng = np.random.default_rng([cfg.seed, SPLIT_CODES[split], index])
    real = pools.real[split]
    flip_perm = COCO17.flip_permutation()
    counter = [0]

    def pick(r: np.random.Generator, target_h: float) -> Tuple[Sprite, float]:
        if real and r.random() < cfg.real_person_prob:
            s = real[int(r.integers(len(real)))]
            return s, target_h / s.mask.shape[0]
        counter[0] += 1
        return draw_figure(r, target_h * 0.93, f'figure:{split}:{index}:{counter[0]}'), 1.0

    for _ in range(MAX_TRIES):
        if pools.backgrounds and rng.random() < cfg.real_background_prob:
            bg = real_background(rng, pools.backgrounds, cfg.canvas_size)
        else:
            bg = procedural_background(rng, cfg.canvas_size)
        n = int(rng.integers(cfg.people_per_scene[0], cfg.people_per_scene[1] + 1))
        scene = compose_scene(rng, bg, n, pick, flip_perm, cfg.person_height, cfg.hidden_fraction,
                              cfg.min_labelled_joints)
        if scene is not None:
            return scene
    raise RuntimeError(f'could not compose scene {split}/{index} in {MAX_TRIES} tries; '
                       'relax min_labelled_joints or person_height')


def scene_annotations(scene: Scene, image_id: int, first_ann_id: int) -> List[dict]:
    """COCO annotations of a scene's people (bbox of the whole pasted silhouette, area = its pixels)."""
    from pycocotools import mask as mask_utils
    h, w = scene.owner.shape
    anns = []
    for k, p in enumerate(scene.people):
        ys, xs = np.nonzero(p.full_mask)
        lab = p.joints[:, 2] > 0
        x_all = np.concatenate([xs, p.joints[lab, 0]])
        y_all = np.concatenate([ys, p.joints[lab, 1]])
        x1, y1 = float(np.clip(x_all.min(), 0, w - 1)), float(np.clip(y_all.min(), 0, h - 1))
        x2, y2 = float(np.clip(x_all.max(), 0, w - 1)), float(np.clip(y_all.max(), 0, h - 1))
        rle = mask_utils.encode(np.asfortranarray(p.visible_mask.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        pl = p.placement
        anns.append({
            'id': first_ann_id + k, 'image_id': image_id, 'category_id': 1, 'iscrowd': 0,
            'bbox': [round(x1, 2), round(y1, 2), round(x2 - x1 + 1, 2), round(y2 - y1 + 1, 2)],
            'area': float(p.full_mask.sum()), 'visible_area': float(p.visible_mask.sum()),
            'segmentation': rle,
            'keypoints': [round(float(v), 3) for v in p.joints.reshape(-1)],
            'num_keypoints': int(lab.sum()),
            'hidden': int(p.hidden), 'covered_fraction': round(p.covered_fraction, 4),
            'paste_order': k, 'identity': p.sprite.identity, 'source_image': p.sprite.source_image,
            'placement': {'matrix': np.round(pl.matrix, 6).tolist(), 'flip': pl.flip,
                          'gain': np.round(pl.gain, 6).tolist(), 'bias': round(pl.bias, 6)},
        })
    return anns


def iter_split(cfg: SynthConfig, pools: Pools, split: str, count: int) -> Iterator[Tuple[int, Scene]]:
    for i in range(count):
        yield i, generate_scene(cfg, pools, split, i)


def write_split(cfg: SynthConfig, pools: Pools, split: str, count: int, progress: bool = True) -> Path:
    """Images to out_dir/<split>/ and annotations to out_dir/<split>.json; returns the JSON path."""
    out = Path(cfg.out_dir)
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    it = iter_split(cfg, pools, split, count)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, total=count, desc=f'synth {split}')
    for i, scene in it:
        name = f'{i:06d}.jpg'
        cv2.imwrite(str(img_dir / name), scene.image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
        h, w = scene.owner.shape
        images.append({'id': i + 1, 'file_name': name, 'width': w, 'height': h})
        annotations.extend(scene_annotations(scene, i + 1, len(annotations) + 1))
    identities = pools.test_identities if split == 'test' else pools.train_identities
    sources = sorted({a['source_image'] for a in annotations if a['source_image']})
    data = {
        'info': {'description': f'mipnet_ros synthetic occlusion scenes ({split} split)',
                 'generator': 'python -m mipnet_ros synth', 'config': asdict(cfg), 'split': split,
                 'real_identities': identities, 'source_images': sources},
        'licenses': [],
        'categories': [{'id': 1, 'name': 'person', 'supercategory': 'person',
                        'keypoints': list(COCO17.keypoint_names),
                        'skeleton': [[a + 1, b + 1] for a, b in COCO17.edges]}],
        'images': images, 'annotations': annotations,
    }
    path = out / f'{split}.json'
    with atomic_path(path, suffix='.json') as tmp, open(tmp, 'w') as f:
        json.dump(data, f)
    return path


def benchmark_summary(test_json: str) -> Dict[str, int]:
    """scenes / people / hidden_people / seed of a written test split (for the report)."""
    with open(test_json) as f:
        data = json.load(f)
    anns = data['annotations']
    return {'scenes': len(data['images']), 'people': len(anns),
            'hidden_people': int(sum(a.get('hidden', 0) for a in anns)),
            'seed': int(data.get('info', {}).get('config', {}).get('seed', 0))}
