"""Layer and group normalisation: standardise each sample with its own statistics.

BatchNorm (`batchnorm.py`) takes a channel's mean and variance over the batch;
these layers take them over the features of one sample, so they behave the same in
training and evaluation, keep no running statistics, and work for a batch of one.
For a set S of the sample's values,

    μ = (1/|S|) Σ_{i∈S} xᵢ,   σ² = (1/|S|) Σ_{i∈S} (xᵢ − μ)²,   yᵢ = γ·(xᵢ − μ)/√(σ² + ε) + β,

with the biased variance (÷|S|) and learned element-wise γ, β:

- LayerNorm: S = the last D dims of the input (`normalized_shape`, D of them);
  γ and β have that shape. The normalisation of transformers and RNNs, where batch
  statistics are awkward (variable lengths, batch size 1 when generating).
- GroupNorm: channels are split into G groups of C/G; S = one group's channels at
  every position; γ and β are per channel. G = 1 normalises the whole (C, *) sample
  (like LayerNorm, with per-channel γ, β); G = C is instance normalisation. Used
  where batches are small (detection, segmentation), where BatchNorm's noise hurts.

Precision: the variance is computed in two passes, the mean and then the mean of
squared deviations from it. The one-pass E[x²] − E[x]² subtracts two large
numbers when |μ| ≫ σ and loses the digits that torch keeps (float32 misses 1e-5).
`mean_and_var`, `standardize` and `scale_and_shift` are shared with BatchNorm.

References: Ba, Kiros & Hinton, "Layer Normalization" (2016); Wu & He, "Group
Normalization" (ECCV 2018); Ulyanov, Vedaldi & Lempitsky, "Instance Normalization"
(2016). Names, arguments and state-dict keys follow `torch.nn.LayerNorm` and
`torch.nn.GroupNorm`.

Shape:
    LayerNorm: input (*, *normalized_shape); output the same shape.
    GroupNorm: input (N, C, *); output the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def mean_and_var(x: Tensor, dims: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Mean and biased variance over `dims`, kept as size-1 dims; two passes (see above)."""
    mean = x.mean(dim=tuple(dims), keepdim=True)
    var = (x - mean).square().mean(dim=tuple(dims), keepdim=True)
    return mean, var


def standardize(x: Tensor, mean: Tensor, var: Tensor, eps: float) -> Tensor:
    """(x − μ)/√(σ² + ε), with μ and σ² broadcast against x."""
    return (x - mean) * torch.rsqrt(var + eps)


def scale_and_shift(
    y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: Sequence[int]
) -> Tensor:
    """γ·y + β, with γ, β viewed as `shape` to broadcast against y; None skips either."""
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y


class LayerNorm(nn.Module):
    r"""Normalise each sample over its last D dims.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + ε}} \cdot γ + β

    Mean and biased variance are taken over the last D = len(normalized_shape)
    dims of each sample, separately for every leading index; γ (`weight`) and β
    (`bias`) are element-wise over those D dims. The same computation in training
    and evaluation.

    Args:
        normalized_shape: the trailing shape normalised over (an int for the last dim).
        eps: added to the variance for numerical stability. Default: 1e-5
        elementwise_affine: learn γ (initialised to ones) and β (zeros). Default: ``True``
        bias: learn β too (only with elementwise_affine). Default: ``True``

    Shape:
        - Input: (*, *normalized_shape).
        - Output: the same shape.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        shape, affine = self.normalized_shape, elementwise_affine
        self.weight = nn.Parameter(torch.empty(shape, **factory)) if affine else None
        self.bias = nn.Parameter(torch.empty(shape, **factory)) if affine and bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        num_dims = len(self.normalized_shape)
        if tuple(x.shape[x.dim() - num_dims :]) != self.normalized_shape:
            raise RuntimeError(
                f"Given normalized_shape={list(self.normalized_shape)}, expected input with "
                f"shape [*, {', '.join(map(str, self.normalized_shape))}], "
                f"but got input of size {list(x.shape)}"
            )
        mean, var = mean_and_var(x, range(-num_dims, 0))  # (*, 1, …, 1)
        y = standardize(x, mean, var, self.eps)
        return scale_and_shift(y, self.weight, self.bias, self.normalized_shape)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(nn.Module):
    r"""Normalise each sample over groups of channels.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + ε}} \cdot γ + β

    The C channels are split into `num_groups` consecutive groups of C/G; mean and
    biased variance are taken per sample and group, over the group's channels and
    all positions. γ (`weight`) and β (`bias`) are per channel. Independent of the
    batch, so the same in training and evaluation.

    Args:
        num_groups: G, the number of groups; must divide num_channels.
        num_channels: C, the channels expected in the input.
        eps: added to the variance for numerical stability. Default: 1e-5
        affine: learn γ (initialised to ones) and β (zeros) per channel. Default: ``True``
        bias: learn β too (only with affine; keyword-only). Default: ``True``

    Shape:
        - Input: (N, C, *).
        - Output: (N, C, *), the same shape.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(num_channels, **factory)) if affine else None
        self.bias = nn.Parameter(torch.empty(num_channels, **factory)) if affine and bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_channels:
            raise RuntimeError(
                f"Expected input of shape (N, {self.num_channels}, *), got {list(x.shape)}"
            )
        grouped = x.reshape(x.shape[0], self.num_groups, -1)  # (N, G, C/G · ∏*)
        mean, var = mean_and_var(grouped, [2])  # (N, G, 1)
        y = standardize(grouped, mean, var, self.eps).reshape(x.shape)  # (N, C, *)
        per_channel = (-1, *(1,) * (x.dim() - 2))  # (C, 1, …): channel dim 1 of (N, C, …)
        return scale_and_shift(y, self.weight, self.bias, per_channel)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )
