"""Does this machine's accelerator give the CPU's answers? One command that checks every GPU path.

  python -m mipnet_ros check --device cuda:0 [--data DIR] [--json OUT]

The GPU paths (CUDA torch, fp16, channels-last, the out-of-memory retry, onnxruntime CUDA with IO binding,
TensorRT with its engine cache) cannot run where the tests run, so they are checked here against float32 on
the CPU. Each check reports pass / fail / skip with its figures; one that crashes is a fail and the others
still run; the exit status is 1 when any failed. On a CPU the device-independent checks (shared trunk vs
per-lambda, the estimator end to end) still run, so `make test` exercises this file."""
import argparse
import copy
import functools
import json
import logging
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from mipnet_ros.core.device import relative_difference as _rel_diff
from mipnet_ros.core.fileio import write_json
from mipnet_ros.core.onnx_meta import FP16_TOLERANCE
from mipnet_ros.tools.gpu_throughput import cuda_flags

# Tolerances, relative to the largest |heatmap| of the float32 CPU reference.
REL_TOL_FP32 = 1e-4      # strict fp32 on the GPU vs the CPU: summation order only
KEYPOINT_AGREEMENT = 0.95  # fp16 keypoints within 1 heatmap pixel of fp32, over confident joints
CONFIDENT = 0.3


def _result(status: str, **figures) -> Dict[str, Any]:
    return {'status': status, **figures}


def _skip(reason: str) -> Dict[str, Any]:
    return _result('skip', reason=reason)


def _pass_if(ok: bool, **figures) -> Dict[str, Any]:
    return _result('pass' if ok else 'fail', **figures)


# ---------------------------------------------------------------------- inputs
def load_scene(data: Optional[Path]) -> Tuple[np.ndarray, np.ndarray, str]:
    """(BGR image, person boxes (M,4) x1y1x2y2, description) from a COCO folder, else generated.

    Real crops (bench/gpu_check.sh passes ../shared/data/coco) matter: a trained model's heatmaps on a real
    person are what fp16 must not move. A generated image still checks agreement, but not on meaningful peaks.
    """
    import cv2
    if data is not None:
        best: Optional[Tuple[Path, List[List[float]]]] = None
        for ann_file in sorted(Path(data).glob('*.json')):
            doc = json.loads(ann_file.read_text())
            for img in doc.get('images', []):
                path = Path(data) / img['file_name']
                boxes = [a['bbox'] for a in doc.get('annotations', [])
                         if a['image_id'] == img['id'] and a.get('num_keypoints', 0) > 0]
                if path.is_file() and boxes and (best is None or len(boxes) > len(best[1])):
                    best = (path, boxes)      # the most people: overlapping boxes are the interesting case
        image = cv2.imread(str(best[0])) if best else None
        if image is not None:
            xywh = np.asarray(best[1], np.float64)
            return image, np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1), \
                f'{best[0].name} ({len(xywh)} annotated people)'
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    boxes = np.array([[100, 80, 220, 400], [160, 90, 300, 420], [400, 60, 520, 380]], np.float64)
    return image, boxes, 'generated 640x480 noise image, 3 boxes (no --data)'


# ---------------------------------------------------------------------- the checks
class Checker:
    """Holds the models and crops every check shares, and runs each check in isolation."""

    def __init__(self, device: str, data: Optional[Path], log: Callable[[str], None] = print):
        import torch

        from mipnet_ros.core import transforms
        from mipnet_ros.core.model.checkpoint import load_checkpoint
        from mipnet_ros.core.model.registry import ModelSpec, build_model
        from mipnet_ros.core.resources import bundled_model_path
        self.log = log
        self.device = device
        self.cuda = device.startswith('cuda') and torch.cuda.is_available()
        self.image, self.boxes, self.scene = load_scene(data)
        self.model_path = bundled_model_path()
        self.trained = load_checkpoint(self.model_path)          # the bundled model, trained weights
        torch.manual_seed(0)
        self.w32 = build_model(ModelSpec('hrnet_w32', instances=2)).eval()   # the official size, random weights
        self.crops_trained, _, _ = transforms.prepare_crops(self.image, self.boxes, self.trained.spec.input_size)
        self.crops_w32, _, _ = transforms.prepare_crops(self.image, self.boxes, self.w32.spec.input_size)
        self.results: Dict[str, Dict[str, Any]] = {}

    def run(self, name: str, fn: Callable[[], Dict[str, Any]]) -> None:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                res = fn()
            if caught:
                res['warnings'] = sorted({str(w.message)[:200] for w in caught})
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, the rest still run
            res = _result('fail', error=f'{type(exc).__name__}: {exc}', traceback=traceback.format_exc()[-2000:])
        res['seconds'] = round(time.perf_counter() - t0, 3)
        self.results[name] = res
        figures = {k: v for k, v in res.items() if k not in ('status', 'traceback', 'warnings', 'seconds')}
        self.log(f'[{res["status"]:>4}] {name}: {json.dumps(figures, default=str)[:400]}')

    # -- helpers
    def _torch(self, model, **kw):
        from mipnet_ros.core.backends import TorchBackend
        return TorchBackend(copy.deepcopy(model), **kw)

    @functools.cached_property
    def ref_w32(self) -> np.ndarray:
        """CPU float32 heatmaps of the W32 crops, lambda 0..1: the reference of several checks, computed once."""
        return self._torch(self.w32).run_shared(self.crops_w32, 2)

    def _need_cuda(self) -> Optional[Dict[str, Any]]:
        return None if self.cuda else _skip(f'device {self.device!r} is not a CUDA device torch can see')

    # -- torch on the device
    def torch_fp32(self) -> Dict[str, Any]:
        """Strict float32 on the device equals the CPU (TF32 off: only the summation order differs)."""
        if (s := self._need_cuda()):
            return s
        ref = self.ref_w32
        with cuda_flags(tf32=False):
            got = self._torch(self.w32, device=self.device).run_shared(self.crops_w32, 2)
        rel = _rel_diff(got, ref)
        return _pass_if(rel <= REL_TOL_FP32, rel_max_diff=rel, tolerance=REL_TOL_FP32)

    def tf32_default(self) -> Dict[str, Any]:
        """What a default PyTorch user gets (TF32 convolutions): reported, judged at the fp16 tolerance."""
        if (s := self._need_cuda()):
            return s
        import torch
        ref = self.ref_w32
        got = self._torch(self.w32, device=self.device).run_shared(self.crops_w32, 2)
        rel = _rel_diff(got, ref)
        return _pass_if(rel <= FP16_TOLERANCE, rel_max_diff=rel, tolerance=FP16_TOLERANCE,
                        cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32))

    def shared_vs_naive(self) -> Dict[str, Any]:
        """The shared trunk gives the per-lambda network's heatmaps on the device (1e-4, as for ONNX)."""
        dev = self.device if self.cuda else 'cpu'
        with cuda_flags(tf32=False):
            be = self._torch(self.w32, device=dev)
            shared = be.run_shared(self.crops_w32, 2)
            m = len(self.crops_w32)
            naive = be.run(np.repeat(self.crops_w32, 2, 0), np.tile(np.arange(2), m)).reshape(shared.shape)
        diff = float(np.max(np.abs(shared - naive)))
        return _pass_if(diff <= 1e-4, max_abs_diff=diff, tolerance=1e-4, device=dev)

    def fp16(self) -> Dict[str, Any]:
        """Half precision moves heatmaps by < 2 % of their peak and keeps 95 % of confident keypoints."""
        if (s := self._need_cuda()):
            return s
        from mipnet_ros.core.codec import HeatmapCodec
        codec = HeatmapCodec(self.trained.spec.input_size)
        out: Dict[str, Any] = {}
        ok = True
        with cuda_flags(tf32=False):
            ref = self._torch(self.trained, device=self.device).run_shared(self.crops_trained, 2)
        ref_xy, ref_score = codec.decode(ref)
        for name, kw in (('fp16', {}), ('fp16_channels_last', {'channels_last': True})):
            got = self._torch(self.trained, device=self.device, fp16=True, **kw).run_shared(self.crops_trained, 2)
            xy, _ = codec.decode(got)
            confident = ref_score > CONFIDENT
            near = np.linalg.norm(xy - ref_xy, axis=-1) <= 1.0
            agree = float(near[confident].mean()) if confident.any() else float('nan')
            rel = _rel_diff(got, ref)
            out[name] = {'rel_max_diff': rel, 'keypoint_agreement': agree, 'confident_joints': int(confident.sum())}
            ok = ok and rel <= FP16_TOLERANCE and (not confident.any() or agree >= KEYPOINT_AGREEMENT)
        return _pass_if(ok, tolerance=FP16_TOLERANCE, agreement_needed=KEYPOINT_AGREEMENT, **out)

    def oom_retry(self) -> Dict[str, Any]:
        """A real CUDA out-of-memory halves the chunk and the frame still comes out, equal to a small-chunk run."""
        if (s := self._need_cuda()):
            return s
        import torch
        dev = torch.device(self.device)
        boxes = 256
        crops = np.repeat(self.crops_w32, -(-boxes // len(self.crops_w32)), 0)[:boxes]
        with cuda_flags(tf32=False):
            small = self._torch(self.w32, device=self.device, max_batch=16)
            torch.cuda.reset_peak_memory_stats(dev)
            ref = small.run_shared(crops, 2)
            peak16 = torch.cuda.max_memory_allocated(dev)
            big = self._torch(self.w32, device=self.device, max_batch=2 * boxes)    # one chunk of 256 boxes
            torch.cuda.empty_cache()
            total = torch.cuda.get_device_properties(dev).total_memory
            cap = 4 * peak16                                                        # room for ~32 boxes, not 256
            handler = _ListHandler()
            logger = logging.getLogger('mipnet_ros.core.backends')
            logger.addHandler(handler)
            torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), dev)
            try:
                got = big.run_shared(crops, 2)
            finally:
                torch.cuda.set_per_process_memory_fraction(1.0, dev)
                logger.removeHandler(handler)
                torch.cuda.empty_cache()
        halvings = [m for m in handler.messages if 'out of memory' in m]
        rel = _rel_diff(got, ref)
        return _pass_if(bool(halvings) and rel <= REL_TOL_FP32, halvings=len(halvings), first=halvings[:1],
                        cap_mib=cap / 2 ** 20, rel_max_diff=rel)

    def estimator(self) -> Dict[str, Any]:
        """PoseEstimator on the device finds the CPU's people at the CPU's keypoints (98 % within 1 px)."""
        from mipnet_ros.core.estimator import PoseEstimator
        dev = self.device if self.cuda else 'cpu'
        cpu = PoseEstimator(self.model_path, device='cpu', fp16=False)
        with cuda_flags(tf32=False):
            acc = PoseEstimator(self.model_path, device=dev, fp16=False)
            kp_ref, sc_ref = cpu.estimate_batch(self.image, self.boxes)
            kp, _ = acc.estimate_batch(self.image, self.boxes)
            people_ref, people = cpu(self.image, self.boxes), acc(self.image, self.boxes)
        confident = sc_ref > CONFIDENT
        err = np.linalg.norm(kp - kp_ref, axis=-1)[confident]
        worst = float(err.max()) if err.size else 0.0
        # a flat heatmap with two near-equal maxima may resolve differently: judge the share, report the worst
        agree = float((err <= 1.0).mean()) if err.size else 1.0
        return _pass_if(agree >= 0.98 and abs(len(people) - len(people_ref)) <= 1, device=dev, people=len(people),
                        people_cpu=len(people_ref), keypoint_agreement=agree, worst_keypoint_px=worst,
                        confident_joints=int(err.size), scene=self.scene)

    # -- onnxruntime on the device
    def _onnx_file(self, tmp: Path) -> Path:
        from mipnet_ros.core.export import export_onnx
        path = tmp / 'w32_shared.onnx'
        if not path.is_file():
            export_onnx(copy.deepcopy(self.w32).cpu(), path, shared_trunk=True)
        return path

    def ort_cuda(self, tmp: Path) -> Dict[str, Any]:
        """onnxruntime's CUDA provider with IO binding equals its CPU provider; the fp16 graph stays within 2 %."""
        import onnxruntime as ort

        from mipnet_ros.core.backends import OnnxBackend
        if 'CUDAExecutionProvider' not in ort.get_available_providers():
            return _skip(f'onnxruntime {ort.__version__} has no CUDAExecutionProvider '
                         f'({ort.get_available_providers()}); install onnxruntime-gpu')
        if (s := self._need_cuda()):
            return s
        path = self._onnx_file(tmp)
        ref = OnnxBackend(path).run_shared(self.crops_w32, 2)
        gpu = OnnxBackend(path, device=self.device, allow_fallback=False)
        got = gpu.run_shared(self.crops_w32, 2)
        rel = _rel_diff(got, ref)
        io_binding = gpu.io_binding
        from mipnet_ros.core.export import convert_fp16
        half_path = tmp / 'w32_shared.fp16.onnx'
        convert_fp16(path, half_path)
        half = OnnxBackend(half_path, device=self.device, fp16=True, allow_fallback=False)
        rel16 = _rel_diff(half.run_shared(self.crops_w32, 2), ref)
        return _pass_if(rel <= 1e-3 and io_binding and rel16 <= FP16_TOLERANCE, rel_max_diff=rel, tolerance=1e-3,
                        io_binding=io_binding, fp16_graph_rel_max_diff=rel16, fp16_tolerance=FP16_TOLERANCE,
                        providers=gpu.providers)

    def ort_tensorrt(self, tmp: Path) -> Dict[str, Any]:
        """TensorRT fp16 writes its engine to the cache directory and stays within the fp16 tolerance."""
        import onnxruntime as ort

        from mipnet_ros.core.backends import OnnxBackend
        if 'TensorrtExecutionProvider' not in ort.get_available_providers():
            return _skip(f'onnxruntime {ort.__version__} has no TensorrtExecutionProvider')
        if (s := self._need_cuda()):
            return s
        path = self._onnx_file(tmp)
        cache = tmp / 'trt_cache'
        cache.mkdir(exist_ok=True)
        ref = OnnxBackend(path).run_shared(self.crops_w32, 2)
        t0 = time.perf_counter()
        trt = OnnxBackend(path, device=self.device.replace('cuda', 'tensorrt'), fp16=True, trt_cache_dir=str(cache),
                          allow_fallback=False)
        got = trt.run_shared(self.crops_w32, 2)
        build_s = time.perf_counter() - t0
        rel = _rel_diff(got, ref)
        engines = sorted(p.name for p in cache.iterdir())
        return _pass_if(rel <= FP16_TOLERANCE and bool(engines), rel_max_diff=rel, engines=engines[:4],
                        first_run_s=build_s, providers=trt.providers)


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _environment(device: str) -> Dict[str, Any]:
    import torch

    from mipnet_ros.tools.bench import environment
    env = environment(device)
    env.update(cuda_available=torch.cuda.is_available(), gpu_count=torch.cuda.device_count())
    return env


def run_checks(device: str = 'cuda:0', data: Optional[Path] = None, log: Callable[[str], None] = print
               ) -> Dict[str, Any]:
    """Every check on `device`; returns the JSON-able report (see the module docstring)."""
    t0 = time.perf_counter()
    env = _environment(device)
    log(f'check: {json.dumps(env)}')
    checker = Checker(device, data, log)
    log(f'check: scene {checker.scene}; bundled model {checker.model_path.name}')
    with tempfile.TemporaryDirectory(prefix='mipnet-check-') as tmp:
        for name in ('torch_fp32', 'tf32_default', 'shared_vs_naive', 'fp16', 'oom_retry', 'estimator'):
            checker.run(name, getattr(checker, name))
        checker.run('ort_cuda', lambda: checker.ort_cuda(Path(tmp)))
        checker.run('ort_tensorrt', lambda: checker.ort_tensorrt(Path(tmp)))
    counts = {s: sum(r['status'] == s for r in checker.results.values()) for s in ('pass', 'fail', 'skip')}
    return {'environment': env, 'scene': checker.scene, 'model': checker.model_path.name,
            'checks': checker.results, 'summary': counts, 'wall_s': time.perf_counter() - t0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--device', default='cuda:0', help='device to check against the CPU (default: %(default)s)')
    parser.add_argument('--data', default=None, metavar='DIR',
                        help='COCO-style folder (a *.json with images and person boxes beside its images) for real '
                             'crops; default: a generated image')
    parser.add_argument('--json', default=None, metavar='OUT', help='also write the report as JSON here')


def main(args: argparse.Namespace) -> int:
    data = Path(args.data) if args.data else None
    report = run_checks(args.device, data)
    s = report['summary']
    if args.json:
        write_json(args.json, report, sort_keys=True)
    print(f'check: {s["pass"]} passed, {s["fail"]} failed, {s["skip"]} skipped on {args.device} '
          f'in {report["wall_s"]:.0f} s')
    return 1 if s['fail'] else 0
