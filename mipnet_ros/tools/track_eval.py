"""`python -m mipnet_ros track-eval`: does MIPNet help a tracker keep a hidden person? MOTA, IDF1, switches.

  python -m mipnet_ros track-eval --seeds 0 1 --out docs/results

Generated crossing / overtaking / group sequences (synth/sequences.py) with detector-like boxes go through the
pose model and the same PoseTracker: N=2 (MIPNet, the bundled model), N=1 (the HRNet-style baseline: a model
with N=1, by default the bundled model restricted to lambda=0, so the budget is identical) and the oracle
(ground-truth keypoints of everyone with at least three visible joints: the tracker's own error). motmetrics
matches people at OKS >= 0.5. Writes tracking.{json,md,png}."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from mipnet_ros.core import person_box
from mipnet_ros.core.oks import oks
from mipnet_ros.core.skeleton import COCO17
from mipnet_ros.core.tracking import Observation, PoseTracker, TrackerConfig
from mipnet_ros.synth.sequences import KINDS, GtPerson, Sequence, SequenceConfig, SequenceFrame, generate_sequence

MATCH_OKS = 0.5
ORACLE_MIN_VISIBLE = 3
METRICS = ('mota', 'idf1', 'num_switches', 'num_false_positives', 'num_misses', 'num_objects', 'mostly_tracked')


def oracle_observations(frame: SequenceFrame, image_shape) -> List[Observation]:
    """Exact keypoints of everyone a perfect estimator could see (>= 3 visible joints)."""
    out = []
    for p in frame.people:
        v = p.joints[:, 2]
        if int((v == 2).sum()) < ORACLE_MIN_VISIBLE:
            continue
        vis = np.where(v == 2, 2, np.where(v == 1, 1, 0)).astype(np.uint8)
        kp = np.where(vis[:, None] > 0, p.joints[:, :2], 0.0)
        box = person_box.own_box(kp, vis, p.box, image_shape)
        out.append(Observation(kp, vis, box, 1.0))
    return out


class NetworkPasses:
    """One network pass per frame (all lambdas), post-processed for any number of instances.

    N=1 from the same pass is exactly what the model run with instances=1 computes (the shared trunk
    and lambda=0 are the same), so the two runs cost one network pass and differ only in lambda=1.
    """

    def __init__(self, estimator):
        self.estimator = estimator
        self._raw: Dict[int, object] = {}

    def people(self, frame: SequenceFrame, instances: int) -> list:
        if len(frame.boxes) == 0:
            return []
        key = id(frame)
        if key not in self._raw:
            self._raw[key] = self.estimator.raw(frame.image, frame.boxes)
        r = self._raw[key]
        if r.box_rows.size == 0:
            return []
        return self.estimator.postprocess(r.keypoints[:, :instances], r.scores[:, :instances], r.box_rows, r.areas)


def estimator_observer(people_of: Callable[[SequenceFrame], list], keypoint_threshold: float,
                       instance_threshold: float) -> Callable[[SequenceFrame, tuple], List[Observation]]:
    """People the estimator finds in the frame's detector boxes, as the node would publish them."""
    def observe(frame: SequenceFrame, image_shape) -> List[Observation]:
        out = []
        for p in people_of(frame):
            if not np.isfinite(p.score) or p.score < instance_threshold:
                continue
            rec = person_box.person_record(p.keypoints, p.keypoint_scores, frame.boxes[p.box_index], image_shape,
                                           keypoint_threshold)
            out.append(Observation(rec.keypoints.astype(np.float64), rec.visibility, rec.bbox, float(p.score)))
        return out
    return observe


def distances(gt: List[GtPerson], hyp_kp: List[np.ndarray], hyp_vis: List[np.ndarray]) -> np.ndarray:
    """(G, H) 1 - OKS over each ground-truth person's labelled joints; NaN beyond the match threshold."""
    d = np.full((len(gt), len(hyp_kp)), np.nan)
    if not gt or not hyp_kp:
        return d
    poses = np.stack([np.where(v[:, None] > 0, k, -1e6) for k, v in zip(hyp_kp, hyp_vis)])
    for g, p in enumerate(gt):
        sim = oks(p.joints[:, :2], poses, p.area, COCO17.sigmas_array(), mask=p.joints[:, 2] > 0)
        d[g] = np.where(sim >= MATCH_OKS, 1.0 - sim, np.nan)
    return d


def run_sequence(seq: Sequence, observe, cfg: TrackerConfig, image_shape):
    """Track one sequence; returns the motmetrics accumulator and the hidden-frame bookkeeping."""
    import motmetrics as mm
    acc = mm.MOTAccumulator(auto_id=True)
    tracker = PoseTracker(cfg)
    matched_by_frame = []
    for frame in seq.frames:
        obs = observe(frame, image_shape)
        res = tracker.step(obs, 1.0 / seq.fps)
        hyps = [(tid, o) for tid, o in zip(res.track_ids, obs) if tid]
        d = distances(frame.people, [o.keypoints for _, o in hyps], [o.visibility for _, o in hyps])
        fid = acc.update([p.identity for p in frame.people], [tid for tid, _ in hyps], d)
        matched_by_frame.append(fid)
    ev = acc.mot_events
    pairs = ev[ev['Type'].isin(['MATCH', 'SWITCH', 'TRANSFER', 'ASCEND', 'MIGRATE'])]
    match = {(int(f), int(o)): str(h) for (f, _), o, h in zip(pairs.index, pairs['OId'], pairs['HId'])}
    kept = with_track = hidden = found = 0
    last: Dict[int, Optional[str]] = {}
    for fid, frame in zip(matched_by_frame, seq.frames):
        for p in frame.people:
            h = match.get((int(fid), p.identity))
            if not p.hidden:
                if h is not None:
                    last[p.identity] = h
                continue
            hidden += 1
            found += h is not None
            if last.get(p.identity) is not None:
                with_track += 1
                kept += h is not None and h == last[p.identity]
    return acc, {'hidden_frames': hidden, 'hidden_found': found, 'hidden_with_track_before': with_track,
                 'hidden_kept': kept}


def evaluate_run(sequences: List[Sequence], observe, cfg: TrackerConfig, image_shape) -> Dict[str, object]:
    import motmetrics as mm
    accs, names, hidden = [], [], {}
    for seq in sequences:
        acc, h = run_sequence(seq, observe, cfg, image_shape)
        accs.append(acc)
        names.append(seq.name)
        for k, v in h.items():
            hidden[k] = hidden.get(k, 0) + v
    mh = mm.metrics.create()
    summary = mh.compute_many(accs, metrics=list(METRICS), names=names, generate_overall=True)
    rows = {str(name): {m: _num(summary.loc[name, m]) for m in METRICS} for name in summary.index}
    overall = rows.pop('OVERALL')
    overall.update(hidden)
    overall['hidden_kept_fraction'] = round(hidden['hidden_kept'] / max(hidden['hidden_with_track_before'], 1), 4)
    return {'overall': overall, 'per_sequence': rows}


def _num(v) -> float:
    v = float(v)
    return round(v, 4) if np.isfinite(v) else 0.0


def write_outputs(doc: Dict[str, object], out_dir: Path) -> Dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / f'tracking.{k}' for k in ('json', 'md', 'png')}
    paths['json'].write_text(json.dumps(doc, indent=1, allow_nan=False) + '\n')
    runs = doc['runs']
    lines = ['| run | MOTA | IDF1 | ID switches | FP | misses | hidden frames kept | hidden frames found |',
             '|---|---|---|---|---|---|---|---|']
    for name, r in runs.items():
        o = r['overall']
        lines.append(f"| {name} | {o['mota']:.3f} | {o['idf1']:.3f} | {int(o['num_switches'])} | "
                     f"{int(o['num_false_positives'])} | {int(o['num_misses'])} | "
                     f"{o['hidden_kept_fraction']:.3f} ({o['hidden_kept']}/{o['hidden_with_track_before']}) | "
                     f"{o['hidden_found']}/{o['hidden_frames']} |")
    b = doc['benchmark']
    text = (f"# Tracking benchmark\n\nCommand: `{doc['command']}`\n\n"
            f"{b['sequences']} generated sequences ({', '.join(b['kinds'])}; seeds {b['seeds']}), "
            f"{b['frames']} frames, {b['people_frames']} person-frames of which {b['hidden_person_frames']} hidden "
            f"(>= {b['hidden_fraction']:.0%} of the silhouette covered). Same tracker (default TrackerConfig) "
            f"for every run; a match needs OKS >= {MATCH_OKS}. 'Hidden frames kept': hidden frames in which the "
            "person is published under the track id it had before it was hidden, over the hidden frames of people "
            "who had a track by then.\n\n" + '\n'.join(lines) + '\n\n' + doc['notes'] + '\n')
    paths['md'].write_text(text)
    _plot(runs, paths['png'])
    return paths


def _plot(runs: Dict[str, Dict], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [('mota', 'MOTA'), ('idf1', 'IDF1'), ('hidden_kept_fraction', 'hidden frames kept')]
    names = list(runs)
    x = np.arange(len(keys))
    width = 0.8 / max(len(names), 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), gridspec_kw={'width_ratios': [3, 1.3]})
    for i, name in enumerate(names):
        vals = [runs[name]['overall'][k] for k, _ in keys]
        axes[0].bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=name)
        axes[1].bar(i, runs[name]['overall']['num_switches'], 0.6, label=name)
    axes[0].set_xticks(x, [label for _, label in keys])
    axes[0].set_ylim(min(0.0, min(runs[n]['overall']['mota'] for n in names)) - 0.05, 1.05)
    axes[0].axhline(0, color='k', lw=0.5)
    axes[0].set_title('higher is better')
    fig.legend(*axes[0].get_legend_handles_labels(), loc='lower center', ncol=min(len(names), 3), fontsize=8)
    axes[1].set_xticks(range(len(names)), [f'run {i + 1}' for i in range(len(names))], fontsize=8)
    axes[1].set_title('ID switches (runs in legend order)')
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1],
                        help='one sequence per seed and kind (default: %(default)s)')
    parser.add_argument('--kinds', nargs='+', default=list(KINDS), choices=KINDS,
                        help='sequence kinds (default: all)')
    parser.add_argument('--frames', type=int, default=SequenceConfig.frames,
                        help='frames per sequence (default: %(default)s)')
    parser.add_argument('--model', default='', help='N>1 (MIPNet) model; empty = the bundled model')
    parser.add_argument('--n1-model', default='',
                        help='N=1 model with the same budget; empty = the MIPNet model restricted to lambda=0')
    parser.add_argument('--keypoint-threshold', type=float, default=0.2,
                        help='as the node: confident keypoints (default: %(default)s)')
    parser.add_argument('--instance-threshold', type=float, nargs='+', default=[0.3, 0.15],
                        help='person score thresholds to compare (default: %(default)s; 0.3 = the node default)')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads (default: %(default)s)')
    parser.add_argument('--out', default='out/tracking',
                        help='where tracking.{json,md,png} go (default: %(default)s; the published copy is '
                             'docs/results)')
    parser.add_argument('--notes', default='', help='a paragraph appended to the markdown table')


def main(args: argparse.Namespace) -> int:
    import torch

    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.core.resources import bundled_model_path
    torch.set_num_threads(max(1, args.threads))
    t0 = time.time()
    cfg = SequenceConfig(frames=args.frames)
    sequences = [generate_sequence(seed, kind, cfg) for kind in args.kinds for seed in args.seeds]
    image_shape = cfg.canvas_size
    model = args.model or str(bundled_model_path())
    n2 = PoseEstimator(model=model, keypoint_threshold=args.keypoint_threshold)
    passes = NetworkPasses(n2)
    n = n2.num_instances
    if args.n1_model:
        n1 = PoseEstimator(model=args.n1_model, keypoint_threshold=args.keypoint_threshold)
        if n1.num_instances != 1:
            raise SystemExit(f'--n1-model must be a model with N=1, got N={n1.spec.instances}')
        n1_people = lambda f: n1(f.image, f.boxes) if len(f.boxes) else []  # noqa: E731
    else:
        n1_people = lambda f: passes.people(f, 1)  # noqa: E731
    tracker_cfg = TrackerConfig(default_dt_sec=1.0 / cfg.fps)
    observers = {'oracle (ground-truth keypoints)': oracle_observations}
    for thr in args.instance_threshold:
        observers[f'N=1 (HRNet-style), threshold {thr:g}'] = estimator_observer(n1_people, args.keypoint_threshold,
                                                                                thr)
        observers[f'N={n} (MIPNet), threshold {thr:g}'] = estimator_observer(lambda f: passes.people(f, n),
                                                                             args.keypoint_threshold, thr)
    runs = {}
    for name, observe in observers.items():
        t = time.time()
        runs[name] = evaluate_run(sequences, observe, tracker_cfg, image_shape)
        print(f'{name}: {runs[name]["overall"]} ({time.time() - t:.0f} s)', flush=True)
    n1_note = (f'N=1 model: {args.n1_model}.' if args.n1_model else
               'No trained N=1 model of the same budget ships with the package, so N=1 is the bundled MIPNet model '
               'run with lambda=0 only (instances=1): the same weights and cost per box, without the second instance.')
    doc = {
        'command': _command(args),
        'benchmark': {'sequences': len(sequences), 'kinds': args.kinds, 'seeds': args.seeds,
                      'frames': sum(len(s.frames) for s in sequences),
                      'people_frames': sum(len(f.people) for s in sequences for f in s.frames),
                      'hidden_person_frames': sum(p.hidden for s in sequences for f in s.frames for p in f.people),
                      'hidden_fraction': cfg.hidden_fraction, 'canvas_size': list(cfg.canvas_size), 'fps': cfg.fps},
        'models': {'mipnet': args.model or f'bundled {Path(model).name}',
                   'n1': args.n1_model or f'{args.model or Path(model).name} restricted to instances=1',
                   'arch': n2.spec.arch, 'input_size': list(n2.spec.input_size)},
        'tracker': tracker_cfg.__dict__, 'match_oks': MATCH_OKS,
        'runs': runs,
        'notes': (n1_note + ' ' + args.notes).strip(),
        'seconds': round(time.time() - t0, 1),
    }
    paths = write_outputs(doc, Path(args.out))
    print('wrote ' + ', '.join(str(p) for p in paths.values()))
    return 0


def _command(args: argparse.Namespace) -> str:
    parts = ['python -m mipnet_ros track-eval', '--seeds', *map(str, args.seeds), '--kinds', *args.kinds,
             '--frames', str(args.frames)]
    if args.model:
        parts += ['--model', args.model]
    if args.n1_model:
        parts += ['--n1-model', args.n1_model]
    parts += ['--instance-threshold', *(f'{t:g}' for t in args.instance_threshold)]
    return ' '.join(parts + ['--out', args.out])
