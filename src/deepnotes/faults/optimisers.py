"""Faults in the optimisers: Adam's bias correction, SGD's momentum."""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.optim import adam, sgd
from deepnotes.registry import FAULTS


def no_bias_correction(beta: float, t: float) -> float:
    """1: the averages used as they are, m̂ = m and v̂ = v."""
    return 1.0


@FAULTS.register(
    "adam-without-bias-correction",
    FaultCard(
        mistake="Adam steps by m/(√v + ε), without dividing the averages by 1 − βᵗ",
        consequence="m and v start at 0, so early on they are far too small, v most of all "
        "(1 − β₂ = 0.001 against 1 − β₁ = 0.1): the first step is (1 − β₁)/√(1 − β₂) ≈ 3.2 "
        "times the learning rate instead of about 1, and the curve leaves torch.optim.Adam's "
        "from the first step",
        replaces="deepnotes.optim.adam.bias_correction",
        targets=("minibatch-noise/adam-curve-equals-torch",),
    ),
)
def adam_without_bias_correction() -> AbstractContextManager[None]:
    return replaced(adam, "bias_correction", no_bias_correction)


def momentum_applied_twice(buf: Tensor, grad: Tensor, momentum: float, dampening: float) -> Tensor:
    """b ← μ(μb + (1 − τ)g): the decay μ written in the velocity's update and applied again
    to the velocity it has just made, as if the step were to read μb."""
    return buf.mul_(momentum).add_(grad, alpha=1 - dampening).mul_(momentum)


@FAULTS.register(
    "sgd-momentum-applied-twice",
    FaultCard(
        mistake="SGD's momentum multiplies the velocity by μ twice a step, b ← μ(μb + g)",
        consequence="the past gradients decay by μ² (0.81 instead of 0.9 a step, a memory of "
        "about 5 steps instead of 10) and the new gradient weighs μ instead of 1: the steps "
        "are about half as long along a steady slope, and the curve is no longer "
        "torch.optim.SGD's",
        replaces="deepnotes.optim.sgd.momentum_update",
        targets=("minibatch-noise/sgd-momentum-curve-equals-torch",),
    ),
)
def sgd_momentum_applied_twice() -> AbstractContextManager[None]:
    return replaced(sgd, "momentum_update", momentum_applied_twice)
