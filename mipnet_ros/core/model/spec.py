"""ModelSpec (the configuration that travels with a model) and PoseNet (the contract of every network).

`ModelSpec` is stored in our checkpoints and in the ONNX metadata, so a file alone is enough to
rebuild the network. `PoseNet` splits every architecture at its first lambda-dependent layer; the
trunk before it is shared by all instances of a box (`forward_shared`).
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import torch
from torch import nn

from mipnet_ros.core.model.lambda_code import MAX_INSTANCES, LambdaCode

# Every architecture reduces the input 32x before coming back to 1/4; other sizes would give
# heatmaps that are not exactly H/4 x W/4 (and HRNet's branch fusion would fail on shape).
SIZE_MULTIPLE = 32
HEATMAP_STRIDE = 4


@dataclass(frozen=True)
class ArchInfo:
    family: str                       # 'hrnet' | 'resnet': which module builds it
    default_input_size: Tuple[int, int]
    summary: str


ARCHS: Dict[str, ArchInfo] = {
    'hrnet_w32': ArchInfo('hrnet', (256, 192), 'HRNet-W32 (official MIPNet COCO/CrowdPose model)'),
    'hrnet_w48': ArchInfo('hrnet', (384, 288), 'HRNet-W48 (official MIPNet COCO 384x288 model)'),
    'hrnet_w16s': ArchInfo('hrnet', (256, 192),
                           'small HRNet for CPU/Jetson: width 16, one module per stage 2/3/4'),
    'resnet18': ArchInfo('resnet', (256, 192), 'SimpleBaseline ResNet-18 + 3 deconvolutions (small, for CPU)'),
    'resnet34': ArchInfo('resnet', (256, 192), 'SimpleBaseline ResNet-34 + 3 deconvolutions'),
    'resnet50': ArchInfo('resnet', (256, 192), 'SimpleBaseline ResNet-50 + 3 deconvolutions'),
    'resnet101': ArchInfo('resnet', (256, 192), 'SimpleBaseline ResNet-101 + 3 deconvolutions'),
    'resnet152': ArchInfo('resnet', (256, 192), 'SimpleBaseline ResNet-152 + 3 deconvolutions'),
}


def parse_input_size(value: Union[str, Sequence[int]]) -> Tuple[int, int]:
    """'256x192' (the CLI form, H x W) or a 2-sequence -> (H, W)."""
    if isinstance(value, str):
        parts = value.lower().replace(',', 'x').split('x')
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f'input size must look like HxW (e.g. 256x192), got {value!r}')
        return int(parts[0]), int(parts[1])
    h, w = value
    return int(h), int(w)


@dataclass
class ModelSpec:
    arch: str = 'hrnet_w32'
    instances: int = 1
    num_joints: int = 17
    input_size: Tuple[int, int] = (256, 192)   # (H, W)

    def __post_init__(self):
        self.input_size = parse_input_size(self.input_size)
        self.instances = int(self.instances)
        self.num_joints = int(self.num_joints)
        if self.arch not in ARCHS:
            raise ValueError(f'unknown arch {self.arch!r}; choose one of {", ".join(ARCHS)}')
        if not 1 <= self.instances <= MAX_INSTANCES:
            raise ValueError(f'instances must be in 1..{MAX_INSTANCES}, got {self.instances}')
        if self.num_joints < 1:
            raise ValueError(f'num_joints must be positive, got {self.num_joints}')
        if any(s <= 0 or s % SIZE_MULTIPLE for s in self.input_size):
            raise ValueError(f'input_size {self.input_size} must be positive multiples of {SIZE_MULTIPLE}')

    @property
    def heatmap_size(self) -> Tuple[int, int]:
        return self.input_size[0] // HEATMAP_STRIDE, self.input_size[1] // HEATMAP_STRIDE

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d['input_size'] = list(self.input_size)    # JSON has no tuples
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'ModelSpec':
        """Unknown keys are ignored so that files written by a newer version still load."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(data).items() if k in names})

    def replace(self, **changes) -> 'ModelSpec':
        return dataclasses.replace(self, **changes)


class PoseNet(nn.Module):
    """Base of every pose network: images + instance index -> heatmaps (B, K, H/4, W/4).

    Subclasses implement `forward_trunk` (lambda-free, returns a list of feature maps) and
    `forward_head` (applies the gates and the rest). For N=1 the head ignores `instance`.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.lambda_code = LambdaCode(spec.instances)

    @property
    def instances(self) -> int:
        return self.spec.instances

    @property
    def gated(self) -> bool:
        return self.spec.instances > 1

    def forward_trunk(self, images: torch.Tensor) -> List[torch.Tensor]:
        raise NotImplementedError

    def forward_head(self, feats: List[torch.Tensor], instance: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, images: torch.Tensor, instance: torch.Tensor = None) -> torch.Tensor:
        if instance is None:
            instance = torch.zeros(images.shape[0], dtype=torch.long, device=images.device)
        return self.forward_head(self.forward_trunk(images), instance)

    def forward_shared(self, images: torch.Tensor, instances: Union[int, torch.Tensor]) -> torch.Tensor:
        """Heatmaps of every box for each lambda in `instances`: (B, L, K, h, w).

        `instances` is a count L (meaning lambda 0..L-1) or a 1-D int64 tensor of lambda indices.
        The trunk runs once per image; its features are repeated image-major (like
        repeat_interleave) so row b*L + l of the head batch is image b with lambda instances[l].
        Written with expand/flatten instead of Python loops so that it traces to one ONNX graph
        with a dynamic number of boxes and of instances.
        """
        if isinstance(instances, int):
            instances = torch.arange(instances, device=images.device)
        num = instances.shape[0]
        feats = [f.unsqueeze(1).expand(-1, num, -1, -1, -1).flatten(0, 1)
                 for f in self.forward_trunk(images)]
        per_row = instances.unsqueeze(0).expand(images.shape[0], -1).flatten()
        out = self.forward_head(feats, per_row)
        return out.reshape(-1, num, out.shape[1], out.shape[2], out.shape[3])
