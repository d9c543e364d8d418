"""`python -m mipnet_ros eval`: OKS AP/AR of a checkpoint on COCO-format keypoint annotations.

  python -m mipnet_ros eval --config config/train/coco_w32_256x192.yaml --checkpoint runs/x/final.pth
      --ann person_keypoints_val2017.json --images val2017 [--boxes gt|detections.json] [--flip] --json out/eval.json

Boxes (ground truth or detections) go through PoseEstimator as in the official evaluation: every lambda of
every box, lambda>0 scores x 0.5, OKS-NMS at 0.9 (CrowdPose keeps every prediction). Scores come from
pycocotools (COCO, OCHuman) or xtcocotools with the CrowdPose sigmas and crowd index (AP easy/medium/hard)."""
import argparse
import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core import defaults
from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.fileio import write_json
from mipnet_ros.core.skeleton import get_skeleton

DEFAULT_INSTANCE_THRESHOLD = defaults.INSTANCE_THRESHOLD    # the node's and PoseEstimator's default
COCO_NAMES = ['AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl']
CROWD_NAMES = ['AP', 'AP50', 'AP75', 'AR', 'AR50', 'AR75', 'AP_easy', 'AP_medium', 'AP_hard']


@dataclass
class EvalOptions:
    dataset: str = 'coco'                 # coco | ochuman | crowdpose
    flip: bool = False
    instances: Optional[int] = None       # lambdas per box (default: all of the model's)
    oks_nms_threshold: float = 0.9
    keypoint_threshold: float = 0.2       # official IN_VIS_THRE (rescoring)
    instance_score_decay: float = 0.5
    det_score_threshold: float = 0.0


def is_crowdpose(dataset: str) -> bool:
    return dataset.lower() in ('crowdpose', 'crowdpose14')


def load_boxes(gt: dict, boxes: str, det_score_threshold: float = 0.0) -> Dict[int, List[tuple]]:
    """image_id -> [(x1, y1, x2, y2, score)]: ground-truth people (score 1) or a detections file."""
    out: Dict[int, List[tuple]] = {im['id']: [] for im in gt['images']}
    if boxes == 'gt':
        for a in gt['annotations']:
            kp = a.get('keypoints')
            if a.get('iscrowd', 0) or not kp or max(kp[2::3]) <= 0:
                continue
            x, y, w, h = a['bbox']
            out.setdefault(a['image_id'], []).append((x, y, x + w, y + h, 1.0))
        return out
    with open(boxes) as f:
        dets = json.load(f)
    for d in dets:
        if d.get('category_id', 1) != 1 or d.get('score', 1.0) < det_score_threshold:
            continue
        x, y, w, h = d['bbox']
        out.setdefault(d['image_id'], []).append((x, y, x + w, y + h, float(d.get('score', 1.0))))
    return out


def predict_raw(estimator, gt: dict, image_dir: str, boxes: Dict[int, List[tuple]], progress: bool = True
                ) -> Dict[int, object]:
    """image_id -> the estimator's RawPredictions for every image of `gt` that has boxes (network once)."""
    import cv2
    raw: Dict[int, object] = {}
    images = gt['images']
    it = images
    if progress:
        from tqdm import tqdm
        it = tqdm(images, desc='eval', dynamic_ncols=True)
    for im in it:
        rows = boxes.get(im['id'], [])
        if not rows:
            continue
        path = str(Path(image_dir) / im['file_name'])
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'cannot read image {path} (listed in the annotations as {im["file_name"]!r}; '
                                    'is --images the folder these names are relative to?)')
        arr = np.asarray(rows, np.float64)
        raw[im['id']] = estimator.raw(image, arr[:, :4], box_scores=arr[:, 4])
    return raw


def to_results(estimator, raw: Dict[int, object], **postprocess) -> Tuple[List[dict], Dict[int, list]]:
    """COCO keypoint results (x, y, score per joint; person score) and the people per image.

    `postprocess` goes to PoseEstimator.postprocess (e.g. oks_nms_threshold=0.8 for a sweep).
    """
    results: List[dict] = []
    people_by_image: Dict[int, list] = {}
    for image_id, r in raw.items():
        people = estimator.postprocess(r.keypoints, r.scores, r.box_rows, r.areas, r.box_scores, **postprocess) \
            if r.box_rows.size else []
        people_by_image[image_id] = people
        for p in people:
            kp = np.concatenate([p.keypoints.astype(np.float64), p.keypoint_scores[:, None].astype(np.float64)], 1)
            results.append({'image_id': image_id, 'category_id': 1,
                            'keypoints': [round(float(v), 3) for v in kp.ravel()],
                            'score': float(p.score), 'box_index': p.box_index, 'instance': p.instance})
    return results, people_by_image


def annotations_by_image(gt: dict) -> Dict[int, List[dict]]:
    """image_id -> its annotations, every image of `gt` present (an image without people counts too)."""
    out: Dict[int, List[dict]] = {im['id']: [] for im in gt['images']}
    for a in gt['annotations']:
        out.setdefault(a['image_id'], []).append(a)
    return out


def people_counts(gt_by_image: Dict[int, List[dict]], people_by_image: Dict[int, list], instance_threshold: float,
                  sigmas) -> Dict[str, float]:
    """The published-set metrics of core.people_count for the people scoring >= instance_threshold."""
    from mipnet_ros.core.people_count import count_people
    poses = {i: [p.keypoints for p in people if p.score >= instance_threshold]
             for i, people in people_by_image.items()}
    return {'instance_threshold': instance_threshold, **count_people(gt_by_image, poses, sigmas).summary()}


def _quiet(fn, verbose: bool):
    if verbose:
        return fn()
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def score_results(gt_file: str, results: Sequence[dict], dataset: str = 'coco', verbose: bool = False
                  ) -> Dict[str, float]:
    """AP/AR in 0-100 from COCO-format results; plus hidden_recall (0-1) when the GT has `hidden`."""
    if not results:
        names = CROWD_NAMES if is_crowdpose(dataset) else COCO_NAMES
        return {k: 0.0 for k in names}
    if is_crowdpose(dataset):
        from xtcocotools.coco import COCO
        from xtcocotools.cocoeval import COCOeval
        coco_gt = _quiet(lambda: COCO(gt_file), verbose)
        coco_dt = _quiet(lambda: coco_gt.loadRes(list(results)), verbose)
        sigmas = get_skeleton('crowdpose').sigmas_array()
        ev = COCOeval(coco_gt, coco_dt, 'keypoints_crowd', sigmas, use_area=False)
        names = CROWD_NAMES
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        coco_gt = _quiet(lambda: COCO(gt_file), verbose)
        coco_dt = _quiet(lambda: coco_gt.loadRes(list(results)), verbose)
        ev = COCOeval(coco_gt, coco_dt, 'keypoints')
        names = COCO_NAMES
    ev.params.useSegm = None
    _quiet(ev.evaluate, verbose)
    _quiet(ev.accumulate, verbose)
    _quiet(ev.summarize, verbose)
    stats = {k: round(100.0 * float(v), 4) for k, v in zip(names, ev.stats)}
    hidden = [a['id'] for a in coco_gt.dataset['annotations'] if a.get('hidden')]
    if hidden:
        stats['hidden_recall'] = round(hidden_recall(ev, set(hidden)), 6)
        stats['hidden_people'] = len(hidden)
    return stats


def hidden_recall(ev, hidden_ids: set, iou_threshold: float = 0.5) -> float:
    """Share of `hidden_ids` matched (one-to-one, COCO greedy matching) at OKS >= threshold.

    The `hidden` flag comes from our synthetic occlusion benchmark: this says whether people covered by others
    are found at all, which AP over everyone barely shows.
    """
    t = int(np.argmin(np.abs(np.asarray(ev.params.iouThrs) - iou_threshold)))
    all_range = list(ev.params.areaRng[0])
    matched = set()
    for e in ev.evalImgs:
        if e is None or list(e['aRng']) != all_range:
            continue
        for g, gid in enumerate(e['gtIds']):
            if gid in hidden_ids and e['gtMatches'][t][g] > 0:
                matched.add(gid)
    return len(matched) / max(len(hidden_ids), 1)


def format_table(stats: Dict[str, float]) -> str:
    keys = [k for k in stats if k not in ('hidden_people',)]
    head = ' | '.join(f'{k:>9}' for k in keys)
    vals = ' | '.join(f'{stats[k]:9.3f}' for k in keys)
    return f'{head}\n{vals}'


def build_estimator(checkpoint: str, opts: EvalOptions, device: str = 'cpu', arch: Optional[str] = None):
    from mipnet_ros.core.estimator import PoseEstimator
    # fp32 always: metrics must not depend on whether the fp16 check passed on this machine
    return PoseEstimator(checkpoint, arch=arch, device=device, fp16=False, instances=opts.instances, flip=opts.flip,
                         keypoint_threshold=opts.keypoint_threshold,
                         instance_score_decay=opts.instance_score_decay,
                         # CrowdPose is scored on every prediction, without OKS-NMS
                         oks_nms_threshold=None if is_crowdpose(opts.dataset) else opts.oks_nms_threshold)


def require_inputs(ann: str, images: str) -> None:
    """Both inputs exist (checked before a model is loaded, so a typo costs no time)."""
    if not Path(ann).is_file():
        raise FileNotFoundError(f'annotation file not found: {ann} (--ann, or data.val_ann of the config)')
    if not Path(images).is_dir():
        raise FileNotFoundError(f'image folder not found: {images} (--images, or data.val_images of the config)')


def load_annotations(ann: str) -> dict:
    """The COCO-format keypoint annotation file, or a UsageError that says what is wrong with it."""
    try:
        with open(ann) as f:
            gt = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f'{ann}: not a JSON file: {exc}') from exc
    if not isinstance(gt, dict) or 'images' not in gt or 'annotations' not in gt:
        raise UsageError(f'{ann}: not COCO-format keypoint annotations (no "images" and "annotations")')
    return gt


def annotation_joints(gt: dict) -> Optional[int]:
    """Keypoints per person in the annotations (from the category, else the first annotation)."""
    for cat in gt.get('categories', []):
        if cat.get('keypoints'):
            return len(cat['keypoints'])
    for a in gt['annotations']:
        if a.get('keypoints'):
            return len(a['keypoints']) // 3
    return None


def check_joints(model_joints: int, gt: dict, dataset: str, ann: str) -> None:
    """A model evaluated on annotations with another keypoint layout would only give a numpy error."""
    want = annotation_joints(gt) or get_skeleton(dataset).num_joints
    if int(model_joints) != want:
        example = {17: ' (data.dataset: coco or ochuman)', 14: ' (data.dataset: crowdpose)'}.get(want, '')
        raise UsageError(f'the model predicts {model_joints} keypoints but {ann} has {want} per person: evaluate '
                         f'a model trained on {want}-keypoint annotations{example}, or give annotations with '
                         f'{model_joints} keypoints')


def evaluate(checkpoint, ann: str, images: str, opts: EvalOptions, boxes: str = 'gt', device: str = 'cpu',
             arch: Optional[str] = None, progress: bool = True, oks_nms_sweep: Sequence[float] = (),
             instance_threshold: float = DEFAULT_INSTANCE_THRESHOLD, keep_results: bool = False,
             instance_sweep: Sequence[float] = ()) -> Dict[str, object]:
    """Everything `eval` prints and writes; `checkpoint` may also be a PoseEstimator already built.

    keep_results: also return the COCO-format predictions under 'results' (for `--results`).

    The network runs once. `stats` and `people` use the estimator's OKS-NMS threshold; every value
    of `oks_nms_sweep` (default: just the estimator's) and of `instance_sweep` (default: just
    `instance_threshold`) adds a `sweep` row (AP/AR and the published-set counts) from the same predictions.
    """
    require_inputs(ann, images)
    gt = load_annotations(ann)
    est = checkpoint if hasattr(checkpoint, 'estimate_batch') else build_estimator(checkpoint, opts, device, arch)
    check_joints(est.spec.num_joints, gt, opts.dataset, ann)
    t0 = time.time()
    raw = predict_raw(est, gt, images, load_boxes(gt, boxes, opts.det_score_threshold), progress)
    wall = time.time() - t0
    results, people = to_results(est, raw)
    sigmas = est.skeleton.sigmas_array()
    gt_by_image = annotations_by_image(gt)
    report: Dict[str, object] = {
        'stats': score_results(ann, results, opts.dataset),
        'people': people_counts(gt_by_image, people, instance_threshold, sigmas),
        'num_results': len(results), 'num_images': len(gt['images']), 'wall_s': round(wall, 2),
        'checkpoint': getattr(est, 'model_path', None) or str(checkpoint), 'ann': ann, 'images': images,
        'boxes': boxes, 'flip': opts.flip, 'dataset': opts.dataset, 'instances': est.num_instances,
        'arch': est.spec.arch, 'model_instances': est.spec.instances, 'oks_nms_threshold': est.oks_nms_threshold}
    if keep_results:
        report['results'] = results
    if oks_nms_sweep or instance_sweep:
        report['sweep'] = []
        for thr in oks_nms_sweep or [est.oks_nms_threshold]:
            res, ppl = to_results(est, raw, oks_nms_threshold=thr)
            stats = score_results(ann, res, opts.dataset)
            for inst in instance_sweep or [instance_threshold]:
                report['sweep'].append({'oks_nms_threshold': thr, 'instance_threshold': inst, 'stats': stats,
                                        'people': people_counts(gt_by_image, ppl, inst, sigmas)})
    return report


def format_sweep(sweep: Sequence[Dict]) -> str:
    """Markdown table of a threshold sweep: ranking metrics next to what a tracker would receive."""
    lines = ['| OKS-NMS | instance threshold | AP | AR | published / person | recall | hidden recall | precision | '
             'duplicates / image | false positives / image |', '|' + '---|' * 10]
    for row in sweep:
        st, pc = row['stats'], row['people']
        hidden = f"{pc['hidden_recall']:.3f}" if pc['hidden'] else '-'
        lines.append(f"| {row['oks_nms_threshold']} | {row['instance_threshold']} | {st['AP']:.2f} | {st['AR']:.2f} | "
                     f"{pc['published_per_person']:.2f} | {pc['recall']:.3f} | {hidden} | {pc['precision']:.3f} | "
                     f"{pc['duplicates_per_image']:.2f} | {pc['false_positives_per_image']:.2f} |")
    return '\n'.join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', default=None,
                        help='training YAML: gives the dataset kind and default --ann/--images')
    parser.add_argument('--checkpoint', required=True, help='.pth (ours or official with --arch) or .onnx')
    parser.add_argument('--arch', default=None, help='architecture of an official checkpoint')
    parser.add_argument('--ann', default=None, help='COCO-format keypoint annotations (default: config data.val_ann)')
    parser.add_argument('--images', default=None, help='image folder (default: config data.val_images)')
    parser.add_argument('--dataset', default=None, choices=['coco', 'ochuman', 'crowdpose'],
                        help='evaluation protocol (default: config data.dataset, else coco)')
    parser.add_argument('--boxes', default=None, help="'gt' or a COCO detections JSON (default: config data.val_boxes)")
    parser.add_argument('--flip', action='store_true', help='flip test (average with the mirrored crop)')
    parser.add_argument('--instances', type=int, default=None, help='lambdas per box (default: all)')
    parser.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--threads', type=int, default=0,
                        help="torch CPU threads; 0 = torch's own choice (default: %(default)s)")
    parser.add_argument('--json', default=None, help='write the metrics here (default: not written)')
    parser.add_argument('--results', default=None, help='also write the COCO-format predictions here')
    parser.add_argument('--oks-nms', default='0.9', metavar='T[,T..]',
                        help='OKS-NMS threshold (default: %(default)s, the HRNet/MIPNet evaluation value); several, '
                             'comma separated, add a sweep table from one network pass, the first is the headline')
    parser.add_argument('--instance-threshold', default=str(DEFAULT_INSTANCE_THRESHOLD), metavar='T[,T..]',
                        help="person score from which a pose counts as published in the 'people' metrics "
                             '(default: %(default)s, the node default); several, comma separated, add sweep rows')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm progress bar')


def _thresholds(text: str, flag: str) -> List[float]:
    try:
        values = [float(v) for v in str(text).split(',') if v.strip()]
    except ValueError:
        values = []
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise UsageError(f'{flag} takes thresholds in [0, 1], comma separated, got {text!r}')
    return values


def main(args: argparse.Namespace) -> int:
    dataset, ann, images, boxes = 'coco', args.ann, args.images, args.boxes
    arch, instances = args.arch, args.instances
    if args.config:
        from mipnet_ros.core.train_config import load_config
        cfg = load_config(args.config)
        dataset = cfg.data.dataset
        ann = ann or cfg.data.val_ann
        images = images or cfg.data.val_images
        boxes = boxes or cfg.data.val_boxes
        if arch is None and not str(args.checkpoint).endswith('.onnx'):
            arch = cfg.model.arch          # needed by official checkpoints, checked against ours
    dataset = args.dataset or dataset
    if not ann or not images:
        raise UsageError('give --ann and --images (or a --config with data.val_ann/val_images)')
    sweep, inst = _thresholds(args.oks_nms, '--oks-nms'), _thresholds(args.instance_threshold, '--instance-threshold')
    require_inputs(ann, images)
    opts = EvalOptions(dataset=dataset, flip=args.flip, instances=instances, oks_nms_threshold=sweep[0])
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    est = build_estimator(args.checkpoint, opts, args.device, arch)
    report = evaluate(est, ann, images, opts, boxes=boxes or 'gt', progress=not args.no_progress,
                      oks_nms_sweep=sweep if len(sweep) > 1 else (), instance_threshold=inst[0],
                      instance_sweep=inst if len(inst) > 1 else (), keep_results=True)
    results = report.pop('results')
    report['checkpoint'] = args.checkpoint
    print(f'{est!r}\n{report["num_images"]} images, {len(results)} predictions, {report["wall_s"]:.1f}s')
    print(format_table(report['stats']))
    pc = report['people']
    print(f'published (score >= {inst[0]}): {pc["published_per_person"]:.2f} per person, recall '
          f'{pc["recall"]:.3f}, precision {pc["precision"]:.3f}, {pc["duplicates_per_image"]:.2f} duplicates and '
          f'{pc["false_positives_per_image"]:.2f} false positives per image')
    if 'sweep' in report:
        print(format_sweep(report['sweep']))
    if args.json:
        write_json(args.json, report)
    if args.results:
        write_json(args.results, results, indent=None)
    return 0
