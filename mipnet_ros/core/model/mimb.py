"""Multi-Instance Modulation Block (MIMB): the only lambda-dependent layers of MIPNet.

Every channel is rescaled by the product of two sigmoid gates: a squeeze-excitation gate computed from the
features and a gate computed from the lambda code alone, which steers the same backbone features towards
another person in the box."""
from typing import List, Sequence

import torch
from torch import nn

LAMBDA_DIM = 2   # the official code is always a 2-vector (one-hot for N=2, two bits for N=3/4)


class MIMB(nn.Module):
    """One gate pair for a feature map with `channels` channels.

    Names follow the official SELambdaLayer (`fc`, `fc_lambda`) so its checkpoints load strictly; the layer
    indices inside the Sequentials (0, 2 / 0, 1, 3) are part of that contract.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = channels // reduction
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )
        self.fc_lambda = nn.Sequential(
            nn.Linear(LAMBDA_DIM, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        squeeze = self.fc(x.mean(dim=(2, 3)))
        steer = self.fc_lambda(code)
        return x * squeeze[:, :, None, None] * steer[:, :, None, None]


class MIMBGroup(nn.Module):
    """One MIMB per resolution branch (the official SELambdaModule's `se_layers`), branches kept in order."""

    def __init__(self, channel_list: Sequence[int], reduction: int = 4):
        super().__init__()
        self.se_layers = nn.ModuleList([MIMB(c, reduction) for c in channel_list])

    def forward(self, xs: List[torch.Tensor], code: torch.Tensor) -> List[torch.Tensor]:
        return [layer(x, code) for layer, x in zip(self.se_layers, xs)]
