"""Speed benchmark: what does evaluating N instances per box cost, and what does the shared trunk save?

Variants, all in one process on the same crops (see `interleaved`):
  naive     per lambda, a full forward pass of the B crops: N passes through the whole network
  shared    the lambda-free trunk once per box, only the head B*N times (PoseNet.forward_shared)
  plain     the HRNet without modulation blocks, one pass per box (what MIPNet is compared with)
  backends  torch eager vs onnxruntime (shared-trunk, per-instance and int8 shared-trunk graphs) at 10 boxes,
            at each thread count of --backend-threads; fp16 variants only on a GPU
  pipeline  the whole PoseEstimator call (crop, network, decode, OKS-NMS) at 10 boxes
  gpu       CUDA only: device-resident throughput per precision up to large batches (tools/gpu_throughput.py)
`--node` adds the ROS node's overhead (tools/node_overhead.py) under `extra`; `--extra-json FILE` merges
measurements taken in another process."""
import argparse
import copy
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from mipnet_ros.core.fileio import write_json
from mipnet_ros.tools.device_peaks import GPU_PEAKS_TFLOPS, peaks_for

DEFAULT_JSON = Path('out') / 'bench' / 'bench.json'
CPU_ISA_FLAGS = ('fma', 'avx2', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'avx512_fp16',
                 'amx_int8')


def add_measurements(report: Dict[str, Any], name: str, data: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge measurements taken elsewhere (e.g. node overhead in another process) into a report."""
    report.setdefault('extra', {})[name] = dict(data)
    return report


# ---------------------------------------------------------------------- MAC counting
def count_macs(model, run: Callable[[], Any]) -> int:
    """Multiply-accumulates of the Conv2d / ConvTranspose2d / Linear layers during `run()`.

    Other layers (BN, ReLU, pooling, upsampling, adds) are memory-bound and tiny in MACs, so
    leaving them out is the usual convention (and what the HRNet paper's GFLOPs count).
    """
    import torch
    from torch import nn
    total = [0]

    def conv(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total[0] += out.numel() * k

    def deconv(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.out_channels // mod.groups)
        total[0] += inp[0].numel() * k

    def linear(mod, inp, out):
        total[0] += out.numel() * mod.in_features

    handles = []
    for mod in model.modules():
        if isinstance(mod, nn.ConvTranspose2d):
            handles.append(mod.register_forward_hook(deconv))
        elif isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear))
    try:
        with torch.inference_mode():
            run()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def mac_profile(model) -> Dict[str, float]:
    """GMACs of one crop: whole network, trunk, head; f = trunk fraction."""
    import torch
    h, w = model.spec.input_size
    dev = next(model.parameters()).device
    x = torch.zeros(1, 3, h, w, device=dev)
    inst = torch.zeros(1, dtype=torch.long, device=dev)
    full = count_macs(model, lambda: model(x, inst))
    trunk = count_macs(model, lambda: model.forward_trunk(x))
    return {'gmac_full': full / 1e9, 'gmac_trunk': trunk / 1e9, 'gmac_head': (full - trunk) / 1e9,
            'trunk_fraction': trunk / full if full else 0.0}


def shared_gmac(macs: Mapping[str, float], instances: int) -> float:
    """GMACs of one box with the shared trunk: the trunk once, the head once per lambda."""
    return macs['gmac_trunk'] + instances * macs['gmac_head']


def flop_bound(f: float, n: int) -> float:
    """Lowest possible shared/naive cost ratio, (f + (1-f) N) / N, for N instances when a fraction f of the
    MACs is shared; the report puts the measured ratio next to it."""
    return (f + (1.0 - f) * n) / n


# ---------------------------------------------------------------------- timing
def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(variants: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> Dict[str, float]:
    """Median seconds per call of each variant, variants alternating within every repeat.

    Interleaving makes a CPU that gets busier during the run penalise every variant equally.
    """
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times: Dict[str, List[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(_timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def environment(device: str) -> Dict[str, Any]:
    """Versions, CPU (model, ISA), GPU and thread count: numbers from different machines are not comparable."""
    import torch
    env = {'python': platform.python_version(), 'torch': torch.__version__, 'numpy': np.__version__,
           'platform': platform.platform(), 'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
           'device': device}
    try:
        with open('/proc/cpuinfo') as f:
            lines = f.read().splitlines()
        env['cpu'] = next((ln.split(':', 1)[1].strip() for ln in lines if ln.startswith('model name')), '')
        flags = set(next((ln.split(':', 1)[1].split() for ln in lines if ln.startswith('flags')), []))
        # the vector units decide the CPU figures: int8 gains most from VNNI, float32 from AVX-512
        env['cpu_isa'] = [f for f in CPU_ISA_FLAGS if f in flags]
    except OSError:
        env['cpu'] = platform.processor()
    try:
        import onnxruntime as ort
        env['onnxruntime'] = ort.__version__
        env['onnxruntime_providers'] = ort.get_available_providers()
    except ImportError:
        pass
    if device.startswith('cuda') and torch.cuda.is_available():
        env['gpu'] = torch.cuda.get_device_name(torch.device(device))
        env['cuda'] = torch.version.cuda
        env['cudnn'] = torch.backends.cudnn.version()
        # PyTorch runs float32 convolutions as TF32 on tensor cores unless told not to: 'torch_fp32'
        # in `backends` is what a user gets by default, `gpu_throughput` separates the two
        env['cudnn_allow_tf32'] = bool(torch.backends.cudnn.allow_tf32)
    return env


# ---------------------------------------------------------------------- the benchmark
def run_benchmark(arch: str = 'hrnet_w32', input_size=None, instances: Sequence[int] = (1, 2, 3, 4),
                  boxes: Sequence[int] = (1, 5, 10, 20), repeats: int = 3, warmup: int = 1, device: str = 'cpu',
                  backend_boxes: int = 10, onnx: bool = True, pipeline: bool = True, seed: int = 0,
                  log: Callable[[str], None] = print,
                  extra: Optional[Mapping[str, Callable[[], Dict[str, Any]]]] = None,
                  backend_threads: Sequence[int] = (), int8: bool = True,
                  gpu_boxes: Sequence[int] = (10, 64, 256)) -> Dict[str, Any]:
    """Measure everything described in the module docstring; returns the JSON-able report."""
    import torch

    from mipnet_ros.core.backends import TorchBackend
    from mipnet_ros.core.model.registry import ARCHS, ModelSpec, build_model
    torch.manual_seed(seed)
    size = tuple(input_size) if input_size else ARCHS[arch].default_input_size
    n_max = max(max(instances), 2)
    gated = build_model(ModelSpec(arch, instances=n_max, input_size=size)).eval()
    plain = build_model(ModelSpec(arch, instances=1, input_size=size)).eval()
    macs = mac_profile(gated)
    macs_plain = mac_profile(plain)
    f = macs['trunk_fraction']
    log(f'{arch} {size[0]}x{size[1]}: {macs["gmac_full"]:.2f} GMAC/crop with gates '
        f'({macs_plain["gmac_full"]:.2f} plain), trunk fraction f={f:.3f}; device {device}')
    be = TorchBackend(gated, device=device, max_batch=1024)
    be_plain = TorchBackend(plain, device=device, max_batch=1024)
    rng = np.random.default_rng(seed)
    all_crops = rng.standard_normal((max(max(boxes), backend_boxes), 3) + size).astype(np.float32)

    report: Dict[str, Any] = {
        'config': {'arch': arch, 'input_size': list(size), 'instances': list(instances), 'boxes': list(boxes),
                   'repeats': repeats, 'warmup': warmup, 'backend_boxes': backend_boxes, 'seed': seed,
                   'timing': 'median seconds per call after the warm-up calls; variants interleaved'},
        'environment': environment(device),
        'macs': {'gated': macs, 'plain': macs_plain},
        'instances_vs_shared': [],
    }

    for b in boxes:
        crops = all_crops[:b]
        variants: Dict[str, Callable[[], Any]] = {'plain': lambda: be_plain.run(crops, np.zeros(b, np.int64))}
        lams = [np.full(b, lam, np.int64) for lam in range(max(instances))]
        for n in instances:
            # naive per-lambda: the whole network once per lambda on the B crops (as a loop over
            # lambda would do); same batch size as `plain`, so only the repeated trunk differs
            variants[f'naive{n}'] = (lambda n=n: [be.run(crops, lams[lam]) for lam in range(n)])
            variants[f'shared{n}'] = (lambda n=n: be.run_shared(crops, n))
        t = interleaved(variants, repeats, warmup)
        for n in instances:
            naive, shared, plain_s = t[f'naive{n}'], t[f'shared{n}'], t['plain']
            entry = {'boxes': b, 'instances': n, 'naive_s': naive, 'shared_s': shared, 'plain_s': plain_s,
                     'shared_over_naive': shared / naive, 'speedup': naive / shared,
                     'flop_bound_ratio': flop_bound(f, n), 'shared_over_plain': shared / plain_s,
                     'boxes_per_s_shared': b / shared, 'boxes_per_s_naive': b / naive,
                     'gmac_naive': b * n * macs['gmac_full'],
                     'gmac_shared': b * shared_gmac(macs, n)}
            entry['gmacs_per_s_naive'] = entry['gmac_naive'] / naive
            entry['gmacs_per_s_shared'] = entry['gmac_shared'] / shared
            report['instances_vs_shared'].append(entry)
            log(f'  boxes={b:>2} N={n}: naive {naive * 1e3:8.1f} ms  shared {shared * 1e3:8.1f} ms  '
                f'ratio {entry["shared_over_naive"]:.3f} (MAC bound {entry["flop_bound_ratio"]:.3f})  '
                f'{entry["boxes_per_s_shared"]:.1f} boxes/s  (plain HRNet {plain_s * 1e3:.1f} ms)')

    report['backends'] = _bench_backends(gated, all_crops[:backend_boxes], repeats, device, onnx, log, warmup,
                                         backend_threads, int8, macs)
    if device.startswith('cuda') and torch.cuda.is_available() and gpu_boxes:
        from mipnet_ros.tools.gpu_throughput import measure_throughput
        gflop_box = 2 * shared_gmac(macs, 2)
        report['gpu_throughput'] = measure_throughput(gated, gflop_box, device=device, boxes=gpu_boxes, instances=2,
                                                      log=log)
    if pipeline:
        report['pipeline'] = _bench_pipeline(gated, backend_boxes, repeats, device, seed, log)
    for name, fn in (extra or {}).items():
        try:
            add_measurements(report, name, fn())
        except Exception as exc:  # noqa: BLE001 - an optional section must not lose the core results
            add_measurements(report, name, {'error': f'{type(exc).__name__}: {exc}'})
    return report


def _bench_backends(model, crops: np.ndarray, repeats: int, device: str, onnx: bool,
                    log: Callable[[str], None], warmup: int = 1, thread_counts: Sequence[int] = (),
                    int8: bool = True, macs: Optional[Mapping[str, float]] = None) -> Dict[str, Any]:
    """torch eager vs onnxruntime on the same crops with lambda 0..1 (the official N=2).

    Every variant gets the same CPU threads; the comparison is repeated for each of `thread_counts`
    (the first entry is the headline, `results`). int8 is onnxruntime's statically quantized
    shared-trunk graph; here it is calibrated on the benchmark's noise crops, which fixes its speed
    but says nothing of its accuracy (that is `eval` on a model quantized with real crops).
    """
    import tempfile

    import torch
    n = 2
    b = crops.shape[0]
    on_gpu = device.startswith('cuda') and torch.cuda.is_available()
    threads = list(dict.fromkeys([torch.get_num_threads()] + [int(t) for t in thread_counts if int(t) > 0]))
    out: Dict[str, Any] = {'boxes': b, 'instances': n, 'threads': threads[0], 'by_threads': []}
    files: Dict[str, Path] = {}
    tmp = tempfile.TemporaryDirectory(prefix='mipnet-bench-') if onnx else None
    try:
        if tmp is not None:
            try:
                import onnxruntime

                from mipnet_ros.core.export import export_onnx
                cpu_model = model if not on_gpu else copy.deepcopy(model).cpu()
                for layout, shared in (('shared', True), ('per_instance', False)):
                    files[layout] = Path(tmp.name) / f'{layout}.onnx'
                    export_onnx(cpu_model, files[layout], shared_trunk=shared)
                if on_gpu and 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
                    from mipnet_ros.core.export import convert_fp16
                    files['shared_fp16'] = Path(tmp.name) / 'shared_fp16.onnx'     # CUDA provider only
                    convert_fp16(files['shared'], files['shared_fp16'])
                if int8:
                    from mipnet_ros.core.quantize import quantize_onnx
                    files['shared_int8'] = Path(tmp.name) / 'shared_int8.onnx'
                    info = quantize_onnx(files['shared'], files['shared_int8'], crops)
                    log(f'  int8 graph quantized in {info["seconds"]:.0f} s')
            except ImportError as exc:
                log(f'  onnxruntime skipped: {exc}')
        before = torch.get_num_threads()
        try:
            for t in threads:
                torch.set_num_threads(t)
                results = _time_backends(model, crops, n, device, on_gpu, files, t, repeats, warmup, macs)
                out['by_threads'].append({'threads': t, 'results': results})
                base = results['torch_fp32']['seconds']
                for name, r in results.items():
                    log(f'  backend {name:<26} {t} thr {r["seconds"] * 1e3:8.1f} ms for {b} boxes x {n} instances  '
                        f'({r["boxes_per_s"]:.1f} boxes/s, x{base / r["seconds"]:.2f} vs torch fp32, '
                        f'x{r["speedup_vs_official_per_lambda"]:.2f} vs official per-lambda)')
        finally:
            torch.set_num_threads(before)
    finally:
        if tmp is not None:
            tmp.cleanup()
    out['results'] = out['by_threads'][0]['results']
    return out


OFFICIAL = 'torch_official_per_lambda'   # backends-section variant: the network once per lambda, as MIPNet runs


def _time_backends(model, crops: np.ndarray, n: int, device: str, on_gpu: bool, files: Mapping[str, Path],
                   threads: int, repeats: int, warmup: int,
                   macs: Optional[Mapping[str, float]] = None) -> Dict[str, Dict[str, float]]:
    """One interleaved round of every backend variant at `threads` CPU threads.

    `gmacs_per_s` is the useful work (the shared-trunk MAC count of B boxes x N) per second for every
    variant, so a graph that repeats the trunk shows up as doing the same work more slowly.
    """
    import torch

    from mipnet_ros.core.backends import OnnxBackend, TorchBackend
    backends: Dict[str, Any] = {'torch_fp32': TorchBackend(model, device=device, max_batch=1024)}
    if on_gpu:
        backends['torch_fp16'] = TorchBackend(copy.deepcopy(model), device=device, fp16=True, max_batch=1024)
        backends['torch_fp16_cl'] = TorchBackend(copy.deepcopy(model), device=device, fp16=True, channels_last=True,
                                                 max_batch=1024)
    for layout, path in files.items():
        import onnxruntime
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = threads           # the same CPU budget as torch
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            if layout != 'shared_fp16':       # a half-precision graph is for the CUDA provider
                backends[f'ort_cpu_{layout}'] = OnnxBackend(path, device='cpu', max_batch=1024,
                                                            session_options=opts)
            if on_gpu and layout != 'shared_int8':
                gpu = OnnxBackend(path, device=device, max_batch=1024)
                if 'CUDAExecutionProvider' in gpu.providers:
                    backends[f'ort_cuda_{layout}'] = gpu
    calls = {name: (lambda be=be: be.run_shared(crops, n)) for name, be in backends.items()}
    # the official MIPNet way: the whole network once per lambda (torch eager, float32)
    lams = [np.full(crops.shape[0], lam, np.int64) for lam in range(n)]
    calls[OFFICIAL] = lambda be=backends['torch_fp32']: [be.run(crops, lam) for lam in lams]
    t = interleaved(calls, repeats, warmup)
    b, base, official = crops.shape[0], t['torch_fp32'], t[OFFICIAL]
    out = {name: {'seconds': sec, 'boxes_per_s': b / sec, 'relative_to_torch_fp32': sec / base,
                  'speedup_vs_torch_fp32': base / sec, 'speedup_vs_official_per_lambda': official / sec}
           for name, sec in t.items()}
    if macs:
        gmac = b * shared_gmac(macs, n)
        peak = peaks_for(torch.cuda.get_device_name(torch.device(device))) if on_gpu else None
        for name, r in out.items():
            r['gmacs_per_s'] = gmac / r['seconds']
            if peak and not name.startswith('ort_cpu'):
                r['fraction_of_fp16_peak'] = 2 * r['gmacs_per_s'] / 1e3 / peak[1]['fp16_tensor']
    return out


def _bench_pipeline(model, boxes: int, repeats: int, device: str, seed: int,
                    log: Callable[[str], None]) -> Dict[str, Any]:
    """One PoseEstimator call on a synthetic 640x480 image: where the time goes outside the network."""
    from mipnet_ros.core.estimator import PoseEstimator
    est = PoseEstimator(model, device=device, fp16=False, instances=2, max_batch=1024)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    xy = rng.uniform([0, 0], [560, 300], (boxes, 2))
    wh = rng.uniform([40, 100], [80, 180], (boxes, 2))
    box = np.concatenate([xy, xy + wh], 1)
    parts: Dict[str, List[float]] = {'total_s': [], 'crop_s': [], 'network_s': [], 'decode_s': []}
    est(image, box)
    for _ in range(repeats):
        total = _timed(lambda: est(image, box))
        parts['total_s'].append(total)
        for k in ('crop_s', 'network_s', 'decode_s'):
            parts[k].append(est.last_timing[k])
    med = {k: statistics.median(v) for k, v in parts.items()}
    med['postprocess_s'] = med['total_s'] - med['crop_s'] - med['network_s'] - med['decode_s']
    med['boxes'] = boxes
    med['instances'] = 2
    med['boxes_per_s'] = boxes / med['total_s']
    log(f'  pipeline: {med["total_s"] * 1e3:.1f} ms per image with {boxes} boxes (network '
        f'{med["network_s"] * 1e3:.1f}, crop {med["crop_s"] * 1e3:.1f}, decode {med["decode_s"] * 1e3:.1f}, '
        f'scoring+NMS {med["postprocess_s"] * 1e3:.1f} ms)')
    return med


# ---------------------------------------------------------------------- GPU estimates
# fractions of peak at which the estimate is stated; what a convolutional net really reaches depends
# on batch, layout and kernels, which is exactly what a GPU run of this benchmark would measure
ASSUMED_UTILISATION = (0.1, 0.3)


def gpu_estimates(report: Mapping[str, Any], boxes: int = 10, instances: int = 2) -> Dict[str, Any]:
    """ESTIMATES (not measurements) of GPU throughput from the counted MACs and published peaks.

    Used when no GPU ran the benchmark: boxes/s = utilisation * peak / (2 * MACs per box), with the
    shared-trunk MACs for `instances` lambdas. Both bounds are stated with their assumption.
    """
    macs = report['macs']['gated']
    gmac_box = shared_gmac(macs, instances)
    flops_box = 2e9 * gmac_box
    out: Dict[str, Any] = {
        'ESTIMATE': 'not measured: computed from counted MACs and published peak FLOPS',
        'boxes': boxes, 'instances': instances, 'gflop_per_box_shared': flops_box / 1e9,
        'assumed_utilisation': list(ASSUMED_UTILISATION), 'devices': {}}
    for name, peaks in GPU_PEAKS_TFLOPS.items():
        dev: Dict[str, Any] = {'peak_tflops': dict(peaks)}
        for prec, tflops in peaks.items():
            per_s = {f'u{u:g}': u * tflops * 1e12 / flops_box for u in ASSUMED_UTILISATION}
            dev[f'boxes_per_s_{prec}'] = per_s
            dev[f'ms_per_{boxes}_boxes_{prec}'] = {k: 1e3 * boxes / v for k, v in per_s.items()}
        dev['fp16_over_fp32_peak_ratio'] = peaks['fp16_tensor'] / peaks['fp32']
        dev['fp16_over_tf32_peak_ratio'] = peaks['fp16_tensor'] / peaks['tf32_tensor']
        out['devices'][name] = dev
    return out


# ---------------------------------------------------------------------- plot
def plot_report(report: Mapping[str, Any], path: Path) -> Path:
    """Shared/naive ratio vs N (with the FLOP bound), boxes/s vs boxes, and the backends' speed-ups."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = report['instances_vs_shared']
    boxes = sorted({r['boxes'] for r in rows})
    ns = sorted({r['instances'] for r in rows})
    by_threads = [g for g in report.get('backends', {}).get('by_threads') or [] if len(g['results']) > 1]
    fig, axes = plt.subplots(1, 3 if by_threads else 2, figsize=(16 if by_threads else 11, 4.2))
    ax1, ax2 = axes[0], axes[1]
    for b in boxes:
        sel = [r for r in rows if r['boxes'] == b]
        ax1.plot([r['instances'] for r in sel], [r['shared_over_naive'] for r in sel], 'o-', label=f'{b} boxes')
    f = report['macs']['gated']['trunk_fraction']
    ax1.plot(ns, [flop_bound(f, n) for n in ns], 'k--', label=f'MAC bound (f={f:.2f})')
    ax1.set_xlabel('instances N evaluated per box')
    ax1.set_ylabel('time shared trunk / naive')
    ax1.set_xticks(ns)
    ax1.set_ylim(0, max([1.15] + [1.05 * r['shared_over_naive'] for r in rows]))
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    for n in ns:
        sel = sorted((r for r in rows if r['instances'] == n), key=lambda r: r['boxes'])
        line, = ax2.plot([r['boxes'] for r in sel], [r['boxes_per_s_shared'] for r in sel], 'o-', label=f'N={n} shared')
        if n > 1:
            ax2.plot([r['boxes'] for r in sel], [r['boxes_per_s_naive'] for r in sel], 'x--', color=line.get_color(),
                     label=f'N={n} naive')
    ax2.set_xlabel('boxes per image')
    ax2.set_ylabel('boxes / s')
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7, ncol=2)
    if by_threads:
        _plot_backends(axes[2], report['backends'])
    cfg, env = report['config'], report['environment']
    where = env.get('gpu') or env.get('cpu', '')
    fig.suptitle(f'{cfg["arch"]} {cfg["input_size"][0]}x{cfg["input_size"][1]} on {where} '
                 f'({env["device"]}, {env["torch_threads"]} threads)', fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_backends(ax, backends: Mapping[str, Any]) -> None:
    """Grouped bars: speed-up of every backend variant over torch fp32, one group per thread count."""
    groups = backends['by_threads']
    names = [k for k in groups[0]['results'] if k != 'torch_fp32']
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [g + i * width for g in range(len(groups))]
        ys = [grp['results'].get(name, {}).get('speedup_vs_torch_fp32', float('nan')) for grp in groups]
        bars = ax.bar(xs, ys, width, label=name)
        ax.bar_label(bars, fmt='%.2f', fontsize=7)
    ax.axhline(1.0, color='k', lw=0.8)
    ax.set_xticks([g + width * (len(names) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels([f'{grp["threads"]} thread(s)' for grp in groups])
    ax.set_ylabel(f'speed-up vs torch fp32 ({backends["boxes"]} boxes x {backends["instances"]})')
    ax.grid(alpha=0.3, axis='y')
    ax.legend(fontsize=7)


# ---------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--quick', action='store_true',
                        help='small run: hrnet_w16s, boxes 1/4/8, 1 timed repeat (under 2 minutes on 2 idle CPU cores)')
    parser.add_argument('--arch', default=None, help='architecture (default hrnet_w32; hrnet_w16s with --quick)')
    parser.add_argument('--input-size', default=None, metavar='HxW', help='crop size (default: the arch default)')
    parser.add_argument('--instances', default='1,2,3,4', help='comma-separated N values (default: %(default)s)')
    parser.add_argument('--boxes', default=None, help='comma-separated box counts (default 1,5,10,20; quick 1,4,8)')
    parser.add_argument('--repeats', type=int, default=None, help='timed repeats per variant (default 3; quick 1)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed calls per variant first (default: %(default)s)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda:N (fp16 variants are added on a GPU)')
    parser.add_argument('--threads', type=int, default=None, help='torch intra-op threads (default: torch default)')
    parser.add_argument('--backend-boxes', type=int, default=10,
                        help='boxes in the backend and pipeline comparisons (default: %(default)s)')
    parser.add_argument('--no-onnx', action='store_true', help='skip the onnxruntime comparison')
    parser.add_argument('--no-int8', action='store_true', help='skip the int8 onnxruntime variant')
    parser.add_argument('--backend-threads', default=None, metavar='T,..',
                        help='also compare the backends at these CPU thread counts (default: all cores; '
                             'the first comparison always uses --threads)')
    parser.add_argument('--gpu-boxes', default='10,64,256', metavar='B,..',
                        help='batch sizes of the device-resident GPU throughput sweep per precision, fp32/tf32/fp16 '
                             '(only with a CUDA --device; empty to skip; default: %(default)s)')
    parser.add_argument('--json', default=str(DEFAULT_JSON), metavar='OUT', help='report path (default: %(default)s)')
    parser.add_argument('--plot', default=None, metavar='PNG', help='plot path (default: the JSON path with .png)')
    parser.add_argument('--node', action='store_true',
                        help="also measure the ROS 2 node's overhead (pairing, conversion, message, publish) against "
                             'model time at --backend-boxes people; needs the ROS environment (scripts/env.sh)')
    parser.add_argument('--extra-json', action='append', default=[], metavar='FILE',
                        help='merge measurements from another run (e.g. the ROS node overhead) under "extra"')


def _ints(text: str) -> List[int]:
    return [int(v) for v in str(text).replace(' ', '').split(',') if v]


def main(args: argparse.Namespace) -> int:
    import torch
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(int(args.threads))
    try:
        return _main(args)
    finally:
        torch.set_num_threads(threads)     # callers in the same process (tests) keep their setting


def _main(args: argparse.Namespace) -> int:
    quick = bool(args.quick)
    arch = args.arch or ('hrnet_w16s' if quick else 'hrnet_w32')
    boxes = _ints(args.boxes) if args.boxes else ([1, 4, 8] if quick else [1, 5, 10, 20])
    repeats = args.repeats or (1 if quick else 3)
    input_size = None
    if args.input_size:
        from mipnet_ros.core.model.registry import parse_input_size
        input_size = parse_input_size(args.input_size)
    extra = {}
    if args.node:
        from mipnet_ros.tools.node_overhead import from_bench_args
        extra['node_overhead'] = lambda: from_bench_args(args)
    t0 = time.perf_counter()
    report = run_benchmark(arch=arch, input_size=input_size, instances=_ints(args.instances), boxes=boxes,
                           repeats=repeats, warmup=args.warmup, device=args.device, onnx=not args.no_onnx,
                           backend_boxes=args.backend_boxes, extra=extra, int8=not args.no_int8,
                           backend_threads=(_ints(args.backend_threads) if args.backend_threads is not None
                                            else [os.cpu_count() or 1]),
                           gpu_boxes=_ints(args.gpu_boxes))
    for path in args.extra_json:
        with open(path) as f:
            add_measurements(report, Path(path).stem, json.load(f))
    if 'gpu' not in report['environment']:
        report['gpu_estimates'] = gpu_estimates(report, boxes=args.backend_boxes)
    report['config']['quick'] = quick
    report['config']['wall_s'] = time.perf_counter() - t0
    out = write_json(args.json, report, sort_keys=True)
    png = plot_report(report, Path(args.plot) if args.plot else out.with_suffix('.png'))
    print(f'bench: wrote {out} and {png} in {report["config"]["wall_s"]:.0f} s')
    return 0
