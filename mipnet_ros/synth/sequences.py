"""Moving occlusion sequences for tracking: 2-4 people walking past and behind each other.

Each frame is composed like an occlusion scene (far to near; the owner map gives exact visibility), so every
frame has ground-truth identities, keypoints and covered shares. People cross or overtake behind a nearer one,
so someone is mostly or fully hidden for many frames."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

from mipnet_ros.core.skeleton import COCO17
from mipnet_ros.synth.backgrounds import procedural_background
from mipnet_ros.synth.compose import Placement, Scene, ScenePerson, finalize, paste, place_joints, placement_matrix
from mipnet_ros.synth.figures import draw_figure
from mipnet_ros.synth.sprites import Sprite

KINDS = ('crossing', 'overtaking', 'group')


@dataclass
class SequenceConfig:
    frames: int = 60
    fps: float = 10.0
    canvas_size: Tuple[int, int] = (256, 320)        # (H, W)
    person_height: Tuple[float, float] = (0.5, 0.85)  # far .. near, fraction of the canvas height
    hidden_fraction: float = 0.5                      # covered share that makes a person hidden in a frame
    min_visible_for_box: float = 0.35                 # less visible than this: the detector gives no box
    merge_iou: float = 0.5                            # boxes overlapping more are merged into one
    box_jitter: float = 0.03                          # box side jitter, fraction of the box size


@dataclass
class Walker:
    sprite: Sprite
    x0: float
    vx: float
    ground_y: float       # centre height of the figure in the image
    depth: int            # 0 = farthest, pasted first


@dataclass
class GtPerson:
    identity: int
    joints: np.ndarray    # (K, 3) x, y, v (COCO: 0 unlabelled/outside, 1 covered, 2 visible)
    box: np.ndarray       # (4,) xyxy of the whole silhouette
    area: float           # silhouette pixels (the COCO-style OKS scale)
    covered: float        # covered share of the silhouette
    hidden: bool


@dataclass
class SequenceFrame:
    image: np.ndarray
    people: List[GtPerson]
    boxes: np.ndarray     # (D, 4) xyxy detector boxes
    scores: np.ndarray    # (D,)


@dataclass
class Sequence:
    name: str
    kind: str
    fps: float
    frames: List[SequenceFrame] = field(default_factory=list)


def plan_walkers(rng: np.random.Generator, kind: str, cfg: SequenceConfig) -> List[Walker]:
    """People and straight walks such that nearer people pass in front of farther ones mid-sequence."""
    h, w = cfg.canvas_size
    n = {'crossing': 2, 'overtaking': 2, 'group': int(rng.integers(3, 5))}[kind]
    t_mid = cfg.frames / 2.0
    walkers: List[Walker] = []
    for depth in range(n):
        frac = depth / max(n - 1, 1)
        height = (cfg.person_height[0] + frac * (cfg.person_height[1] - cfg.person_height[0])) * h
        sprite = draw_figure(rng, height * 0.93, f'walker:{kind}:{depth}')
        ground = h * (0.5 + 0.04 * frac) + rng.uniform(-4, 4)
        if depth == 0:
            direction = rng.choice([-1.0, 1.0])
            speed = {'crossing': 2.0, 'overtaking': 3.5, 'group': 2.0}[kind] * rng.uniform(0.8, 1.2)
            meet_x = rng.uniform(0.4, 0.6) * w
        else:
            front = walkers[int(rng.integers(depth))]     # someone farther whose path this one crosses
            if kind == 'overtaking':   # the near one walks the same way, a little slower: a long overlap
                direction = np.sign(front.vx)
                speed = abs(front.vx) - rng.uniform(1.2, 1.8)
            else:
                direction = -np.sign(front.vx) if rng.random() < 0.7 else np.sign(front.vx)
                speed = rng.uniform(1.5, 2.5) if direction != np.sign(front.vx) else abs(front.vx) * 0.4
            meet_x = front.x0 + front.vx * (t_mid + rng.uniform(-5, 5))
        vx = float(direction * speed)
        walkers.append(Walker(sprite, float(meet_x - vx * t_mid), vx, float(ground), depth))
    return walkers


def compose_frame(bg: np.ndarray, walkers: List[Walker], t: int, cfg: SequenceConfig) -> Scene:
    """Frame t: every walker pasted far to near at its position (a small step bob), exact visibility."""
    h, w = bg.shape[:2]
    scene = Scene(bg.copy(), np.full((h, w), -1, np.int16))
    flip_perm = COCO17.flip_permutation()
    for i, wk in enumerate(sorted(walkers, key=lambda x: x.depth)):
        centre = np.array([wk.x0 + wk.vx * t, wk.ground_y + 1.5 * abs(np.sin(np.pi * t / 4.0))])
        flip = wk.vx < 0
        placement = Placement(placement_matrix(wk.sprite, centre, 1.0, 0.0, flip), flip, np.ones(3), 0.0)
        person = ScenePerson(wk.sprite, placement)
        person.full_mask = paste(scene, wk.sprite, placement, i)
        person.joints = place_joints(wk.sprite, placement, flip_perm)
        scene.people.append(person)
    finalize(scene, cfg.hidden_fraction)
    return scene


def _mask_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two xyxy boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def detector_boxes(rng: np.random.Generator, scene: Scene, cfg: SequenceConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes as a person detector gives them, nearest person first.

    A jittered box around what is visible; none when too little is visible; one merged box when two overlap so
    much that non-maximum suppression would keep only one.
    """
    boxes: List[np.ndarray] = []
    scores: List[float] = []
    for p in reversed(scene.people):                      # near to far, as NMS favours the unoccluded
        visible = 1.0 - p.covered_fraction
        if visible < cfg.min_visible_for_box or not p.visible_mask.any():
            continue
        box = _mask_box(p.visible_mask)
        size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
        box = box + rng.normal(0.0, cfg.box_jitter, 4) * size
        merged = next((k for k, b in enumerate(boxes) if box_iou(b, box) > cfg.merge_iou), None)
        if merged is not None:
            b = boxes[merged]
            boxes[merged] = np.array([min(b[0], box[0]), min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3])])
            continue
        boxes.append(box)
        scores.append(float(np.clip(0.5 + 0.5 * visible + rng.normal(0, 0.03), 0.0, 1.0)))
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)


def generate_sequence(seed: int, kind: str, cfg: SequenceConfig) -> Sequence:
    """One sequence, deterministic given (seed, kind, cfg)."""
    if kind not in KINDS:
        raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    walkers = plan_walkers(rng, kind, cfg)
    bg = procedural_background(rng, cfg.canvas_size)
    h, w = cfg.canvas_size
    seq = Sequence(f'{kind}_{seed}', kind, cfg.fps)
    order = sorted(walkers, key=lambda x: x.depth)
    for t in range(cfg.frames):
        scene = compose_frame(bg, walkers, t, cfg)
        people = []
        for wk, p in zip(order, scene.people):
            box = _mask_box(p.full_mask) if p.full_mask.any() else np.zeros(4)
            inside = p.full_mask.any() and (p.joints[:, 2] > 0).sum() >= 3
            if inside:
                people.append(GtPerson(wk.depth, p.joints.copy(), box, float(p.full_mask.sum()),
                                       float(p.covered_fraction), bool(p.hidden)))
        boxes, scores = detector_boxes(rng, scene, cfg)
        seq.frames.append(SequenceFrame(scene.image, people, boxes, scores))
    return seq


def hidden_frames(seq: Sequence) -> int:
    return sum(p.hidden for f in seq.frames for p in f.people)
