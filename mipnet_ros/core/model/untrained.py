"""An untrained checkpoint: runs the whole pipeline (node, replay, soak) when no trained model is wanted."""
from pathlib import Path
from typing import Tuple

import torch

from mipnet_ros.core.model.checkpoint import save_checkpoint
from mipnet_ros.core.model.registry import ModelSpec, build_model


def write_untrained_checkpoint(path: Path, arch: str = 'hrnet_w16s', instances: int = 2,
                               input_size: Tuple[int, int] = (128, 96), seed: int = 0) -> Path:
    """Save a freshly initialised network (fixed seed, so runs are repeatable) and return its path."""
    torch.manual_seed(seed)
    model = build_model(ModelSpec(arch, instances=instances, input_size=tuple(input_size)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(str(path), model)
    return path
