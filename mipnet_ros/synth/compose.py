"""Compose one occlusion scene: paste 2-4 sprites over a background, track who owns each pixel.

Each person is warped by a similarity (scale, small rotation, optional mirror) and coloured per channel,
pixel = clip(round(gain * warped + bias)); the owner map left by the pasting order gives exact visibility."""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np

from mipnet_ros.synth.sprites import Sprite


@dataclass
class Placement:
    matrix: np.ndarray          # (2,3) sprite patch pixels -> scene pixels
    flip: bool
    gain: np.ndarray            # (3,) BGR
    bias: float


@dataclass
class ScenePerson:
    sprite: Sprite
    placement: Placement
    joints: np.ndarray = None          # (K,3) scene pixels + final visibility
    full_mask: np.ndarray = None       # (H,W) bool, the whole pasted silhouette
    visible_mask: np.ndarray = None    # (H,W) bool, what is left after later people were pasted
    covered_fraction: float = 0.0
    hidden: bool = False


@dataclass
class Scene:
    image: np.ndarray                  # (H,W,3) uint8 BGR
    owner: np.ndarray                  # (H,W) int16, index of the person shown, -1 background
    people: List[ScenePerson] = field(default_factory=list)


def joint_pixel(xy: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Integer pixel (column, row) that holds a continuous joint position (round to nearest)."""
    return np.floor(xy[..., 0] + 0.5).astype(np.int64), np.floor(xy[..., 1] + 0.5).astype(np.int64)


def placement_matrix(sprite: Sprite, center: np.ndarray, scale: float, angle_deg: float, flip: bool) -> np.ndarray:
    """Similarity transform putting the sprite's centre at `center`, scaled, rotated, maybe mirrored."""
    h, w = sprite.mask.shape
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * scale
    if flip:
        rot = rot @ np.diag([-1.0, 1.0])
    return np.concatenate([rot, (center - rot @ c)[:, None]], 1)


def apply_colour(pixels: np.ndarray, gain: np.ndarray, bias: float) -> np.ndarray:
    return np.clip(np.floor(pixels.astype(np.float32) * gain.astype(np.float32) + np.float32(bias) + 0.5),
                   0, 255).astype(np.uint8)


def paste(scene: Scene, sprite: Sprite, placement: Placement, index: int) -> np.ndarray:
    """Warp + colour the sprite into the scene in place; returns its full warped mask."""
    h, w = scene.owner.shape
    warped = cv2.warpAffine(sprite.patch, placement.matrix, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    m = cv2.warpAffine(sprite.mask.astype(np.uint8) * 255, placement.matrix, (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 128
    scene.image[m] = apply_colour(warped[m], placement.gain, placement.bias)
    scene.owner[m] = index
    return m


def place_joints(sprite: Sprite, placement: Placement, flip_perm: np.ndarray) -> np.ndarray:
    """Sprite joints -> scene pixels; a mirrored person swaps left/right labels."""
    xy = sprite.joints[:, :2] @ placement.matrix[:, :2].T + placement.matrix[:, 2]
    out = np.concatenate([xy, sprite.joints[:, 2:3]], 1)
    out[sprite.joints[:, 2] <= 0, :2] = 0
    return out[flip_perm] if placement.flip else out


def finalize(scene: Scene, hidden_fraction: float) -> None:
    """Visibility of every joint from the owner map, covered fractions and the hidden flags.

    v = 0: unlabelled in the source, or outside the scene; v = 2: labelled visible in the source and the pixel
    under the joint shows this person; v = 1 otherwise (covered by someone pasted later, or off the silhouette).
    So every v = 2 joint lies on its own person's pasted pixels, which the tests check.
    """
    h, w = scene.owner.shape
    for i, p in enumerate(scene.people):
        p.visible_mask = scene.owner == i
        full = int(p.full_mask.sum())
        p.covered_fraction = 1.0 - float(p.visible_mask.sum()) / max(full, 1)
        p.hidden = p.covered_fraction >= hidden_fraction
        j = p.joints
        px, py = joint_pixel(j[:, :2])
        labelled = j[:, 2] > 0
        inside = (px >= 0) & (px < w) & (py >= 0) & (py < h) & labelled
        shown = np.zeros_like(inside)
        shown[inside] = scene.owner[py[inside], px[inside]] == i
        v = np.where(inside, np.where(shown & (j[:, 2] >= 2), 2.0, 1.0), 0.0)
        j[:, 2] = v
        j[v == 0, :2] = 0


def compose_scene(rng: np.random.Generator, background: np.ndarray, num_people: int,
                  pick_sprite: Callable[[np.random.Generator, float], Tuple[Sprite, float]],
                  flip_perm: np.ndarray, person_height: Tuple[float, float], hidden_fraction: float,
                  min_labelled: int) -> Optional[Scene]:
    """One scene, or None when a person ended up with too few labelled joints (caller redraws).

    `pick_sprite(rng, target_height)` returns a sprite and the scale that makes it that tall.
    People after the first are placed next to an earlier one, shifted by 15-60% of its width,
    so that every scene has real overlaps.
    """
    h, w = background.shape[:2]
    scene = Scene(background.copy(), np.full((h, w), -1, np.int16))
    boxes = []
    for i in range(num_people):
        target_h = rng.uniform(*person_height) * h
        sprite, scale = pick_sprite(rng, target_h)
        sw = sprite.mask.shape[1] * scale
        if i == 0:
            center = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.45, 0.6) * h])
        else:
            ax, ay, aw = boxes[int(rng.integers(len(boxes)))]
            center = np.array([ax + rng.choice([-1, 1]) * rng.uniform(0.15, 0.6) * max(aw, sw),
                               ay + rng.uniform(-0.1, 0.1) * h])
        placement = Placement(placement_matrix(sprite, center, scale, rng.uniform(-15, 15), bool(rng.random() < 0.5)),
                              bool(False), rng.uniform(0.75, 1.25, 3), float(rng.uniform(-20, 20)))
        placement.flip = bool(placement.matrix[0, 0] * placement.matrix[1, 1]
                              - placement.matrix[0, 1] * placement.matrix[1, 0] < 0)
        person = ScenePerson(sprite, placement)
        person.full_mask = paste(scene, sprite, placement, i)
        person.joints = place_joints(sprite, placement, flip_perm)
        scene.people.append(person)
        boxes.append((center[0], center[1], sw))
    finalize(scene, hidden_fraction)
    if any((p.joints[:, 2] > 0).sum() < min_labelled for p in scene.people):
        return None
    return scene
