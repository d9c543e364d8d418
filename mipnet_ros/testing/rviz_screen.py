"""rviz2 on a private virtual X display, and what its screenshots show: where its views are, which colours lie where.

The RViz test reads rviz2's real pixels: Xvfb gives it a screen (Mesa draws OpenGL in software),
ImageMagick's `import` saves that screen, and these helpers find the 3D view (by its background
colour), the pictures of the Image and Camera displays (by matching the camera image), and count how
many sample points of a skeleton show its colour.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

SCREEN = (1280, 1024)


class VirtualDisplay:
    """`Xvfb` on a display number it picks itself (-displayfd), local connections only."""

    def __init__(self, size: Tuple[int, int] = SCREEN):
        self.size = size
        self.proc: Optional[subprocess.Popen] = None
        self.display = ''

    def start(self, timeout: float = 60.0) -> 'VirtualDisplay':
        """Xvfb on the first free display from a number of its own (other tests on this machine use low ones),
        ready when a screenshot of it works."""
        import random
        import select
        first = random.randrange(100, 400)
        for number in range(first, first + 20):
            r, w = os.pipe()
            self.proc = subprocess.Popen(
                ['Xvfb', f':{number}', '-displayfd', str(w), '-screen', '0', f'{self.size[0]}x{self.size[1]}x24',
                 '-nolisten', 'tcp', '-noreset'], pass_fds=(w,), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            os.close(w)
            ready, _, _ = select.select([r], [], [], timeout)
            said = os.read(r, 64).decode().strip() if ready else ''
            os.close(r)
            if said == str(number) and self.proc.poll() is None:
                self.display = f':{number}'
                try:
                    self.screenshot()
                    return self
                except RuntimeError:
                    pass
            self.stop()
        raise RuntimeError(f'no Xvfb display could be started in :{first}..:{first + 19}')

    def env(self) -> Dict[str, str]:
        """What a process drawing here needs: the display, and Mesa's software OpenGL."""
        return {'DISPLAY': self.display, 'LIBGL_ALWAYS_SOFTWARE': '1', 'QT_X11_NO_MITSHM': '1'}

    def screenshot(self) -> np.ndarray:
        """The whole screen as a BGR image."""
        import cv2
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f'Xvfb {self.display} is not running')
        for _attempt in range(3):   # a busy X server can refuse one grab; a dead one fails above
            run = subprocess.run(['import', '-display', self.display, '-window', 'root', 'png:-'],
                                 capture_output=True, timeout=60)
            if run.returncode == 0:
                break
        if run.returncode != 0:
            raise RuntimeError(f'import on {self.display} failed: {run.stderr.decode(errors="replace")[-500:]}')
        return cv2.imdecode(np.frombuffer(run.stdout, np.uint8), cv2.IMREAD_COLOR)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@dataclass
class Rect:
    x: int
    y: int
    w: int
    h: int

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h


@dataclass
class Picture:
    """Where a camera image appears on the screen: screen = (x0, y0) + scale * image pixel."""
    x0: float
    y0: float
    scale: float
    score: float          # normalised correlation of the match
    width: int
    height: int

    def to_screen(self, uv: np.ndarray) -> np.ndarray:
        """Image pixel coordinates (N, 2), pixel centres at integers, -> screen coordinates (N, 2)."""
        return np.array([self.x0, self.y0]) + (np.asarray(uv, np.float64) + 0.5) * self.scale - 0.5

    @property
    def rect(self) -> Rect:
        return Rect(int(round(self.x0)), int(round(self.y0)), int(round(self.width * self.scale)),
                    int(round(self.height * self.scale)))


def find_view(shot: np.ndarray, background_rgb: Sequence[int]) -> Optional[Rect]:
    """The 3D view: the bounding box of the largest connected region of exactly its background colour."""
    import cv2
    b = np.array(background_rgb[::-1], np.uint8)
    mask = np.all(shot == b, axis=2).astype(np.uint8)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    if n < 2:
        return None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = stats[i]
    if area < 10000:
        return None
    return Rect(int(x), int(y), int(w), int(h))


def find_pictures(shot: np.ndarray, picture: np.ndarray, count: int, exclude: Iterable[Rect] = (),
                  scales: Sequence[float] = tuple(np.arange(0.2, 1.21, 0.02)), min_score: float = 0.6) -> List[Picture]:
    """Up to `count` places where `picture` (BGR) appears scaled on the screen, best first.

    Coarse search at half resolution over `scales`, then a fine one around the best; each found
    place is blanked before the next search. Areas in `exclude` are blanked from the start.
    """
    import cv2
    gray = cv2.cvtColor(shot, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for r in exclude:
        gray[r.y:r.y + r.h, r.x:r.x + r.w] = 0
    pic = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY).astype(np.float32)
    h, w = pic.shape
    found = []
    for _ in range(count):
        best = None
        small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        for s in scales:
            tw, th = int(round(w * s * 0.5)), int(round(h * s * 0.5))
            if tw < 16 or th < 16 or tw > small.shape[1] or th > small.shape[0]:
                continue
            res = cv2.matchTemplate(small, cv2.resize(pic, (tw, th), interpolation=cv2.INTER_AREA),
                                    cv2.TM_CCOEFF_NORMED)
            _, score, _, loc = cv2.minMaxLoc(res)
            if best is None or score > best[0]:
                best = (score, s, loc)
        if best is None or best[0] < min_score * 0.8:
            break
        _, s0, _ = best
        fine = None
        for s in np.arange(s0 - 0.03, s0 + 0.031, 0.005):
            tw, th = int(round(w * s)), int(round(h * s))
            if tw > gray.shape[1] or th > gray.shape[0] or tw < 16:
                continue
            res = cv2.matchTemplate(gray, cv2.resize(pic, (tw, th), interpolation=cv2.INTER_AREA),
                                    cv2.TM_CCOEFF_NORMED)
            _, score, _, loc = cv2.minMaxLoc(res)
            if fine is None or score > fine[0]:
                fine = (score, tw / w, loc, tw, th)
        if fine is None or fine[0] < min_score:
            break
        score, s, (x, y), tw, th = fine
        found.append(Picture(float(x), float(y), float(s), float(score), w, h))
        gray[y:y + th, x:x + tw] = 0
    return found


def segment_samples(segments: np.ndarray, fractions: Sequence[float] = (0.3, 0.5, 0.7)) -> np.ndarray:
    """Points along line segments given as consecutive end point pairs (2E, D) -> (E * len(fractions), D)."""
    seg = np.asarray(segments, np.float64)
    if len(seg) < 2:
        return np.zeros((0, seg.shape[1] if seg.ndim == 2 else 2))
    a, b = seg[0::2], seg[1::2]
    return np.concatenate([a + (b - a) * f for f in fractions])


def colour_hits(shot: np.ndarray, points: np.ndarray, colour_bgr: Sequence[float], tolerance: float = 60.0,
                radius: int = 2) -> np.ndarray:
    """Per screen point: True when a pixel within `radius` has a colour within `tolerance` (RGB distance)."""
    h, w = shot.shape[:2]
    target = np.asarray(colour_bgr, np.float64)
    hits = np.zeros(len(points), bool)
    for k, (x, y) in enumerate(np.asarray(points, np.float64)):
        xi, yi = int(round(x)), int(round(y))
        x1, x2, y1, y2 = max(0, xi - radius), min(w, xi + radius + 1), max(0, yi - radius), min(h, yi + radius + 1)
        if x1 >= x2 or y1 >= y2:
            continue
        patch = shot[y1:y2, x1:x2].reshape(-1, 3).astype(np.float64)
        hits[k] = bool(np.min(np.linalg.norm(patch - target, axis=1)) <= tolerance)
    return hits


def ortho_to_screen(view: Rect, scale: float, centre: Tuple[float, float], xy: np.ndarray) -> np.ndarray:
    """RViz's TopDownOrtho view: fixed-frame (x, y) in metres (N, 2) -> screen pixels (N, 2).

    The view looks down z with x to the right and y up, `scale` pixels per metre, `centre` the
    fixed-frame point in the middle of the view.
    """
    xy = np.asarray(xy, np.float64)
    sx = view.x + view.w / 2.0 + scale * (xy[:, 0] - centre[0])
    sy = view.y + view.h / 2.0 - scale * (xy[:, 1] - centre[1])
    return np.stack([sx, sy], axis=1)


def project(points: np.ndarray, k: Sequence[float]) -> np.ndarray:
    """Optical-frame points (N, 3) in metres -> image pixels (N, 2) with the 3x3 camera matrix K (row-major)."""
    p = np.asarray(points, np.float64)
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    return np.stack([fx * p[:, 0] / p[:, 2] + cx, fy * p[:, 1] / p[:, 2] + cy], axis=1)
