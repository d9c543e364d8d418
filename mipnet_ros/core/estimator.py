"""PoseEstimator: image + person boxes -> every person in every box, the occluded ones too.

Per image, all boxes in one batch:
    boxes --drop invalid--> crops (M,3,H,W) --backend--> heatmaps (M,N,K,h,w) for lambda 0..N-1
    --decode--> keypoints in image pixels --person score (core/person_score.py)--> OKS-NMS over the image.
OKS-NMS removes the copies of one person that overlapping boxes and several lambdas produce. Building
the model is core/estimator_factory.py's; this module only runs frames.
"""
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from mipnet_ros.core import defaults, inputs, transforms
from mipnet_ros.core.codec import HeatmapCodec, merge_flip
from mipnet_ros.core.errors import ParameterError
from mipnet_ros.core.estimator_factory import PreparedModel, prepare_model
from mipnet_ros.core.oks import oks_nms
from mipnet_ros.core.person_score import person_scores
from mipnet_ros.core.skeleton import Skeleton, skeleton_for_joints

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.pth.tar', '.tar', '.ckpt')


@dataclass
class Person:
    keypoints: np.ndarray        # (K,2) float32, image pixels
    keypoint_scores: np.ndarray  # (K,) float32 in [0, 1], heatmap maxima
    score: float                 # in [0, 1]: the person score of core/person_score.py
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


class PoseEstimator:
    """Multi-instance top-down pose estimation on one image at a time (thread-compatible, not shared).

    Building (core/estimator_factory.py, `prepare_model`) is apart from running frames (this class):
    `PoseEstimator(prepare_model(...), keypoint_threshold=...)` runs an already prepared model;
    `PoseEstimator(model=..., device=...)` prepares it with the arguments below.

    model: None (bundled), a path (.pth ours, including a training run's last.pth, or official;
        .onnx exported), a model zoo name (`python -m mipnet_ros weights list`; fetched into the user
        cache when allow_download), a PoseNet module, or a PreparedModel (then the loading
        arguments arch ... allow_download are not used).
    instances: the number of lambda values run per box (0 or None = all N of the model). Our files
        record N (instances must be 1..N); official files do not, so for them it also sets N.
    input_size: (H, W) crop size; default the one the model was trained at (another one warns).
    instance_threshold: people scoring below it are not returned by a call (the node's default, 0.3);
        0 returns every prediction that survives OKS-NMS. Scores are in [0, 1].
    instance_score_decay: factor on lambda > 0 person scores (0.5, the official value): a person found
        behind the box's own one is less reliable.
    backend: 'torch' or 'onnxruntime'. A .pth with onnxruntime is exported once to a cache
        (~/.cache/mipnet_ros/onnx, keyed by the file hash) and checked against eager PyTorch.
    device: 'auto' (cuda:0 when torch sees a GPU, else cpu), 'cpu', 'cuda:N', 'tensorrt:N'.
    fp16: True, False or 'auto' (on a GPU, when the fp16 path agrees with fp32 on this model).
        `device_choice` says what was chosen and why (core/device.py), for int8 files with their agreement.
    intra_op_threads: onnxruntime CPU threads per inference; 0 = one per physical core available.
    shared_trunk: run the lambda-free trunk once per box instead of once per (box, lambda).
    oks_nms_threshold: None disables NMS (CrowdPose evaluation keeps every prediction).
    A value that cannot work raises a ParameterError (a ValueError) whose `parameter` names it.
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
        self.flip = bool(flip)
        self.dark = bool(dark)
        self.keypoint_threshold = float(keypoint_threshold)
        self.instance_threshold = float(instance_threshold)
        if not 0.0 <= self.instance_threshold <= 1.0:
            raise ParameterError(f'instance_threshold must be in [0, 1] (person scores are), got {instance_threshold}',
                                 'instance_threshold')
        self.instance_score_decay = float(instance_score_decay)
        self.oks_nms_threshold = None if oks_nms_threshold is None else float(oks_nms_threshold)
        self.last_timing: Dict[str, float] = {}
        self._warned: set = set()
        if not isinstance(model, PreparedModel):
            model = prepare_model(model, arch=arch, backend=backend, device=device, instances=instances,
                                  input_size=input_size, fp16=fp16, shared_trunk=shared_trunk, max_batch=max_batch,
                                  providers=providers, allow_fallback=allow_fallback, channels_last=channels_last,
                                  trt_cache_dir=trt_cache_dir, allow_download=allow_download,
                                  intra_op_threads=intra_op_threads)
        self.prepared = model
        self.backend = model.backend
        self.backend_name = model.backend_name
        self.device_choice = model.device_choice
        self.model_path = model.model_path
        self.model_hash = model.model_hash
        self.shared_trunk = model.shared_trunk
        self.num_instances = model.num_instances
        self.spec = model.spec
        self.skeleton: Skeleton = skeleton_for_joints(int(self.spec.num_joints))
        self.input_size = tuple(int(v) for v in self.spec.input_size)
        self.codec = HeatmapCodec(self.input_size)

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
        crops, centers, scales = transforms.prepare_crops(image, boxes, self.input_size)
        t1 = time.perf_counter()
        hm = self._heatmaps(crops)
        t2 = time.perf_counter()
        coords, maxvals = self.codec.decode(hm, dark=self.dark)
        keypoints = transforms.heatmap_to_image(coords, centers, scales, self.codec.heatmap_size)
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

        `box_scores` (M,), the detector confidences in [0, 1], multiply the person scores when given
        (core/person_score.py: the rule of the node and `eval` too).
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
        person = person_scores(scores, self.keypoint_threshold, self.instance_score_decay, box_scores)   # (M,N)
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
