"""Procedurally drawn articulated figures (COCO-17 joints) for volume and variety.

A figure is a random stick body with thick limbs, a filled torso and an elliptical head, in
random clothing colours with optional stripes and noise. Its joints are the exact points the limbs
were drawn between, so labels are perfect. Facing the camera: the person's left side is on the
image right, as in COCO.
"""
from typing import List, Tuple

import cv2
import numpy as np

from mipnet_ros.synth.sprites import Sprite

# COCO-17 indices
NOSE, LEYE, REYE, LEAR, REAR, LSHO, RSHO, LELB, RELB, LWRI, RWRI, LHIP, RHIP, LKNE, RKNE, LANK, RANK = range(17)


def _polar(angle_deg: float, length: float) -> np.ndarray:
    """Offset of a segment hanging `angle_deg` away from straight down (positive = towards image right)."""
    a = np.deg2rad(angle_deg)
    return np.array([np.sin(a), np.cos(a)]) * length


def random_pose(rng: np.random.Generator, height: float) -> Tuple[np.ndarray, dict]:
    """(17,2) joint positions of a figure about `height` pixels tall, head up, plus drawing sizes."""
    u = height / 1.0
    lean = rng.uniform(-12, 12)
    neck = np.array([0.0, 0.16 * u])
    torso = 0.30 * u * rng.uniform(0.9, 1.1)
    pelvis = neck + _polar(lean, torso) * np.array([1, 1])
    shoulder_half = 0.10 * u * rng.uniform(0.85, 1.15)
    hip_half = 0.065 * u * rng.uniform(0.85, 1.15)
    perp = np.array([np.cos(np.deg2rad(lean)), -np.sin(np.deg2rad(lean))])
    j = np.zeros((17, 2))
    j[LSHO], j[RSHO] = neck + perp * shoulder_half, neck - perp * shoulder_half
    j[LHIP], j[RHIP] = pelvis + perp * hip_half, pelvis - perp * hip_half
    upper, fore = 0.17 * u * rng.uniform(0.9, 1.1), 0.15 * u * rng.uniform(0.9, 1.1)
    thigh, shin = 0.23 * u * rng.uniform(0.9, 1.1), 0.22 * u * rng.uniform(0.9, 1.1)
    for side, sho, elb, wri in ((1, LSHO, LELB, LWRI), (-1, RSHO, RELB, RWRI)):
        a1 = side * rng.uniform(-30, 150)
        a2 = a1 + side * rng.uniform(-20, 130)
        j[elb] = j[sho] + _polar(a1, upper)
        j[wri] = j[elb] + _polar(a2, fore)
    for side, hip, kne, ank in ((1, LHIP, LKNE, LANK), (-1, RHIP, RKNE, RANK)):
        a1 = lean + side * rng.uniform(-15, 40)
        a2 = a1 - side * rng.uniform(0, 60)
        j[kne] = j[hip] + _polar(a1, thigh)
        j[ank] = j[kne] + _polar(a2, shin)
    head_r = 0.065 * u * rng.uniform(0.9, 1.1)
    head = neck + _polar(lean + 180, head_r * 1.6)
    turn = rng.uniform(-0.5, 0.5)          # head turned a little left/right
    j[NOSE] = head + np.array([turn * head_r, 0.15 * head_r])
    j[LEYE] = head + np.array([(turn + 0.35) * head_r, -0.25 * head_r])
    j[REYE] = head + np.array([(turn - 0.35) * head_r, -0.25 * head_r])
    j[LEAR] = head + np.array([0.9 * head_r, -0.05 * head_r])
    j[REAR] = head + np.array([-0.9 * head_r, -0.05 * head_r])
    sizes = {'head': head, 'head_r': head_r, 'limb': max(2.0, 0.055 * u * rng.uniform(0.8, 1.2)),
             'neck': neck, 'pelvis': pelvis}
    return j, sizes


def _texture(rng: np.random.Generator, shape: Tuple[int, int], colour: np.ndarray) -> np.ndarray:
    """A flat, striped or noisy fill of `colour`."""
    h, w = shape
    img = np.empty((h, w, 3), np.float32)
    img[:] = colour
    kind = rng.integers(3)
    if kind == 1:
        period = int(rng.integers(4, 14))
        other = rng.uniform(0, 255, 3)
        stripes = ((np.arange(h)[:, None] + np.arange(w)[None] * rng.integers(0, 2)) // period) % 2 == 1
        img[stripes] = other
    elif kind == 2:
        img += rng.normal(0, 18, (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_figure(rng: np.random.Generator, height: float, identity: str) -> Sprite:
    """A random figure about `height` pixels tall as a sprite (patch, mask, exact joints)."""
    joints, sz = random_pose(rng, height)
    pad = sz['limb'] + 3
    lo = np.minimum(joints.min(0), sz['head'] - sz['head_r'] * 1.3) - pad
    hi = np.maximum(joints.max(0), sz['head'] + sz['head_r'] * 1.3) + pad
    joints = joints - lo
    head = sz['head'] - lo
    w, h = int(np.ceil(hi[0] - lo[0])) + 1, int(np.ceil(hi[1] - lo[1])) + 1
    skin = rng.uniform([40, 60, 90], [200, 210, 255])
    shirt, trousers = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    layers = {'skin': _texture(rng, (h, w), skin), 'shirt': _texture(rng, (h, w), shirt),
              'trousers': _texture(rng, (h, w), trousers)}
    patch = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    t = int(round(sz['limb']))

    def paint(draw, layer: str) -> None:
        m = np.zeros((h, w), np.uint8)
        draw(m)
        sel = m > 0
        patch[sel] = layers[layer][sel]
        mask[sel] = 1

    def limb(a: int, b: int, layer: str, thick: int):
        pa, pb = tuple(int(round(v)) for v in joints[a]), tuple(int(round(v)) for v in joints[b])
        paint(lambda m: cv2.line(m, pa, pb, 1, thick, cv2.LINE_8), layer)

    far = rng.integers(2)          # which side is drawn behind the torso
    sides = [((LSHO, LELB, LWRI), (LHIP, LKNE, LANK)), ((RSHO, RELB, RWRI), (RHIP, RKNE, RANK))]
    order: List[int] = [int(far), int(1 - far)]
    for s in order[:1]:
        arm, leg = sides[s]
        limb(leg[0], leg[1], 'trousers', t + 1), limb(leg[1], leg[2], 'trousers', t)
        limb(arm[0], arm[1], 'shirt', t), limb(arm[1], arm[2], 'skin', max(2, t - 1))
    torso = np.round(joints[[LSHO, RSHO, RHIP, LHIP]]).astype(np.int32)
    paint(lambda m: cv2.fillConvexPoly(m, torso, 1), 'shirt')
    neck_pt = tuple(int(round(v)) for v in (sz['neck'] - lo))
    head_pt = tuple(int(round(v)) for v in head)
    paint(lambda m: cv2.line(m, neck_pt, head_pt, 1, max(2, t), cv2.LINE_8), 'skin')
    r = int(round(sz['head_r']))
    paint(lambda m: cv2.ellipse(m, head_pt, (max(2, r), max(2, int(r * 1.25))), 0, 0, 360, 1, -1), 'skin')
    for s in order[1:]:
        arm, leg = sides[s]
        limb(leg[0], leg[1], 'trousers', t + 1), limb(leg[1], leg[2], 'trousers', t)
        limb(arm[0], arm[1], 'shirt', t), limb(arm[1], arm[2], 'skin', max(2, t - 1))
    out = np.concatenate([joints, np.full((17, 1), 2.0)], 1)
    return Sprite(patch, mask.astype(bool), out, identity, '')
