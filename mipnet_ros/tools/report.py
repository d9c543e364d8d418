"""`python -m mipnet_ros report`: the occlusion experiment's table, bar plot and JSON.

  python -m mipnet_ros report --test out/synth_small/test.json --images out/synth_small/test
      --method hrnet_n1=runs/synth_hrnet_w16s_n1/final.pth --method hrnet_n2=runs/synth_hrnet_w16s_n2/final.pth
      --notes-file docs/results/occlusion_notes.md

Every checkpoint is evaluated with ground-truth boxes on the synthetic test split (`--reuse` takes its saved
eval JSON instead), then occlusion.{json,md,png} are written under `--out`."""
import argparse
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

METHOD_KEYS = ('name', 'arch', 'instances', 'AP', 'AP50', 'AR', 'hidden_recall', 'checkpoint', 'trained_on',
               'device', 'epochs')


def checkpoint_meta(path: str) -> Dict[str, object]:
    """Training facts stored by `train` in final.pth (absent for foreign files)."""
    import torch
    obj = torch.load(path, map_location='cpu', weights_only=True)
    spec = obj.get('spec', {}) if isinstance(obj, dict) else {}
    return {'arch': spec.get('arch'), 'instances': spec.get('instances'),
            'trained_on': obj.get('trained_on', ''), 'device': obj.get('device', ''),
            'epochs': obj.get('epochs'), 'steps': obj.get('steps')}


def method_entry(name: str, checkpoint: str, stats: Dict[str, float], meta: Dict[str, object]) -> Dict[str, object]:
    epochs = meta.get('epochs')
    return {'name': name, 'arch': meta.get('arch'), 'instances': meta.get('instances'),
            'AP': round(float(stats['AP']), 2), 'AP50': round(float(stats['AP50']), 2),
            'AR': round(float(stats['AR']), 2),
            'hidden_recall': round(float(stats.get('hidden_recall', 0.0)), 4),
            'checkpoint': checkpoint, 'trained_on': meta.get('trained_on', ''), 'device': meta.get('device', ''),
            'epochs': None if epochs is None else round(float(epochs), 3)}


def seed_tag(name: str) -> Optional[str]:
    """'hrnet_n2_s1' -> '1': repeats of a method with another seed are named <method>_s<seed>."""
    match = re.search(r'_s(\d+)$', str(name))
    return match.group(1) if match else None


def baseline_of(method: Dict[str, object], methods: List[Dict[str, object]]) -> Optional[Dict[str, object]]:
    """The N=1 method of the same architecture, and of the same seed when the names carry one: what a
    MIPNet (N>1) row is compared with. Pairing by seed removes the shared stage-2 randomness from the gain."""
    same_arch = [m for m in methods if m['arch'] == method['arch'] and m['instances'] == 1]
    same_seed = [m for m in same_arch if seed_tag(m['name']) == seed_tag(method['name'])]
    return (same_seed or same_arch or [None])[0]


def write_report(benchmark: Dict[str, int], methods: List[Dict[str, object]], out_dir: str,
                 notes: Optional[str] = None) -> Dict[str, Path]:
    """occlusion.{json,md,png}. The JSON layout is fixed, as the README and the tests read it:
    {"benchmark": {"scenes", "people", "hidden_people", "seed"}, "methods": [{METHOD_KEYS}, ...]},
    AP/AR in 0-100, hidden_recall in 0-1 (hidden people matched at OKS >= 0.5)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {'benchmark': benchmark, 'methods': [{k: m[k] for k in METHOD_KEYS} for m in methods]}
    paths = {'json': out / 'occlusion.json', 'md': out / 'occlusion.md', 'png': out / 'occlusion.png'}
    paths['json'].write_text(json.dumps(data, indent=2) + '\n')
    lines = ['# Occlusion benchmark (synthetic scenes, ground-truth boxes)', '',
             f'Test split: {benchmark["scenes"]} scenes, {benchmark["people"]} people, '
             f'{benchmark["hidden_people"]} of them hidden (>= 25% of the silhouette covered), '
             f'seed {benchmark["seed"]}.',
             '', '| method | arch | N | AP | AP50 | AR | hidden recall | AP vs N=1 | hidden recall vs N=1 '
             '| epochs | device |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for m in data['methods']:
        base = baseline_of(m, data['methods'])
        gain_ap = '' if base is None or base is m else f'{m["AP"] - base["AP"]:+.1f}'
        gain_hr = '' if base is None or base is m else f'{m["hidden_recall"] - base["hidden_recall"]:+.3f}'
        lines.append(f'| {m["name"]} | {m["arch"]} | {m["instances"]} | {m["AP"]:.1f} | {m["AP50"]:.1f} | '
                     f'{m["AR"]:.1f} | {m["hidden_recall"]:.3f} | {gain_ap} | {gain_hr} | {m["epochs"]} | '
                     f'{m["device"]} |')
    if notes:
        lines += ['', notes]
    paths['md'].write_text('\n'.join(lines) + '\n')
    _plot(data['methods'], paths['png'])
    return paths


def _plot(methods: List[Dict[str, object]], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    names = [m['name'] for m in methods]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(names), 3.4))
    bars = [('AP', [m['AP'] for m in methods]), ('AP50', [m['AP50'] for m in methods]),
            ('hidden recall x100', [100 * m['hidden_recall'] for m in methods])]
    width = 0.26
    for i, (label, vals) in enumerate(bars):
        rects = ax.bar(x + (i - 1) * width, vals, width, label=label)
        ax.bar_label(rects, fmt='%.1f', fontsize=7)
    ax.set_xticks(x, names)
    ax.set_ylabel('score (0-100)')
    ax.set_title('Synthetic occlusion scenes, GT boxes')
    ax.legend(fontsize=8, loc='upper left')
    ax.set_ylim(0, max(5.0, max(max(v) for _, v in bars) * 1.25))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--test', default='out/synth_small/test.json', help='synthetic test split (COCO JSON)')
    parser.add_argument('--images', default=None, help='its images (default: next to the JSON, folder <split>/)')
    parser.add_argument('--method', action='append', default=[], metavar='NAME=CHECKPOINT',
                        help='a trained model to compare (repeatable), e.g. hrnet_n2=runs/x/final.pth')
    parser.add_argument('--eval-dir', default='out/report', help='per-method eval JSONs are kept here')
    parser.add_argument('--reuse', action='store_true', help='reuse an existing per-method eval JSON')
    parser.add_argument('--out', default='out/results', help='where occlusion.{json,md,png} go')
    parser.add_argument('--notes', default=None, help='a paragraph appended to the markdown table')
    parser.add_argument('--notes-file', default=None, metavar='MD', help='read that paragraph from a file')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads for the evaluations')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm progress bar')


def main(args: argparse.Namespace) -> int:
    from mipnet_ros.core.evaluate import EvalOptions, evaluate
    from mipnet_ros.synth.generate import benchmark_summary
    if not args.method:
        raise SystemExit('report: give at least one --method NAME=CHECKPOINT')
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    test = Path(args.test)
    images = args.images or str(test.parent / test.stem)
    methods = []
    for item in args.method:
        name, _, ckpt = item.partition('=')
        if not ckpt:
            raise SystemExit(f'--method expects NAME=CHECKPOINT, got {item!r}')
        cache = Path(args.eval_dir) / f'{name}.json'
        if args.reuse and cache.is_file():
            stats = json.loads(cache.read_text())['stats']
        else:
            result = evaluate(ckpt, str(test), images, EvalOptions(dataset='coco'), boxes='gt',
                              progress=not args.no_progress)
            stats = result['stats']
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(result, indent=2))
        methods.append(method_entry(name, ckpt, stats, checkpoint_meta(ckpt)))
        print(f'{name}: AP {stats["AP"]:.2f} AP50 {stats["AP50"]:.2f} AR {stats["AR"]:.2f} '
              f'hidden recall {stats.get("hidden_recall", 0):.3f}')
    notes = Path(args.notes_file).read_text().strip() if args.notes_file else args.notes
    paths = write_report(benchmark_summary(str(test)), methods, args.out, notes)
    print('\n'.join(f'wrote {p}' for p in paths.values()))
    return 0
