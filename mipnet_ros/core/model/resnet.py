"""SimpleBaseline (Xiao et al., 2018): a ResNet followed by three 4x4 stride-2 deconvolutions.

Also home of the two residual blocks, which HRNet reuses."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mipnet_ros.core.model.mimb import MIMBGroup
from mipnet_ros.core.model.spec import ModelSpec, PoseNet


def bn2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=0.1)


def _downsample(in_ch: int, out_ch: int, stride: int) -> Optional[nn.Sequential]:
    """1x1 projection for the residual path when shape changes; None keeps the identity shortcut."""
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), bn2d(out_ch))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = bn2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = bn2d(planes)
        self.downsample = _downsample(in_ch, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = bn2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = bn2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = bn2d(planes * self.expansion)
        self.downsample = _downsample(in_ch, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


def make_layer(block, in_ch: int, planes: int, count: int, stride: int = 1) -> Tuple[nn.Sequential, int]:
    """`count` blocks, the first one changing stride/width; returns the layer and its output width."""
    layers = [block(in_ch, planes, stride)]
    out_ch = planes * block.expansion
    layers += [block(out_ch, planes) for _ in range(count - 1)]
    return nn.Sequential(*layers), out_ch


# arch -> (residual block, blocks per layer), as the official resnet_spec
RESNET_DEPTHS: Dict[str, Tuple[type, Sequence[int]]] = {
    'resnet18': (BasicBlock, (2, 2, 2, 2)),
    'resnet34': (BasicBlock, (3, 4, 6, 3)),
    'resnet50': (Bottleneck, (3, 4, 6, 3)),
    'resnet101': (Bottleneck, (3, 4, 23, 3)),
    'resnet152': (Bottleneck, (3, 8, 36, 3)),
}
DECONV_FILTERS = (256, 256, 256)


def gate_channels(block: type) -> Dict[str, int]:
    """Channels entering layer3 / layer4, where the gates sit.

    The official code hard-codes the Bottleneck widths (512/1024), so its gated ResNet-18/34 cannot run;
    ours sizes the gates from the block so the small SimpleBaseline used in the CPU experiment works.
    """
    return {'layer3_se': 128 * block.expansion, 'layer4_se': 256 * block.expansion}


class PoseResNet(PoseNet):
    """Names (conv1, layer1..4, downsample, deconv_layers, final_layer) and Sequential indices follow the
    official pose_resnet.py so its checkpoints load strictly. With N>=2, as pose_resnet_se_lambda
    (SE_MODULES=[False, False, True, True]), MIMBs gate the input of layer3 (`layer3_se`, 512 channels with
    Bottleneck) and of layer4 (`layer4_se`, 1024): the lambda-free trunk ends after layer2.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        block, counts = RESNET_DEPTHS[spec.arch]
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = bn2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        ch = 64
        self.layer1, ch = make_layer(block, ch, 64, counts[0])
        self.layer2, ch = make_layer(block, ch, 128, counts[1], stride=2)
        self.layer3, ch = make_layer(block, ch, 256, counts[2], stride=2)
        self.layer4, ch = make_layer(block, ch, 512, counts[3], stride=2)
        deconvs: List[nn.Module] = []
        for filters in DECONV_FILTERS:
            # kernel 4, padding 1: exactly doubles the resolution
            deconvs += [nn.ConvTranspose2d(ch, filters, 4, stride=2, padding=1, output_padding=0, bias=False),
                        bn2d(filters), nn.ReLU(inplace=True)]
            ch = filters
        self.deconv_layers = nn.Sequential(*deconvs)
        self.final_layer = nn.Conv2d(ch, spec.num_joints, 1)
        if self.gated:
            gates = gate_channels(block)
            self.layer3_se = MIMBGroup([gates['layer3_se']])
            self.layer4_se = MIMBGroup([gates['layer4_se']])

    def forward_trunk(self, images: torch.Tensor) -> List[torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(images))))
        return [self.layer2(self.layer1(x))]

    def forward_head(self, feats: List[torch.Tensor], instance: torch.Tensor) -> torch.Tensor:
        x = feats[0]
        if self.gated:
            code = self.lambda_code(instance)
            x = self.layer3(self.layer3_se([x], code)[0])
            x = self.layer4(self.layer4_se([x], code)[0])
        else:
            x = self.layer4(self.layer3(x))
        return self.final_layer(self.deconv_layers(x))


def build_resnet(spec: ModelSpec) -> PoseResNet:
    return PoseResNet(spec)
