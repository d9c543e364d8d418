"""Box -> crop geometry of top-down pose estimation (HRNet convention), vectorised over boxes.

`center` and `scale` are in image pixels; `scale` is the (width, height) of the cropped region: the box after
the aspect fix and the 1.25 padding. HRNet stores scale / pixel_std (200): multiply an official scale by 200 to
get ours. Pixels spare every formula a magic constant and make scale[0] * scale[1] the area OKS-NMS uses."""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)
DEFAULT_PADDING = 1.25

ArrayLike = Union[np.ndarray, Sequence[float]]


def valid_box_mask(boxes: np.ndarray, image_shape: Tuple[int, int]) -> np.ndarray:
    """True for boxes worth cropping: finite, positive width and height, overlapping the image.

    A detector can emit NaN, degenerate or off-screen boxes; cropping them would produce an
    all-black crop whose "pose" is noise, so callers drop them before batching.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = int(image_shape[0]), int(image_shape[1])
    x1, y1, x2, y2 = boxes.T
    with np.errstate(invalid='ignore'):
        ok = np.isfinite(boxes).all(axis=1) & (x2 > x1) & (y2 > y1)
        ok &= (x2 > 0) & (y2 > 0) & (x1 < w) & (y1 < h)
    return ok


def box_to_center_scale(boxes: ArrayLike, input_size: Tuple[int, int],
                        padding: float = DEFAULT_PADDING) -> Tuple[np.ndarray, np.ndarray]:
    """(M,4) x1,y1,x2,y2 boxes -> centers (M,2) and scales (M,2) in pixels.

    The shorter side is grown until the box has the network input's aspect W/H (so the person is
    not distorted), then both sides are multiplied by `padding` for context around the person.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    in_h, in_w = input_size
    aspect = float(in_w) / float(in_h)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    centers = np.stack([boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h], axis=1)
    too_wide = w > aspect * h
    h = np.where(too_wide, w / aspect, h)
    w = np.where(too_wide, w, h * aspect)
    scales = np.stack([w, h], axis=1) * padding
    return centers, scales


def affine_matrices(centers: ArrayLike, scales: ArrayLike, output_size: Tuple[int, int],
                    rotation: Union[float, ArrayLike] = 0.0, shift: ArrayLike = (0.0, 0.0),
                    inverse: bool = False) -> np.ndarray:
    """(M,2,3) matrices mapping image pixels to output pixels (or back with `inverse=True`).

    `output_size` is (H, W). `rotation` in degrees (scalar or (M,)), positive turns the person
    counter-clockwise in the crop as in HRNet's augmentation. `shift` moves the source centre by
    that fraction of the scale (augmentation). Computed in closed form for all boxes at once:
    dst = s * R(-rot) @ (src - c') + (W/2, H/2), with s = W / scale_w and c' the shifted centre.
    A similarity, scaled from the width as in HRNet: box_to_center_scale already gave the box the output's
    aspect, so the height fits exactly.
    """
    centers = np.asarray(centers, np.float64).reshape(-1, 2)
    scales = np.asarray(scales, np.float64).reshape(-1, 2)
    m = centers.shape[0]
    out_h, out_w = float(output_size[0]), float(output_size[1])
    rot = np.deg2rad(np.broadcast_to(np.asarray(rotation, np.float64), (m,)))
    src_c = centers + scales * np.asarray(shift, np.float64).reshape(-1, 2)
    s = out_w / scales[:, 0]
    cos, sin = np.cos(rot), np.sin(rot)
    dst_c = np.array([out_w * 0.5, out_h * 0.5])
    mats = np.empty((m, 2, 3), np.float64)
    if not inverse:
        # A = s * [[cos, sin], [-sin, cos]]  (rotation by -rot)
        a = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1) * s[:, None, None]
        mats[:, :, :2] = a
        mats[:, :, 2] = dst_c - np.einsum('mij,mj->mi', a, src_c)
    else:
        # A^-1 = (1/s) * R(rot)
        a = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1) / s[:, None, None]
        mats[:, :, :2] = a
        mats[:, :, 2] = src_c - np.einsum('mij,j->mi', a, dst_c)
    return mats


def apply_affine(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Points (M, ..., 2) through per-box matrices (M,2,3); any number of middle axes."""
    points = np.asarray(points, np.float64)
    matrices = np.asarray(matrices, np.float64)
    m = matrices.shape[0]
    flat = points.reshape(m, -1, 2)
    out = np.einsum('mij,mpj->mpi', matrices[:, :, :2], flat) + matrices[:, None, :, 2]
    return out.reshape(points.shape)


def crop_images(image: np.ndarray, matrices: np.ndarray, input_size: Tuple[int, int]) -> np.ndarray:
    """Warp one image into M crops (M,H,W,C) uint8; outside the image is black (zero), as in training."""
    in_h, in_w = int(input_size[0]), int(input_size[1])
    matrices = np.asarray(matrices, np.float64).reshape(-1, 2, 3)
    shape = (matrices.shape[0], in_h, in_w) + image.shape[2:]
    crops = np.empty(shape, image.dtype)
    for i, mat in enumerate(matrices):   # one cv2 call per box: the warp itself is the unit of work
        crops[i] = cv2.warpAffine(image, mat, (in_w, in_h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(shape[1:])
    return crops


def normalize_crops(crops_bgr: np.ndarray) -> np.ndarray:
    """(M,H,W,3) BGR uint8 -> (M,3,H,W) float32 RGB with ImageNet mean/std (the models' training input)."""
    crops = np.asarray(crops_bgr)
    if crops.ndim == 3:
        crops = crops[None]
    rgb = crops[..., ::-1].astype(np.float32)
    rgb -= IMAGENET_MEAN_RGB * 255.0
    rgb *= 1.0 / (IMAGENET_STD_RGB * 255.0)
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))


def denormalize_crops(crops: np.ndarray) -> np.ndarray:
    """Inverse of normalize_crops (M,3,H,W) -> (M,H,W,3) BGR uint8, for looking at what the net sees."""
    rgb = np.asarray(crops, np.float32).transpose(0, 2, 3, 1) * (IMAGENET_STD_RGB * 255.0) + IMAGENET_MEAN_RGB * 255.0
    return np.clip(np.rint(rgb[..., ::-1]), 0, 255).astype(np.uint8)


def prepare_crops(image_bgr: np.ndarray, boxes: np.ndarray, input_size: Tuple[int, int],
                  padding: float = DEFAULT_PADDING) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (M,4) -> normalised network input (M,3,H,W) float32, centers (M,2), scales (M,2)."""
    centers, scales = box_to_center_scale(boxes, input_size, padding)
    mats = affine_matrices(centers, scales, input_size)
    crops = normalize_crops(crop_images(image_bgr, mats, input_size))
    return crops, centers, scales


def heatmap_to_image(coords: np.ndarray, centers: np.ndarray, scales: np.ndarray,
                     heatmap_size: Tuple[int, int], rotation: Optional[ArrayLike] = None) -> np.ndarray:
    """Heatmap pixel coordinates (M, ..., 2) of box m -> image pixels, all boxes at once.

    The heatmap is the crop at 1/stride resolution, so the inverse crop transform with the heatmap
    size as output size maps straight back (no separate multiply by the stride).
    """
    inv = affine_matrices(centers, scales, heatmap_size, 0.0 if rotation is None else rotation, inverse=True)
    return apply_affine(coords, inv)


def image_to_heatmap(points: np.ndarray, centers: np.ndarray, scales: np.ndarray,
                     heatmap_size: Tuple[int, int]) -> np.ndarray:
    """Image pixels (M, ..., 2) -> heatmap pixel coordinates of box m (inverse of heatmap_to_image)."""
    return apply_affine(points, affine_matrices(centers, scales, heatmap_size))
