"""Keypoints <-> Gaussian heatmaps, and the flip test, in numpy, vectorised over joints and people."""
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

import numpy as np

# Heatmap size of the classic 256x192 input (64x48) gets sigma 2; 384x288 (96x72) gets 3.
_REFERENCE_HEATMAP_AREA = 64.0 * 48.0
_REFERENCE_SIGMA = 2.0


def default_sigma(heatmap_size: Tuple[int, int]) -> float:
    """Gaussian sigma that keeps the blob the same fraction of the heatmap: 2 at 64x48, 3 at 96x72."""
    h, w = heatmap_size
    return _REFERENCE_SIGMA * float(np.sqrt(h * w / _REFERENCE_HEATMAP_AREA))


@dataclass
class HeatmapCodec:
    """Heatmap pixel (x, y) is crop pixel (x * stride_x, y * stride_y): the HRNet convention, matching the
    crop transform (transforms.py), which maps the crop centre to (W/2, H/2)."""

    input_size: Tuple[int, int] = (256, 192)           # (H, W) of the network input crop
    heatmap_size: Optional[Tuple[int, int]] = None     # (h, w); None -> input / 4
    sigma: Optional[float] = None                      # None -> default_sigma(heatmap_size)
    quantize: bool = False                             # True: HRNet integer-centre targets
    blur_kernel: Optional[int] = None                  # DARK modulation kernel; None -> from sigma (11 at sigma 2)
    stride: Tuple[float, float] = field(init=False)    # (x, y) crop pixels per heatmap pixel

    def __post_init__(self):
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if self.heatmap_size is None:
            self.heatmap_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.heatmap_size = (int(self.heatmap_size[0]), int(self.heatmap_size[1]))
        if self.sigma is None:
            self.sigma = default_sigma(self.heatmap_size)
        if self.blur_kernel is None:
            self.blur_kernel = 2 * int(round(2.5 * self.sigma)) + 1
        self.stride = (self.input_size[1] / self.heatmap_size[1], self.input_size[0] / self.heatmap_size[0])

    # ------------------------------------------------------------------ encode
    def encode(self, keypoints: np.ndarray, visibility: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints (..., K, 2|3) in crop pixels -> target (..., K, h, w) float32, weight (..., K) float32.

        `visibility` defaults to the third column (or all visible). A joint gets weight 0 (and an
        all-zero map) when it is not visible or its centre falls outside the heatmap: the decoder
        can only ever answer inside, so training it there would only teach a border peak.

        The Gaussian sits on the sub-pixel joint (DARK's unbiased encoding), so HRNet's decode lands within
        0.25 heatmap pixel of the truth; `quantize=True` (HRNet's integer centres) bakes in up to 0.5 pixel of
        rounding before training starts.
        """
        kp = np.asarray(keypoints, np.float64)
        if visibility is None:
            visibility = kp[..., 2] if kp.shape[-1] > 2 else np.ones(kp.shape[:-1])
        vis = np.asarray(visibility, np.float64)
        h, w = self.heatmap_size
        mu = kp[..., :2] / np.asarray(self.stride)
        if self.quantize:
            mu = np.floor(mu + 0.5)
        inside = (mu[..., 0] >= -0.5) & (mu[..., 0] < w - 0.5) & (mu[..., 1] >= -0.5) & (mu[..., 1] < h - 0.5)
        weight = ((vis > 0) & inside & np.isfinite(mu).all(-1)).astype(np.float32)
        mu = np.where(np.isfinite(mu), mu, 0.0)
        radius = 3.0 * self.sigma
        dx = np.arange(w, dtype=np.float64) - mu[..., 0:1]          # (..., K, w)
        dy = np.arange(h, dtype=np.float64) - mu[..., 1:2]          # (..., K, h)
        gx = np.where(np.abs(dx) <= radius, np.exp(-dx ** 2 / (2 * self.sigma ** 2)), 0.0)
        gy = np.where(np.abs(dy) <= radius, np.exp(-dy ** 2 / (2 * self.sigma ** 2)), 0.0)
        target = gy[..., :, None] * gx[..., None, :] * weight[..., None, None]
        return target.astype(np.float32), weight

    # ------------------------------------------------------------------ decode
    def decode(self, heatmaps: np.ndarray, dark: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Heatmaps (..., K, h, w) -> coords (..., K, 2) in heatmap pixels, maxvals (..., K).

        Default: argmax, then a quarter pixel toward the higher neighbour on each axis (HRNet); the
        step is applied per axis wherever both neighbours exist. `dark=True`: DARK's Taylor step on
        the log of the blurred heatmap instead.
        """
        return decode_heatmaps(heatmaps, dark=dark, blur_kernel=int(self.blur_kernel))


def _argmax_2d(hm: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """hm (N,h,w) -> integer x (N,), y (N,), max value (N,)."""
    n, h, w = hm.shape
    flat = hm.reshape(n, h * w)
    idx = np.argmax(flat, axis=1)
    maxvals = flat[np.arange(n), idx]
    return idx % w, idx // w, maxvals


def decode_heatmaps(heatmaps: np.ndarray, dark: bool = False, blur_kernel: int = 11
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Function form of HeatmapCodec.decode (heatmap size taken from the array)."""
    heatmaps = np.asarray(heatmaps)
    lead = heatmaps.shape[:-2]
    h, w = heatmaps.shape[-2:]
    hm = heatmaps.reshape(-1, h, w).astype(np.float32, copy=False)
    n = hm.shape[0]
    if n == 0:
        return np.zeros(lead + (2,), np.float32), np.zeros(lead, np.float32)
    px, py, maxvals = _argmax_2d(hm)
    coords = np.stack([px, py], axis=1).astype(np.float64)
    rows = np.arange(n)
    if not dark:
        xl, xr = np.clip(px - 1, 0, w - 1), np.clip(px + 1, 0, w - 1)
        yu, yd = np.clip(py - 1, 0, h - 1), np.clip(py + 1, 0, h - 1)
        diff_x = hm[rows, py, xr] - hm[rows, py, xl]
        diff_y = hm[rows, yd, px] - hm[rows, yu, px]
        coords[:, 0] += np.where((px > 0) & (px < w - 1), 0.25 * np.sign(diff_x), 0.0)
        coords[:, 1] += np.where((py > 0) & (py < h - 1), 0.25 * np.sign(diff_y), 0.0)
    else:
        coords += _dark_offsets(hm, px, py, maxvals, blur_kernel)
    return coords.reshape(lead + (2,)).astype(np.float32), maxvals.reshape(lead).astype(np.float32)


def _gaussian_kernel_1d(size: int) -> np.ndarray:
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8   # what cv2.GaussianBlur picks for sigma=0
    x = np.arange(size) - (size - 1) / 2.0
    k = np.exp(-x ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def blur_heatmaps(hm: np.ndarray, kernel: int) -> np.ndarray:
    """Separable Gaussian blur of (N,h,w) maps with zero padding, then each map rescaled to its old max.

    DARK smooths the network output so that its log is close to a quadratic around the peak.
    """
    k = _gaussian_kernel_1d(kernel)
    r = kernel // 2
    n, h, w = hm.shape
    pad = np.zeros((n, h + 2 * r, w + 2 * r), np.float64)
    pad[:, r:r + h, r:r + w] = hm
    tmp = sum(k[i] * pad[:, :, i:i + w] for i in range(kernel))     # blur along x: (n, h+2r, w)
    out = sum(k[i] * tmp[:, i:i + h, :] for i in range(kernel))     # blur along y: (n, h, w)
    old_max = hm.reshape(n, -1).max(1)
    new_max = out.reshape(n, -1).max(1)
    ratio = np.divide(old_max, new_max, out=np.ones(n), where=np.abs(new_max) > 1e-12)
    return out * ratio[:, None, None]


def _dark_offsets(hm: np.ndarray, px: np.ndarray, py: np.ndarray, maxvals: np.ndarray, kernel: int) -> np.ndarray:
    """Newton step -H^-1 g of log(blurred heatmap) at the argmax; (N,2), zero where it is not defined."""
    n, h, w = hm.shape
    logm = np.log(np.maximum(blur_heatmaps(hm, kernel), 1e-10))
    ok = (px >= 2) & (px <= w - 3) & (py >= 2) & (py <= h - 3)
    x = np.clip(px, 2, max(w - 3, 2))
    y = np.clip(py, 2, max(h - 3, 2))
    rows = np.arange(n)

    def at(dy, dx):
        return logm[rows, np.clip(y + dy, 0, h - 1), np.clip(x + dx, 0, w - 1)]

    c = at(0, 0)
    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    hxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    hyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    hxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = hxx * hyy - hxy ** 2
    good = ok & (np.abs(det) > 1e-12)
    safe = np.where(good, det, 1.0)
    off_x = -(hyy * gx - hxy * gy) / safe
    off_y = -(-hxy * gx + hxx * gy) / safe
    off = np.stack([off_x, off_y], axis=1)
    # The argmax is already within half a pixel of the peak: a longer step means the quadratic
    # model does not hold (flat or multi-modal map), so such steps are discarded.
    good &= np.isfinite(off).all(1) & (np.abs(off) <= 1.0).all(1)
    return np.where(good[:, None], off, 0.0)


# ---------------------------------------------------------------------- flip test
def flip_back(heatmaps: np.ndarray, flip_pairs: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Heatmaps predicted on a mirrored crop (..., K, h, w) -> the unmirrored layout.

    Mirrors the x axis and swaps left/right channels, so a left wrist predicted on the mirrored
    image (where it looks like a right wrist) lands in the left-wrist channel at the right place.
    """
    out = np.asarray(heatmaps)[..., ::-1]
    perm = np.arange(out.shape[-3])
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return np.ascontiguousarray(out[..., perm, :, :])


def shift_right(heatmaps: np.ndarray, pixels: int = 1) -> np.ndarray:
    """Shift maps `pixels` to the right along x, repeating the first column(s) (HRNet SHIFT_HEATMAP).

    Mirroring pixel x to W-1-x and flipping the heatmap back leaves the result 0.75 heatmap
    pixel to the left of the unflipped prediction (stride 4); HRNet compensates by one pixel.
    """
    if pixels <= 0:
        return np.asarray(heatmaps)
    out = np.array(heatmaps, copy=True)
    out[..., pixels:] = np.asarray(heatmaps)[..., :-pixels]
    return out


def merge_flip(heatmaps: np.ndarray, flipped_output: np.ndarray, flip_pairs: Sequence[Tuple[int, int]],
               shift: bool = True) -> np.ndarray:
    """Average the normal prediction with the flip-back of the prediction on the mirrored crop."""
    back = flip_back(flipped_output, flip_pairs)
    if shift:
        back = shift_right(back, 1)
    return 0.5 * (np.asarray(heatmaps, np.float32) + back.astype(np.float32))


def flip_keypoints(keypoints: np.ndarray, width: float, flip_pairs: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Keypoints (..., K, D) of an image of `width` pixels -> those of the mirrored image."""
    kp = np.array(keypoints, np.float64, copy=True)
    kp[..., 0] = width - 1 - kp[..., 0]
    perm = np.arange(kp.shape[-2])
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return kp[..., perm, :]
