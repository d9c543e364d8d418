"""Build a network from its ModelSpec; `python -m mipnet_ros.core.model.registry` prints parameter counts.

The architectures themselves (hrnet.py, resnet.py) depend only on spec.py, so this module is the one
place that knows every family.
"""
from typing import Mapping

from torch import nn

from mipnet_ros.core.model.hrnet import build_hrnet
from mipnet_ros.core.model.resnet import build_resnet
from mipnet_ros.core.model.spec import (  # noqa: F401
    ARCHS,
    HEATMAP_STRIDE,
    SIZE_MULTIPLE,
    ArchInfo,
    ModelSpec,
    PoseNet,
    parse_input_size,
)


def build_model(spec: ModelSpec) -> PoseNet:
    """A freshly initialised network (PyTorch default init) for `spec`."""
    if isinstance(spec, Mapping):
        spec = ModelSpec.from_dict(spec)
    builders = {'hrnet': build_hrnet, 'resnet': build_resnet}
    return builders[ARCHS[spec.arch].family](spec)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def main() -> int:
    print(f'{"arch":<12} {"N=1 (plain)":>14} {"N>=2 (MIPNet)":>14}  description')
    for name, info in ARCHS.items():
        counts = [count_parameters(build_model(ModelSpec(name, n))) for n in (1, 2)]
        print(f'{name:<12} {counts[0]:>14,} {counts[1]:>14,}  {info.summary}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
