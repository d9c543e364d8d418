"""ONNX export of a pose network, verified against eager PyTorch before it is declared a success.

Two layouts (`mipnet.layout`): `per_instance` takes image (B,3,H,W) + instance (B,) int64, one row per (box, λ),
`instance` declared even for N=1 so every backend feeds the same inputs; `shared_trunk` takes instance (L,) and
gives (B,L,K,h,w): the λ-free trunk runs once per box, only the head B*L times. `mipnet.spec` makes the file
self-describing. `--fp16` also writes X.fp16.onnx (half weights and arithmetic, float32 I/O) for onnxruntime's
CUDA provider, which runs only what the graph says (TensorRT takes fp16 as a build flag instead). The
TorchScript exporter is used (dynamo needs onnxscript); the file is renamed into place only once onnxruntime
agrees with eager, so a file at the output path is always a checked one."""
import argparse
import copy
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import numpy as np
import torch
from torch import nn

from mipnet_ros.core.fileio import atomic_path
from mipnet_ros.core.onnx_meta import (  # noqa: F401
    FP16_TOLERANCE,
    LAYOUT_PER_INSTANCE,
    LAYOUT_SHARED,
    make_props,
    read_metadata,
    write_props,
)
from mipnet_ros.core.quantize import DEFAULT_CALIBRATION_CROPS, DEFAULT_HOLDOUT, DEFAULT_MIN_AGREEMENT

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4


class ExportCheckError(RuntimeError):
    """onnxruntime disagrees with eager PyTorch by more than the tolerance."""


class _PerInstance(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image, instance):
        return self.model(image, instance)


class _SharedTrunk(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image, instance):
        return self.model.forward_shared(image, instance)


def _sample_inputs(model, batch: int, shared: bool, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    return _sample_inputs_for(model.spec, batch, shared, seed)


def _sample_inputs_for(spec, batch: int, shared: bool, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    h, w = spec.input_size
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, h, w, generator=gen)
    n = spec.instances
    instance = torch.arange(n) if shared else torch.arange(batch) % n
    return image, instance.long()


def _declare_instance_input(onnx_model, shared: bool) -> None:
    """The exporter drops inputs the graph never reads (N=1 ignores `instance`); put it back."""
    import onnx
    if any(i.name == 'instance' for i in onnx_model.graph.input):
        return
    dim = 'instances' if shared else 'batch'
    onnx_model.graph.input.append(
        onnx.helper.make_tensor_value_info('instance', onnx.TensorProto.INT64, [dim]))


def _fix_output_dims(onnx_model, spec, shared: bool) -> None:
    """Writes K, h, w into the output type (the shared reshape leaves them symbolic); only the
    batch and instance axes are dynamic, since the image input has a fixed H x W."""
    h, w = spec.heatmap_size
    static = [spec.num_joints, h, w]
    for out in onnx_model.graph.output:
        if out.name != 'heatmaps':
            continue
        dims = out.type.tensor_type.shape.dim
        first = 2 if shared else 1
        for d, value in zip(dims[first:], static):
            d.ClearField('dim_param')
            d.dim_value = value


def check_onnx(model, path, shared_trunk: bool = False, batch: int = 2, seed: int = 0) -> float:
    """Max |onnxruntime - eager| on a random batch (batch differs from the export batch on purpose)."""
    import onnxruntime as ort
    image, instance = _sample_inputs(model, batch, shared_trunk, seed)
    with torch.no_grad():
        expected = (model.forward_shared(image, instance) if shared_trunk else model(image, instance)).numpy()
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    (got,) = session.run(['heatmaps'], {'image': image.numpy(), 'instance': instance.numpy()})
    if got.shape != expected.shape:
        raise ExportCheckError(f'onnxruntime output shape {got.shape} != eager {expected.shape}')
    return float(np.abs(got - expected).max())


def export_onnx(model, path, shared_trunk: bool = False, opset: int = DEFAULT_OPSET,
                tolerance: Optional[float] = DEFAULT_TOLERANCE, check_batch: int = 3) -> float:
    """Exports `model` (a PoseNet) to `path`, checks it with onnxruntime, returns the max abs diff.

    Raises ExportCheckError (and leaves no file at `path`) when the diff exceeds `tolerance`
    (tolerance=None: never raise, the caller judges the returned diff).
    """
    import onnx
    path = Path(path)
    if next(model.parameters()).device.type != 'cpu' or next(model.parameters()).dtype != torch.float32:
        model = copy.deepcopy(model).cpu().float()
    was_training = model.training
    model.eval()
    try:
        # the wrapper must be in eval mode too: the exporter restores the wrapper's mode afterwards,
        # and a wrapper left in training mode would switch the model's BatchNorms to batch statistics
        wrapper = (_SharedTrunk(model) if shared_trunk else _PerInstance(model)).eval()
        args = _sample_inputs(model, 2, shared_trunk)
        axes = ({'image': {0: 'batch'}, 'instance': {0: 'instances'}, 'heatmaps': {0: 'batch', 1: 'instances'}}
                if shared_trunk else
                {'image': {0: 'batch'}, 'instance': {0: 'batch'}, 'heatmaps': {0: 'batch'}})
        with atomic_path(path, suffix='.onnx') as tmp:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter('ignore')     # the TorchScript exporter is chatty about deprecation
                torch.onnx.export(wrapper, args, tmp, dynamo=False, opset_version=opset,
                                  input_names=['image', 'instance'], output_names=['heatmaps'],
                                  dynamic_axes=axes, do_constant_folding=True)
            onnx_model = onnx.load(tmp)
            _declare_instance_input(onnx_model, shared_trunk)
            _fix_output_dims(onnx_model, model.spec, shared_trunk)
            layout = LAYOUT_SHARED if shared_trunk else LAYOUT_PER_INSTANCE
            write_props(onnx_model, make_props(model.spec.to_dict(), layout))
            onnx.checker.check_model(onnx_model)
            onnx.save(onnx_model, tmp)
            diff = check_onnx(model, tmp, shared_trunk, batch=check_batch)
            if tolerance is not None and not diff <= tolerance:
                raise ExportCheckError(f'onnxruntime differs from eager by {diff:.3g} > {tolerance:g}; '
                                       f'{path} was not written')
    finally:
        model.train(was_training)
    return diff


def _topological_order(graph) -> None:
    """Reorder nodes so each comes after its inputs' producers (the converter appends its input casts
    at the end, which onnxruntime accepts and the ONNX checker does not)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {''}
    pending, ordered = list(graph.node), []
    while pending:
        rest = [n for n in pending if not all(i in ready for i in n.input)]
        placed = [n for n in pending if all(i in ready for i in n.input)]
        if not placed:
            raise ExportCheckError(f'graph has a cycle or a missing input at {rest[0].name!r}')
        for n in placed:
            ordered.append(n)
            ready.update(n.output)
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def fp16_path(path) -> Path:
    """Where `export --fp16` puts the half-precision file: model.onnx -> model.fp16.onnx."""
    path = Path(path)
    return path.with_name(path.stem + '.fp16.onnx')


def convert_fp16(src, dst, tolerance: Optional[float] = FP16_TOLERANCE, check_batch: int = 3) -> float:
    """Half-precision copy of the exported float32 file `src`; returns max |fp16 - fp32| / max |fp32|.

    Raises ExportCheckError (and leaves no file at `dst`) beyond `tolerance`.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from mipnet_ros.core.model.registry import ModelSpec
    meta = read_metadata(src)
    if meta['spec'] is None or meta['layout'] is None:
        raise ExportCheckError(f'{src} has no mipnet metadata: export it with `python -m mipnet_ros export` first')
    if meta['precision'] != 'fp32':
        raise ExportCheckError(f'{src} is already {meta["precision"]}')
    spec = ModelSpec.from_dict(meta['spec'])
    shared = meta['layout'] == LAYOUT_SHARED
    half = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    _topological_order(half.graph)
    write_props(half, make_props(spec.to_dict(), meta['layout'], precision='fp16'))
    onnx.checker.check_model(half)
    image, instance = _sample_inputs_for(spec, check_batch, shared)
    feeds = {'image': image.numpy(), 'instance': instance.numpy()}
    with atomic_path(Path(dst), suffix='.onnx') as tmp:
        onnx.save(half, tmp)
        run = {f: ort.InferenceSession(str(f), providers=['CPUExecutionProvider']).run(['heatmaps'], feeds)[0]
               for f in (str(src), tmp)}
        ref, got = run[str(src)], run[tmp]
        rel = float(np.abs(got.astype(np.float64) - ref).max() / max(float(np.abs(ref).max()), 1e-12))
        if tolerance is not None and not rel <= tolerance:
            raise ExportCheckError(f'the fp16 graph differs from float32 by {rel:.3g} of the peak > {tolerance:g}; '
                                   f'{dst} was not written')
    return rel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', required=True, metavar='FILE',
                        help='our checkpoint, or an official HRNet/MIPNet file (then --arch is needed)')
    parser.add_argument('--arch', default=None,
                        help='architecture of an official checkpoint (hrnet_w32, hrnet_w48, hrnet_w16s, '
                             'resnet18 ... resnet152); ours store it')
    parser.add_argument('--instances', type=int, default=None, metavar='N',
                        help='number of instances N (official files: 2 if the file has gates, else 1)')
    parser.add_argument('--num-joints', type=int, default=None, metavar='K',
                        help='keypoints per person (default: read from the weights)')
    parser.add_argument('--input-size', default=None, metavar='HxW',
                        help='crop size, e.g. 256x192 (default: the size the model was trained at, stored in our '
                             'files; the arch default for official ones)')
    parser.add_argument('--onnx', required=True, metavar='OUT.onnx', help='where to write the ONNX file')
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument('--shared-trunk', dest='shared_trunk', action='store_true', default=True,
                        help='(default) the (B,L,K,h,w) graph that runs the lambda-free trunk once per box '
                             'for its L instances')
    layout.add_argument('--per-instance', dest='shared_trunk', action='store_false',
                        help='the (B,K,h,w) graph that runs the whole network once per (box, lambda) row '
                             '(for runtimes that need one fixed input per row)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset (default: %(default)s)')
    parser.add_argument('--tolerance', type=float, default=DEFAULT_TOLERANCE,
                        help='max |onnxruntime - torch| accepted (default: %(default)g)')
    parser.add_argument('--fp16', action='store_true',
                        help="also write OUT.fp16.onnx: half precision for onnxruntime's CUDA provider "
                             '(float32 in and out; TensorRT takes fp16 as a flag on the float32 file instead)')
    q = parser.add_argument_group('int8 (CPU speed; see docs/int8.md)')
    q.add_argument('--int8', action='store_true',
                   help='also write OUT.int8.onnx, statically quantized with calibration crops of people: '
                        'from a recording (--calib-bag), annotated images (--calib-ann) or an image folder')
    q.add_argument('--calib-ann', metavar='JSON', help='COCO-format keypoint annotations for calibration')
    q.add_argument('--calib-images', metavar='DIR',
                   help='image folder: of --calib-ann; alone, calibration crops of its images (boxes from '
                        '--calib-boxes, else one centre box per image, see docs/int8.md)')
    q.add_argument('--calib-boxes', metavar='JSON',
                   help='person boxes of the --calib-images folder: {"image.jpg": [[x1, y1, x2, y2], ...]} in pixels')
    q.add_argument('--calib-count', type=int, default=DEFAULT_CALIBRATION_CROPS, metavar='M',
                   help=f'person crops to use; up to {DEFAULT_HOLDOUT} of them (at most half) are held out to check '
                        'the result (default: %(default)s)')
    q.add_argument('--min-agreement', type=float, default=DEFAULT_MIN_AGREEMENT,
                   help='min share of confident joints whose int8 peak stays within 1 heatmap pixel of float32 '
                        'on the held-out crops (default: %(default)s)')
    q.add_argument('--unchecked-int8-for-benchmarks', dest='unchecked_int8', action='store_true',
                   help='speed measurements only (e.g. random weights): write the int8 file even when its peaks '
                        'disagree with float32; the figure is still measured, printed and stored, marked NOT checked')
    return q


def main(args: argparse.Namespace, calibration: Optional[Callable[[Any], Any]] = None) -> int:
    """The `export` job. `calibration(spec)` -> CalibrationSet gives the int8 crops when the command layer
    has a source this library cannot read (a bag); otherwise --calib-ann / --calib-images are used."""
    import sys

    from mipnet_ros.core.errors import UsageError
    from mipnet_ros.core.inputs import input_size_note
    from mipnet_ros.core.model.checkpoint import load_checkpoint
    from mipnet_ros.core.model.registry import parse_input_size
    int8 = bool(getattr(args, 'int8', False))
    if args.input_size is not None:
        try:
            parse_input_size(args.input_size)
        except (TypeError, ValueError) as exc:
            raise UsageError(f'--input-size: {exc}') from exc
    if int8 and calibration is None:
        _check_calibration_args(args)
    try:
        model = load_checkpoint(args.checkpoint, arch=args.arch, instances=args.instances,
                                num_joints=getattr(args, 'num_joints', None), input_size=args.input_size)
    except ValueError as exc:   # CheckpointError is one; a malformed --input-size is another
        raise UsageError(str(exc)) from exc
    note = input_size_note(model.checkpoint_info.get('trained_input_size'), model.spec.input_size)
    if note:
        print(f'export: warning: {note} (--input-size)', file=sys.stderr)
    calib = None
    if int8:    # before the export: a wrong calibration source fails in seconds, not after minutes
        calib = calibration(model.spec) if calibration is not None else calibration_set(args, model.spec)
        print(f'export: int8 calibration: {calib.source}')
    layout = LAYOUT_SHARED if args.shared_trunk else LAYOUT_PER_INSTANCE
    try:
        diff = export_onnx(model, args.onnx, shared_trunk=args.shared_trunk, opset=args.opset,
                           tolerance=getattr(args, 'tolerance', DEFAULT_TOLERANCE))
    except ExportCheckError as exc:
        print(f'export: FAILED: {exc}')
        return 1
    spec = model.spec
    print(f'export: wrote {args.onnx} ({spec.arch}, N={spec.instances}, K={spec.num_joints}, '
          f'{spec.input_size[0]}x{spec.input_size[1]}, layout={layout}, opset {args.opset}); '
          f'onnxruntime vs torch max abs diff {diff:.3g}')
    if getattr(args, 'fp16', False):
        try:
            rel = convert_fp16(args.onnx, fp16_path(args.onnx))
        except ExportCheckError as exc:
            print(f'export: fp16 FAILED: {exc}')
            return 1
        print(f'export: wrote {fp16_path(args.onnx)} (fp16 weights and arithmetic, float32 in/out); '
              f'max diff vs float32 {rel:.3g} of the peak')
    return _write_int8(args, calib) if int8 else 0


def int8_path(path) -> Path:
    """Where `export --int8` puts the quantized file: model.onnx -> model.int8.onnx."""
    path = Path(path)
    return path.with_name(path.stem + '.int8.onnx')


def _check_calibration_args(args: argparse.Namespace) -> None:
    from mipnet_ros.core.errors import UsageError
    if getattr(args, 'calib_ann', None) and not getattr(args, 'calib_images', None):
        raise UsageError('--calib-ann needs --calib-images (the folder of its images)')
    if getattr(args, 'calib_ann', None) and getattr(args, 'calib_boxes', None):
        raise UsageError('give either --calib-ann (COCO annotations) or --calib-boxes (boxes JSON), not both')
    if not getattr(args, 'calib_images', None):
        raise UsageError('--int8 needs calibration crops of people: --calib-bag BAG (a recording of your camera '
                         'with person detections), --calib-images DIR with --calib-ann (COCO annotations) or '
                         '--calib-boxes (boxes JSON), or --calib-images DIR alone (centre boxes)')
    if args.calib_count < 2:
        raise UsageError(f'--calib-count must be at least 2 (calibration and check crops), got {args.calib_count}')


def calibration_set(args: argparse.Namespace, spec):
    """The int8 crops of the image-based options: COCO annotations, or a folder (boxes JSON or centre boxes)."""
    from mipnet_ros.core.calibration import CalibrationSet, folder_crops
    from mipnet_ros.core.quantize import QuantizationError, calibration_crops
    if args.calib_ann:
        try:
            crops = calibration_crops(args.calib_ann, args.calib_images, spec.input_size, spec.num_joints,
                                      count=args.calib_count)
        except QuantizationError as exc:
            from mipnet_ros.core.errors import UsageError
            raise UsageError(str(exc)) from exc
        return CalibrationSet(crops, f'annotated people of {Path(args.calib_ann).name}')
    return folder_crops(args.calib_images, spec.input_size, args.calib_count, args.calib_boxes)


def _write_int8(args: argparse.Namespace, calib) -> int:
    from mipnet_ros.core.onnx_meta import int8_check_text, read_props
    from mipnet_ros.core.quantize import QuantizationError, quantize_checked
    out = int8_path(args.onnx)
    unchecked = bool(getattr(args, 'unchecked_int8', False))
    try:
        info = quantize_checked(args.onnx, out, calib.crops, min_agreement=None if unchecked else args.min_agreement,
                                holdout=DEFAULT_HOLDOUT, source=calib.source)
    except (QuantizationError, FileNotFoundError, ValueError) as exc:
        print(f'export: int8 FAILED: {exc}')
        return 1
    print(f'export: wrote {out} (int8, calibrated on {info["calibration_crops"]} crops)')
    print(f'export: int8 check: {int8_check_text(read_props(out))}')
    return 0
