"""Convolution layers, computed by unfolding (im2col), and the transposed convolution.

A convolution layer (deep learning's "convolution" is a cross-correlation: the
kernel is not flipped) computes, for output channel o at position (y, x),

    out[o, y, x] = b[o] + Σ_c Σ_kh Σ_kw W[o, c, kh, kw] · in[c, y·s + kh·d − p, x·s + kw·d − p].

It is a linear map that is sparse (each output sees a k × k patch) and shares
its weights (the same W at every position). im2col makes that literal: copy
each k × k × c_in patch of the padded input into one column of a matrix
(B, c_in·k·k, H_out·W_out); the convolution is then one matrix multiply with
the weights viewed as (c_out, c_in·k·k), the same weight row meeting every
column. With groups g, the channels split into g independent convolutions and
the weights are viewed as (g, c_out/g, c_in/g·k·k). Output size:
o = ⌊(i + 2p − d(k − 1) − 1)/s⌋ + 1 (`deepnotes.arith.conv_output_size`).

A transposed convolution is the transpose of that linear map, the backward
pass of a convolution run forward: it upsamples, o = (i − 1)s − 2p + d(k − 1)
+ output_padding + 1, and restores the shape, not the values. The notes build it
as a stride-1 convolution of the input with s − 1 zeros inserted between pixels
and k − p − 1 around, with the flipped kernel (`conv_transpose_recipe`); the
layer computes it faster by scattering each input pixel's weighted kernel into
the output (`conv_transpose`, col2im). See `deepnotes.nn.functional`.

References: LeCun et al., "Gradient-based learning applied to document
recognition" (1998); Chellapilla, Puri & Simard, "High performance
convolutional neural networks for document processing" (2006); Dumoulin &
Visin, "A guide to convolution arithmetic for deep learning" (2016).

Shape: (B, C_in, *in) → (B, C_out, *out), with one or two spatial dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from deepnotes.arith import _per_dimension, transposed_output_size
from deepnotes.errors import UserError
from deepnotes.nn.functional import (
    IntOrTuple,
    check_groups,
    conv,
    conv_transpose,
    conv_transpose_recipe,
    pad,
    padding_pairs,
)
from deepnotes.nn.linear import reset_uniform_fan_in

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(nn.Module):
    """What convolutions and transposed convolutions share: settings, parameters, init, repr.

    The weight is (c_out, c_in/g, *k) for a convolution and (c_in, c_out/g, *k)
    for a transposed one, as torch stores them; its fan-in (dimension 1 times
    the kernel's pixels) sets the initial range.
    """

    spatial_dims: ClassVar[int]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple,
        padding: str | IntOrTuple,
        dilation: IntOrTuple,
        transposed: bool,
        output_padding: IntOrTuple,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dims = self.spatial_dims
        check_groups(in_channels, out_channels, groups)
        if padding_mode not in PADDING_MODES:
            raise UserError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _per_dimension("kernel_size", kernel_size, dims)
        self.stride = _per_dimension("stride", stride, dims)
        self.dilation = _per_dimension("dilation", dilation, dims)
        # a string stays a string, as in torch; this also checks "same" has stride 1
        padding_pairs(padding, self.kernel_size, self.stride, self.dilation)
        self.padding = (
            padding if isinstance(padding, str) else _per_dimension("padding", padding, dims)
        )
        self.transposed = transposed
        self.output_padding = _per_dimension("output_padding", output_padding, dims)
        self.groups = groups
        self.padding_mode = padding_mode

        factory = {"device": device, "dtype": dtype}
        if transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        reset_uniform_fan_in(self.weight, self.bias, fan_in)

    def extra_repr(self) -> str:
        dims = self.spatial_dims
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class _Conv(_ConvNd):
    """A convolution with torch's Conv1d/Conv2d signature; the subclass sets the dimensions."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: str | IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            transposed=False,
            output_padding=0,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode == "zeros":
            return conv(
                input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
            )
        # other modes pad first (wrap around, mirror, repeat the edge), then convolve unpadded
        pairs = padding_pairs(self.padding, self.kernel_size, self.stride, self.dilation)
        padded = pad(input, pairs, mode=self.padding_mode)
        return conv(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Conv1d(_Conv):
    r"""1-D convolution over a signal of C_in channels, by im2col and one matrix multiply.

    .. math::
        \text{out}(N_i, C_{out_j}) = \text{bias}(C_{out_j})
        + \sum_{k=0}^{C_{in}/g - 1} \text{weight}(C_{out_j}, k) \star \text{input}(N_i, k)

    where ⋆ is cross-correlation (the kernel is not flipped).

    Args:
        in_channels: channels of the input.
        out_channels: channels produced, one filter each.
        kernel_size: taps of each filter.
        stride: step between windows. Default: 1.
        padding: int, "valid" (none) or "same" (keep the length; stride 1 only,
            any odd pixel goes on the right). Default: 0.
        dilation: spacing between taps. Default: 1.
        groups: split the channels into this many independent convolutions. Default: 1.
        bias: learn a bias per output channel. Default: True.
        padding_mode: "zeros", "reflect", "replicate" or "circular". Default: "zeros".
        device, dtype: where and in what precision to create the parameters.

    Shape:
        - Input: (B, C_in, L_in) or (C_in, L_in).
        - Output: (B, C_out, L_out), L_out = ⌊(L_in + 2p − d(k − 1) − 1)/s⌋ + 1.

    Attributes:
        weight: (C_out, C_in/groups, k), initialised U(−1/√fan_in, 1/√fan_in),
            fan_in = C_in/groups · k.
        bias: (C_out,), initialised the same way.
    """

    spatial_dims = 1


class Conv2d(_Conv):
    r"""2-D convolution over an image of C_in channels, by im2col and one matrix multiply.

    .. math::
        \text{out}(N_i, C_{out_j}) = \text{bias}(C_{out_j})
        + \sum_{k=0}^{C_{in}/g - 1} \text{weight}(C_{out_j}, k) \star \text{input}(N_i, k)

    where ⋆ is 2-D cross-correlation. im2col copies each k_h × k_w patch into a
    column, so the memory holds about k_h·k_w copies of the input; the price of
    doing all the dot products as one matrix multiply.

    Args:
        in_channels: channels of the input image.
        out_channels: channels produced, one filter each.
        kernel_size: int or (k_h, k_w).
        stride: int or (s_h, s_w). Default: 1.
        padding: int, (p_h, p_w), "valid" (none) or "same" (keep the size;
            stride 1 only, any odd pixel goes on the bottom/right). Default: 0.
        dilation: spacing between kernel taps, int or (d_h, d_w). Default: 1.
        groups: split the channels into this many independent convolutions;
            groups = C_in is a depthwise convolution. Default: 1.
        bias: learn a bias per output channel. Default: True.
        padding_mode: "zeros", "reflect", "replicate" or "circular" (the image
            wraps around, which makes stride-1 convolution exactly shift
            equivariant under circular shifts). Default: "zeros".
        device, dtype: where and in what precision to create the parameters.

    Shape:
        - Input: (B, C_in, H_in, W_in) or (C_in, H_in, W_in).
        - Output: (B, C_out, H_out, W_out), per axis o = ⌊(i + 2p − d(k − 1) − 1)/s⌋ + 1.

    Attributes:
        weight: (C_out, C_in/groups, k_h, k_w), initialised U(−1/√fan_in, 1/√fan_in),
            fan_in = C_in/groups · k_h · k_w.
        bias: (C_out,), initialised the same way.
    """

    spatial_dims = 2


class ConvTranspose2d(_ConvNd):
    r"""2-D transposed convolution: the gradient of a convolution with respect to its input.

    Each input pixel scatters its value times a k_h × k_w × C_out/g block of
    weights into the output, at stride s; overlapping blocks add up, and p
    pixels are cropped from each border. It upsamples, and undoes a
    convolution's shape (not its values):

        o = (i − 1)·s − 2p + d(k − 1) + output_padding + 1.

    Two computations, equal up to rounding (the tests check both against torch):
    `method = "fold"` (default) makes all blocks with one matrix multiply and adds
    them into place (col2im); `method = "recipe"` is the notes' construction,
    a stride-1 convolution of the input with s − 1 zeros inserted between pixels
    and d(k − 1) − p around, with the kernel rotated by 180° and its channels
    swapped. Set it on a layer or on the class (e.g. to time the recipe).

    output_padding: a stride-s convolution maps s input sizes to the same output
    size; output_padding (< s or < d) says which to give back, by adding that
    many rows/columns on the bottom/right. `forward(input, output_size)` picks it
    from the size wanted instead.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int or (k_h, k_w).
        stride: int or (s_h, s_w). Default: 1.
        padding: rows/columns cropped from each border, int or (p_h, p_w). Default: 0.
        output_padding: extra rows/columns on the bottom/right. Default: 0.
        groups: independent groups of channels. Default: 1.
        bias: learn a bias per output channel. Default: True.
        dilation: spacing between kernel taps. Default: 1.
        padding_mode: only "zeros". Default: "zeros".
        device, dtype: where and in what precision to create the parameters.

    Shape:
        - Input: (B, C_in, H_in, W_in) or (C_in, H_in, W_in).
        - Output: (B, C_out, H_out, W_out), per axis as above.

    Attributes:
        weight: (C_in, C_out/groups, k_h, k_w), initialised U(−1/√fan_in, 1/√fan_in)
            with torch's fan_in = C_out/groups · k_h · k_w.
        bias: (C_out,), initialised the same way.
    """

    spatial_dims = 2
    method: str = "fold"
    METHODS: ClassVar[dict] = {"fold": conv_transpose, "recipe": conv_transpose_recipe}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if padding_mode != "zeros" or isinstance(padding, str):
            raise UserError(
                "ConvTranspose2d supports only numeric padding with padding_mode='zeros'"
            )
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            transposed=True,
            output_padding=output_padding,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        if self.method not in self.METHODS:
            raise UserError(f"method must be one of {list(self.METHODS)}, got {self.method!r}")
        output_padding = self._output_padding(input, output_size)
        compute = self.METHODS[self.method]
        return compute(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )

    def _output_padding(self, input: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        """output_padding that gives `output_size` ((H, W), or a full shape ending in them)."""
        if output_size is None:
            return self.output_padding
        wanted = tuple(output_size)[-self.spatial_dims :]
        output_padding = []
        settings = zip(
            input.shape[-self.spatial_dims :],
            wanted,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            strict=True,
        )
        for i, o, k, s, p, d in settings:
            smallest = transposed_output_size(i, k, s, p, d)
            if not smallest <= o < smallest + s:
                raise UserError(
                    f"output size {o} is not reachable from input size {i}: "
                    f"it must lie in [{smallest}, {smallest + s - 1}]"
                )
            output_padding.append(o - smallest)
        return tuple(output_padding)
