"""mmpose top-down HRNet checkpoints -> our key layout (the official HRNet one).

mmpose's HRNet backbone names its modules like the official pose_hrnet.py and sits under `backbone.`; the head
is one 1x1 conv `final_layer`, under `keypoint_head.` in mmpose 0.x (TopdownHeatmapSimpleHead with
num_deconv_layers=0) and under `head.` in 1.x (HeatmapHead with deconv_out_channels=None). So only the
prefixes change."""
from typing import Any, Dict, Mapping

import numpy as np
import torch

from mipnet_ros.core.model.checkpoint import CheckpointError

BACKBONE = 'backbone.'
HEADS = {'keypoint_head.': 'mmpose 0.x', 'head.': 'mmpose 1.x'}
IGNORED = ('data_preprocessor.',)   # 1.x mean/std buffers: our pre-processing normalises by itself
FINAL = 'final_layer.'


def is_mmpose(state: Mapping[str, Any]) -> bool:
    return any(k.startswith(BACKBONE) for k in state)


def mmpose_version(state: Mapping[str, Any]) -> str:
    found = {HEADS[p] for p in HEADS for k in state if k.startswith(p)}
    return ' and '.join(sorted(found)) or 'mmpose (no head)'


def from_mmpose(state: Mapping[str, torch.Tensor], source: str = '<memory>') -> Dict[str, torch.Tensor]:
    """Renamed copy of an mmpose 0.x or 1.x top-down HRNet state dict; anything else is an error."""
    out: Dict[str, torch.Tensor] = {}
    other = []
    for key, value in state.items():
        if key.startswith(IGNORED):
            continue
        if key.startswith(BACKBONE):
            out[key[len(BACKBONE):]] = value
            continue
        head = next((p for p in HEADS if key.startswith(p)), None)
        rest = key[len(head):] if head else ''
        if head and rest.startswith(FINAL) and rest.count('.') == 1:
            out[rest] = value            # final_layer.weight / final_layer.bias
        else:
            other.append(key)
    if other:
        shown = ', '.join(other[:5]) + (f' ... and {len(other) - 5} more' if len(other) > 5 else '')
        raise CheckpointError(f'{source}: {mmpose_version(state)} keys that have no place in a plain HRNet '
                              f'(only a 1x1 final_layer head without deconv/conv layers is supported): {shown}')
    if 'final_layer.weight' not in out:
        raise CheckpointError(f'{source}: mmpose checkpoint without a head final_layer (keypoint_head. or head.)')
    return out


def _numpy_globals():
    """numpy scalar and dtype classes: mmpose stores evaluation scores as numpy floats in `meta`.

    Listed under both the numpy 2 and the numpy 1 module names, since old files say numpy.core.
    """
    core = getattr(np, '_core', None) or np.core
    scalar = core.multiarray.scalar
    kinds = [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')]
    entries = [scalar, (scalar, 'numpy.core.multiarray.scalar'), np.dtype] + kinds
    return entries


def read_mmpose(path) -> Any:
    """torch.load without pickle code execution, also for files whose `meta` holds numpy scalars."""
    from mipnet_ros.core.model.checkpoint import read_checkpoint
    try:
        return read_checkpoint(path)
    except CheckpointError as exc:
        if 'Python objects' not in str(exc):
            raise
    with torch.serialization.safe_globals(_numpy_globals()):
        return read_checkpoint(path)
