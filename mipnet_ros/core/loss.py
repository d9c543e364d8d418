"""Heatmap losses: the official weighted MSE and MIPNet's multi-instance loss."""
from typing import Optional, Sequence, Union

import torch
from torch import nn


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """pred/target (B, K, h, w); weight (B, K) or (B, K, 1) or None (all joints count).

    Exactly the official JointsMSELoss value (0.5 x the mean over joints of the per-joint MSE, prediction and
    target both times the joint weight), so loss curves compare with published logs. Every joint has the same
    number of pixels, so that mean of means is one global mean: one fused op, no loop over joints.
    """
    diff = pred - target
    if weight is not None:
        diff = diff * weight.reshape(weight.shape[0], weight.shape[1], 1, 1).to(diff.dtype)
    return 0.5 * diff.pow(2).mean()


class JointsMSELoss(nn.Module):
    """Official `JointsMSELoss(use_target_weight)` semantics."""

    def __init__(self, use_target_weight: bool = True):
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return heatmap_mse(pred, target, weight if self.use_target_weight else None)


def select_instance_targets(num_lambdas: int, num_people: torch.Tensor, max_targets: int) -> torch.Tensor:
    """(B, N) index of the target person for each (box, lambda): i if i < min(n, N, M) else 0.

    Target 0 for a lambda without a person of its own teaches it to repeat the box's main person instead of
    inventing someone (MIPNet, Sec. 3).
    """
    lam = torch.arange(num_lambdas, device=num_people.device).unsqueeze(0)
    n = num_people.reshape(-1, 1).clamp(max=max_targets)
    return torch.where(lam < n, lam, torch.zeros_like(lam))


class MultiInstanceLoss(nn.Module):
    """Mean over lambda=0..N-1 of the weighted heatmap MSE against the selected target person.

    preds: (B, N, K, h, w) or a sequence of N tensors (B, K, h, w), prediction i made with lambda=i.
    targets: (B, M, K, h, w) the box's people (index 0 = the person the box was made for);
    weights: (B, M, K); num_people: (B,) how many of the M target slots are real.
    """

    def __init__(self, use_target_weight: bool = True):
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, preds: Union[torch.Tensor, Sequence[torch.Tensor]], targets: torch.Tensor,
                weights: torch.Tensor, num_people: torch.Tensor) -> torch.Tensor:
        if not isinstance(preds, torch.Tensor):
            preds = torch.stack(list(preds), dim=1)
        b, n = preds.shape[:2]
        index = select_instance_targets(n, num_people.to(preds.device), targets.shape[1])   # (B, N)
        rows = torch.arange(b, device=preds.device).unsqueeze(1)
        chosen = targets[rows, index]                # (B, N, K, h, w)
        chosen_w = weights[rows, index] if self.use_target_weight else None   # (B, N, K)
        flat = preds.flatten(0, 1)
        # the mean over lambdas of per-lambda means over (B, K, h, w) is one mean over everything
        return heatmap_mse(flat, chosen.flatten(0, 1),
                           None if chosen_w is None else chosen_w.flatten(0, 1))
