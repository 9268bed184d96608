"""Pooling: summarise each window of a feature map by its maximum or its mean.

Pooling slides a k × k window like a convolution, with the same output size
o = ⌊(i + 2p − d(k − 1) − 1)/s⌋ + 1 (or rounded up with `ceil_mode`;
`deepnotes.arith.pool_output_size`), but has no weights and works on each
channel alone:

    max pooling:      y[c, oy, ox] = max over the window of x[c, oy·s + kh·d − p, ox·s + kw·d − p]
    average pooling:  y[c, oy, ox] = (1/N) Σ over the window, N = the pixels counted.

The stride defaults to the kernel size, so windows tile the map and it shrinks
by k. A small shift of the input moves a maximum around inside its window
without changing it: pooling (like striding) buys approximate shift
invariance, at the price of aliasing, since it subsamples without blurring
first (Zhang, "Making convolutional networks shift-invariant again", 2019).

Adaptive average pooling fixes the output size instead of the window:
bin j of o covers input pixels [⌊j·i/o⌋, ⌈(j + 1)·i/o⌉). With o = 1 it is the
global average pooling of NiN (Lin, Chen & Yan, "Network in network", 2014)
that replaces the costly dense layers at the end of a network.

Blur pooling (Zhang 2019) repairs the aliasing: blur each channel with the
binomial low-pass filter [1, 2, 1]/4 ⊗ [1, 2, 1]/4, then keep every s-th pixel.

Shape: (B, C, H, W) or (C, H, W) → (B, C, H_out, W_out) or (C, H_out, W_out).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepnotes.nn.functional import IntOrTuple, adaptive_avg_pool2d, avg_pool2d, max_pool2d


class MaxPool2d(nn.Module):
    r"""The maximum of each window, per channel.

    .. math::
        \text{out}(N_i, C_j, h, w) = \max_{m, n}
        \text{input}(N_i, C_j, s_h h + d_h m - p_h, s_w w + d_w n - p_w)

    Padding counts as −∞, so a window's maximum always comes from the input.
    Backpropagation sends each output's gradient to the one input pixel that
    won its window (the first, on a tie); overlapping windows add up.

    Args:
        kernel_size: window size, int or (k_h, k_w).
        stride: step between windows. Default: kernel_size.
        padding: −∞ padding on each border, at most half the kernel. Default: 0.
        dilation: spacing between window taps. Default: 1.
        return_indices: also return where each maximum is, as the flat index
            h·W_in + w within its input plane (what MaxUnpool2d takes). Default: False.
        ceil_mode: round the output size up, adding a partial window at the end
            (never one that starts in the right padding). Default: False.

    Shape:
        - Input: (B, C, H_in, W_in) or (C, H_in, W_in).
        - Output: (B, C, H_out, W_out) or (C, H_out, W_out),
          o = ⌊(i + 2p − d(k − 1) − 1)/s⌋ + 1 per axis (⌈·⌉ with ceil_mode).
    """

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(nn.Module):
    r"""The mean of each window, per channel.

    .. math::
        \text{out}(N_i, C_j, h, w) = \frac{1}{N_{h,w}} \sum_{m=0}^{k_h-1} \sum_{n=0}^{k_w-1}
        \text{input}(N_i, C_j, s_h h + m - p_h, s_w w + n - p_w)

    with zero padding. The subtle part is the divisor N: with
    `count_include_pad` it counts the padding zeros of a border window (so
    borders come out darker), without it only the input pixels; a `ceil_mode`
    window that hangs past the padding never counts the overhang.
    `divisor_override` replaces N by a constant.

    Args:
        kernel_size: window size, int or (k_h, k_w).
        stride: step between windows. Default: kernel_size.
        padding: zero padding on each border, at most half the kernel. Default: 0.
        ceil_mode: round the output size up. Default: False.
        count_include_pad: count padding zeros in the divisor. Default: True.
        divisor_override: divide every window by this instead. Default: None.

    Shape:
        - Input: (B, C, H_in, W_in) or (C, H_in, W_in).
        - Output: (B, C, H_out, W_out) or (C, H_out, W_out),
          o = ⌊(i + 2p − k)/s⌋ + 1 per axis (⌈·⌉ with ceil_mode).
    """

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(nn.Module):
    r"""Average pooling to a fixed output size, whatever the input size.

    Output pixel (j, l) is the mean of input rows [⌊j·H/H_out⌋, ⌈(j + 1)·H/H_out⌉)
    and columns [⌊l·W/W_out⌋, ⌈(l + 1)·W/W_out⌉): bins that differ in size by
    at most one and overlap when the sizes do not divide. Computed as
    P_h · x · P_wᵀ with one averaging matrix per axis.

    Args:
        output_size: (H_out, W_out), or one int for both; None keeps that
            axis's input size. 1 gives global average pooling.

    Shape:
        - Input: (B, C, H_in, W_in) or (C, H_in, W_in).
        - Output: (B, C, H_out, W_out) or (C, H_out, W_out).
    """

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def binomial_filter() -> Tensor:
    """[1, 2, 1]/4: the 1-D binomial low-pass filter, which sums to 1 and has gain
    cos²(πf) at frequency f, so 0 at the Nyquist frequency ½."""
    return torch.tensor([1.0, 2.0, 1.0]) / 4


class BlurPool2d(nn.Module):
    """Anti-aliased downsampling (Zhang, "Making convolutional networks shift-invariant
    again", ICML 2019): blur each channel with the binomial filter ⊗ itself, then keep every
    `stride`-th pixel. Reflect padding keeps the size before subsampling. Zhang puts it after
    a max pool of stride 1: MaxPool(2, /2) becomes MaxPool(2, /1) then BlurPool(/2).

    Args:
        channels: C, each blurred alone (a depthwise convolution with a fixed kernel).
        stride: the subsampling factor. Default: 2.

    Shape: (B, C, H, W) → (B, C, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, channels: int, stride: int = 2) -> None:
        super().__init__()
        blur = binomial_filter()
        kernel = torch.outer(blur, blur)  # (3, 3), sums to 1
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone())
        self.channels, self.stride = channels, stride

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")  # (B, C, H + 2, W + 2)
        return F.conv2d(x, self.kernel, stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, stride={self.stride}"
