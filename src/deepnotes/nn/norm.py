"""Layer and group normalisation, and the normalisation every norm layer shares, with its gradient.

BatchNorm (`batchnorm.py`) takes a channel's mean and variance over the batch;
these layers take them over the features of one sample, so they behave the same in
training and evaluation, keep no running statistics, and work for a batch of one.
For a set S of m values,

    μ = (1/m) Σ_{i∈S} xᵢ,   σ² = (1/m) Σ_{i∈S} (xᵢ − μ)²,
    x̂ᵢ = (xᵢ − μ)/√(σ² + ε),   yᵢ = γ·x̂ᵢ + β,

with the biased variance (÷m) and learned element-wise γ, β:

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

The gradient, by hand (Ioffe & Szegedy 2015, section 3; derived step by step in
Kratzert's "Understanding the backward pass through Batch Normalization Layer", 2016).
Write s = 1/√(σ² + ε) and d· = ∂L/∂·. The affine part is a product and a sum:

    dβ = Σ dy,   dγ = Σ dy·x̂   (summed over every value γ and β are shared by),
    dx̂ = dy·γ.

Each x̂ᵢ = (xᵢ − μ)·s depends on xⱼ three ways: directly (s if i = j), through μ
(∂μ/∂xⱼ = 1/m) and through σ² (∂σ²/∂xⱼ = 2(xⱼ − μ)/m, ∂s/∂σ² = −s³/2). Adding the
three paths, the terms collect into means over S:

    dxⱼ = s·(dx̂ⱼ − mean(dx̂) − x̂ⱼ·mean(dx̂·x̂)).

The gradient is dx̂ with its mean and its component along x̂ removed, then scaled:
shifting x or scaling x − μ leaves x̂ unchanged (up to ε), so those directions get none.

Two paths compute the same thing (a test proves them equal, values and gradients):

- `normalize`, the readable path: the formula as plain tensor operations, and
  autograd records each one and derives the gradient from the formula;
- `Normalization`, the fast path every layer uses: a `torch.autograd.Function`
  that runs the same forward with autograd off and writes the gradient above beside
  it, as micrograd puts each derivative beside its operation. For LayerNorm that is
  8 tensor operations forward and 10 backward, against 8 recorded in a graph and
  about 22 backward when autograd differentiates the formula: on small inputs,
  where each eager operation costs microseconds of dispatch, that is most of the
  time (and so is a needless view, hence `viewed`). Its backward is itself made of
  plain differentiable operations, so second derivatives work (gradgradcheck).

References: Ba, Kiros & Hinton, "Layer Normalization" (2016); Wu & He, "Group
Normalization" (ECCV 2018); Ulyanov, Vedaldi & Lempitsky, "Instance Normalization"
(2016); Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training
by Reducing Internal Covariate Shift" (ICML 2015); Kratzert, "Understanding the
backward pass through Batch Normalization Layer" (blog post, 2016). Names, arguments
and state-dict keys follow `torch.nn.LayerNorm` and `torch.nn.GroupNorm`.

Shape:
    LayerNorm: input (*, *normalized_shape); output the same shape.
    GroupNorm: input (N, C, *); output the same shape.
    normalize, Normalization: x of any shape, viewed as `stats_shape` for the statistics
    (taken over `dims`); γ and β viewed as `param_shape` to broadcast against x.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn


def viewed(t: Tensor, shape: Sequence[int]) -> Tensor:
    """t viewed as `shape` (reshaped, if its strides forbid a view), or t itself when it has
    that shape already: even a view costs microseconds of dispatch."""
    return t if t.shape == shape else t.reshape(shape)


def sum_over(t: Tensor, dims: Sequence[int]) -> Tensor:
    """Σ of t over `dims`, which are dropped; t itself for no dims (torch's sum of no dims
    would sum them all)."""
    return t.sum(dims) if dims else t


def variance(centered: Tensor, dims: Sequence[int]) -> Tensor:
    """σ² = (1/m) Σ (x − μ)² over `dims`, from the centred values x − μ: the *biased*
    variance (÷m), the spread of the m values at hand, which is what x̂ divides by (not
    x.var()'s ÷(m − 1), which estimates a population's). Keeps the dims with size 1."""
    return (centered * centered).mean(dims, keepdim=True)


def standardize(
    x: Tensor, dims: Sequence[int], eps: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """x̂ = (x − μ)·s over `dims`; also μ, σ² (biased, two passes) and s = 1/√(σ² + ε).

    The statistics keep the reduced dims with size 1, to broadcast against x.
    """
    mean = x.mean(dims, keepdim=True)
    centered = x - mean
    var = variance(centered, dims)  # two passes: see above
    inv_std = torch.rsqrt(var + eps)
    return centered * inv_std, mean, var, inv_std


def scale_and_shift(
    y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: Sequence[int]
) -> Tensor:
    """γ·y + β, with γ, β viewed as `shape` to broadcast against y; None skips either."""
    if weight is not None and bias is not None:
        return torch.addcmul(viewed(bias, shape), y, viewed(weight, shape))  # fused multiply-add
    if weight is not None:
        return y * viewed(weight, shape)
    if bias is not None:
        return y + viewed(bias, shape)
    return y


def normalize(
    x: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    stats_shape: Sequence[int],
    dims: Sequence[int],
    param_shape: Sequence[int],
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """y = γ·(x − μ)/√(σ² + ε) + β, and μ, σ²: the readable path, differentiated by autograd.

    μ and σ² are taken over `dims` of x viewed as `stats_shape` (GroupNorm views
    (N, C, *) as (N, G, C/G·∏*); the other layers pass x's own shape) and returned in
    that view, with size-1 dims; γ and β are viewed as `param_shape` against x.
    """
    x_hat, mean, var, _ = standardize(viewed(x, stats_shape), dims, eps)
    return scale_and_shift(viewed(x_hat, x.shape), weight, bias, param_shape), mean, var


class Normalization(torch.autograd.Function):
    """`normalize` with its gradient written by hand: the fast path (derivation above).

    forward: the operations of `normalize`, with autograd off. Saved for backward: γ,
    s = 1/√(σ² + ε), x̂, and x for second derivatives (torch saves x, μ and s, and
    recomputes x̂: here one tensor of the input's size more is kept, for two
    operations fewer in backward).

    backward, with sums Σ_S over the statistics `dims` (m values each):

        dx̂ = dy·γ,   dx = s·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) = s·(dx̂ − (Σ_S dx̂ + x̂·Σ_S dx̂·x̂)/m),
        dγ = Σ dy·x̂,   dβ = Σ dy   (sums over every dim γ, β broadcast along).

    Where γ is one number on each set S (BatchNorm), the sums over S are dβ and dγ
    themselves, and dx = γs·(dy − (dβ + x̂·dγ)/m): three operations fewer.

    It is made of differentiable operations, so second derivatives work: under
    `create_graph` x̂ and s are recomputed from x with autograd on, so that the
    backward's own graph records how they depend on x.

    Called as `Normalization.apply(x, weight, bias, stats_shape, dims, param_shape, eps)`,
    the arguments of `normalize`; returns y. `NormalizationWithStatistics` returns μ, σ² too.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        stats_shape: Sequence[int],
        dims: Sequence[int],
        param_shape: Sequence[int],
        eps: float,
    ) -> Tensor:
        layout = (stats_shape, dims, param_shape, eps)
        y, _, _ = Normalization.normalize_and_save(ctx, x, weight, bias, *layout)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        return Normalization.gradients(ctx, grad_y)

    @staticmethod
    def normalize_and_save(
        ctx: Any,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        stats_shape: Sequence[int],
        dims: Sequence[int],
        param_shape: Sequence[int],
        eps: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """y, μ, σ², saving on `ctx` what `gradients` needs."""
        x_hat, mean, var, inv_std = standardize(viewed(x, stats_shape), dims, eps)
        y = scale_and_shift(viewed(x_hat, x.shape), weight, bias, param_shape)
        if weight is None and bias is None:
            # y is x̂ (or a view of it), which backward needs: changing y in place, as a
            # following ReLU(inplace=True) does, must not change x̂, so return a copy
            y = y.clone()
        ctx.save_for_backward(x, weight, inv_std, x_hat)
        ctx.layout = (stats_shape, dims, param_shape, eps)
        # the dims of x along which γ and β broadcast, summed over for dγ and dβ
        lead = x.dim() - len(param_shape)
        ctx.param_dims = (*range(lead), *(lead + d for d, n in enumerate(param_shape) if n == 1))
        # the same dims as the statistics' (BatchNorm): one γ and one β for each set S
        own_dims = tuple(sorted(d % x.dim() for d in dims))
        ctx.one_gamma_per_set = x_hat.shape == x.shape and own_dims == ctx.param_dims
        ctx.bias_shape = None if bias is None else bias.shape
        return y, mean, var

    @staticmethod
    def gradients(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        """dx, dγ, dβ (and None for the other arguments) from dy: the derivation above."""
        x, weight, inv_std, x_hat = ctx.saved_tensors  # x̂, s in the statistics' view
        stats_shape, dims, param_shape, eps = ctx.layout
        if torch.is_grad_enabled():  # create_graph: record how x̂ and s depend on x
            x_hat, _, _, inv_std = standardize(viewed(x, stats_shape), dims, eps)
        gamma = None if weight is None else viewed(weight, param_shape)
        if ctx.one_gamma_per_set:
            # BatchNorm: γ is one number on each set S, so it comes out of the sums over S
            # (Σ_S dx̂ = γ·Σ_S dy = γ·dβ, Σ_S dx̂·x̂ = γ·dγ) and into the scale: with dy for
            # dx̂ and γs for s, the formula below reads dx = γs·(dy − (dβ + x̂·dγ)/m)
            grad, scale = grad_y, inv_std if gamma is None else inv_std * gamma
        else:
            grad = viewed(grad_y if gamma is None else grad_y * gamma, stats_shape)  # dx̂
            scale = inv_std
        sum_grad = grad.sum(dims, keepdim=True)
        sum_grad_x_hat = (grad * x_hat).sum(dims, keepdim=True)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:  # dx = s·(dx̂ − (Σ_S dx̂ + x̂·Σ_S dx̂·x̂)/m)
            count = x.numel() // inv_std.numel()  # m, the values in each set
            removed = torch.addcmul(sum_grad, x_hat, sum_grad_x_hat)
            grad_x = viewed(torch.sub(grad, removed, alpha=1 / count) * scale, x.shape)
        if ctx.needs_input_grad[1]:  # dγ = Σ dy·x̂, over every dim γ broadcasts along
            if ctx.one_gamma_per_set:
                grad_weight = sum_grad_x_hat
            else:
                grad_weight = sum_over(grad_y * viewed(x_hat, x.shape), ctx.param_dims)
            grad_weight = viewed(grad_weight, weight.shape)
        if ctx.needs_input_grad[2]:  # dβ = Σ dy, likewise
            grad_bias = sum_grad if ctx.one_gamma_per_set else sum_over(grad_y, ctx.param_dims)
            grad_bias = viewed(grad_bias, ctx.bias_shape)
        return grad_x, grad_weight, grad_bias, None, None, None, None


class NormalizationWithStatistics(Normalization):
    """`Normalization` that returns (y, μ, σ²): BatchNorm's running estimates need μ, σ².

    μ and σ² are marked non-differentiable: no gradient flows back through them, and
    anything computed from them (the running estimates) carries no autograd history.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        stats_shape: Sequence[int],
        dims: Sequence[int],
        param_shape: Sequence[int],
        eps: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        layout = (stats_shape, dims, param_shape, eps)
        y, mean, var = Normalization.normalize_and_save(ctx, x, weight, bias, *layout)
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)  # no zero tensors for the gradients of μ, σ²
        return y, mean, var

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor | None, *_: Any) -> tuple[Tensor | None, ...]:
        if grad_y is None:  # y had no gradient either: nothing flows back
            return (None,) * 7
        return Normalization.gradients(ctx, grad_y)


class _AffineNorm(nn.Module):
    """What LayerNorm and GroupNorm share: ε, and the learned γ and β of the formula.

    γ (`weight`, initialised to ones) and β (`bias`, zeros) have shape `shape`; without
    `affine` both are None (y = x̂), without `bias` only β is. The subclass keeps its
    own sizes and torch's name for the affine flag (`elementwise_affine`, `affine`).
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        eps: float,
        affine: bool,
        bias: bool,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.eps = eps
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(shape, **factory)) if affine else None
        self.bias = nn.Parameter(torch.empty(shape, **factory)) if affine and bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _extra_repr(self, sizes: str, affine: str) -> str:
        """torch's repr: the sizes, ε, the affine flag (`affine` is "name=value"), bias."""
        return f"{sizes}, eps={self.eps}, {affine}, bias={self.bias is not None}"


class LayerNorm(_AffineNorm):
    r"""Normalise each sample over its last D dims.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + ε}} \cdot γ + β

    Mean and biased variance are taken over the last D = len(normalized_shape)
    dims of each sample, separately for every leading index; γ (`weight`) and β
    (`bias`) are element-wise over those D dims. The same computation in training
    and evaluation, by the fast path `Normalization` (gradient by hand).

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
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        shape = tuple(normalized_shape)
        super().__init__(shape, eps, elementwise_affine, bias, device, dtype)
        self.normalized_shape = shape
        self.elementwise_affine = elementwise_affine

    def forward(self, x: Tensor) -> Tensor:
        num_dims = len(self.normalized_shape)
        if tuple(x.shape[x.dim() - num_dims :]) != self.normalized_shape:
            raise RuntimeError(
                f"Given normalized_shape={list(self.normalized_shape)}, expected input with "
                f"shape [*, {', '.join(map(str, self.normalized_shape))}], "
                f"but got input of size {list(x.shape)}"
            )
        dims = tuple(range(-num_dims, 0))  # the last D dims
        return Normalization.apply(
            x, self.weight, self.bias, x.shape, dims, self.normalized_shape, self.eps
        )

    def extra_repr(self) -> str:
        return self._extra_repr(
            f"{self.normalized_shape}", f"elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(_AffineNorm):
    r"""Normalise each sample over groups of channels.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + ε}} \cdot γ + β

    The C channels are split into `num_groups` consecutive groups of C/G; mean and
    biased variance are taken per sample and group, over the group's channels and
    all positions. γ (`weight`) and β (`bias`) are per channel. Independent of the
    batch, so the same in training and evaluation. Computed by the fast path
    `Normalization` (gradient by hand), statistics on the input viewed as (N, G, C/G·∏*).

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
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        super().__init__(num_channels, eps, affine, bias, device, dtype)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.affine = affine

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_channels:
            raise RuntimeError(
                f"Expected input of shape (N, {self.num_channels}, *), got {list(x.shape)}"
            )
        grouped = (x.shape[0], self.num_groups, -1)  # (N, G, C/G·∏*): statistics over dim 2
        per_channel = (self.num_channels, *(1,) * (x.dim() - 2))  # (C, 1, …) against (N, C, …)
        return Normalization.apply(x, self.weight, self.bias, grouped, (2,), per_channel, self.eps)

    def extra_repr(self) -> str:
        return self._extra_repr(f"{self.num_groups}, {self.num_channels}", f"affine={self.affine}")
