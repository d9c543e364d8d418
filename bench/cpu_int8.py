"""CPU robot benchmark: the official per-lambda MIPNet model against our float32 and int8 shared-trunk graphs.

For each architecture (HRNet-W32 256x192, HRNet-W48 384x288; N=2, 10 boxes) and each thread count:
  official_per_lambda  the official MIPNet code (../shared/reference, loaded as the tests load it), torch eager
                       float32, the whole network once per lambda, as its test code runs it
  ours_fp32_shared     the same weights through `python -m mipnet_ros export` (shared-trunk graph), onnxruntime
  ours_int8_shared     `export --int8 --calib-bag test/data/demo.mcap --unchecked-int8-for-benchmarks`, onnxruntime
The weights are random, in the official file format (speed does not depend on their values); that is why
the int8 file is written with the benchmark-only flag: its agreement with float32 is measured and stored,
not enforced. Variants alternate within every repeat (a machine that gets busier slows all of them alike);
medians are reported, with every repeat kept. `--profile` adds onnxruntime's per-operator profile of one
call of each graph at 1 thread (where the time goes).

    source scripts/env.sh && python bench/cpu_int8.py --json docs/results/cpu_int8.json
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ARCHS = {'hrnet_w32': (256, 192), 'hrnet_w48': (384, 288), 'hrnet_w16s': (256, 192)}   # w16s: a quick try
N = 2


def official_model(arch: str):
    """The official MIPNet network (random weights) and its per-lambda call, from ../shared/reference."""
    sys.path.insert(0, str(REPO / 'test'))
    import _reference_models as ref
    if not (ref.MIPNET / 'lib/models/pose_hrnet_se_lambda.py').is_file():
        raise SystemExit(f'the official code is not at {ref.MIPNET} (../shared/reference)')
    model = ref.build_reference(arch, gated=True)
    return model, ref.official_lambda


def export_ours(official, arch: str, tmp: Path, calib_count: int, log: Callable[[str], None]) -> Dict[str, Any]:
    """Our float32 and int8 files of the official weights, made by the user-facing `export` command."""
    import torch

    from mipnet_ros import cli
    from mipnet_ros.core.onnx_meta import calibration_record, read_props
    ckpt = tmp / f'{arch}_official.pth'
    torch.save({'state_dict': official.state_dict()}, ckpt)
    onnx = tmp / f'{arch}.onnx'
    argv = ['export', '--checkpoint', str(ckpt), '--arch', arch, '--instances', str(N), '--onnx', str(onnx),
            '--int8', '--calib-bag', str(REPO / 'test/data/demo.mcap'), '--calib-count', str(calib_count),
            '--unchecked-int8-for-benchmarks']
    t0 = time.perf_counter()
    if cli.main(argv) != 0:
        raise SystemExit(f'export failed: python -m mipnet_ros {" ".join(argv)}')
    int8 = onnx.with_name(onnx.stem + '.int8.onnx')
    log(f'{arch}: exported float32 and int8 in {time.perf_counter() - t0:.0f} s')
    return {'fp32': onnx, 'int8': int8, 'command': 'python -m mipnet_ros ' + ' '.join(argv[:1] + argv[1:]),
            'int8_calibration': calibration_record(read_props(int8)),
            'bytes': {'fp32': onnx.stat().st_size, 'int8': int8.stat().st_size}}


def timed_rounds(variants: Dict[str, Callable[[], Any]], repeats: int) -> Dict[str, List[float]]:
    times: Dict[str, List[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def profile_ops(path: Path, crops: np.ndarray, tmp: Path) -> Dict[str, Any]:
    """onnxruntime's per-operator profile of one call at 1 thread: milliseconds and share per operator type."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp / f'profile_{path.stem}')
    session = ort.InferenceSession(str(path), opts, providers=['CPUExecutionProvider'])
    feeds = {'image': crops, 'instance': np.arange(N, dtype=np.int64)}
    session.run(None, feeds)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    by_op: Dict[str, float] = defaultdict(float)
    count: Dict[str, int] = defaultdict(int)
    for e in events:
        if e.get('cat') == 'Node' and str(e.get('name', '')).endswith('_kernel_time'):
            op = e.get('args', {}).get('op_name', '?')
            by_op[op] += e['dur'] / 1e3
            count[op] += 1
    total = sum(by_op.values())
    rows = sorted(by_op.items(), key=lambda kv: -kv[1])
    return {'kernel_ms_total': total,
            'ops': [{'op': op, 'ms': ms, 'share': ms / total if total else 0.0, 'nodes': count[op]}
                    for op, ms in rows]}


def bench_arch(arch: str, boxes: int, threads: List[int], repeats: int, calib_count: int, profile: bool,
               tmp: Path, log: Callable[[str], None]) -> Dict[str, Any]:
    import torch

    from mipnet_ros.core.backends import OnnxBackend
    from mipnet_ros.core.model.checkpoint import load_checkpoint
    from mipnet_ros.tools.bench import mac_profile, shared_gmac
    official, official_lambda = official_model(arch)
    files = export_ours(official, arch, tmp, calib_count, log)
    macs = mac_profile(load_checkpoint(files['fp32'].with_name(f'{arch}_official.pth'), arch=arch, instances=N))
    h, w = ARCHS[arch]
    crops = np.random.default_rng(0).standard_normal((boxes, 3, h, w)).astype(np.float32)
    x = torch.from_numpy(crops)
    lams = [official_lambda(torch.full((boxes,), lam), N) for lam in range(N)]

    def official_call():
        with torch.inference_mode():
            return [official(x, lam) for lam in lams]

    out: Dict[str, Any] = {'input_size': [h, w], 'boxes': boxes, 'instances': N, 'macs': macs,
                           'export_command': files['command'], 'file_bytes': files['bytes'],
                           'int8_calibration': files['int8_calibration'], 'by_threads': {}}
    before = torch.get_num_threads()
    try:
        for t in threads:
            torch.set_num_threads(t)
            fp32 = OnnxBackend(files['fp32'], device='cpu', intra_op_threads=t, max_batch=1024)
            int8 = OnnxBackend(files['int8'], device='cpu', intra_op_threads=t, max_batch=1024)
            variants = {'official_per_lambda': official_call,
                        'ours_fp32_shared': lambda: fp32.run_shared(crops, N),
                        'ours_int8_shared': lambda: int8.run_shared(crops, N)}
            for fn in (lambda: [official(x[:2], lam[:2]) for lam in lams], lambda: fp32.run_shared(crops[:2], N),
                       lambda: int8.run_shared(crops[:2], N)):
                with torch.inference_mode():
                    fn()                     # warm-up on 2 boxes: allocations, kernel choice
            times = timed_rounds(variants, repeats)
            med = {k: statistics.median(v) for k, v in times.items()}
            base = med['official_per_lambda']
            gmac = boxes * shared_gmac(macs, N)
            res = {k: {'median_s': med[k], 'all_s': times[k], 'boxes_per_s': boxes / med[k],
                       'speedup_vs_official_per_lambda': base / med[k], 'useful_gmacs_per_s': gmac / med[k]}
                   for k in variants}
            out['by_threads'][str(t)] = res
            log(f'{arch} {t} thread(s): ' + '  '.join(
                f'{k} {1e3 * r["median_s"]:.0f} ms (x{r["speedup_vs_official_per_lambda"]:.2f})'
                for k, r in res.items()))
    finally:
        torch.set_num_threads(before)
    if profile:
        out['profile_1_thread'] = {name: profile_ops(files[name], crops, tmp) for name in ('int8', 'fp32')}
        for name, p in out['profile_1_thread'].items():
            top = ', '.join(f'{r["op"]} {100 * r["share"]:.0f} %' for r in p['ops'][:5])
            log(f'{arch} {name} profile (1 thread, {p["kernel_ms_total"]:.0f} ms of kernels): {top}')
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--archs', default='hrnet_w32,hrnet_w48', help='comma separated (default: %(default)s)')
    parser.add_argument('--boxes', type=int, default=10, help='person boxes per call (default: %(default)s)')
    parser.add_argument('--threads', default='1,2', help='CPU thread counts (default: %(default)s)')
    parser.add_argument('--repeats', default='hrnet_w32=3,hrnet_w48=1',
                        help='timed repeats per variant, per arch (default: %(default)s)')
    parser.add_argument('--calib-count', type=int, default=8, help='calibration crops (default: %(default)s)')
    parser.add_argument('--no-profile', action='store_true', help="skip onnxruntime's per-operator profile")
    parser.add_argument('--json', default='out/bench/cpu_int8.json', help='report path (default: %(default)s)')
    parser.add_argument('--keep-files', default='', metavar='DIR',
                        help='copy the exported ARCH.onnx and ARCH.int8.onnx here (e.g. for bench/node_fps.py)')
    args = parser.parse_args(argv)
    import torch

    from mipnet_ros.core.fileio import write_json
    from mipnet_ros.tools.bench import environment
    repeats = {k: int(v) for k, v in (p.split('=') for p in args.repeats.split(','))}
    threads = [int(t) for t in args.threads.split(',')]
    t0 = time.perf_counter()
    torch.manual_seed(0)
    report: Dict[str, Any] = {
        'config': {'boxes': args.boxes, 'instances': N, 'threads': threads, 'repeats': repeats,
                   'timing': 'median seconds per call of 10 boxes x N lambdas; variants interleaved in every '
                             'repeat, after one untimed call on 2 boxes',
                   'weights': 'random, official MIPNet file format (speed does not depend on the values)',
                   'command': 'python bench/cpu_int8.py ' + ' '.join(sys.argv[1:] if argv is None else argv)},
        'environment': environment('cpu'), 'archs': {}}
    with tempfile.TemporaryDirectory(prefix='mipnet-cpu-int8-') as tmp:
        for arch in args.archs.split(','):
            report['archs'][arch] = bench_arch(arch, args.boxes, threads, repeats.get(arch, 3), args.calib_count,
                                               not args.no_profile and arch == 'hrnet_w32', Path(tmp), print)
            if args.keep_files:
                import shutil
                Path(args.keep_files).mkdir(parents=True, exist_ok=True)
                for name in (f'{arch}.onnx', f'{arch}.int8.onnx'):
                    shutil.copy(Path(tmp) / name, Path(args.keep_files) / name)
            report['config']['wall_s'] = time.perf_counter() - t0
            summary = {a: {t: {k: round(r['speedup_vs_official_per_lambda'], 2) for k, r in res.items()}
                           for t, res in e['by_threads'].items()} for a, e in report['archs'].items()}
            report['speedup_vs_official_per_lambda'] = summary
            out = write_json(args.json, report, sort_keys=True)      # after each architecture: nothing is lost
    print(f'wrote {out} in {report["config"]["wall_s"]:.0f} s; speed-up over the official per-lambda model: '
          f'{json.dumps(summary)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
