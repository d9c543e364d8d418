"""The `mipnet.*` metadata of our ONNX files: the one place for its keys, layouts and precisions.

An exported file carries its ModelSpec, the graph layout (shared trunk or per instance) and the
numeric precision, so that a file alone is enough to run it. Export, quantization and the
onnxruntime backend read and write it only through this module.
"""
import json
from typing import Any, Dict, Mapping, Optional

SPEC_KEY = 'mipnet.spec'
LAYOUT_KEY = 'mipnet.layout'
PRECISION_KEY = 'mipnet.precision'
CALIBRATION_KEY = 'mipnet.calibration'

LAYOUT_SHARED = 'shared_trunk'        # (image (B,3,H,W), instances (L,)) -> (B, L, K, h, w)
LAYOUT_PER_INSTANCE = 'per_instance'  # (image (B,3,H,W), instance (B,)) -> (B, K, h, w)
PRECISIONS = ('fp32', 'fp16', 'int8')  # absent key = fp32, which keeps float32 exports byte-identical

# Half precision against float32, relative to the float32 heatmaps' largest value: a 10-bit
# mantissa through ~100 layers. Used by the fp16 export check and by the GPU check.
FP16_TOLERANCE = 2e-2


def make_props(spec_dict: Mapping[str, Any], layout: str, precision: Optional[str] = None) -> Dict[str, str]:
    """The key/value pairs to store for a graph."""
    if layout not in (LAYOUT_SHARED, LAYOUT_PER_INSTANCE):
        raise ValueError(f'unknown layout {layout!r}')
    props = {SPEC_KEY: json.dumps(dict(spec_dict), sort_keys=True), LAYOUT_KEY: layout}
    if precision and precision != 'fp32':
        if precision not in PRECISIONS:
            raise ValueError(f'unknown precision {precision!r}')
        props[PRECISION_KEY] = precision
    return props


def write_props(onnx_model, props: Mapping[str, str], replace_all: bool = False) -> None:
    """Set `props` in an onnx.ModelProto's metadata_props (other keys kept unless replace_all)."""
    for entry in list(onnx_model.metadata_props):
        if replace_all or entry.key in props:
            onnx_model.metadata_props.remove(entry)
    for key, value in props.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, str(value)


def read_props(path) -> Dict[str, str]:
    """All metadata_props of a file (weights are not loaded)."""
    import onnx
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def decode(props: Mapping[str, str]) -> Dict[str, Any]:
    """{'spec': dict or None, 'layout': str, 'precision': str} from raw metadata (file or session)."""
    return {'spec': json.loads(props[SPEC_KEY]) if SPEC_KEY in props else None,
            'layout': props.get(LAYOUT_KEY, LAYOUT_PER_INSTANCE),
            'precision': props.get(PRECISION_KEY, 'fp32')}


def read_metadata(path) -> Dict[str, Any]:
    """Decoded `mipnet.*` metadata of an exported file."""
    return decode(read_props(path))


def calibration_record(props: Mapping[str, str]) -> Optional[Dict[str, Any]]:
    """The int8 calibration record (`mipnet.calibration`): crops, their source and, under 'check', the
    agreement with float32 measured on held-out crops; None for a file that is not quantized."""
    text = props.get(CALIBRATION_KEY)
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def int8_check_text(props: Mapping[str, str]) -> str:
    """One sentence on how far an int8 file may be trusted, for the log and ~/model_info ('' if not int8)."""
    if props.get(PRECISION_KEY) != 'int8':
        return ''
    record = calibration_record(props) or {}
    source = record.get('source')
    calibrated = f"calibrated on {record['crops']} crops" if 'crops' in record else 'calibration unknown'
    calibrated += f': {source}' if source else ''
    check = record.get('check')
    if not isinstance(check, dict) or check.get('agreement') is None:
        return f'int8 {calibrated}; no agreement with float32 stored in the file'
    figure = (f"int8 peaks within 1 heatmap pixel of float32 for {100 * float(check['agreement']):.1f} % of "
              f"{check.get('confident_joints', '?')} confident joints on {check.get('crops', '?')} held-out crops")
    if not check.get('enforced', True):
        return f'{figure}, NOT checked (written for speed measurements only); {calibrated}'
    return f"{figure} (minimum {100 * float(check.get('min_agreement', 0)):.0f} %); {calibrated}"
