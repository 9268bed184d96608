"""Faults in normalisation: the notes' three BatchNorm mistakes, ghost batches that ignore
their groups, and dropout's missing scale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager

import torch
from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.nn import batchnorm, functional, norm
from deepnotes.registry import FAULTS


def unbiased_variance(centered: Tensor, dims: Sequence[int]) -> Tensor:
    """Σ (x − μ)²/(m − 1), as x.var() computes it: the population's estimate where the
    spread of the values at hand belongs."""
    count = math.prod(centered.shape[d] for d in dims)  # m
    return (centered * centered).sum(dims, keepdim=True) / (count - 1)


@FAULTS.register(
    "batchnorm-unbiased-variance",
    FaultCard(
        mistake="BatchNorm normalises the batch with x.var(), the unbiased variance ÷(m − 1)",
        consequence="x̂ is no longer of variance 1: on a batch of m = 8 every output shrinks "
        "by √(7/8), and the running variance, corrected by m/(m − 1) once more, is too large; "
        "the layer no longer equals torch's (LayerNorm and GroupNorm share the step, and "
        "shrink too)",
        replaces="deepnotes.nn.norm.variance",
        targets=("batchnorm/bn-equals-torch",),
    ),
)
def batchnorm_unbiased_variance() -> AbstractContextManager[None]:
    return replaced(norm, "variance", unbiased_variance)


def forward_with_history(self: batchnorm._BatchNorm, x: Tensor) -> Tensor:
    """The notes' readable forward: μ, σ² by the autograd path, and the running statistics
    updated from them outside `torch.no_grad()`, so each buffer keeps the graph of its step
    (and, through the previous buffer, of every step before)."""
    self._check_input_dim(x)
    per_channel = (x.shape[1], *(1,) * (x.dim() - 2))
    if self.training or self.running_mean is None:
        dims = (0, *range(2, x.dim()))
        y, mean, var = norm.normalize(
            x, self.weight, self.bias, x.shape, dims, per_channel, self.eps
        )
        if self.training and self.track_running_stats:
            count = x.numel() // x.shape[1]
            self.num_batches_tracked.add_(1)
            factor = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
            self.running_mean = (1 - factor) * self.running_mean + factor * mean.view(-1)
            unbiased = var.view(-1) * count / (count - 1)
            self.running_var = (1 - factor) * self.running_var + factor * unbiased
        return y
    mean, var = self.running_mean.view(per_channel), self.running_var.view(per_channel)
    x_hat = (x - mean) * torch.rsqrt(var + self.eps)
    return norm.scale_and_shift(x_hat, self.weight, self.bias, per_channel)


@FAULTS.register(
    "batchnorm-running-stats-with-history",
    FaultCard(
        mistake="BatchNorm updates its running statistics from μ and σ² with their autograd "
        "history, without torch.no_grad()",
        consequence="each buffer holds the graph of its step and, through the buffer before, "
        "of every earlier step: memory grows without bound, evaluation outputs depend on "
        "stale graphs, and a backward through them meets weights the optimiser has changed",
        replaces="deepnotes.nn.batchnorm._BatchNorm.forward",
        targets=("batchnorm/bn-buffers-plain",),
    ),
)
def batchnorm_running_stats_with_history() -> AbstractContextManager[None]:
    return replaced(batchnorm._BatchNorm, "forward", forward_with_history)


def affine_tensors(
    num_features: int,
    affine: bool,
    bias: bool,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """γ and β as plain tensors: attributes of the module, not parameters."""
    weight = torch.empty(num_features, device=device, dtype=dtype) if affine else None
    beta = torch.empty(num_features, device=device, dtype=dtype) if affine and bias else None
    return weight, beta


@FAULTS.register(
    "batchnorm-affine-not-learned",
    FaultCard(
        mistake="BatchNorm's γ and β are plain tensors, not nn.Parameters",
        consequence="model.parameters() leaves them out, so the optimiser never moves them: "
        "γ stays 1 and β 0, the layer cannot give back the scale and offset the next layer "
        "needs, and they are neither saved in the state dict nor moved by .to()",
        replaces="deepnotes.nn.batchnorm.affine_parameters",
        targets=("batchnorm/bn-affine-learned",),
    ),
)
def batchnorm_affine_not_learned() -> AbstractContextManager[None]:
    return replaced(batchnorm, "affine_parameters", affine_tensors)


@FAULTS.register(
    "ghost-batchnorm-whole-batch",
    FaultCard(
        mistake="Ghost BatchNorm normalises with the statistics of the whole batch, not of "
        "each group of G examples",
        consequence="every group size gives the same network, plain BatchNorm at the batch's "
        "size: G no longer sets the noise, so tiny groups converge like any other",
        replaces="deepnotes.nn.batchnorm.GhostBatchNorm1d.forward",
        targets=("batchnorm/ghost-bn-tiny-groups-do-not-converge",),
    ),
)
def ghost_batchnorm_whole_batch() -> AbstractContextManager[None]:
    return replaced(batchnorm.GhostBatchNorm1d, "forward", batchnorm.BatchNorm1d.forward)


def dropout_mask_unscaled(like: Tensor, p: float) -> Tensor:
    """m ~ Bernoulli(1 − p): the survivors kept as they are, not divided by 1 − p."""
    return torch.empty_like(like).bernoulli_(1 - p)


@FAULTS.register(
    "dropout-without-inverted-scaling",
    FaultCard(
        mistake="Dropout zeroes units with probability p but does not divide the kept ones "
        "by 1 − p",
        consequence="in training each unit is (1 − p)·x on average, in evaluation x: the "
        "network is evaluated on activations 1/(1 − p) times those it was trained on (twice "
        "at p = 1/2), unless evaluation multiplies by 1 − p, as the original paper did",
        replaces="deepnotes.nn.functional.dropout_mask",
        targets=("batchnorm/dropout-keeps-expectation",),
    ),
)
def dropout_without_inverted_scaling() -> AbstractContextManager[None]:
    return replaced(functional, "dropout_mask", dropout_mask_unscaled)
