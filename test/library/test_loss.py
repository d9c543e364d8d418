"""Weighted heatmap MSE (official JointsMSELoss semantics) and the MIPNet multi-instance loss."""
import pytest
import torch

from mipnet_ros.core.loss import JointsMSELoss, MultiInstanceLoss, heatmap_mse, select_instance_targets


def official_joints_mse(pred, gt, weight, use_target_weight=True):
    """The official per-joint loop, written out: 0.5 * MSE(pred_j * w_j, gt_j * w_j), averaged over joints."""
    b, k = pred.shape[:2]
    pred, gt = pred.reshape(b, k, -1), gt.reshape(b, k, -1)
    total = 0.0
    for j in range(k):
        p, g = pred[:, j], gt[:, j]
        if use_target_weight:
            w = weight.reshape(b, k, 1)[:, j]
            p, g = p * w, g * w
        total = total + 0.5 * torch.nn.functional.mse_loss(p, g)
    return total / k


def test_heatmap_mse_matches_the_official_loop():
    gen = torch.Generator().manual_seed(0)
    pred, gt = torch.rand(3, 5, 8, 6, generator=gen), torch.rand(3, 5, 8, 6, generator=gen)
    weight = (torch.rand(3, 5, generator=gen) > 0.4).float()
    for w in (weight, weight[..., None]):
        assert torch.allclose(heatmap_mse(pred, gt, w), official_joints_mse(pred, gt, w), atol=1e-7)
        assert torch.allclose(JointsMSELoss(True)(pred, gt, w), official_joints_mse(pred, gt, w), atol=1e-7)
    assert torch.allclose(JointsMSELoss(False)(pred, gt, weight),
                          official_joints_mse(pred, gt, None, use_target_weight=False), atol=1e-7)
    # a joint with weight 0 can be arbitrarily wrong
    weight = torch.ones(3, 5)
    weight[:, 2] = 0
    wrong = gt.clone()
    wrong[:, 2] += 10
    assert heatmap_mse(wrong, gt, weight).item() == 0.0
    assert heatmap_mse(wrong, gt, None).item() > 0.0


def _targets(b, m, k=3, h=4, w=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    # every target slot distinct, so picking the wrong slot is never free
    return torch.rand(b, m, k, h, w, generator=gen) + torch.arange(b * m).reshape(b, m, 1, 1, 1)


def _right_answer(targets, n, num_lambdas):
    preds = []
    for b in range(targets.shape[0]):
        preds.append(torch.stack([targets[b, i if i < min(int(n[b]), num_lambdas) else 0]
                                  for i in range(num_lambdas)]))
    return torch.stack(preds)


@pytest.mark.parametrize('num_lambdas', [2, 3])
def test_multi_instance_loss_picks_the_right_targets(num_lambdas):
    m = 4
    n = torch.tensor([1, num_lambdas, 4])          # fewer, as many as, more people than lambdas
    targets = _targets(3, m)
    weights = torch.ones(3, m, 3)
    loss = MultiInstanceLoss()
    right = _right_answer(targets, n, num_lambdas)
    assert loss(right, targets, weights, n).item() == 0.0
    assert loss(list(right.unbind(1)), targets, weights, n).item() == 0.0
    assert select_instance_targets(num_lambdas, n, m).tolist() == [
        [i if i < min(int(nb), num_lambdas) else 0 for i in range(num_lambdas)] for nb in n]

    def check_wrong(box, lam, slot):
        wrong = right.clone()
        wrong[box, lam] = targets[box, slot]
        got = loss(wrong, targets, weights, n)
        # exactly the error of that one (box, lambda) pair, averaged over all of them
        expected = 0.5 * (wrong - right).pow(2).mean()
        assert got.item() > 0.01
        assert torch.allclose(got, expected, rtol=1e-5)

    check_wrong(0, 1, 1)                              # n < N: lambda 1 must learn person 0, not slot 1
    check_wrong(1, num_lambdas - 1, 0)                # n == N: the last lambda learns its own person
    check_wrong(2, num_lambdas - 1, num_lambdas)      # n > N: person N is never a target


def test_multi_instance_loss_is_the_mean_over_lambdas():
    targets = _targets(2, 2, seed=1)
    weights = torch.ones(2, 2, 3)
    n = torch.tensor([2, 2])
    right = _right_answer(targets, n, 2)
    noisy = right.clone()
    noisy[:, 1] += 0.3                                   # only lambda=1 is off
    per_lambda_1 = official_joints_mse(noisy[:, 1], targets[:, 1], weights[:, 1])
    assert torch.allclose(MultiInstanceLoss()(noisy, targets, weights, n), per_lambda_1 / 2, atol=1e-7)


def test_multi_instance_loss_uses_the_selected_targets_weights():
    targets = _targets(1, 2, seed=2)
    weights = torch.ones(1, 2, 3)
    weights[0, 1, 0] = 0                                 # person 1's joint 0 is not visible
    n = torch.tensor([2])
    preds = _right_answer(targets, n, 2)
    preds[0, 1, 0] += 5                                  # wrong exactly where it does not count
    assert MultiInstanceLoss()(preds, targets, weights, n).item() == 0.0
    assert MultiInstanceLoss(use_target_weight=False)(preds, targets, weights, n).item() > 0.0
    preds[0, 0, 0] += 5                                  # person 0's joint 0 counts
    assert MultiInstanceLoss()(preds, targets, weights, n).item() > 0.0


def test_multi_instance_loss_backpropagates():
    targets = _targets(2, 3)
    preds = torch.zeros(2, 2, 3, 4, 3, requires_grad=True)
    MultiInstanceLoss()(preds, targets, torch.ones(2, 3, 3), torch.tensor([1, 3])).backward()
    assert preds.grad is not None and preds.grad.abs().sum() > 0
