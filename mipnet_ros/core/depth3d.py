"""Image keypoints + an aligned depth image + the camera model -> 3D keypoints in metres.

Depth per keypoint is the median over a small window (clipped to the image) of the valid pixels
(not 0, not NaN, inside [min_depth, max_depth]), so holes and a few edge pixels do not move it.
Deprojection undoes the lens distortion with OpenCV (the CameraInfo model) and scales the
normalised ray by the depth: depth images of RGB-D cameras hold Z along the optical axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

# sensor_msgs/Image encodings we read and their units: 16UC1 in millimetres, 32FC1 in metres.
DEPTH_ENCODINGS = {'16UC1': (np.dtype(np.uint16), 0.001), 'mono16': (np.dtype(np.uint16), 0.001),
                   '32FC1': (np.dtype(np.float32), 1.0)}
# CameraInfo distortion models cv2.undistortPoints handles; 'equidistant' goes through cv2.fisheye.
PINHOLE_MODELS = ('', 'plumb_bob', 'rational_polynomial')
FISHEYE_MODELS = ('equidistant',)
UNDISTORT_CRITERIA = (3, 50, 1e-10)   # cv2.TERM_CRITERIA_COUNT | EPS, iterations, epsilon


class DepthInputError(ValueError):
    """An input that cannot give 3D keypoints; `reason` is a short key for counters and logs."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of the (rectified or raw) image the keypoints and the depth are in."""
    K: np.ndarray                      # (3, 3)
    D: np.ndarray                      # distortion coefficients (may be empty)
    width: int
    height: int
    distortion_model: str = 'plumb_bob'


@dataclass(frozen=True)
class DepthOptions:
    window: int = 5                    # odd side of the median window in pixels
    min_depth: float = 0.1             # metres; nearer readings are sensor noise
    max_depth: float = 20.0            # metres
    min_valid_fraction: float = 0.2    # fewer valid pixels in the window than this -> no depth
    person_spread: float = 0.7         # metres from the person's depth; farther = background or occluder; 0 = off


def camera_model(k: Sequence[float], d: Sequence[float], width: int, height: int,
                 distortion_model: str = 'plumb_bob') -> CameraModel:
    """A checked CameraModel from CameraInfo's k (row-major 3x3), d, width, height, distortion_model."""
    K = np.asarray(k, np.float64).reshape(-1)
    if K.size != 9 or not np.all(np.isfinite(K)):
        raise DepthInputError('camera_info_invalid', 'CameraInfo k must hold 9 finite numbers')
    K = K.reshape(3, 3)
    if K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] == 0:
        raise DepthInputError('camera_info_invalid', f'CameraInfo k has fx={K[0, 0]:g}, fy={K[1, 1]:g}, '
                                                     f'k[8]={K[2, 2]:g}: the camera is not calibrated')
    D = np.asarray(d, np.float64).reshape(-1)
    if not np.all(np.isfinite(D)):
        raise DepthInputError('camera_info_invalid', 'CameraInfo d holds NaN or infinite coefficients')
    model = distortion_model or 'plumb_bob'
    if model not in PINHOLE_MODELS + FISHEYE_MODELS:
        raise DepthInputError('camera_info_invalid', f'distortion model {model!r} is not supported '
                                                     f'(use one of {list(PINHOLE_MODELS[1:] + FISHEYE_MODELS)})')
    if model in FISHEYE_MODELS and D.size != 4:
        raise DepthInputError('camera_info_invalid', f'equidistant distortion needs 4 coefficients, got {D.size}')
    return CameraModel(K / K[2, 2], D, int(width), int(height), model)


def decode_depth(encoding: str, height: int, width: int, step: int, is_bigendian: int, data) -> np.ndarray:
    """Depth image bytes -> (H, W) float32 metres; 0 and NaN stay as they are (read as invalid later)."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthInputError('depth_encoding', f'depth encoding {encoding!r} is not a depth image: publish '
                                                f'16UC1 (mm) or 32FC1 (m)')
    dtype, unit = DEPTH_ENCODINGS[encoding]
    row = width * dtype.itemsize
    buf = data.reshape(-1).view(np.uint8) if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    if height <= 0 or width <= 0 or step < row or buf.size < step * (height - 1) + row:
        raise DepthInputError('depth_layout', f'depth {width}x{height} {encoding} with step {step} needs '
                                              f'{step * (height - 1) + row} bytes, got {buf.size}')
    if buf.size < step * height:   # a last row without its padding: pad it so the strides hold
        buf = np.concatenate([buf, np.zeros(step * height - buf.size, np.uint8)])
    rows = buf[:step * height].reshape(height, step)[:, :row]
    depth = np.ascontiguousarray(rows).view(dtype.newbyteorder('>' if is_bigendian else '<')).reshape(height, width)
    return (depth.astype(np.float32) * np.float32(unit)) if unit != 1.0 else depth.astype(np.float32)


def robust_depth(depth_m: np.ndarray, uv: np.ndarray, opts: DepthOptions = DepthOptions()
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Median valid depth (metres) in a window around each (u, v) -> (z (N,), ok (N,) bool).

    The window is clipped to the image; a keypoint whose pixel is outside the image gets no depth.
    """
    uv = np.asarray(uv, np.float64).reshape(-1, 2)
    h, w = depth_m.shape[:2]
    z = np.zeros(len(uv), np.float64)
    ok = np.zeros(len(uv), bool)
    half = max(0, int(opts.window) // 2)
    cols = np.rint(uv[:, 0])
    rows = np.rint(uv[:, 1])
    inside = np.isfinite(cols) & np.isfinite(rows) & (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    for i in np.flatnonzero(inside):
        c, r = int(cols[i]), int(rows[i])
        patch = depth_m[max(0, r - half):r + half + 1, max(0, c - half):c + half + 1].reshape(-1)
        good = patch[np.isfinite(patch) & (patch >= opts.min_depth) & (patch <= opts.max_depth)]
        if good.size and good.size >= opts.min_valid_fraction * patch.size:
            z[i] = float(np.median(good))
            ok[i] = True
    return z, ok


def normalized_rays(uv: np.ndarray, cam: CameraModel) -> np.ndarray:
    """Undistorted normalised image coordinates (x/z, y/z) of pixel positions, (N, 2)."""
    import cv2
    pts = np.asarray(uv, np.float64).reshape(-1, 1, 2)
    if len(pts) == 0:
        return np.zeros((0, 2))
    if cam.distortion_model in FISHEYE_MODELS:
        out = cv2.fisheye.undistortPoints(pts, cam.K, cam.D.reshape(4, 1))
    elif cam.D.size == 0 or not np.any(cam.D):
        out = cv2.undistortPoints(pts, cam.K, None)
    else:   # iterate to convergence: the default 5 fixed iterations leave cm errors at the corners of strong lenses
        out = cv2.undistortPoints(pts, cam.K, cam.D, None, None, None, UNDISTORT_CRITERIA)
    return out.reshape(-1, 2)


def deproject(uv: np.ndarray, z: np.ndarray, cam: CameraModel) -> np.ndarray:
    """Pixels (N, 2) with depths z (N,) in metres -> points (N, 3) in the camera optical frame."""
    rays = normalized_rays(uv, cam)
    z = np.asarray(z, np.float64).reshape(-1, 1)
    return np.hstack([rays * z, z])


def keypoints_3d(depth_m: np.ndarray, cam: CameraModel, uv: np.ndarray, usable: Optional[np.ndarray] = None,
                 opts: DepthOptions = DepthOptions()) -> Tuple[np.ndarray, np.ndarray]:
    """One person's 3D keypoints (N, 3) in metres in the optical frame and their validity (N,).

    `usable` masks keypoints that have no 2D estimate (they stay invalid). A keypoint whose depth is
    more than opts.person_spread from the person's median depth is invalid: its pixel shows what is
    behind or in front of the person. Invalid points are (0, 0, 0), never NaN.
    """
    if depth_m.shape[:2] != (cam.height, cam.width) and cam.width > 0 and cam.height > 0:
        raise DepthInputError('depth_size', f'depth {depth_m.shape[1]}x{depth_m.shape[0]} differs from the '
                                            f'CameraInfo {cam.width}x{cam.height}')
    uv = np.asarray(uv, np.float64).reshape(-1, 2)
    z, ok = robust_depth(depth_m, uv, opts)
    if usable is not None:
        ok &= np.asarray(usable, bool).reshape(-1)
    if opts.person_spread > 0 and ok.any():   # a joint off the body (on the wall behind) is not the person
        ok &= np.abs(z - np.median(z[ok])) <= opts.person_spread
    xyz = np.zeros((len(uv), 3))
    if ok.any():
        xyz[ok] = deproject(uv[ok], z[ok], cam)
    ok &= np.all(np.isfinite(xyz), axis=1)
    xyz[~ok] = 0.0
    return xyz, ok
