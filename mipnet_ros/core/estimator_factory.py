"""Building a PoseEstimator: model, device, providers and precision resolved once, apart from running frames.

`prepare_model(...)` finds the file (bundled, a path, a zoo name), reads it once, builds the backend
on the device core/device.py chooses (fp16 'auto' compares half with full precision on this
model) and returns a `PreparedModel`. `PoseEstimator(prepared, ...)` only runs frames with it, so one
prepared model can serve several threshold sets; `PoseEstimator(model=..., device=...)` calls
`prepare_model` itself.

`instances` has one meaning everywhere (Python, `eval`, the node's `instances` parameter): the
number of lambda values run per box, lambda = 0..instances-1; 0 or None = all N of the model. Our
files record N, and instances must be 1..N. Official files do not (an N=2, 3 or 4 MIPNet has the
same weights, but its lambda codes depend on N), so there the model is built with N = instances
(0/None: 2 when the file has lambda gates, else 1), and all N run.

Every mistake a user can fix is a `ParameterError` whose `parameter` names the argument to change,
raised before any frame runs.
"""
import copy
import hashlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from mipnet_ros.core import device as core_device
from mipnet_ros.core import inputs
from mipnet_ros.core.errors import ParameterError
from mipnet_ros.core.fileio import file_sha256
from mipnet_ros.core.resources import bundled_model_path

log = logging.getLogger(__name__)

BACKENDS = ('torch', 'onnxruntime')
_BACKEND_ALIASES = {'ort': 'onnxruntime', 'onnx': 'onnxruntime'}


@dataclass
class PreparedModel:
    """A model ready to run frames, and what was resolved to get there (shown in logs and ~/model_info)."""
    backend: Any                  # TorchBackend | OnnxBackend: run / run_shared
    backend_name: str             # 'torch' | 'onnxruntime'
    device_choice: core_device.DeviceChoice
    num_instances: int            # lambdas run per box (see the module docstring)
    shared_trunk: bool            # the trunk runs once per box, the lambda head once per lambda
    model_path: Optional[str]     # None for a model passed in memory
    model_hash: str               # sha256 of the file ('' in memory)

    @property
    def spec(self):
        return self.backend.spec


def instances_limit(instances: Optional[int]) -> Optional[int]:
    """The `instances` argument as a count, None for 'all the model has' (0 or None)."""
    if instances is None:
        return None
    if isinstance(instances, bool) or int(instances) != instances or int(instances) < 0:
        raise ParameterError(f'instances must be a whole number >= 0 (0 = all the model has), got {instances!r}',
                             'instances')
    return int(instances) or None


def _backend_name(backend: str) -> str:
    name = _BACKEND_ALIASES.get(str(backend).lower(), str(backend).lower())
    if name not in BACKENDS:
        raise ParameterError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}", 'backend')
    return name


def _model_file(model, allow_download: bool) -> Path:
    if model is None:
        return bundled_model_path()
    from mipnet_ros.core.weights.resolve import resolve_model
    return resolve_model(model, download=allow_download)


def _load_torch(path: Path, arch: Optional[str], limit: Optional[int], input_size):
    """The checkpoint read once and built; `instances` sets N only for files that do not record it."""
    from mipnet_ros.core.model.checkpoint import is_ours, model_from_checkpoint, read_checkpoint
    obj = read_checkpoint(path)
    model = model_from_checkpoint(obj, path, arch=arch, instances=None if is_ours(obj) else limit,
                                  input_size=input_size)
    del obj
    note = inputs.input_size_note(model.checkpoint_info.get('trained_input_size'), model.spec.input_size)
    if note:
        warnings.warn(f'{path.name}: {note}', RuntimeWarning, stacklevel=4)
    return model


def _onnx_cache_path(model, model_hash: str, shared_trunk: bool, half: bool) -> Path:
    """Export a torch model to ONNX once (keyed by the file hash or the weights); later builds reuse it."""
    from mipnet_ros.core.export import convert_fp16, export_onnx, fp16_path
    spec = model.spec
    if model_hash:
        key = model_hash[:16]
    else:
        digest = hashlib.sha256()
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        key = digest.hexdigest()[:16]
    layout = 'shared' if shared_trunk else 'per_instance'
    target = core_device.user_cache_dir('onnx') / (f'{spec.arch}-n{spec.instances}-k{spec.num_joints}-'
                                         f'{spec.input_size[0]}x{spec.input_size[1]}-{key}-{layout}.onnx')
    if not target.is_file():
        log.info('exporting %s to %s (once)', spec.arch, target)
        export_onnx(model, target, shared_trunk=shared_trunk)
    if half:
        if not fp16_path(target).is_file():
            log.info('converting %s to fp16 (once)', target.name)
            convert_fp16(target, fp16_path(target))
        return fp16_path(target)
    return target


def _half_graph(path: Path) -> Path:
    """The half-precision file beside an exported float32 one (`export --fp16`), else the file itself."""
    from mipnet_ros.core.export import fp16_path
    return fp16_path(path) if fp16_path(path).is_file() else path


def prepare_model(model=None, arch: Optional[str] = None, backend: str = 'torch', device: str = 'auto',
                  instances: Optional[int] = None, input_size: Optional[Tuple[int, int]] = None,
                  fp16: Union[bool, str] = 'auto', shared_trunk: bool = True, max_batch: int = 64,
                  providers=None, allow_fallback: bool = True, channels_last: bool = False,
                  trt_cache_dir: Optional[str] = None, allow_download: bool = True,
                  intra_op_threads: int = 0) -> PreparedModel:
    """Resolve model, device, providers and precision once; the arguments are PoseEstimator's (see there).

    `providers` may also be a comma-separated string ('' = by device). An `arch` that does not match
    the file is refused for every format.
    """
    from mipnet_ros.core.model.checkpoint import AUTO_ARCH
    backend = _backend_name(backend)
    limit = instances_limit(instances)
    arch = arch or None        # None: ours only (an official file says how to name it); AUTO_ARCH: guess
    torch_model = None
    onnx_path: Optional[Path] = None
    model_path, model_hash = None, ''
    if model is None or isinstance(model, (str, os.PathLike)):
        path = _model_file(model, allow_download)
        model_path, model_hash = str(path), file_sha256(path)
        if path.suffix.lower() == '.onnx':
            if backend == 'torch':
                warnings.warn(f'{path.name} is an ONNX file: using the onnxruntime backend', RuntimeWarning,
                              stacklevel=3)
                backend = 'onnxruntime'
            onnx_path = path
        else:
            torch_model = _load_torch(path, arch, limit, input_size)   # arch None: our files only
    else:
        torch_model = model      # a PoseNet already in memory (tests, benchmarks, notebooks)
        if input_size is not None and tuple(input_size) != tuple(model.spec.input_size):
            raise ParameterError('input_size cannot change an in-memory model; build it with that size', 'input_size')

    fp16_auto = core_device.parse_fp16(fp16) == core_device.AUTO
    device_auto = core_device.is_auto(device)
    device, why_device = core_device.resolve_device(device)
    reasons: List[str] = [why_device]
    if backend == 'onnxruntime':
        from mipnet_ros.core.backends import OnnxBackend
        placement = core_device.place_onnx(device, device_auto, providers, trt_cache_dir)
        reasons += placement.reasons
        if fp16_auto and onnx_path is not None:
            from mipnet_ros.core.onnx_meta import read_metadata
            fixed = read_metadata(onnx_path)['precision']
            if fixed != 'fp32':
                fp16, fp16_auto = False, False
                reasons.append(f'precision {fixed} fixed by the model file')
        f32_path = onnx_path or _onnx_cache_path(torch_model, model_hash, shared_trunk, half=False)

        def build(half: bool):
            path = f32_path
            if half and core_device.wants_fp16_graph(device, True, placement.providers):
                path = _onnx_cache_path(torch_model, model_hash, shared_trunk, half=True) \
                    if torch_model is not None else _half_graph(f32_path)
            return OnnxBackend(path, providers=placement.providers, device=device, fp16=half,
                               trt_cache_dir=placement.trt_cache_dir, allow_fallback=allow_fallback,
                               max_batch=max_batch, intra_op_threads=intra_op_threads)
    else:
        from mipnet_ros.core.backends import TorchBackend
        if trt_cache_dir:
            core_device.writable_dir(trt_cache_dir, 'trt_cache_dir')

        def build(half: bool):
            net = copy.deepcopy(torch_model) if half and fp16_auto else torch_model   # fp32 kept as fallback
            return TorchBackend(net, device=device, fp16=half, channels_last=channels_last,
                                max_batch=max_batch, allow_fallback=allow_fallback)

    def compare(b32, b16) -> float:
        if core_device.precision_of(b16) != 'fp16':
            raise RuntimeError('no half-precision path here (`export --fp16` writes X.fp16.onnx)')
        crops, n = core_device.probe_crops(b32.spec.input_size), int(b32.spec.instances)
        return core_device.relative_difference(b16.run_shared(crops, n), b32.run_shared(crops, n))

    runner, _, why_fp16 = core_device.choose_precision(fp16, device, build, compare,
                                             on_gpu=lambda b: core_device.runs_on(b, device) != 'cpu')
    spec = runner.spec
    if onnx_path is not None:   # a checkpoint checks these while loading; an exported graph is checked here
        if input_size is not None and tuple(input_size) != tuple(spec.input_size):
            raise ParameterError(f'{onnx_path} was exported for input {tuple(spec.input_size)}, not '
                                 f'{tuple(input_size)}; export again with --input-size', 'input_size')
        if arch not in (None, AUTO_ARCH) and spec.arch != arch:
            raise ParameterError(f'{onnx_path} holds a {spec.arch} model, not {arch}; leave arch empty to take '
                                 'it from the file', 'arch')
    n = int(spec.instances)
    if limit is not None and not 1 <= limit <= n:
        raise ParameterError(f'instances={limit} but the model has N={n}; choose 1..{n} (0 or None = all)',
                             'instances')
    used = core_device.runs_on(runner, device)
    if used != device:
        reasons.append(f'running on {used}: {device} is not available here')
    precision = core_device.precision_of(runner)
    if core_device.parse_fp16(fp16) is True and precision != 'fp16':
        why_fp16 = f'fp16 asked, but {precision} runs here'
    choice = core_device.DeviceChoice(device=used, precision=precision,
                                      providers=tuple(getattr(runner, 'providers', ())),
                            reason='; '.join(reasons + [why_fp16] + list(getattr(runner, 'notes', []))))
    return PreparedModel(backend=runner, backend_name=backend, device_choice=choice,
                         num_instances=n if limit is None else limit, shared_trunk=bool(shared_trunk),
                         model_path=model_path, model_hash=model_hash)
