"""INT8 post-training quantization of an exported graph, calibrated on real person crops.

On a CPU the float32 network is the whole frame budget; onnxruntime's static QDQ quantization runs the
convolutions as integer kernels. Activation ranges come from crops made by the inference pre-processing
(`transforms.prepare_crops`) on real person boxes (a recording's detections, boxes for an image folder, centre
boxes, or COCO annotations), never from noise. The agreement with float32 on held-out crops is checked (a file
that disagrees is not written) and stored in `mipnet.calibration`, so the node can show it without the crops.
Weights are per output channel with a 7-bit range (`reduce_range`: no u8*s8 saturation on CPUs without VNNI).
The file keeps the graph's inputs, outputs and `mipnet.*` metadata plus `mipnet.precision = int8`."""
import contextlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence

import numpy as np

from mipnet_ros.core.fileio import atomic_path
from mipnet_ros.core.onnx_meta import (
    CALIBRATION_KEY,
    LAYOUT_KEY,
    LAYOUT_SHARED,
    PRECISION_KEY,
    SPEC_KEY,
    calibration_record,
    read_props,
    write_props,
)

DEFAULT_CALIBRATION_CROPS = 64
# fraction of confident joints whose int8 heatmap peak may move more than one heatmap pixel
DEFAULT_MIN_AGREEMENT = 0.9
DEFAULT_HOLDOUT = 16      # crops kept out of the calibration to measure the agreement on (at most half of them)
CONFIDENT_PEAK = 0.2


class QuantizationError(RuntimeError):
    """The quantized graph could not be produced, or disagrees with float32 beyond the limit."""


def calibration_crops(ann_file, image_dir, input_size, num_joints: int = 17,
                      count: int = DEFAULT_CALIBRATION_CROPS, seed: int = 0) -> np.ndarray:
    """Up to `count` normalised crops (M,3,H,W) of annotated people, as the estimator makes them."""
    import cv2

    from mipnet_ros.core.data.coco_dataset import load_people
    from mipnet_ros.core.transforms import prepare_crops
    people, by_image, _ = load_people(str(ann_file), str(image_dir), num_joints)
    if not people:
        raise QuantizationError(f'{ann_file}: no annotated person to calibrate on')
    order = np.random.default_rng(seed).permutation(len(people))[:count]
    chosen: Dict[str, list] = {}
    for i in sorted(order):
        chosen.setdefault(people[i].image_path, []).append(people[i].box)
    crops = []
    for path, boxes in chosen.items():
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise QuantizationError(f'calibration image {path} cannot be read')
        crops.append(prepare_crops(image, np.asarray(boxes, np.float32), tuple(input_size))[0])
    return np.concatenate(crops).astype(np.float32)


def _feeds(crops: np.ndarray, meta: Dict[str, str], batch: int) -> Iterator[Dict[str, np.ndarray]]:
    """Input dictionaries for the graph layout: the shared graph takes all lambdas per box."""
    spec = json.loads(meta[SPEC_KEY])
    n = int(spec.get('instances', 1))
    shared = meta.get(LAYOUT_KEY) == LAYOUT_SHARED
    for start in range(0, len(crops), batch):
        image = crops[start:start + batch]
        instance = np.arange(n, dtype=np.int64) if shared else np.arange(len(image), dtype=np.int64) % n
        yield {'image': np.ascontiguousarray(image, np.float32), 'instance': instance}


@contextlib.contextmanager
def _quiet_root_logger():
    """The quantizer warns on the root logger for every 1-D weight it cannot quantize per channel
    (the BatchNorm1d of each lambda gate, which it then quantizes per tensor): dozens of harmless lines."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(src, dst, crops: np.ndarray, per_channel: bool = True, reduce_range: bool = True,
                  batch: int = 8, source: str = '') -> Dict[str, object]:
    """Writes the INT8 (QDQ) version of the exported float32 graph `src` to `dst`.

    `crops` are calibration inputs (normalised person crops, e.g. from `calibration_crops`); `source`
    says where they came from (stored in the file). Returns facts for the caller's report.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    meta = read_props(src)
    if SPEC_KEY not in meta:
        raise QuantizationError(f'{src} has no {SPEC_KEY} metadata: export it with `python -m mipnet_ros export`')
    if meta.get(PRECISION_KEY, 'fp32') != 'fp32':
        raise QuantizationError(f'{src} is already {meta[PRECISION_KEY]}')
    if len(crops) == 0:
        raise QuantizationError('no calibration crops')

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = _feeds(crops, meta, batch)

        def get_next(self):
            return next(self._it, None)

    t0 = time.perf_counter()
    dst = Path(dst)
    with tempfile.TemporaryDirectory(prefix='mipnet-int8-') as tmp:
        pre = Path(tmp) / 'pre.onnx'
        # symbolic shape inference stops at the dynamic reshapes of the shared-trunk graph; the
        # ONNX shape inference and graph optimisation of the pre-processing step are what matter
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        with atomic_path(dst, suffix='.onnx') as out, _quiet_root_logger():
            quantize_static(str(pre), out, _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            reduce_range=reduce_range, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
            model = onnx.load(out)
            props = dict(meta)
            props[PRECISION_KEY] = 'int8'
            record = {'crops': int(len(crops)), 'per_channel': per_channel, 'reduce_range': reduce_range}
            if source:
                record['source'] = str(source)
            props[CALIBRATION_KEY] = json.dumps(record, sort_keys=True)
            write_props(model, props, replace_all=True)
            onnx.save(model, out)
    ops = [n.op_type for n in onnx.load(str(dst), load_external_data=False).graph.node]
    return {'seconds': time.perf_counter() - t0, 'calibration_crops': int(len(crops)),
            'quantized_nodes': ops.count('QuantizeLinear'), 'per_channel': per_channel,
            'reduce_range': reduce_range}


def peak_agreement(fp32_path, int8_path, crops: np.ndarray, batch: int = 8,
                   confident: float = CONFIDENT_PEAK) -> Dict[str, float]:
    """How far the int8 heatmap peaks move from the float32 ones on `crops` (held-out crops, ideally).

    `agreement`: share of confident joints (float32 peak >= `confident`) whose int8 peak is within
    one heatmap pixel of the float32 peak (the decoder's sub-pixel shift is a quarter pixel).
    """
    import onnxruntime as ort
    meta = read_props(fp32_path)
    sessions = [ort.InferenceSession(str(p), providers=['CPUExecutionProvider']) for p in (fp32_path, int8_path)]
    outs = [[], []]
    for feeds in _feeds(crops, meta, batch):
        for s, acc in zip(sessions, outs):
            acc.append(s.run(['heatmaps'], feeds)[0])
    ref, got = (np.concatenate(o).astype(np.float32) for o in outs)
    k = ref.shape[-3]
    w = ref.shape[-1]
    ref_flat = ref.reshape(-1, k, ref.shape[-2] * w)
    got_flat = got.reshape(-1, k, ref.shape[-2] * w)
    ri, gi = ref_flat.argmax(-1), got_flat.argmax(-1)
    dist = np.maximum(np.abs(ri // w - gi // w), np.abs(ri % w - gi % w))
    mask = ref_flat.max(-1) >= confident
    agreement = float((dist[mask] <= 1).mean()) if mask.any() else float('nan')
    return {'agreement': agreement, 'confident_joints': int(mask.sum()),
            'max_abs_diff': float(np.abs(ref - got).max()), 'peak_abs_max': float(np.abs(ref).max())}


def is_int8(path) -> bool:
    return read_props(path).get(PRECISION_KEY) == 'int8'


def split_calibration(crops: np.ndarray, holdout: int) -> Sequence[np.ndarray]:
    """(calibration, check) crops: the check crops are never seen by the calibration."""
    holdout = min(max(0, holdout), len(crops) // 2)
    return crops[holdout:], crops[:holdout]


def quantize_checked(src, dst, crops: np.ndarray, min_agreement: Optional[float] = DEFAULT_MIN_AGREEMENT,
                     holdout: int = DEFAULT_HOLDOUT, source: str = '', **kwargs) -> Dict[str, object]:
    """quantize_onnx on most crops, peak_agreement on the held-out rest; raises below `min_agreement`
    (and leaves nothing at `dst`), so a file at `dst` is always one that passed the check.

    The agreement is stored in the file's calibration record (`check`), so whoever loads it can say how
    far it may be trusted. min_agreement=None measures without refusing (speed measurements on random
    weights only): the record then says the check was not enforced.
    """
    import onnx
    calib, check = split_calibration(crops, holdout)
    dst = Path(dst)
    with tempfile.TemporaryDirectory(prefix='mipnet-int8-check-') as tmp:
        draft = Path(tmp) / dst.name
        info = quantize_onnx(src, draft, calib, source=source, **kwargs)
        record = None
        if len(check):
            info.update(peak_agreement(src, draft, check))
            info['check_crops'] = int(len(check))
            if min_agreement is not None and not info['agreement'] >= min_agreement:
                raise QuantizationError(f'int8 peaks agree with float32 on only {info["agreement"]:.1%} of '
                                        f'confident joints (< {min_agreement:.0%}); {dst} was not written. Calibrate '
                                        'on more or more typical crops (--calib-count; crops of the people your '
                                        'camera sees)')
            record = {'agreement': info['agreement'], 'confident_joints': info['confident_joints'],
                      'crops': info['check_crops'], 'within_px': 1, 'enforced': min_agreement is not None}
            if min_agreement is not None:
                record['min_agreement'] = float(min_agreement)
        model = onnx.load(str(draft))
        calibration = dict(calibration_record(read_props(draft)) or {})
        if record is not None:
            calibration['check'] = record
        write_props(model, {CALIBRATION_KEY: json.dumps(calibration, sort_keys=True)})
        with atomic_path(dst, suffix='.onnx') as out:
            onnx.save(model, out)
    info['source'] = source
    return info
