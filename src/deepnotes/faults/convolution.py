"""Faults in convolution arithmetic: the sizes, the parameters, the receptive field, the
transposed convolution's recipe, and BlurPool's filter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor

from deepnotes import arith
from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.nn import functional, pooling
from deepnotes.registry import FAULTS


def conv_output_size_unfloored(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> float:
    """(i + 2p − d(k−1) − 1)/s + 1 with a true division: the floor forgotten."""
    return (i + 2 * p - d * (k - 1) - 1) / s + 1


@FAULTS.register(
    "conv-size-without-floor",
    FaultCard(
        mistake="The output size is computed as (i + 2p − d(k−1) − 1)/s + 1, without the floor",
        consequence="a window that would hang over the edge is counted as a fraction of an "
        "output pixel: whenever s does not divide i + 2p − d(k−1) − 1 the size is not even "
        "a whole number, and it disagrees with every framework",
        replaces="deepnotes.arith.conv_output_size",
        targets=("conv-arithmetic/formula-agrees-with-torch",),
    ),
)
def conv_size_without_floor() -> AbstractContextManager[None]:
    return replaced(arith, "conv_output_size", conv_output_size_unfloored)


def conv_params_without_bias(
    c_in: int, c_out: int, kernel: int | Sequence[int], groups: int = 1, bias: bool = True
) -> int:
    """c_in·c_out·∏k/g: the c_out biases forgotten."""
    weights = c_in * c_out // groups
    for k in (kernel,) if isinstance(kernel, int) else kernel:
        weights *= k
    return weights


@FAULTS.register(
    "conv-params-without-bias",
    FaultCard(
        mistake="A convolution's parameters are counted as c_in·c_out·k² only",
        consequence="each output channel's bias is left out: the count is c_out short of what "
        "the layer holds",
        replaces="deepnotes.arith.conv_params",
        targets=("conv-arithmetic/conv-params",),
    ),
)
def conv_params_without_bias_fault() -> AbstractContextManager[None]:
    return replaced(arith, "conv_params", conv_params_without_bias)


def receptive_field_without_jump(layers: Sequence[arith.Layer]) -> list[arith.ReceptiveField]:
    """r_out = r_in + d(k−1): every layer adds its kernel's reach in *input* pixels, as if
    nothing before it had a stride (the jump forgotten)."""
    field = arith.ReceptiveField(size=1, jump=1, start=0.5)
    fields = []
    for layer in layers:
        reach = layer.dilation * (layer.kernel - 1)
        field = arith.ReceptiveField(field.size + reach, 1, field.start + reach / 2 - layer.padding)
        fields.append(field)
    return fields


@FAULTS.register(
    "receptive-field-without-jump",
    FaultCard(
        mistake="The receptive field grows by d(k − 1) per layer, the strides before it ignored",
        consequence="after a stride-2 layer each output step moves two input pixels, so later "
        "kernels reach twice as far; without the jump VGG-16's field comes out far too small",
        replaces="deepnotes.arith.receptive_field",
        targets=("architectures/vgg16-receptive-field",),
    ),
)
def receptive_field_fault() -> AbstractContextManager[None]:
    return replaced(arith, "receptive_field", receptive_field_without_jump)


def padding_as_the_convolutions(k: int, p: int, d: int = 1) -> int:
    """p: the convolution's own padding, where the recipe pads d(k − 1) − p."""
    return p


@FAULTS.register(
    "transposed-padding-as-convolution",
    FaultCard(
        mistake="The transposed convolution's recipe pads the stretched input by p, the "
        "convolution's own padding, instead of k − p − 1",
        consequence="the output has the wrong size and the first outputs miss the kernel's "
        "taps over the input's border: the map is not the transpose of the convolution",
        replaces="deepnotes.arith.transposed_padding",
        targets=(
            "transposed-conv/size-notes-example",
            "transposed-conv/size-stride-2",
            "transposed-conv/recipe-equals-torch",
            "transposed-conv/deepnotes-recipe-equals-torch",
        ),
    ),
)
def transposed_padding_fault() -> AbstractContextManager[None]:
    return replaced(arith, "transposed_padding", padding_as_the_convolutions)


def kernel_not_rotated(weight: Tensor) -> Tensor:
    """The kernels as they are, not rotated by 180°."""
    return weight


@FAULTS.register(
    "transposed-kernel-not-flipped",
    FaultCard(
        mistake="The transposed convolution's recipe slides the kernel as it is, not rotated "
        "by 180°",
        consequence="sliding an unflipped kernel over the stretched input computes a "
        "correlation: every output mixes the input with the kernel taps mirrored, and the "
        "result is not torch's ConvTranspose2d (unless the kernel is symmetric)",
        replaces="deepnotes.nn.functional.rotate_180",
        targets=(
            "transposed-conv/recipe-equals-torch",
            "transposed-conv/deepnotes-recipe-equals-torch",
        ),
    ),
)
def transposed_kernel_not_flipped() -> AbstractContextManager[None]:
    return replaced(functional, "rotate_180", kernel_not_rotated)


@FAULTS.register(
    "conv-flips-the-kernel",
    FaultCard(
        mistake="The convolution (deepnotes.nn.functional.conv) rotates its kernel by 180° "
        "before sliding it, as the mathematical convolution does",
        consequence="it computes convolution where every framework computes cross-correlation: "
        "the weights torch would learn, copied in, give other outputs, and the layer is no "
        "longer its own Toeplitz matrix T (built from the kernel as it is)",
        replaces="deepnotes.nn.functional.conv",
        targets=(
            "weight-sharing/conv-is-matrix-multiply",
            "weight-sharing/conv-is-correlation",
            "weight-sharing/flipped-kernel-is-convolution",
        ),
    ),
)
def conv_flips_the_kernel() -> AbstractContextManager[None]:
    correlation = functional.conv

    def convolution(input: Tensor, weight: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The layer's cross-correlation applied with each kernel rotated by 180°."""
        return correlation(input, functional.rotate_180(weight), *args, **kwargs)

    return replaced(functional, "conv", convolution)


def identity_filter() -> Tensor:
    """[0, 1, 0]: a 'blur' that leaves every sample as it is."""
    return torch.tensor([0.0, 1.0, 0.0])


@FAULTS.register(
    "blurpool-without-blur",
    FaultCard(
        mistake="BlurPool subsamples without blurring: its low-pass filter is left as [0, 1, 0]",
        consequence="frequencies above the new Nyquist limit are not removed, so they fold "
        "onto false low ones; max pool /1 then every second pixel is max pool /2 again, and "
        "the shift consistency BlurPool was meant to buy is gone",
        replaces="deepnotes.nn.pooling.binomial_filter",
        targets=("equivariance/blur-removes-alias", "equivariance/blurpool-more-consistent"),
    ),
)
def blurpool_without_blur() -> AbstractContextManager[None]:
    return replaced(pooling, "binomial_filter", identity_filter)


def conv_output_size_one_side(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """⌊(i + p − d(k−1) − 1)/s⌋ + 1: the padding added on one side only."""
    return (i + p - d * (k - 1) - 1) // s + 1


@FAULTS.register(
    "conv-padding-on-one-side",
    FaultCard(
        mistake="The output size adds the padding once, i + p, as if only one side were padded",
        consequence="every padded convolution comes out p pixels (over s) too small: the "
        "notes' i = 5, k = 4, p = 2 gives 4 instead of 6",
        replaces="deepnotes.arith.conv_output_size",
        targets=(
            "conv-arithmetic/conv-i5-k4-p2",
            "conv-arithmetic/conv-i5-k3-p1-s2",
            "conv-arithmetic/formula-agrees-with-torch",
        ),
    ),
)
def conv_padding_on_one_side() -> AbstractContextManager[None]:
    return replaced(arith, "conv_output_size", conv_output_size_one_side)


def pool_output_size_rounded_up(
    i: int, k: int, s: int | None = None, p: int = 0, d: int = 1, ceil_mode: bool = False
) -> int:
    """⌈(i + 2p − d(k−1) − 1)/s⌉ + 1 whatever `ceil_mode` says."""
    stride = k if s is None else s
    return math.ceil((i + 2 * p - d * (k - 1) - 1) / stride) + 1


@FAULTS.register(
    "pool-size-rounded-up",
    FaultCard(
        mistake="Pooling's output size is rounded up, a last window hanging over the edge counted",
        consequence="whenever the stride does not divide the span, pooling gains an output "
        "pixel that torch's default (ceil_mode=False) does not produce: i = 5, k = 2, s = 2 "
        "gives 3 instead of 2",
        replaces="deepnotes.arith.pool_output_size",
        targets=("conv-arithmetic/pool-i5-k2-s2",),
    ),
)
def pool_size_rounded_up() -> AbstractContextManager[None]:
    return replaced(arith, "pool_output_size", pool_output_size_rounded_up)


POOL_OUTPUT_SIZE = arith.pool_output_size  # the true one, kept before any fault replaces it


def pool_output_size_rounding_down(
    i: int, k: int, s: int | None = None, p: int = 0, d: int = 1, ceil_mode: bool = False
) -> int:
    """The pooling output size always rounded down, `ceil_mode` ignored."""
    return POOL_OUTPUT_SIZE(i, k, s, p, d, ceil_mode=False)


@FAULTS.register(
    "pool-size-ignores-ceil-mode",
    FaultCard(
        mistake="The pooling output size is always rounded down, ceil_mode ignored",
        consequence="GoogLeNet's pools round up: by hand its stem hands 27 × 27 maps to the "
        "first Inception module, the network 28 × 28, and the costs worked out from the "
        "sizes are off",
        replaces="deepnotes.arith.pool_output_size",
        targets=("architectures/stem-hands-28x28", "architectures/stem-saves-module-macs"),
    ),
)
def pool_size_ignores_ceil_mode() -> AbstractContextManager[None]:
    return replaced(arith, "pool_output_size", pool_output_size_rounding_down)


def transposed_output_size_shrinking(
    i: int, k: int, s: int = 1, p: int = 0, d: int = 1, output_padding: int = 0
) -> int:
    """The convolution's ⌊(i + 2p − d(k−1) − 1)/s⌋ + 1 used for the transposed convolution."""
    return (i + 2 * p - d * (k - 1) - 1) // s + 1


@FAULTS.register(
    "transposed-size-by-the-convolution-formula",
    FaultCard(
        mistake="A transposed convolution's output size is computed with the convolution's "
        "formula, as if it shrank the input",
        consequence="the transposed convolution grows its input to (i − 1)s − 2p + d(k − 1) + 1; "
        "the convolution formula shrinks it, so the notes' 2 × 2 input, k = 3, comes out 0 "
        "instead of 4",
        replaces="deepnotes.arith.transposed_output_size",
        targets=(
            "conv-arithmetic/transposed-i2-k3",
            "transposed-conv/size-notes-example",
            "transposed-conv/size-stride-2",
            "transposed-conv/size-stride-2-padding-1",
        ),
    ),
)
def transposed_size_by_the_convolution_formula() -> AbstractContextManager[None]:
    return replaced(arith, "transposed_output_size", transposed_output_size_shrinking)
