"""PoseEstimator: image + person boxes -> every person in every box, the occluded ones too.

Why it works this way: docs/design_notes.md."""
import hashlib
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from mipnet_ros.core import defaults, inputs
from mipnet_ros.core.errors import UsageError
from mipnet_ros.core import transforms as T
from mipnet_ros.core.codec import HeatmapCodec, merge_flip
from mipnet_ros.core.device import DeviceChoice, user_cache_dir
from mipnet_ros.core.fileio import file_sha256
from mipnet_ros.core.oks import oks_nms
from mipnet_ros.core.resources import bundled_model_path
from mipnet_ros.core.skeleton import Skeleton, skeleton_for_joints

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.pth.tar', '.tar', '.ckpt')


@dataclass
class Person:
    keypoints: np.ndarray        # (K,2) float32, image pixels
    keypoint_scores: np.ndarray  # (K,) float32 in [0, 1], heatmap maxima
    score: float                 # in [0, 1]: instance score after lambda>0 decay
    box_index: int               # row of `boxes` this person came from
    instance: int                # lambda index


@dataclass
class RawPredictions:
    """What the network said about the valid boxes of one image, before scoring and NMS."""
    keypoints: np.ndarray        # (M,N,K,2) float32 image pixels, M valid boxes, N lambdas
    scores: np.ndarray           # (M,N,K) float32 heatmap maxima, clipped to [0, 1]
    box_rows: np.ndarray         # (M,) rows of the caller's `boxes` these are
    areas: np.ndarray            # (M,) crop scale area (OKS-NMS object scale)
    box_scores: np.ndarray       # (M,) detector confidences (1 when none were given)


_OWN = object()   # postprocess: "use the estimator's own OKS-NMS threshold"


def _onnx_cache_dir() -> Path:
    return user_cache_dir('onnx')


def _precision(backend) -> str:
    """What a backend computes in: fp16 for half torch, a half graph, or TensorRT built with fp16."""
    if getattr(backend, 'fp16', False):
        return 'fp16'
    providers = list(getattr(backend, 'providers', ()))
    if providers[:1] == ['TensorrtExecutionProvider']:
        options = backend.session.get_provider_options().get('TensorrtExecutionProvider', {})
        if str(options.get('trt_fp16_enable', '0')).lower() in ('1', 'true'):
            return 'fp16'
    return str(getattr(backend, 'precision', 'fp32'))


def _runs_on(backend, device: str) -> str:
    """The device a backend really uses ('cpu' after a fallback)."""
    providers = list(getattr(backend, 'providers', ()))
    if providers:
        return 'cpu' if providers[0] == 'CPUExecutionProvider' else device
    return str(getattr(backend, 'device', device))


def _half_graph(path: Path) -> Path:
    """The half-precision file beside an exported float32 one (`export --fp16`), else the file itself."""
    from mipnet_ros.core.export import fp16_path
    return fp16_path(path) if fp16_path(path).is_file() else path


def _is_ours(path: Path) -> bool:
    """Peek whether a checkpoint carries our spec (then `instances` limits lambdas, not the model N)."""
    from mipnet_ros.core.model.checkpoint import safe_load
    try:
        obj = safe_load(path, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable here: load_checkpoint will report it properly
        return False
    return isinstance(obj, dict) and 'spec' in obj and 'state_dict' in obj


class PoseEstimator:
    """Multi-instance top-down pose estimation on one image at a time (thread-compatible, not shared).

    model: None (bundled), a path (.pth ours, including a training run's last.pth, or official;
        .onnx exported), a model zoo name (`python -m mipnet_ros weights list`; fetched into the user
        cache when allow_download) or a PoseNet module.
    instances: lambdas evaluated per box (1..N; None or 0 = all, as the node's `instances: 0`). For
        official checkpoints, which cannot say whether they were trained for N=2, 3 or 4, it also sets N.
    input_size: (H, W) crop size; default the one the model was trained at (another one warns).
    instance_threshold: people scoring below it are not returned by a call (the node's default, 0.3);
        0 returns every prediction that survives OKS-NMS. Scores are in [0, 1].
    backend: 'torch' or 'onnxruntime'. A .pth with onnxruntime is exported once to a cache
        (~/.cache/mipnet_ros/onnx, keyed by the file hash) and checked against eager PyTorch.
    device: 'auto' (cuda:0 when torch sees a GPU, else cpu), 'cpu', 'cuda:N', 'tensorrt:N'.
    fp16: True, False or 'auto' (on a GPU, when the fp16 path agrees with fp32 on this model).
        `device_choice` says what was chosen and why (core/device.py), for int8 files with their agreement.
    intra_op_threads: onnxruntime CPU threads per inference; 0 = one per physical core available.
    shared_trunk: run the lambda-free trunk once per box instead of once per (box, lambda).
    oks_nms_threshold: None disables NMS (CrowdPose evaluation keeps every prediction).
    """

    def __init__(self, model=None, arch: Optional[str] = None, backend: str = 'torch', device: str = 'auto',
                 instances: Optional[int] = None, input_size: Optional[Tuple[int, int]] = None,
                 fp16: Union[bool, str] = 'auto', flip: bool = False, shared_trunk: bool = True, max_batch: int = 64,
                 keypoint_threshold: float = defaults.KEYPOINT_THRESHOLD,
                 instance_threshold: float = defaults.INSTANCE_THRESHOLD,
                 instance_score_decay: float = 0.5,
                 oks_nms_threshold: Optional[float] = defaults.OKS_NMS_THRESHOLD, providers: Optional[Sequence] = None,
                 allow_fallback: bool = True, dark: bool = False, channels_last: bool = False,
                 trt_cache_dir: Optional[str] = None, allow_download: bool = True, intra_op_threads: int = 0):
        backend = {'ort': 'onnxruntime', 'onnx': 'onnxruntime'}.get(str(backend).lower(), str(backend).lower())
        if backend not in ('torch', 'onnxruntime'):
            raise UsageError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
        self.flip = bool(flip)
        self.dark = bool(dark)
        self.shared_trunk = bool(shared_trunk)
        self.keypoint_threshold = float(keypoint_threshold)
        self.instance_threshold = float(instance_threshold)
        if not 0.0 <= self.instance_threshold <= 1.0:
            raise UsageError(f'instance_threshold must be in [0, 1] (person scores are), got {instance_threshold}')
        self.instance_score_decay = float(instance_score_decay)
        self.oks_nms_threshold = None if oks_nms_threshold is None else float(oks_nms_threshold)
        self.model_path: Optional[str] = None
        self.model_hash = ''
        self.last_timing: Dict[str, float] = {}
        self._warned: set = set()

        torch_model = None
        onnx_path: Optional[Path] = None
        limit = None if instances is None or int(instances) == 0 else int(instances)
        if model is None or isinstance(model, (str, os.PathLike)):
            if model is None:
                path = bundled_model_path()
            else:
                from mipnet_ros.core.weights.resolve import resolve_model
                path = resolve_model(model, download=allow_download)
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
                torch_model = load_checkpoint(path, arch=arch, instances=None if ours else limit,
                                              input_size=input_size)
                note = inputs.input_size_note(torch_model.checkpoint_info.get('trained_input_size'),
                                              torch_model.spec.input_size)
                if note:
                    warnings.warn(f'{path.name}: {note}', RuntimeWarning, stacklevel=2)
        else:
            torch_model = model      # a PoseNet already in memory (tests, benchmarks, notebooks)
            if input_size is not None and tuple(input_size) != tuple(model.spec.input_size):
                raise UsageError('input_size cannot change an in-memory model; build it with that size')

        from mipnet_ros.core import device as D
        fp16_auto = D.parse_fp16(fp16) == D.AUTO
        device_auto = D.is_auto(device)
        device, why_device = D.resolve_device(device)
        reasons = [why_device]
        if backend == 'onnxruntime':
            from mipnet_ros.core.backends import OnnxBackend, wants_fp16_graph
            if D.is_gpu(device):
                note = D.preload_cuda_libraries()
                if note:
                    reasons.append(note)
            if device_auto and not providers:
                import onnxruntime as ort
                providers, why = D.default_providers(device, ort.get_available_providers())
                reasons.append(why)
            if trt_cache_dir is None and D.uses_tensorrt(providers, device):
                trt_cache_dir = str(user_cache_dir('trt'))
                reasons.append(f'TensorRT engines cached in {trt_cache_dir}')
            if fp16_auto and onnx_path is not None:
                from mipnet_ros.core.onnx_meta import read_metadata
                fixed = read_metadata(onnx_path)['precision']
                if fixed != 'fp32':
                    fp16, fp16_auto = False, False
                    reasons.append(f'precision {fixed} fixed by the model file')
            f32_path = onnx_path or self._export_cached(torch_model)

            def build(half: bool):
                path = f32_path
                if half and wants_fp16_graph(device, True, providers):
                    path = self._export_cached(torch_model, half=True) if torch_model is not None \
                        else _half_graph(f32_path)
                return OnnxBackend(path, providers=providers, device=device, fp16=half, trt_cache_dir=trt_cache_dir,
                                   allow_fallback=allow_fallback, max_batch=max_batch,
                                   intra_op_threads=intra_op_threads)
        else:
            from mipnet_ros.core.backends import TorchBackend

            def build(half: bool):
                import copy
                model = copy.deepcopy(torch_model) if half and fp16_auto else torch_model   # fp32 kept as fallback
                return TorchBackend(model, device=device, fp16=half, channels_last=channels_last,
                                    max_batch=max_batch, allow_fallback=allow_fallback)

        def compare(b32, b16) -> float:
            if _precision(b16) != 'fp16':
                raise RuntimeError('no half-precision path here (`export --fp16` writes X.fp16.onnx)')
            crops, n = D.probe_crops(b32.spec.input_size), int(b32.spec.instances)
            return D.relative_difference(b16.run_shared(crops, n), b32.run_shared(crops, n))

        self.backend, _, why_fp16 = D.choose_precision(fp16, device, build, compare,
                                                       on_gpu=lambda b: _runs_on(b, device) != 'cpu')
        if backend == 'onnxruntime' and input_size is not None \
                and tuple(input_size) != tuple(self.backend.spec.input_size):
            raise UsageError(f'{onnx_path} was exported for input {self.backend.spec.input_size}, '
                             f'not {tuple(input_size)}; export again with --input-size')
        providers_used = tuple(getattr(self.backend, 'providers', ()))
        used = _runs_on(self.backend, device)
        if used != device:
            reasons.append(f'running on {used}: {device} is not available here')
        precision = _precision(self.backend)
        if D.parse_fp16(fp16) is True and precision != 'fp16':
            why_fp16 = f'fp16 asked, but {precision} runs here'
        self.device_choice = DeviceChoice(device=used, precision=precision, providers=providers_used,
                                          reason='; '.join(reasons + [why_fp16] + getattr(self.backend, 'notes', [])))
        self.backend_name = backend
        self.spec = self.backend.spec
        n = int(self.spec.instances)
        if limit is not None and not 1 <= limit <= n:
            raise UsageError(f'instances={limit} but the model has N={n}; choose 1..{n} (0 or None = all)')
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

    def _prepare(self, image, boxes) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """BGR uint8 image, (M,4) boxes and the mask of boxes worth cropping (see core/inputs.py)."""
        image = inputs.as_bgr_image(image)
        boxes, ok, notes = inputs.check_boxes(boxes, image.shape[:2])
        for cause, message in notes:
            if cause not in self._warned:          # once per estimator and cause, not once per frame
                self._warned.add(cause)
                warnings.warn(message, RuntimeWarning, stacklevel=4)
        return image, boxes, ok

    def _infer(self, image: np.ndarray, boxes: np.ndarray):
        """Valid boxes only -> keypoints (M,L,K,2), scores (M,L,K), scales (M,2)."""
        t0 = time.perf_counter()
        crops, centers, scales = T.prepare_crops(image, boxes, self.input_size)
        t1 = time.perf_counter()
        hm = self._heatmaps(crops)
        t2 = time.perf_counter()
        coords, maxvals = self.codec.decode(hm, dark=self.dark)
        keypoints = T.heatmap_to_image(coords, centers, scales, self.codec.heatmap_size)
        maxvals = np.clip(maxvals, 0.0, 1.0)     # MSE-trained heatmaps can peak above 1: scores stay in [0, 1]
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
        det = inputs.check_box_scores(box_scores, boxes.shape[0])
        if rows.size == 0:
            return RawPredictions(np.zeros((0, self.num_instances, k, 2), np.float32),
                                  np.zeros((0, self.num_instances, k), np.float32), rows, np.zeros(0), np.zeros(0))
        keypoints, scores, scales = self._infer(image, boxes[rows])
        det = np.ones(rows.size) if det is None else det[rows]
        return RawPredictions(keypoints, scores, rows, scales[:, 0] * scales[:, 1], det)

    def __call__(self, image: np.ndarray, boxes, box_scores: Optional[np.ndarray] = None) -> List[Person]:
        """People found in `boxes` (M,4) x1,y1,x2,y2 pixels of a BGR uint8 image, best score first.

        `box_scores` (M,), the detector confidences in [0, 1], multiply the person scores when given.
        Only people scoring at least `instance_threshold` are returned. A PIL image is converted from
        RGB; boxes that cannot be x1, y1, x2, y2 pixels raise a UsageError (a ValueError) with the fix.
        """
        r = self.raw(image, boxes, box_scores)
        if r.box_rows.size == 0:
            return []
        people = self.postprocess(r.keypoints, r.scores, r.box_rows, r.areas, r.box_scores)
        return [p for p in people if p.score >= self.instance_threshold]

    def postprocess(self, keypoints: np.ndarray, scores: np.ndarray, box_rows: np.ndarray, areas: np.ndarray,
                    box_scores: Optional[np.ndarray] = None, oks_nms_threshold=_OWN) -> List[Person]:
        """(M,N,K,2) predictions of M boxes -> rescored people after OKS-NMS (shared with evaluation).

        `oks_nms_threshold` overrides the estimator's for this call (None: no NMS). Every
        prediction is kept whatever its score (evaluation ranks them); `instance_threshold` is
        applied by `__call__` only.
        """
        threshold = self.oks_nms_threshold if oks_nms_threshold is _OWN else oks_nms_threshold
        m, n, k = scores.shape
        confident = scores > self.keypoint_threshold
        count = confident.sum(-1)
        mean = np.divide(np.where(confident, scores, 0).sum(-1), count, out=np.zeros((m, n)), where=count > 0)
        decay = np.where(np.arange(n) > 0, self.instance_score_decay, 1.0)
        det = np.ones(m) if box_scores is None else np.asarray(box_scores, np.float64)
        person = np.clip(mean * decay[None, :] * det[:, None], 0.0, 1.0)      # (M,N)
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
