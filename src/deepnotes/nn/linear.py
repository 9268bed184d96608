"""The dense (fully connected) layer, and the two reshaping layers that sit around it.

A dense layer connects every input feature to every output unit:

    y = x Wᵀ + b,    W: (out_features, in_features),  b: (out_features,)

so it holds in·out + out parameters (`deepnotes.arith.linear_params`). A stack
of them without a non-linearity between collapses into one: W₂(W₁x + b₁) + b₂
= (W₂W₁)x + (W₂b₁ + b₂).

Default initialisation, shared by the convolution layers: torch's
kaiming_uniform with a = √5 (He et al., "Delving deep into rectifiers", 2015).
Its gain is √(2/(1 + a²)) = √(1/3), so the bound √3·gain/√fan_in is 1/√fan_in:

    W, b ~ U(−1/√fan_in, 1/√fan_in),

where fan_in counts the inputs of one output unit (in_features; c_in/g·k·k for
a convolution). This keeps Var(y) roughly Var(x)/3, independent of the width.
Drawn in the same order from the same generator as torch, a seed gives the
same weights.

Shape: (*, in_features) → (*, out_features).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from deepnotes.nn.functional import linear


def reset_uniform_fan_in(weight: Tensor, bias: Tensor | None, fan_in: int) -> None:
    """Fill W, then b, from U(−1/√fan_in, 1/√fan_in): torch's kaiming_uniform(a=√5) default."""
    gain = math.sqrt(2.0 / (1 + 5))  # leaky-ReLU gain with a = √5
    bound = math.sqrt(3.0) * gain / math.sqrt(fan_in) if fan_in > 0 else 0.0
    with torch.no_grad():
        weight.uniform_(-bound, bound)
        if bias is not None:
            bias_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            bias.uniform_(-bias_bound, bias_bound)


class Linear(nn.Module):
    r"""Applies an affine map to the last dimension: :math:`y = xW^T + b`.

    Each output unit takes a weighted sum of all inputs: a dense, unshared
    weight matrix, as opposed to a convolution's sparse, shared one.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias b. Default: True.
        device, dtype: where and in what precision to create the parameters.

    Shape:
        - Input: (*, in_features), any number of leading dimensions.
        - Output: (*, out_features).

    Attributes:
        weight: (out_features, in_features), initialised U(−1/√in, 1/√in).
        bias: (out_features,), initialised the same way.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_uniform_fan_in(self.weight, self.bias, fan_in=self.in_features)

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Flatten(nn.Module):
    """Merges dimensions start_dim … end_dim into one, e.g. feature maps into a vector.

    Between the convolutions and the dense layers: (B, C, H, W) → (B, C·H·W).
    A reshape, so no values move and no parameters are involved.

    Args:
        start_dim: first dimension to merge. Default: 1 (keeps the batch).
        end_dim: last dimension to merge. Default: -1.

    Shape:
        - Input: (*, S_start, …, S_end, *).
        - Output: (*, ∏ S_start…S_end, *).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        start, end = self.start_dim % input.dim(), self.end_dim % input.dim()
        merged = math.prod(shape[start : end + 1])
        return input.reshape(*shape[:start], merged, *shape[end + 1 :])  # (*, ∏S, *)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(nn.Module):
    """Returns its input unchanged; a placeholder where a layer is optional.

    Args:
        args, kwargs: accepted and ignored, so it can stand in for any layer.

    Shape: any → the same.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input
