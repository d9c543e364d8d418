"""HRNet (Sun et al., 2019) with MIPNet's Multi-Instance Modulation Blocks."""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mipnet_ros.core.model.mimb import MIMBGroup
from mipnet_ros.core.model.resnet import BasicBlock, Bottleneck, bn2d, make_layer
from mipnet_ros.core.model.spec import ModelSpec, PoseNet


@dataclass(frozen=True)
class HRNetConfig:
    width: int                     # channels of the highest-resolution branch; branch b has width * 2**b
    modules: Tuple[int, int, int]  # multi-resolution modules in stage 2, 3, 4
    blocks: int = 4                # BasicBlocks per branch inside one module

    def channels(self, stage: int) -> List[int]:
        """Branch widths of stage 2, 3 or 4 (stage s has s branches)."""
        return [self.width * 2 ** b for b in range(stage)]


HRNET_CONFIGS: Dict[str, HRNetConfig] = {
    'hrnet_w32': HRNetConfig(32, (1, 4, 3)),
    'hrnet_w48': HRNetConfig(48, (1, 4, 3)),
    'hrnet_w16s': HRNetConfig(16, (1, 1, 1)),
}

STEM_CHANNELS = 64


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False),
                               nn.BatchNorm2d(out_ch)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """Parallel branches followed by an all-to-all exchange between resolutions.

    Output i is relu(sum over j of resample_{j->i}(branch_j)), summed in j order like the official
    code: lower resolutions come up via 1x1 conv + nearest upsampling, higher ones go down via
    chains of stride-2 3x3 convs. With `all_outputs=False` (the last module of stage 4) only the
    highest-resolution output is produced.
    """

    def __init__(self, channels: Sequence[int], blocks: int, all_outputs: bool = True):
        super().__init__()
        self.branches = nn.ModuleList(
            [make_layer(BasicBlock, c, c, blocks)[0] for c in channels])
        n = len(channels)
        rows = []
        for i in range(n if all_outputs else 1):
            row: List[nn.Module] = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(
                        nn.Conv2d(channels[j], channels[i], 1, bias=False),
                        nn.BatchNorm2d(channels[i]),
                        nn.Upsample(scale_factor=2 ** (j - i), mode='nearest')))
                elif j == i:
                    row.append(nn.Identity())   # official None: no parameters, same indices and keys
                else:
                    steps = [_conv_bn(channels[j], channels[j], 3, 2, relu=True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            rows.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(rows)

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if len(xs) == 1:
            return xs
        outs = []
        for row in self.fuse_layers:
            y = row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + row[j](xs[j])
            outs.append(F.relu(y))
        return outs


def _transition(pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Adapts the branch list of one stage to the next: width changes, plus one new (halved) branch."""
    layers: List[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            # nn.Identity where the official code stores None: no parameters, same indices and keys
            layers.append(nn.Identity() if pre[i] == c else _conv_bn(pre[i], c, 3, 1, relu=True))
        else:
            # the official code builds one stride-2 step per missing level from the lowest branch
            steps = [_conv_bn(pre[-1], pre[-1], 3, 2, relu=True) for _ in range(i - len(pre))]
            steps.append(_conv_bn(pre[-1], c, 3, 2, relu=True))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


def _apply_transition(transition: nn.ModuleList, ys: List[torch.Tensor]) -> List[torch.Tensor]:
    return [layer(ys[i] if i < len(ys) else ys[-1]) for i, layer in enumerate(transition)]


class PoseHRNet(PoseNet):
    """Names follow the official pose_hrnet.py / pose_hrnet_se_lambda.py so their checkpoints load with strict
    key matching: conv1/bn1/conv2/bn2, layer1 (4 Bottlenecks), transition1..3, stage2..4 (modules with
    `branches` and `fuse_layers`), final_layer. For N>=2, as the official SE_MODULES=[False, False, True, True],
    `stage3_se` gates every branch after transition3 and `stage4_se` stage 4's high-resolution output: five MIMBs.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        cfg = HRNET_CONFIGS[spec.arch]
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, padding=1, bias=False)
        self.bn1 = bn2d(STEM_CHANNELS)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, 3, stride=2, padding=1, bias=False)
        self.bn2 = bn2d(STEM_CHANNELS)
        self.layer1, layer1_out = make_layer(Bottleneck, STEM_CHANNELS, 64, 4)

        c2, c3, c4 = cfg.channels(2), cfg.channels(3), cfg.channels(4)
        self.transition1 = _transition([layer1_out], c2)
        self.stage2 = self._stage(c2, cfg.modules[0], cfg.blocks, last_all_outputs=True)
        self.transition2 = _transition(c2, c3)
        self.stage3 = self._stage(c3, cfg.modules[1], cfg.blocks, last_all_outputs=True)
        self.transition3 = _transition(c3, c4)
        self.stage4 = self._stage(c4, cfg.modules[2], cfg.blocks, last_all_outputs=False)
        self.final_layer = nn.Conv2d(c4[0], spec.num_joints, 1)
        if self.gated:
            self.stage3_se = MIMBGroup(c4)
            self.stage4_se = MIMBGroup(c4[:1])

    @staticmethod
    def _stage(channels: List[int], modules: int, blocks: int, last_all_outputs: bool) -> nn.Sequential:
        return nn.Sequential(*[HRModule(channels, blocks, all_outputs=last_all_outputs or m < modules - 1)
                               for m in range(modules)])

    def forward_trunk(self, images: torch.Tensor) -> List[torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(images)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        ys = self.stage2(_apply_transition(self.transition1, [x]))
        ys = self.stage3(_apply_transition(self.transition2, ys))
        return _apply_transition(self.transition3, ys)

    def forward_head(self, feats: List[torch.Tensor], instance: torch.Tensor) -> torch.Tensor:
        if self.gated:
            code = self.lambda_code(instance)
            ys = self.stage4_se(self.stage4(self.stage3_se(feats, code))[:1], code)
        else:
            ys = self.stage4(feats)
        return self.final_layer(ys[0])


def build_hrnet(spec: ModelSpec) -> PoseHRNet:
    return PoseHRNet(spec)
