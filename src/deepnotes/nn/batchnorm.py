"""Batch normalisation: standardise each channel with the statistics of the mini-batch.

In training, channel c of an input (N, C, *) is normalised over the m = N·∏* values it
takes in the batch, then scaled and shifted by learned γ_c and β_c:

    μ_c = (1/m) Σ x,   σ²_c = (1/m) Σ (x − μ_c)²,   y = γ_c · (x − μ_c)/√(σ²_c + ε) + β_c.

Running estimates are updated at every training step, like a temporal-difference
update,

    running_mean ← (1 − momentum)·running_mean + momentum·μ_c,
    running_var  ← (1 − momentum)·running_var  + momentum·σ²_c·m/(m − 1),

and evaluation normalises with them instead, so that a prediction depends on its
own input alone. momentum=None replaces the fixed factor by 1/t at the t-th batch:
the plain average of every batch seen.

Why it helps. Ioffe & Szegedy motivated it by "internal covariate shift" (each
layer chasing the changing output distribution of the layers below); Santurkar et
al. found it does not reduce that shift and may increase it. What it does do is
regularise by noise injection: each sample is normalised with a noisy empirical
mean and standard deviation of its mini-batch. Hence its sensitivity to batch
size: too large, too little noise and too little regularisation; too small, too
much noise and poor convergence. γ and β give back whatever scale and offset the
next layer needs. `GhostBatchNorm1d` sets that noise apart from the batch size: it
normalises each group of G examples of a batch with the group's own statistics.

The notes' from-scratch version had three faults, each fixed here:

1. γ and β were plain tensors, not `nn.Parameter`s: the optimiser never saw them,
   they were not learned, saved in the state dict or moved by `.to()`. Here they
   are the parameters `weight` and `bias`.
2. It normalised with `x.var()`, the unbiased estimate (÷(m − 1)). The batch is
   normalised with the biased variance (÷m, the variance of the values at hand);
   only `running_var` stores the unbiased estimate σ²·m/(m − 1) of the population.
3. It updated the running statistics from μ and σ² with their autograd history,
   so each step's buffer held on to the graphs of all earlier steps (memory grows
   without bound, and backward reaches stale graphs). Here the update runs under
   `torch.no_grad()`, from μ and σ² that the fast path returns marked
   non-differentiable: the buffers are plain numbers.

The gradient. With x̂ = (x − μ_c)/√(σ²_c + ε) and s = 1/√(σ²_c + ε), over a channel's
m values (Ioffe & Szegedy, section 3):

    dβ_c = Σ dy,   dγ_c = Σ dy·x̂,   dx = s·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),   dx̂ = dy·γ_c,

and as γ_c is one number on the channel's values, dx = γ_c·s·(dy − (dβ_c + x̂·dγ_c)/m).

`norm.py` derives it and writes it beside the forward (`Normalization`), the fast path
this layer runs; `normalize` there is the readable formula that autograd differentiates,
and a test proves the two equal.

References: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift" (ICML 2015); Santurkar, Tsipras,
Ilyas & Madry, "How Does Batch Normalization Help Optimization?" (NeurIPS 2018);
Kratzert, "Understanding the backward pass through Batch Normalization Layer" (2016).
Names, arguments, buffers and errors follow `torch.nn.BatchNorm1d/2d`.

Shape:
    BatchNorm1d: input (N, C) or (N, C, L); BatchNorm2d: input (N, C, H, W).
    Output: the same shape as the input.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.nn.norm import NormalizationWithStatistics, scale_and_shift


def affine_parameters(
    num_features: int,
    affine: bool,
    bias: bool,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[nn.Parameter | None, nn.Parameter | None]:
    """γ and β of y = γ·x̂ + β, one per channel, as `nn.Parameter`s (uninitialised): fault 1
    of the notes was plain tensors, which the optimiser never sees, so they are never
    learned (nor saved in the state dict, nor moved by `.to()`). None where not learned:
    both without `affine`, β without `bias`."""
    factory = {"device": device, "dtype": dtype}
    weight = nn.Parameter(torch.empty(num_features, **factory)) if affine else None
    beta = nn.Parameter(torch.empty(num_features, **factory)) if affine and bias else None
    return weight, beta


class _BatchNorm(nn.Module):
    r"""Batch normalisation over all dims but the channel dim 1; subclasses fix the input rank.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + ε}} \cdot γ + β

    In training, E[x] and Var[x] are the per-channel mean and *biased* variance of
    the batch; the running estimates are updated (without autograd history) with
    the mean and the *unbiased* variance. In evaluation the running estimates are
    used, unless `track_running_stats=False`, in which case there are none and the
    batch statistics are used in both modes. Batch statistics of a single value
    per channel are an error (ValueError, as torch): the variance is 0 and the
    unbiased variance undefined. With batch statistics the layer runs the fast path
    `NormalizationWithStatistics` (gradient by hand, see `norm.py`); with the running
    estimates, constants, y is affine in x and autograd differentiates it.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for numerical stability. Default: 1e-5
        momentum: weight of the new batch in the running estimates; None for the
            cumulative average. Default: 0.1
        affine: learn γ (`weight`, initialised to ones) and β (`bias`, zeros). Default: ``True``
        track_running_stats: keep `running_mean`, `running_var` and
            `num_batches_tracked`, and use them in evaluation. Default: ``True``
        bias: learn β too (only with affine; keyword-only, as in torch ≥ 2.14). Default: ``True``

    Shape:
        - Input: (N, C, *).
        - Output: (N, C, *), the same shape.
    """

    _input_ranks: tuple[int, ...]  # the input dims a subclass accepts

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        factory = {"device": device, "dtype": dtype}
        self.weight, self.bias = affine_parameters(num_features, affine, bias, **factory)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() not in self._input_ranks:
            ranks = " or ".join(f"{rank}D" for rank in self._input_ranks)
            raise ValueError(f"expected {ranks} input (got {x.dim()}D input)")

    @torch.no_grad()  # fault 3 of the notes: the running statistics carry no autograd history
    def _update_running_stats(self, mean: Tensor, biased_var: Tensor, count: int) -> None:
        self.num_batches_tracked.add_(1)
        # momentum=None: the cumulative moving average, in which the t-th batch weighs 1/t
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # fault 2 of the notes: the running variance estimates the population variance, so it
        # stores the unbiased σ²·m/(m − 1), while the batch is normalised with the biased σ²
        unbiased_var = biased_var * (count / (count - 1))
        # running ← (1 − factor)·running + factor·batch, that is lerp(running, batch, factor)
        self.running_mean.lerp_(mean, factor)
        self.running_var.lerp_(unbiased_var, factor)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        per_channel = (x.shape[1], *(1,) * (x.dim() - 2))  # (C, 1, …) against dim 1 of (N, C, …)
        if self.training or self.running_mean is None:  # normalise with the batch statistics
            count = x.numel() // x.shape[1]  # m = N·∏*, the values per channel
            if count == 1:
                raise ValueError(
                    "Expected more than 1 value per channel when training, "
                    f"got input size {x.size()}"
                )
            dims = (0, *range(2, x.dim()))  # every dim but the channel's
            y, mean, var = NormalizationWithStatistics.apply(
                x, self.weight, self.bias, x.shape, dims, per_channel, self.eps
            )  # mean, var: (1, C, 1, …)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean.view(-1), var.view(-1), count)
            return y
        # evaluation: the running estimates are constants, so y is affine in x
        mean, var = self.running_mean.view(per_channel), self.running_var.view(per_channel)
        x_hat = (x - mean) * torch.rsqrt(var + self.eps)
        return scale_and_shift(x_hat, self.weight, self.bias, per_channel)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features (N, C) or sequences (N, C, L); see `_BatchNorm`.

    Statistics per channel c over the N values of (N, C), or the N·L values of (N, C, L).
    Arguments as `_BatchNorm`.

    Shape:
        - Input: (N, C) or (N, C, L).
        - Output: the same shape.
    """

    _input_ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images (N, C, H, W); see `_BatchNorm`.

    Statistics per channel c over its N·H·W values. Arguments as `_BatchNorm`.

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C, H, W), the same shape.
    """

    _input_ranks = (4,)


class GhostBatchNorm1d(BatchNorm1d):
    """Ghost batch normalisation (Hoffer, Hubara & Soudry, "Train longer, generalize better",
    NeurIPS 2017): in training, each group of `group_size` consecutive examples of a batch
    (N, C) is normalised with its own statistics, as if it were a batch of its own.

    For the batch viewed as k = N/G groups of G examples, group j and channel c:

        μ_jc = (1/G) Σ_{i∈j} x_ic,   σ²_jc = (1/G) Σ_{i∈j} (x_ic − μ_jc)²,
        y_ic = γ_c · (x_ic − μ_jc)/√(σ²_jc + ε) + β_c.

    The statistics of G examples are noisier the smaller G is (the mean's standard error
    is σ/√G), so G sets BatchNorm's noise at a fixed batch size, learning rate and number
    of steps. G = N is `BatchNorm1d`. The running estimates are updated with the mean of
    the groups' μ and σ² (each group holds G values per channel); evaluation uses them,
    as `BatchNorm1d` does. N must be a multiple of G in training.

    Args:
        num_features: C.
        group_size: G, the examples per ghost batch.
        The other arguments as `BatchNorm1d`.

    Shape:
        - Input: (N, C), N a multiple of `group_size` in training.
        - Output: (N, C).
    """

    _input_ranks = (2,)

    def __init__(self, num_features: int, group_size: int, **kwargs: Any) -> None:
        super().__init__(num_features, **kwargs)
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        if not self.training and self.running_mean is not None:
            return super().forward(x)  # evaluation: the running estimates, as BatchNorm1d
        self._check_input_dim(x)
        (n, c), g = x.shape, self.group_size
        if n % g or g == 1:
            raise ValueError(f"a batch of {n} does not split into groups of {g} > 1")
        y, mean, var = NormalizationWithStatistics.apply(
            x, self.weight, self.bias, (n // g, g, c), (1,), (c,), self.eps
        )  # x viewed as (groups, G, C), statistics over G: mean, var (groups, 1, C)
        if self.track_running_stats:
            self._update_running_stats(mean.mean((0, 1)), var.mean((0, 1)), g)
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, group_size={self.group_size}"
