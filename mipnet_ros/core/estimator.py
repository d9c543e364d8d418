"""PoseEstimator: image + person boxes -> every person in every box, the occluded ones too.

Pipeline per image (all boxes batched together):
  boxes --drop invalid--> crops (M,3,H,W) --backend--> heatmaps (M,N,K,h,w) for lambda 0..N-1
  --decode--> keypoints in image pixels --rescore, lambda>0 decay--> OKS-NMS over the image.

Scoring follows the HRNet/MIPNet evaluation: a person's score is the mean of its keypoint scores
above `keypoint_threshold` (times the detector score when given), and lambda>0 predictions are
multiplied by `instance_score_decay` (0.5 in the official code) because they are less reliable
than the box's own person. OKS-NMS then removes the duplicates that overlapping boxes and
multiple lambdas produce.
"""
import hashlib
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core import transforms as T
from mipnet_ros.core.codec import HeatmapCodec, merge_flip
from mipnet_ros.core.fileio import file_sha256
from mipnet_ros.core.oks import oks_nms
from mipnet_ros.core.resources import PACKAGE, bundled_model_path
from mipnet_ros.core.skeleton import Skeleton, skeleton_for_joints

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.pth.tar', '.tar', '.ckpt')


@dataclass
class Person:
    keypoints: np.ndarray        # (K,2) float32, image pixels
    keypoint_scores: np.ndarray  # (K,) float32, heatmap maxima
    score: float                 # instance score after lambda>0 decay
    box_index: int               # row of `boxes` this person came from
    instance: int                # lambda index


@dataclass
class RawPredictions:
    """What the network said about the valid boxes of one image, before scoring and NMS."""
    keypoints: np.ndarray        # (M,N,K,2) float32 image pixels, M valid boxes, N lambdas
    scores: np.ndarray           # (M,N,K) float32 heatmap maxima
    box_rows: np.ndarray         # (M,) rows of the caller's `boxes` these are
    areas: np.ndarray            # (M,) crop scale area (OKS-NMS object scale)
    box_scores: np.ndarray       # (M,) detector confidences (1 when none were given)


_OWN = object()   # postprocess: "use the estimator's own OKS-NMS threshold"


def _onnx_cache_dir() -> Path:
    base = os.environ.get('MIPNET_ROS_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), PACKAGE)
    path = Path(base) / 'onnx'
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = Path(tempfile.gettempdir()) / f'{PACKAGE}-onnx'
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_ours(path: Path) -> bool:
    """Peek whether a checkpoint carries our spec (then `instances` limits lambdas, not the model N)."""
    import torch
    try:
        obj = torch.load(str(path), map_location='cpu', weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable here: load_checkpoint will report it properly
        return False
    return isinstance(obj, dict) and 'spec' in obj and 'state_dict' in obj


class PoseEstimator:
    """Multi-instance top-down pose estimation on one image at a time (thread-compatible, not shared).

    model: None (bundled), a path (.pth ours or official, .onnx exported) or a PoseNet module.
    instances: lambdas evaluated per box (<= the model's N; default all). For official
        checkpoints, which cannot say whether they were trained for N=2, 3 or 4, it also sets N.
    backend: 'torch' or 'onnxruntime'. A .pth with onnxruntime is exported once to a cache
        (~/.cache/mipnet_ros/onnx, keyed by the file hash) and checked against eager PyTorch.
    shared_trunk: run the lambda-free trunk once per box instead of once per (box, lambda).
    oks_nms_threshold: None disables NMS (CrowdPose evaluation keeps every prediction).
    """

    def __init__(self, model=None, arch: Optional[str] = None, backend: str = 'torch', device: str = 'cpu',
                 instances: Optional[int] = None, input_size: Optional[Tuple[int, int]] = None,
                 fp16: bool = False, flip: bool = False, shared_trunk: bool = True, max_batch: int = 64,
                 keypoint_threshold: float = 0.2, instance_score_decay: float = 0.5,
                 oks_nms_threshold: Optional[float] = 0.9, providers: Optional[Sequence] = None,
                 allow_fallback: bool = True, dark: bool = False, channels_last: bool = False,
                 trt_cache_dir: Optional[str] = None):
        backend = {'ort': 'onnxruntime', 'onnx': 'onnxruntime'}.get(str(backend).lower(), str(backend).lower())
        if backend not in ('torch', 'onnxruntime'):
            raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
        self.flip = bool(flip)
        self.dark = bool(dark)
        self.shared_trunk = bool(shared_trunk)
        self.keypoint_threshold = float(keypoint_threshold)
        self.instance_score_decay = float(instance_score_decay)
        self.oks_nms_threshold = None if oks_nms_threshold is None else float(oks_nms_threshold)
        self.model_path: Optional[str] = None
        self.model_hash = ''
        self.last_timing: Dict[str, float] = {}

        torch_model = None
        onnx_path: Optional[Path] = None
        limit = instances
        if model is None or isinstance(model, (str, os.PathLike)):
            path = bundled_model_path() if model is None else Path(model).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f'model file not found: {path}')
            self.model_path = str(path)
            self.model_hash = file_sha256(path)
            if path.suffix.lower() == '.onnx':
                if backend == 'torch':
                    warnings.warn(f'{path.name} is an ONNX file: using the onnxruntime backend', RuntimeWarning,
                                  stacklevel=2)
                    backend = 'onnxruntime'
                onnx_path = path
            else:
                from mipnet_ros.core.model.checkpoint import load_checkpoint
                ours = _is_ours(path)
                torch_model = load_checkpoint(path, arch=arch, instances=None if ours else instances,
                                              input_size=input_size)
        else:
            torch_model = model      # a PoseNet already in memory (tests, benchmarks, notebooks)
            if input_size is not None and tuple(input_size) != tuple(model.spec.input_size):
                raise ValueError('input_size cannot change an in-memory model; build it with that size')

        if backend == 'onnxruntime':
            from mipnet_ros.core.backends import OnnxBackend, wants_fp16_graph
            if onnx_path is None:
                onnx_path = self._export_cached(torch_model, half=wants_fp16_graph(device, fp16, providers))
            self.backend = OnnxBackend(onnx_path, providers=providers, device=device, fp16=fp16,
                                       trt_cache_dir=trt_cache_dir, allow_fallback=allow_fallback,
                                       max_batch=max_batch)
            if input_size is not None and tuple(input_size) != tuple(self.backend.spec.input_size):
                raise ValueError(f'{onnx_path} was exported for input {self.backend.spec.input_size}, '
                                 f'not {tuple(input_size)}; export again with --input-size')
        else:
            from mipnet_ros.core.backends import TorchBackend
            self.backend = TorchBackend(torch_model, device=device, fp16=fp16, channels_last=channels_last,
                                        max_batch=max_batch, allow_fallback=allow_fallback)
        self.backend_name = backend
        self.spec = self.backend.spec
        n = int(self.spec.instances)
        if limit is not None and not 1 <= int(limit) <= n:
            raise ValueError(f'instances={limit} but the model has N={n}; choose 1..{n}')
        self.num_instances = n if limit is None else int(limit)
        self.skeleton: Skeleton = skeleton_for_joints(int(self.spec.num_joints))
        self.input_size = tuple(int(v) for v in self.spec.input_size)
        self.codec = HeatmapCodec(self.input_size)

    # ------------------------------------------------------------------ model plumbing
    def _export_cached(self, model, half: bool = False) -> Path:
        """Export a torch model to ONNX once; later constructions reuse the checked file.

        half: also convert it to the fp16 graph (onnxruntime's CUDA provider) and return that one.
        """
        from mipnet_ros.core.export import convert_fp16, export_onnx, fp16_path
        spec = model.spec
        if self.model_hash:
            key = self.model_hash[:16]
        else:
            digest = hashlib.sha256()
            for name, tensor in sorted(model.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            key = digest.hexdigest()[:16]
        layout = 'shared' if self.shared_trunk else 'per_instance'
        target = _onnx_cache_dir() / f'{spec.arch}-n{spec.instances}-k{spec.num_joints}-' \
                                     f'{spec.input_size[0]}x{spec.input_size[1]}-{key}-{layout}.onnx'
        if not target.is_file():
            log.info('exporting %s to %s (once)', spec.arch, target)
            export_onnx(model, target, shared_trunk=self.shared_trunk)
        if half:
            if not fp16_path(target).is_file():
                log.info('converting %s to fp16 (once)', target.name)
                convert_fp16(target, fp16_path(target))
            return fp16_path(target)
        return target

    # ------------------------------------------------------------------ inference
    def _heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """(M,3,H,W) -> (M,L,K,h,w) for lambda 0..L-1, flip-merged when asked."""
        m, num = crops.shape[0], self.num_instances
        batch = np.concatenate([crops, crops[..., ::-1]]) if self.flip else crops
        if self.shared_trunk:
            hm = self.backend.run_shared(batch, num)
        else:
            rows = np.repeat(batch, num, axis=0)
            inst = np.tile(np.arange(num, dtype=np.int64), batch.shape[0])
            out = self.backend.run(rows, inst)
            hm = out.reshape((batch.shape[0], num) + out.shape[1:])
        if self.flip:
            hm = merge_flip(hm[:m], hm[m:], self.skeleton.flip_pairs, shift=True)
        return hm

    def _prepare(self, image: np.ndarray, boxes) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.dtype != np.uint8:
            raise ValueError(f'image must be an (H,W,3) BGR uint8 array, got {image.shape} {image.dtype}')
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        elif image.shape[2] == 4:
            image = image[..., :3]
        boxes = np.asarray(boxes, np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f'boxes must be (M,4) x1,y1,x2,y2, got shape {boxes.shape}')
        return image, boxes, T.valid_box_mask(boxes, image.shape[:2])

    def _infer(self, image: np.ndarray, boxes: np.ndarray):
        """Valid boxes only -> keypoints (M,L,K,2), scores (M,L,K), scales (M,2)."""
        t0 = time.perf_counter()
        crops, centers, scales = T.prepare_crops(image, boxes, self.input_size)
        t1 = time.perf_counter()
        hm = self._heatmaps(crops)
        t2 = time.perf_counter()
        coords, maxvals = self.codec.decode(hm, dark=self.dark)
        keypoints = T.heatmap_to_image(coords, centers, scales, self.codec.heatmap_size)
        t3 = time.perf_counter()
        self.last_timing = {'crop_s': t1 - t0, 'network_s': t2 - t1, 'decode_s': t3 - t2,
                            'boxes': float(len(boxes))}
        return keypoints.astype(np.float32), maxvals.astype(np.float32), scales

    def estimate_batch(self, image: np.ndarray, boxes) -> Tuple[np.ndarray, np.ndarray]:
        """Raw predictions for every row of `boxes`, before scoring and NMS.

        Returns keypoints (M,N,K,2) float32 in image pixels and scores (M,N,K) float32, where N is
        the number of lambdas evaluated. Rows of invalid boxes are NaN keypoints with score 0, so
        the output stays aligned with the input.
        """
        image, boxes, ok = self._prepare(image, boxes)
        m, n, k = boxes.shape[0], self.num_instances, int(self.spec.num_joints)
        keypoints = np.full((m, n, k, 2), np.nan, np.float32)
        scores = np.zeros((m, n, k), np.float32)
        if ok.any():
            kp, sc, _ = self._infer(image, boxes[ok])
            keypoints[ok], scores[ok] = kp, sc
        return keypoints, scores

    def raw(self, image: np.ndarray, boxes, box_scores: Optional[np.ndarray] = None) -> RawPredictions:
        """Every (valid box, lambda) prediction before scoring and NMS, with what postprocess needs.

        Threshold studies (`eval --oks-nms 0.9,0.8`) run the network once and postprocess many times.
        """
        image, boxes, ok = self._prepare(image, boxes)
        rows = np.nonzero(ok)[0]
        k = int(self.spec.num_joints)
        if box_scores is not None:
            det = np.asarray(box_scores, np.float64).reshape(-1)
            if det.shape[0] != boxes.shape[0]:
                raise ValueError(f'box_scores has {det.shape[0]} entries for {boxes.shape[0]} boxes')
        if rows.size == 0:
            return RawPredictions(np.zeros((0, self.num_instances, k, 2), np.float32),
                                  np.zeros((0, self.num_instances, k), np.float32), rows, np.zeros(0), np.zeros(0))
        keypoints, scores, scales = self._infer(image, boxes[rows])
        det = np.ones(rows.size) if box_scores is None else det[rows]
        return RawPredictions(keypoints, scores, rows, scales[:, 0] * scales[:, 1], det)

    def __call__(self, image: np.ndarray, boxes, box_scores: Optional[np.ndarray] = None) -> List[Person]:
        """People found in `boxes` (M,4) x1,y1,x2,y2 of a BGR uint8 image, best score first.

        `box_scores` (M,), the detector confidences, multiply the person scores when given.
        """
        r = self.raw(image, boxes, box_scores)
        if r.box_rows.size == 0:
            return []
        return self.postprocess(r.keypoints, r.scores, r.box_rows, r.areas, r.box_scores)

    def postprocess(self, keypoints: np.ndarray, scores: np.ndarray, box_rows: np.ndarray, areas: np.ndarray,
                    box_scores: Optional[np.ndarray] = None, oks_nms_threshold=_OWN) -> List[Person]:
        """(M,N,K,2) predictions of M boxes -> rescored people after OKS-NMS (shared with evaluation).

        `oks_nms_threshold` overrides the estimator's for this call (None: no NMS).
        """
        threshold = self.oks_nms_threshold if oks_nms_threshold is _OWN else oks_nms_threshold
        m, n, k = scores.shape
        confident = scores > self.keypoint_threshold
        count = confident.sum(-1)
        mean = np.divide(np.where(confident, scores, 0).sum(-1), count, out=np.zeros((m, n)), where=count > 0)
        decay = np.where(np.arange(n) > 0, self.instance_score_decay, 1.0)
        det = np.ones(m) if box_scores is None else np.asarray(box_scores, np.float64)
        person = mean * decay[None, :] * det[:, None]                          # (M,N)
        flat_kp = keypoints.reshape(m * n, k, 2)
        flat_sc = scores.reshape(m * n, k)
        flat_person = person.reshape(-1)
        if threshold is None:
            keep = list(np.argsort(-flat_person, kind='stable'))
        else:
            keep = oks_nms(flat_kp, flat_sc, flat_person, np.repeat(np.asarray(areas, np.float64), n),
                           self.skeleton.sigmas_array(), float(threshold))
        return [Person(keypoints=flat_kp[i].astype(np.float32), keypoint_scores=flat_sc[i].astype(np.float32),
                       score=float(flat_person[i]), box_index=int(box_rows[i // n]), instance=int(i % n))
                for i in keep]

    @property
    def layout(self) -> str:
        """The graph layout that runs: 'shared_trunk' (trunk once per box) or 'per_instance' (once per lambda)."""
        from mipnet_ros.core.onnx_meta import LAYOUT_PER_INSTANCE, LAYOUT_SHARED
        graph = getattr(self.backend, 'layout', LAYOUT_SHARED)
        return LAYOUT_SHARED if self.shared_trunk and graph == LAYOUT_SHARED else LAYOUT_PER_INSTANCE

    def __repr__(self) -> str:
        return (f'PoseEstimator({self.spec.arch}, N={self.spec.instances} (evaluating {self.num_instances}), '
                f'K={self.spec.num_joints}, input={self.input_size}, backend={self.backend_name}, '
                f'layout={self.layout}, '
                f'model={self.model_path or "<in memory>"})')
