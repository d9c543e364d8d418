"""Scene backgrounds: photographs with their people painted out, or procedural clutter."""
from typing import Dict, List, Tuple

import cv2
import numpy as np


def inpainted_backgrounds(people_masks: Dict[str, np.ndarray], max_side: int = 320) -> List[np.ndarray]:
    """Each source photograph, downscaled, with every annotated person inpainted away.

    Unannotated bystanders stay; they are rare in these images and only add clutter.
    """
    out = []
    for path, mask in sorted(people_masks.items()):
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            continue
        f = min(1.0, max_side / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m = cv2.resize(mask.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
        m = cv2.dilate(m, np.ones((7, 7), np.uint8))
        out.append(cv2.inpaint(small, m, 5, cv2.INPAINT_TELEA))
    return out


def real_background(rng: np.random.Generator, pool: List[np.ndarray], size: Tuple[int, int]) -> np.ndarray:
    """A random crop of a random painted-out photograph, resized to `size` (H, W), maybe mirrored."""
    h, w = size
    src = pool[int(rng.integers(len(pool)))]
    sh, sw = src.shape[:2]
    frac = rng.uniform(0.5, 1.0)
    ch, cw = max(8, int(sh * frac)), max(8, int(min(sw, sh * frac * w / h)))
    y0, x0 = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
    crop = cv2.resize(src[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    return crop[:, ::-1].copy() if rng.random() < 0.5 else crop


def procedural_background(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """Gradient + random rectangles/ellipses/lines + noise: clutter without people."""
    h, w = size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0, 1, h)[:, None, None] if rng.random() < 0.5 else np.linspace(0, 1, w)[None, :, None]
    img = np.broadcast_to(c0 * (1 - t) + c1 * t, (h, w, 3)).astype(np.float32).copy()
    for _ in range(int(rng.integers(3, 12))):
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (x1, y1), (x1 + int(rng.integers(5, w // 2)), y1 + int(rng.integers(5, h // 2))),
                          colour, -1)
        elif kind == 1:
            cv2.ellipse(img, (x1, y1), (int(rng.integers(3, w // 4)), int(rng.integers(3, h // 4))),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            cv2.line(img, (x1, y1), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, 6)))
    img += rng.normal(0, rng.uniform(0, 10), (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)
