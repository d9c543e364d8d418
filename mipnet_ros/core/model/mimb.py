"""Multi-Instance Modulation Block (MIMB): the only lambda-dependent layers of MIPNet.

Why it works this way: docs/design_notes.md."""
from typing import List, Sequence

import torch
from torch import nn

LAMBDA_DIM = 2   # the official code is always a 2-vector (one-hot for N=2, two bits for N=3/4)


class MIMB(nn.Module):
    """One gate pair for a feature map with `channels` channels."""

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
    """One MIMB per resolution branch; the branch list goes in and comes out in the same order."""

    def __init__(self, channel_list: Sequence[int], reduction: int = 4):
        super().__init__()
        self.se_layers = nn.ModuleList([MIMB(c, reduction) for c in channel_list])

    def forward(self, xs: List[torch.Tensor], code: torch.Tensor) -> List[torch.Tensor]:
        return [layer(x, code) for layer, x in zip(self.se_layers, xs)]
