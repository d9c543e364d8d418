"""Inference backends: one interface over eager PyTorch and onnxruntime, so the estimator never knows which runs.

    backend.spec                                          ModelSpec of the network
    backend.run(crops (B,3,H,W) f32, instances (B,) i64)  -> heatmaps (B,K,h,w) float32
    backend.run_shared(crops (B,3,H,W) f32, L)            -> heatmaps (B,L,K,h,w), lambda 0..L-1 per box
"""
import logging
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from mipnet_ros.core.device import ProviderEntry, parse_device, resolve_providers
from mipnet_ros.core.errors import BackendError
from mipnet_ros.core.onnx_meta import LAYOUT_PER_INSTANCE, LAYOUT_SHARED, SPEC_KEY, decode, int8_check_text

log = logging.getLogger(__name__)


# what running out of device memory looks like: PyTorch's allocator, cuDNN asking for workspace, onnxruntime's arena
_OOM_TEXT = ('out of memory', 'failed to allocate', 'cudnn_status_alloc_failed', 'cudnn_status_not_enough_workspace')


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return type(exc).__name__ == 'OutOfMemoryError' or any(t in text for t in _OOM_TEXT)


def run_chunked(fn: Callable[[int, int], np.ndarray], n: int, chunk: int,
                on_oom: Optional[Callable[[], None]] = None) -> np.ndarray:
    """Concatenate fn(start, stop) over [0, n) in chunks; halve the chunk on out-of-memory errors.

    Backends size chunks to at most `max_batch` network rows (one row = one (box, lambda) head evaluation),
    or to the fixed batch of an ONNX file that has one.
    Halving and retrying makes a frame with unusually many boxes slower instead of failing.
    """
    outs: List[np.ndarray] = []
    start, size = 0, max(1, int(chunk))
    while start < n:
        stop = min(n, start + size)
        try:
            outs.append(fn(start, stop))
        except Exception as exc:  # noqa: BLE001 - only OOM is handled, everything else re-raised
            if not _is_oom(exc) or size == 1:
                raise
            size = max(1, size // 2)
            log.warning('out of memory with a chunk of %d; retrying with %d', stop - start, size)
            if on_oom is not None:
                on_oom()
            continue
        start = stop
    return np.concatenate(outs, axis=0)


# ---------------------------------------------------------------------- torch
class TorchBackend:
    """Eager PyTorch. fp16 only on CUDA (CPU half convolutions are slower than float32, or missing).

    The module is moved (and cast for fp16) in place, like nn.Module.to: pass a copy to keep the original.
    """

    name = 'torch'

    def __init__(self, model, device: str = 'cpu', fp16: bool = False, channels_last: bool = False,
                 max_batch: int = 64, allow_fallback: bool = True):
        import torch
        kind, index = parse_device(device)
        if kind != 'cpu' and not torch.cuda.is_available():
            msg = f'device {device!r} requested but torch sees no CUDA device (torch {torch.__version__})'
            if not allow_fallback:
                raise BackendError(msg + '; pass device="cpu" or allow_fallback=True', 'device')
            warnings.warn(msg + '; falling back to the CPU', RuntimeWarning, stacklevel=2)
            kind = 'cpu'
        self.device = torch.device('cpu' if kind == 'cpu' else f'cuda:{index}')
        if fp16 and self.device.type != 'cuda':
            warnings.warn('fp16 is only used on CUDA; running float32 on the CPU', RuntimeWarning, stacklevel=2)
            fp16 = False
        self.fp16 = bool(fp16)
        self.channels_last = bool(channels_last)
        self.max_batch = max(1, int(max_batch))
        try:
            model = model.to(self.device).eval()
        except RuntimeError as exc:     # an index this machine does not have, a broken driver
            raise BackendError(f'cannot place the model on {device!r}: {exc}', 'device') from exc
        if self.fp16:
            model = model.half()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.spec = model.spec
        self._dtype = torch.float16 if self.fp16 else torch.float32

    def _tensor(self, crops: np.ndarray):
        import torch
        t = torch.from_numpy(np.ascontiguousarray(crops, np.float32))
        if self.device.type == 'cuda':
            t = t.pin_memory().to(self.device, non_blocking=True)
        t = t.to(self._dtype)
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def _empty_cache(self) -> None:
        import torch
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()

    def run(self, crops: np.ndarray, instances: np.ndarray) -> np.ndarray:
        import torch
        instances = np.asarray(instances, np.int64).reshape(-1)
        if len(crops) == 0:
            return np.zeros((0, self.spec.num_joints) + tuple(self.spec.heatmap_size), np.float32)

        def chunk(a: int, b: int) -> np.ndarray:
            with torch.inference_mode():
                inst = torch.from_numpy(instances[a:b]).to(self.device)
                out = self.model(self._tensor(crops[a:b]), inst)
                return out.float().cpu().numpy()

        return run_chunked(chunk, len(crops), self.max_batch, self._empty_cache)

    def run_shared(self, crops: np.ndarray, num_instances: int) -> np.ndarray:
        import torch
        num_instances = int(num_instances)
        if len(crops) == 0:
            return np.zeros((0, num_instances, self.spec.num_joints) + tuple(self.spec.heatmap_size), np.float32)

        def chunk(a: int, b: int) -> np.ndarray:
            with torch.inference_mode():
                out = self.model.forward_shared(self._tensor(crops[a:b]), num_instances)
                return out.float().cpu().numpy()

        boxes_per_chunk = max(1, self.max_batch // max(1, num_instances))
        return run_chunked(chunk, len(crops), boxes_per_chunk, self._empty_cache)


# ---------------------------------------------------------------------- onnxruntime
def _spec_from_session(session, meta: Dict[str, str]):
    from mipnet_ros.core.model.registry import ModelSpec
    spec = decode(meta)['spec']
    if spec is not None:
        return ModelSpec.from_dict(spec)
    # A file exported by someone else: read what the shapes say, the architecture stays unknown.
    image = session.get_inputs()[0].shape
    out = session.get_outputs()[0].shape
    if not all(isinstance(v, int) for v in (image[2], image[3], out[-3])):
        raise BackendError(f'ONNX file has no {SPEC_KEY} metadata and no fixed input/output sizes; '
                           'export it with `python -m mipnet_ros export`', 'model')
    warnings.warn(f'ONNX file without {SPEC_KEY} metadata; assuming a single-instance model', RuntimeWarning)
    return ModelSpec(instances=1, num_joints=int(out[-3]), input_size=(int(image[2]), int(image[3])))


def _session_options(intra_op_threads: int):
    """(SessionOptions, threads, why): `intra_op_threads` > 0 as given, 0 = one per physical core available."""
    import onnxruntime as ort

    from mipnet_ros.core.device import auto_cpu_threads
    threads = int(intra_op_threads)
    if threads < 0:
        raise ValueError(f'intra_op_threads must be >= 0 (0 = auto), got {threads}')
    why = 'as configured'
    if threads == 0:
        threads, auto_why = auto_cpu_threads()
        why = f'auto: {auto_why}'
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return opts, threads, why


class OnnxBackend:
    """onnxruntime session over an exported file (`python -m mipnet_ros export`).

    Uses the shared-trunk graph when the file has one (metadata `mipnet.layout`), otherwise runs
    every (box, lambda) pair as a row of the per-instance graph. `intra_op_threads`: CPU threads of
    one inference (0 = one per physical core this process may use; ignored with `session_options`).
    """

    name = 'onnxruntime'

    def __init__(self, path, providers: Optional[Sequence[ProviderEntry]] = None, device: str = 'cpu',
                 fp16: bool = False, trt_cache_dir: Optional[str] = None, allow_fallback: bool = True,
                 max_batch: int = 64, session_options=None, intra_op_threads: int = 0):
        import onnxruntime as ort
        self.path = str(path)
        requested = resolve_providers(providers, device, fp16, trt_cache_dir, allow_fallback)
        self.notes: List[str] = []     # what was chosen for this file and why, for the log and ~/model_info
        if session_options is None:
            session_options, self.intra_op_threads, why = _session_options(intra_op_threads)
            self.notes.append(f'onnxruntime {self.intra_op_threads} intra-op thread(s) ({why})')
        else:
            self.intra_op_threads = int(session_options.intra_op_num_threads)
        try:
            self.session = ort.InferenceSession(self.path, sess_options=session_options, providers=requested)
        except Exception as exc:   # noqa: BLE001 - onnxruntime raises its own exception types
            raise BackendError(f'onnxruntime cannot load {self.path}: {exc}', 'model') from exc
        self.providers = list(self.session.get_providers())
        wanted = requested[0] if isinstance(requested[0], str) else requested[0][0]
        if wanted not in self.providers:
            msg = f'onnxruntime did not enable {wanted} (session runs on {self.providers})'
            if not allow_fallback:
                raise BackendError(msg, 'providers')
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        decoded = decode(meta)
        self.precision = decoded['precision']
        if fp16 and 'TensorrtExecutionProvider' not in self.providers and self.precision != 'fp16':
            warnings.warn('fp16 with onnxruntime needs the TensorRT provider or a half-precision graph '
                          '(`python -m mipnet_ros export --fp16` writes X.fp16.onnx); running the float32 graph',
                          RuntimeWarning, stacklevel=2)
        if self.precision == 'fp16' and self.providers[0] == 'CPUExecutionProvider':
            warnings.warn(f'{Path(self.path).name} is a half-precision graph on the CPU provider: onnxruntime '
                          'casts around the kernels it lacks in fp16, so the float32 file is faster here',
                          RuntimeWarning, stacklevel=2)
        if self.providers[0] != 'CPUExecutionProvider':
            self.notes = []       # the CPU threads do not matter when a GPU provider runs the graph
        check = int8_check_text(meta)
        if check:
            self.notes.append(check)
        self.layout = decoded['layout']
        self.spec = _spec_from_session(self.session, meta)
        inputs = {i.name: i for i in self.session.get_inputs()}
        if 'image' not in inputs:
            raise BackendError(f'{self.path}: expected an input named "image", found {sorted(inputs)}', 'model')
        shape = list(inputs['image'].shape)
        want = (3,) + tuple(int(v) for v in self.spec.input_size)
        fixed = [d if isinstance(d, int) else None for d in shape[1:]]
        if len(shape) != 4 or any(f is not None and f != w for f, w in zip(fixed, want)):
            raise BackendError(f'{self.path}: its input "image" has shape {shape}, but the pose pipeline feeds '
                               f'(batch, {want[0]}, {want[1]}, {want[2]}) BGR crops (3 channels, the input size of '
                               f'its mipnet.spec): export the model again with `python -m mipnet_ros export`',
                               'model')
        self._has_instance = 'instance' in inputs
        self._input_dtype = np.float16 if inputs['image'].type == 'tensor(float16)' else np.float32
        batch_dim = inputs['image'].shape[0]
        self.fixed_batch = int(batch_dim) if isinstance(batch_dim, int) and batch_dim > 0 else None
        self.max_batch = max(1, int(max_batch))
        self._output = self.session.get_outputs()[0].name
        self._cuda_id = None
        if 'CUDAExecutionProvider' in self.providers:
            self._cuda_id = int(dict(self.session.get_provider_options().get('CUDAExecutionProvider', {}))
                                .get('device_id', 0))

    @property
    def io_binding(self) -> bool:
        """Whether calls bind their output on the CUDA device (False on the CPU, or after a binding failure)."""
        return self._cuda_id is not None

    # -- one graph call ---------------------------------------------------------
    def _call(self, image: np.ndarray, instance: np.ndarray) -> np.ndarray:
        """One session run; pads to a fixed export batch; IO binding keeps the output on the GPU until copied."""
        n = image.shape[0]
        if self.fixed_batch is not None and n != self.fixed_batch:
            if n > self.fixed_batch:
                raise ValueError(f'chunk {n} larger than the fixed ONNX batch {self.fixed_batch}')
            pad = self.fixed_batch - n
            image = np.concatenate([image, np.repeat(image[-1:], pad, 0)])
            if self.layout == LAYOUT_PER_INSTANCE:
                instance = np.concatenate([instance, np.repeat(instance[-1:], pad)])
        feeds = {'image': np.ascontiguousarray(image, self._input_dtype)}
        if self._has_instance:
            feeds['instance'] = np.ascontiguousarray(instance, np.int64)
        out = None
        if self._cuda_id is not None:
            try:
                binding = self.session.io_binding()
                for name, value in feeds.items():
                    binding.bind_cpu_input(name, value)
                binding.bind_output(self._output, 'cuda', self._cuda_id)
                self.session.run_with_iobinding(binding)
                out = binding.copy_outputs_to_cpu()[0]
            except Exception as exc:  # noqa: BLE001 - fall back to the plain path, once
                if _is_oom(exc):
                    raise
                log.warning('IO binding failed (%s); using plain session.run', exc)
                self._cuda_id = None
        if out is None:
            out = self.session.run([self._output], feeds)[0]
        return np.asarray(out[:n], np.float32)

    def _chunk_rows(self, rows_per_item: int) -> int:
        limit = self.fixed_batch if self.fixed_batch is not None else max(1, self.max_batch // max(1, rows_per_item))
        return max(1, limit)

    # -- interface -----------------------------------------------------------------
    def run(self, crops: np.ndarray, instances: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops, np.float32)
        instances = np.asarray(instances, np.int64).reshape(-1)
        if len(crops) == 0:
            return np.zeros((0, self.spec.num_joints) + tuple(self.spec.heatmap_size), np.float32)
        if self.layout == LAYOUT_SHARED:
            # The shared graph evaluates a list of lambdas for every box: group rows by lambda.
            out = None
            for lam in np.unique(instances):
                rows = np.nonzero(instances == lam)[0]
                lam_arr = np.array([lam], np.int64)
                hm = run_chunked(lambda a, b: self._call(crops[rows[a:b]], lam_arr)[:, 0], len(rows),
                                 self._chunk_rows(1))
                if out is None:
                    out = np.empty((len(crops),) + hm.shape[1:], np.float32)
                out[rows] = hm
            return out
        return run_chunked(lambda a, b: self._call(crops[a:b], instances[a:b]), len(crops), self._chunk_rows(1))

    def run_shared(self, crops: np.ndarray, num_instances: int) -> np.ndarray:
        crops = np.asarray(crops, np.float32)
        num = int(num_instances)
        if len(crops) == 0:
            return np.zeros((0, num, self.spec.num_joints) + tuple(self.spec.heatmap_size), np.float32)
        if self.layout == LAYOUT_SHARED:
            lams = np.arange(num, dtype=np.int64)
            return run_chunked(lambda a, b: self._call(crops[a:b], lams), len(crops), self._chunk_rows(num))
        # per-instance graph: box-major rows (box b, lambda l) -> row b * num + l
        rep = np.repeat(crops, num, axis=0)
        inst = np.tile(np.arange(num, dtype=np.int64), len(crops))
        out = self.run(rep, inst)
        return out.reshape((len(crops), num) + out.shape[1:])
