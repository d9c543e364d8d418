"""Device-resident throughput of the shared-trunk network per precision: what the GPU itself achieves.

bench's backend comparison times whole run_shared calls, host copies included, at a frame's 10 boxes: what the
node sees, but at 10 boxes an HRNet is a few hundred small kernels and the GPU mostly waits for launches. Here
inputs and outputs stay on the device, CUDA events time the calls, the batch grows until the arithmetic
dominates, and the achieved TFLOP/s (from the counted MACs) is reported as a fraction of the published peak.
On a CPU only fp32 runs (timed with perf_counter), which keeps this code exercised by the tests."""
import contextlib
import copy
import statistics
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from mipnet_ros.tools.device_peaks import peaks_for, precision_peak

# fp32: strict float32 (TF32 off), the CUDA cores; tf32: float32 tensors with TF32 convolutions (PyTorch's
# cuDNN default); fp16: half precision, NCHW; fp16_cl: half, channels-last (the layout tensor-core
# convolutions want); fp16_graph: fp16_cl replayed as a CUDA graph, without launch overhead.
GPU_PRECISIONS = ('fp32', 'tf32', 'fp16', 'fp16_cl', 'fp16_graph')


@contextlib.contextmanager
def cuda_flags(tf32: bool, benchmark: Optional[bool] = None) -> Iterator[None]:
    """TF32 (and cuDNN autotuning unless None) for a block, restored afterwards: they are process-global."""
    import torch
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if benchmark is not None:
        torch.backends.cudnn.benchmark = benchmark
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = saved


def _median_seconds(fn: Callable[[], Any], repeats: int, warmup: int, cuda: bool) -> float:
    import torch
    for _ in range(warmup):
        fn()
    times: List[float] = []
    if cuda:
        torch.cuda.synchronize()
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _graphed(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Capture fn once as a CUDA graph (after warm-up on a side stream, as capture requires)."""
    import torch
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def measure_throughput(model, gflop_per_box: float, device: str = 'cuda:0', boxes: Sequence[int] = (10, 64, 256),
                       instances: int = 2, repeats: int = 20, warmup: int = 5,
                       precisions: Optional[Sequence[str]] = None,
                       log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Time `model.forward_shared` on device-resident random crops for every precision and batch.

    gflop_per_box: 2 x the shared-trunk MACs of one box with `instances` lambdas (bench counts them).
    A variant that fails (no fp16 kernels, graph capture refused, out of memory) records its error
    and the others still run.
    """
    import torch
    dev = torch.device(device)
    cuda = dev.type == 'cuda'
    if precisions is None:
        precisions = GPU_PRECISIONS if cuda else ('fp32',)
    name = torch.cuda.get_device_name(dev) if cuda else 'cpu'
    peak = peaks_for(name) if cuda else None
    h, w = model.spec.input_size
    out: Dict[str, Any] = {
        'device': name, 'instances': instances, 'boxes': list(boxes), 'repeats': repeats, 'warmup': warmup,
        'gflop_per_box': gflop_per_box, 'timing': ('median of CUDA-event times per forward_shared call, inputs and '
                                                   'outputs on the device' if cuda else 'median perf_counter'),
        'cudnn_benchmark': True, 'peak_device': peak[0] if peak else None,
        'peak_tflops': peak[1] if peak else None, 'rows': [], 'errors': {}}
    for precision in precisions:
        half = precision.startswith('fp16')
        channels_last = precision in ('fp16_cl', 'fp16_graph')
        net = copy.deepcopy(model).to(dev).eval()
        if half:
            net = net.half()
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        dtype = torch.float16 if half else torch.float32
        with cuda_flags(tf32=precision == 'tf32', benchmark=True) if cuda else contextlib.nullcontext():
            for b in boxes:
                try:
                    x = torch.randn(b, 3, h, w, device=dev).to(dtype)
                    if channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)

                    def call(x=x, net=net):
                        with torch.inference_mode():
                            return net.forward_shared(x, instances)

                    if cuda:
                        torch.cuda.reset_peak_memory_stats(dev)
                    fn = _graphed(call) if precision == 'fp16_graph' else call
                    sec = _median_seconds(fn, repeats, warmup, cuda)
                except Exception as exc:  # noqa: BLE001 - one variant's failure must not lose the others
                    out['errors'][f'{precision}/{b}'] = f'{type(exc).__name__}: {exc}'[:300]
                    log(f'  gpu {precision:<11} {b:>4} boxes: FAILED {type(exc).__name__}: {exc}')
                    if cuda:
                        torch.cuda.empty_cache()
                    continue
                tflops = gflop_per_box * b / sec / 1e3
                row = {'precision': precision, 'boxes': b, 'seconds': sec, 'ms': sec * 1e3, 'boxes_per_s': b / sec,
                       'tflops': tflops}
                if cuda:
                    row['peak_memory_mib'] = torch.cuda.max_memory_allocated(dev) / 2 ** 20
                if peak:
                    row['fraction_of_fp16_peak'] = tflops / peak[1]['fp16_tensor']
                    row['fraction_of_precision_peak'] = tflops / precision_peak(peak[1], precision)
                out['rows'].append(row)
                frac = f'  {100 * row["fraction_of_fp16_peak"]:.1f} % of FP16 peak' if peak else ''
                log(f'  gpu {precision:<11} {b:>4} boxes: {sec * 1e3:8.2f} ms  {b / sec:9.1f} boxes/s  '
                    f'{tflops:7.2f} TFLOP/s{frac}')
        del net
        if cuda:
            torch.cuda.empty_cache()
    out['speedups'] = speedups(out['rows'])
    return out


def speedups(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per batch: every precision's speed-up over strict fp32 and over tf32 (the FP16 >= 1.8x FP32 goal)."""
    by = {(r['precision'], r['boxes']): r['seconds'] for r in rows}
    result = []
    for b in sorted({r['boxes'] for r in rows}):
        entry: Dict[str, Any] = {'boxes': b}
        for base in ('fp32', 'tf32'):
            if (base, b) not in by:
                continue
            for p in sorted({r['precision'] for r in rows}):
                if p != base and (p, b) in by:
                    entry[f'{p}_over_{base}'] = by[(base, b)] / by[(p, b)]
        result.append(entry)
    return result
