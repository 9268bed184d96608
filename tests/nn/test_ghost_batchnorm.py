"""GhostBatchNorm1d: each group of G examples normalised as a batch of its own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepnotes.nn.batchnorm import BatchNorm1d, GhostBatchNorm1d


def test_each_group_is_normalised_as_its_own_batch() -> None:
    """Groups of 4 of a batch of 12 give what torch's BatchNorm1d gives on each group alone,
    outputs and gradients, and the running statistics move by the mean of the groups'."""
    torch.manual_seed(0)
    x = (torch.randn(12, 5) * 3 + 2).requires_grad_()
    ghost = GhostBatchNorm1d(5, group_size=4)
    y = ghost(x)
    groups = [nn.BatchNorm1d(5) for _ in range(3)]
    expected = torch.cat([bn(part) for bn, part in zip(groups, x.split(4), strict=True)])
    torch.testing.assert_close(y, expected)
    weights = torch.randn(12, 5)
    (grad,) = torch.autograd.grad((y * weights).sum(), x)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), x)
    torch.testing.assert_close(grad, expected_grad)
    mean_of_groups = torch.stack([bn.running_mean for bn in groups]).mean(0)
    var_of_groups = torch.stack([bn.running_var for bn in groups]).mean(0)
    torch.testing.assert_close(ghost.running_mean, mean_of_groups)
    torch.testing.assert_close(ghost.running_var, var_of_groups)


def test_one_group_is_batchnorm_and_evaluation_uses_the_running_estimates() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 3)
    ghost, plain = GhostBatchNorm1d(3, group_size=8), BatchNorm1d(3)
    torch.testing.assert_close(ghost(x), plain(x))
    torch.testing.assert_close(ghost.eval()(x[:3]), plain.eval()(x[:3]))


def test_a_batch_that_does_not_split_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not split"):
        GhostBatchNorm1d(3, group_size=4)(torch.randn(6, 3))
