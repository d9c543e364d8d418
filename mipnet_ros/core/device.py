"""Devices, onnxruntime providers and precision: the one place that decides where a model runs, and why.

auto = the first CUDA device torch sees, else the CPU. onnxruntime then gets the providers its build
offers in the order TensorRT (engines cached under the user cache dir), CUDA, CPU. fp16 auto runs
half precision only on a GPU, and only after the fp16 path agreed with fp32 on the loaded model.
The backends (core/backends.py) only run what is decided here. ROS-free.
"""
import ctypes.util
import importlib.util
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

import numpy as np

from mipnet_ros.core.errors import BackendError, ParameterError
from mipnet_ros.core.onnx_meta import FP16_TOLERANCE
from mipnet_ros.core.resources import PACKAGE

AUTO = 'auto'
TENSORRT, CUDA, CPU = 'TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'
PROVIDER_ORDER = (TENSORRT, CUDA, CPU)
_SHORT = {TENSORRT: 'TensorRT', CUDA: 'CUDA', CPU: 'CPU'}

PROVIDER_ALIASES = {'cpu': CPU, 'cuda': CUDA, 'tensorrt': TENSORRT, 'trt': TENSORRT}

ProviderEntry = Union[str, Tuple[str, Dict[str, Any]]]
B = TypeVar('B')


@dataclass(frozen=True)
class DeviceChoice:
    """What an estimator runs on: shown in the start-up log and in ~/model_info."""
    device: str                   # 'cpu' | 'cuda:0' | ...
    precision: str                # 'fp32' | 'fp16' | 'int8'
    providers: Tuple[str, ...]    # onnxruntime session providers, in order; () for torch
    reason: str                   # why, in words

    def summary(self) -> str:
        where = self.device + (' via ' + ', '.join(_SHORT.get(p, p) for p in self.providers) if self.providers else '')
        return f'{where} {self.precision} ({self.reason})'


def user_cache_dir(name: str) -> Path:
    """<cache root>/name (weights/cache.py: $MIPNET_CACHE, else ~/.cache/mipnet_ros), created.

    A temporary directory when that cannot be written.
    """
    from mipnet_ros.core.weights.cache import cache_root
    path = cache_root() / name
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = Path(tempfile.gettempdir()) / f'{PACKAGE}-{name}'
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_auto(value) -> bool:
    return isinstance(value, str) and value.strip().lower() == AUTO


def resolve_device(device: str = AUTO) -> Tuple[str, str]:
    """(device, why): 'auto' -> 'cuda:0' when torch sees a CUDA device, else 'cpu'; others as given."""
    if not is_auto(device):
        return str(device).strip(), f'device {str(device).strip()} as configured'
    try:
        import torch
    except ImportError:
        return 'cpu', 'device auto: torch is not installed'
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count > 0:
        try:
            name = torch.cuda.get_device_name(0)
        except Exception:  # noqa: BLE001 - the name is only for the reader
            name = 'unnamed'
        return 'cuda:0', f'device auto: torch {torch.__version__} sees {count} CUDA device(s), cuda:0 is {name}'
    if torch.version.cuda is None:
        return 'cpu', (f'device auto: torch {torch.__version__} is a CPU-only build '
                       '(a GPU needs its CUDA build: MIPNET_GPU=1 make setup)')
    return 'cpu', f'device auto: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device'


def tensorrt_loadable() -> bool:
    """Whether the TensorRT libraries the TensorRT provider loads can be found (pip wheel or system)."""
    return importlib.util.find_spec('tensorrt') is not None or ctypes.util.find_library('nvinfer') is not None


def default_providers(device: str, available: Sequence[str],
                      tensorrt_ok: Optional[bool] = None) -> Tuple[List[str], str]:
    """(provider names, why) for onnxruntime when none are configured, on an already resolved device.

    On a GPU: those of TensorRT, CUDA, CPU this onnxruntime build offers, in that order (TensorRT only
    when its libraries load); on the CPU: CPU.
    """
    if str(device).split(':')[0].strip().lower() == 'cpu':
        return [CPU], 'providers: CPU (device cpu)'
    if tensorrt_ok is None:
        tensorrt_ok = TENSORRT in available and tensorrt_loadable()
    chosen = [p for p in PROVIDER_ORDER if p in available and (p != TENSORRT or tensorrt_ok)]
    if CPU not in chosen:
        chosen.append(CPU)
    notes = []
    if TENSORRT in available and not tensorrt_ok:
        notes.append('TensorRT left out: its libraries (libnvinfer) are not installed')
    if CUDA not in available:
        notes.append('no CUDA provider: this is the CPU onnxruntime, install onnxruntime-gpu (make setup does)')
    why = 'providers: ' + ', '.join(_SHORT[p] for p in chosen)
    return chosen, why + (f' ({"; ".join(notes)})' if notes else '')


def uses_tensorrt(providers: Optional[Sequence], device: str) -> bool:
    """Whether a provider list (names, aliases or (name, options)) or, when empty, the device asks for TensorRT."""
    if not providers:
        return str(device).split(':')[0].strip().lower() in ('tensorrt', 'trt')
    names = [str(p if isinstance(p, str) else p[0]).lower() for p in providers]
    return any(n in ('tensorrt', 'trt', TENSORRT.lower()) for n in names)


def preload_cuda_libraries() -> str:
    """Let onnxruntime-gpu load the CUDA/cuDNN libraries that came as pip packages (onnxruntime >= 1.21).

    Without it, its CUDA provider finds them only on the library path or after `import torch`.
    Returns what happened, for the log.
    """
    import onnxruntime as ort
    if not hasattr(ort, 'preload_dlls') or CUDA not in ort.get_available_providers():
        return ''
    try:
        ort.preload_dlls()
    except Exception as exc:  # noqa: BLE001 - the provider still tries the library path itself
        return f'onnxruntime could not preload the CUDA libraries ({type(exc).__name__}: {exc})'
    return ''


def _cgroup_cpu_limit() -> Optional[int]:
    """CPUs a container's cgroup v2 quota allows (cpu.max 'quota period'), or None when unlimited."""
    try:
        quota, period = Path('/sys/fs/cgroup/cpu.max').read_text().split()[:2]
        return None if quota == 'max' else max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        return None


def auto_cpu_threads() -> Tuple[int, str]:
    """(threads, why) for onnxruntime's intra-op pool when none are configured: one per physical core this
    process may run on (its CPU affinity, and a container's CPU quota). Hyper-threads are left out: a
    convolution thread keeps a core's vector units busy, a second one on the same core only competes."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topo = Path(f'/sys/devices/system/cpu/cpu{cpu}/topology')
        try:
            cores.add((topo.joinpath('physical_package_id').read_text().strip(), topo.joinpath('core_id').read_text()
                       .strip()))
        except OSError:
            cores.add(('cpu', str(cpu)))
    threads, why = len(cores), f'{len(cores)} physical core(s) among the {len(cpus)} CPU(s) this process may use'
    limit = _cgroup_cpu_limit()
    if limit is not None and limit < threads:
        threads, why = limit, f'the container CPU quota allows {limit} ({why})'
    return max(1, threads), why


def parse_fp16(value: Union[bool, str, None]) -> Union[bool, str]:
    """True, False or 'auto' from a bool or the strings auto/true/false/1/0/yes/no/on/off."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    if text in ('1', 'true', 'yes', 'on'):
        return True
    if text in ('0', 'false', 'no', 'off', ''):
        return False
    raise ParameterError(f"fp16 must be auto, true or false, got {value!r}", 'fp16')


def is_gpu(device: str) -> bool:
    return str(device).split(':')[0].strip().lower() != 'cpu'


def relative_difference(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| over the largest |ref|: the measure FP16_TOLERANCE is stated in."""
    scale = float(np.max(np.abs(ref))) if np.size(ref) else 0.0
    diff = np.max(np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64))) if np.size(ref) else 0.0
    return float(diff) / (scale or 1.0)


def probe_crops(input_size: Sequence[int], count: int = 2, seed: int = 0) -> np.ndarray:
    """(count,3,H,W) float32 smooth random crops in the range of normalized images, for agreement checks."""
    h, w = (int(v) for v in input_size)
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, (count, 3, -(-h // 8), -(-w // 8))).astype(np.float32)
    return np.ascontiguousarray(coarse.repeat(8, axis=2).repeat(8, axis=3)[:, :, :h, :w])


def choose_precision(fp16: Union[bool, str], device: str, build: Callable[[bool], B],
                     compare: Callable[[B, B], float],
                     on_gpu: Optional[Callable[[B], bool]] = None) -> Tuple[B, bool, str]:
    """(backend, fp16 used, why). `build(half)` makes a backend; `compare(b32, b16)` is their relative difference.

    fp16 'auto' on a GPU builds both and keeps fp16 when it agrees with fp32 within FP16_TOLERANCE;
    on the CPU (also when `on_gpu(b32)` says the GPU fell back to it), or when the fp16 path fails
    or disagrees, it stays fp32.
    """
    mode = parse_fp16(fp16)
    if mode != AUTO:
        return build(bool(mode)), bool(mode), f'fp16 {"on" if mode else "off"} as configured'
    cpu_why = 'fp16 auto: fp32 on the CPU (half precision pays only on a GPU)'
    if not is_gpu(device):
        return build(False), False, cpu_why
    b32 = build(False)
    if on_gpu is not None and not on_gpu(b32):
        return b32, False, cpu_why
    try:
        b16 = build(True)
        rel = float(compare(b32, b16))
    except Exception as exc:  # noqa: BLE001 - any failure of the fp16 path means: stay in fp32
        return b32, False, f'fp16 auto: fp32, the fp16 path failed ({type(exc).__name__}: {str(exc)[:120]})'
    if rel <= FP16_TOLERANCE:
        return b16, True, (f'fp16 auto: fp16, it agrees with fp32 within {rel:.1e} of the peak heatmap '
                           f'(tolerance {FP16_TOLERANCE:g})')
    return b32, False, f'fp16 auto: fp32, fp16 differs by {rel:.1e} of the peak heatmap (> {FP16_TOLERANCE:g})'


def parse_device(device: str) -> Tuple[str, int]:
    """'cpu' | 'cuda' | 'cuda:1' | 'tensorrt:0' -> (kind, index)."""
    m = re.fullmatch(r'\s*([a-zA-Z]+)\s*(?::\s*(\d+))?\s*', str(device))
    if not m:
        raise ParameterError(f'device must look like cpu, cuda or cuda:0, got {device!r}', 'device')
    return m.group(1).lower(), int(m.group(2) or 0)


def resolve_providers(providers: Optional[Sequence[ProviderEntry]], device: str = 'cpu', fp16: bool = False,
                      trt_cache_dir: Optional[str] = None, allow_fallback: bool = True,
                      available: Optional[Sequence[str]] = None) -> List[ProviderEntry]:
    """The provider list handed to onnxruntime, after defaults, aliases and availability checks.

    providers=None picks from `device`: cpu -> CPU; cuda:i -> CUDA(i), CPU; tensorrt:i ->
    TensorRT(i), CUDA(i), CPU. TensorRT gets the engine cache (engines take minutes to build;
    the cache makes the second start fast) and fp16 when asked. Providers missing from this
    onnxruntime build are dropped with a warning, or raise when `allow_fallback` is False.
    """
    if available is None:
        import onnxruntime as ort
        available = ort.get_available_providers()
    kind, index = parse_device(device)
    if providers is None or len(providers) == 0:
        providers = {'cpu': ['cpu'], 'cuda': ['cuda', 'cpu'], 'gpu': ['cuda', 'cpu'],
                     'tensorrt': ['tensorrt', 'cuda', 'cpu'], 'trt': ['tensorrt', 'cuda', 'cpu']}.get(kind)
        if providers is None:
            raise ParameterError(f'unknown device {device!r} for onnxruntime (cpu, cuda:N, tensorrt:N)', 'device')
    resolved: List[ProviderEntry] = []
    missing: List[str] = []
    for entry in providers:
        name, opts = (entry, {}) if isinstance(entry, str) else (entry[0], dict(entry[1] or {}))
        name = PROVIDER_ALIASES.get(name.lower(), name)
        if name in (CUDA, TENSORRT):
            opts.setdefault('device_id', index)
        if name == TENSORRT:
            if fp16:
                opts.setdefault('trt_fp16_enable', True)
            if trt_cache_dir:
                opts.setdefault('trt_engine_cache_enable', True)
                opts.setdefault('trt_engine_cache_path', str(trt_cache_dir))
        if name not in available:
            missing.append(name)
            continue
        opts = {k: str(v) for k, v in opts.items()}   # the Python API passes provider options as strings
        resolved.append((name, opts) if opts else name)
    names = [p if isinstance(p, str) else p[0] for p in resolved]
    if missing:
        msg = (f'onnxruntime execution provider(s) {missing} not available in this onnxruntime build '
               f'(available: {list(available)})')
        if not allow_fallback:
            raise BackendError(msg + '; install the matching onnxruntime package (onnxruntime-gpu for CUDA/'
                                     'TensorRT) or pass allow_fallback=True to run on what is there', 'providers')
        warnings.warn(msg + f'; using {names or [CPU]}', RuntimeWarning, stacklevel=3)
    if CPU not in names and (allow_fallback or not resolved):
        resolved.append(CPU)
    return resolved


def wants_fp16_graph(device: str, fp16: bool, providers: Optional[Sequence[ProviderEntry]] = None,
                     available: Optional[Sequence[str]] = None) -> bool:
    """Whether fp16 onnxruntime inference needs a half-precision graph: when it runs on the CUDA provider.

    TensorRT takes fp16 as a build flag on the float32 graph, and on the CPU fp16 is slower than float32.
    """
    if not fp16:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')      # missing providers are reported by the backend itself
        resolved = resolve_providers(providers, device, fp16, available=available)
    first = resolved[0] if isinstance(resolved[0], str) else resolved[0][0]
    return first == CUDA


def parse_providers(providers: Union[None, str, Sequence[ProviderEntry]]) -> Optional[List[ProviderEntry]]:
    """A provider list from a list or a comma-separated string ('' or None: by device)."""
    if providers is None:
        return None
    if isinstance(providers, str):
        providers = [p.strip() for p in providers.split(',') if p.strip()]
    return list(providers) or None


def writable_dir(path: str, parameter: str) -> str:
    """`path`, created; a ParameterError naming `parameter` when it cannot be created or written."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ParameterError(f'{parameter} {path!r} cannot be created or written: {exc.strerror or exc}',
                             parameter) from exc
    return path


@dataclass
class OnnxPlacement:
    """What an onnxruntime session gets: providers (None = by device), the TensorRT cache, and why."""
    providers: Optional[List[ProviderEntry]]
    trt_cache_dir: Optional[str]
    reasons: List[str]


def place_onnx(device: str, device_auto: bool, providers, trt_cache_dir: Optional[str]) -> OnnxPlacement:
    """Providers and TensorRT cache for an already resolved device (device auto: those installed, in order)."""
    reasons: List[str] = []
    providers = parse_providers(providers)
    if is_gpu(device):
        note = preload_cuda_libraries()
        if note:
            reasons.append(note)
    if device_auto and not providers:
        import onnxruntime as ort
        providers, why = default_providers(device, ort.get_available_providers())
        reasons.append(why)
    if trt_cache_dir:
        writable_dir(trt_cache_dir, 'trt_cache_dir')
    elif uses_tensorrt(providers, device):
        trt_cache_dir = str(user_cache_dir('trt'))
        reasons.append(f'TensorRT engines cached in {trt_cache_dir}')
    return OnnxPlacement(providers, trt_cache_dir or None, reasons)


def precision_of(backend) -> str:
    """What a backend computes in: fp16 for half torch, a half graph, or TensorRT built with fp16."""
    if getattr(backend, 'fp16', False):
        return 'fp16'
    providers = list(getattr(backend, 'providers', ()))
    if providers[:1] == [TENSORRT]:
        options = backend.session.get_provider_options().get(TENSORRT, {})
        if str(options.get('trt_fp16_enable', '0')).lower() in ('1', 'true'):
            return 'fp16'
    return str(getattr(backend, 'precision', 'fp32'))


def runs_on(backend, device: str) -> str:
    """The device a backend really uses ('cpu' after a fallback)."""
    providers = list(getattr(backend, 'providers', ()))
    if providers:
        return 'cpu' if providers[0] == CPU else device
    return str(getattr(backend, 'device', device))
