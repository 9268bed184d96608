"""Exercises on convolution arithmetic: the output size of a convolution, a pooling and a
transposed convolution; the receptive field of a stack; a convolution by im2col; a
transposed convolution by the notes' recipe."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from deepnotes import arith
from deepnotes.errors import UserError
from deepnotes.exercises.base import Case, Exercise, Mistake, gradients, randn, register
from deepnotes.nn import functional

OUTPUT_SIZE_STARTER = '''\
def output_size(
    i: int,
    k: int,
    s: int = 1,
    p: int = 0,
    d: int = 1,
    kind: str = "conv",
    ceil_mode: bool = False,
    output_padding: int = 0,
) -> int:
    """The length of a layer's output along one dimension.

    i: input size, k: kernel size, s: stride, p: padding on each side, d: dilation.
    kind: "conv" (a convolution), "pool" (max or average pooling), "transposed"
    (a transposed convolution).

    conv:        o = ⌊(i + 2p − d(k − 1) − 1) / s⌋ + 1       (notes line 48 with d = 1)
    pool:        the same, rounded up when ceil_mode is True; a window that would
                 start in the right padding, over no input at all, is dropped
                 (PyTorch's rule: if (o − 1)·s ≥ i + p then o −= 1)
    transposed:  o = (i − 1)·s − 2p + d(k − 1) + output_padding + 1

    The settings given are always valid ones (the kernel fits in the padded input).
    Return a Python int.
    """
    # TODO: one formula per kind
    raise NotImplementedError("output_size")
'''


def output_size(
    i: int,
    k: int,
    s: int = 1,
    p: int = 0,
    d: int = 1,
    kind: str = "conv",
    ceil_mode: bool = False,
    output_padding: int = 0,
) -> int:
    """The package's answer: `arith`'s size of a convolution, a pooling or a transposed one."""
    if kind == "conv":
        return arith.conv_output_size(i, k, s, p, d)
    if kind == "pool":
        return arith.pool_output_size(i, k, s, p, d, ceil_mode=ceil_mode)
    return arith.transposed_output_size(i, k, s, p, d, output_padding)


def rounding_decides(settings: Mapping[str, Any]) -> bool:
    """Whether a pooling's size rounded down and rounded up are two different valid sizes
    (the window does not divide the padded input evenly, and the window rounding up adds
    does not start in the right padding)."""
    try:
        sizes = {output_size(**{**settings, "ceil_mode": ceil}) for ceil in (False, True)}
    except UserError:
        return False
    return len(sizes) == 2


def output_size_cases(rng: random.Random) -> list[Case]:
    """Valid settings of each kind: sizes from 1, odd and even, strides up to 4, dilation
    up to 3; pooling with and without ceil_mode; transposed with output padding. The first
    five poolings are ones where rounding down and up give two valid sizes, three with
    ceil_mode and two without, so that rounding the wrong way shows on every seed."""
    cases: list[Case] = []
    while len(cases) < 36:
        kind = ("conv", "pool", "transposed")[len(cases) % 3]
        i = rng.randint(1, 6 + len(cases))  # small first, so the first failure is small
        k, s, d = rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 3)
        settings: dict[str, Any] = {"i": i, "k": k, "s": s, "p": rng.randint(0, 3), "d": d}
        poolings = sum(case.inputs["kind"] == "pool" for case in cases)
        if kind == "pool":
            ceil_mode = poolings % 2 == 0 if poolings < 5 else rng.random() < 0.5
            settings["ceil_mode"] = ceil_mode
        if kind == "transposed":
            settings["output_padding"] = rng.randint(0, max(s, d) - 1)
        settings["kind"] = kind
        try:
            output_size(**settings)
        except UserError:  # an impossible setting: draw another
            continue
        if kind == "pool" and poolings < 5 and not rounding_decides(settings):
            continue
        text = ", ".join(f"{key}={value!r}" for key, value in settings.items())
        cases.append(Case(text, settings))
    return cases


def run_output_size(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    return {"o": implementation(**case.inputs)}


register(
    "conv-output-size",
    Exercise(
        title="The output size of a convolution, a pooling and a transposed convolution",
        topic="2. Convolution arithmetic",
        entry="output_size",
        starter=OUTPUT_SIZE_STARTER,
        reference=output_size,
        cases=output_size_cases,
        run=run_output_size,
        solution=(
            "deepnotes.arith.conv_output_size",
            "deepnotes.arith.pool_output_size",
            "deepnotes.arith.transposed_output_size",
        ),
        hints=(
            "Count the positions a window of span d(k − 1) + 1 can take in the padded input "
            "i + 2p, moving s at a time.",
            "A convolution's size is rounded down: use integer division //. Pooling with "
            "ceil_mode rounds up: −(−a // s).",
            "The transposed convolution runs the convolution's formula backwards: solve "
            "i = (o + 2p − d(k − 1) − 1)/s + 1 for o, then add output_padding.",
        ),
        mistakes=(
            Mistake(
                "conv-size-without-floor",
                "The convolution's size is divided by the stride without rounding down: a "
                "window that hangs over the edge is counted as a fraction of an output.",
                "notes line 48: o = [(i − k + 2p)/s] + 1, the brackets a floor",
            ),
            Mistake(
                "conv-padding-on-one-side",
                "The padding is added once, not on both sides (i + p instead of i + 2p).",
                "notes line 48: o = [(i − k + 2p)/s] + 1",
            ),
            Mistake(
                "pool-size-rounded-up",
                "Pooling is rounded up even without ceil_mode.",
                "PyTorch's MaxPool2d documentation: floor unless ceil_mode=True",
            ),
            Mistake(
                "pool-size-ignores-ceil-mode",
                "Pooling is rounded down even with ceil_mode=True.",
                "PyTorch's MaxPool2d documentation: ceil_mode uses ceil instead of floor",
            ),
            Mistake(
                "transposed-size-by-the-convolution-formula",
                "The transposed convolution's size is computed with the convolution's "
                "formula, so it shrinks where it should grow.",
                "notes line 51: the transposed convolution upsamples back to the input's size",
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- receptive field

RECEPTIVE_FIELD_STARTER = '''\
def receptive_field(layers: list[tuple[int, int, int, int]]) -> list[tuple[int, int, float]]:
    """The receptive field after each layer of a stack, in input pixels (one dimension).

    layers: one (kernel k, stride s, padding p, dilation d) per layer, the first layer first.
    Return one (size r, jump j, start) per layer:
      r      how many input pixels one output pixel sees,
      j      how many input pixels apart two neighbouring outputs are,
      start  the centre of output 0's field (input pixel x covers [x, x + 1), so it may be
             negative or lie in the padding).

    From one input pixel, r = 1, j = 1, start = 0.5, each layer maps (r, j, start) to

        r_out     = r_in + d(k − 1)·j_in
        j_out     = j_in·s
        start_out = start_in + (d(k − 1)/2 − p)·j_in

    (Araujo, Norris & Sim, "Computing receptive fields of convolutional neural networks",
    Distill 2019). Two stacked 3×3 convolutions see 5 pixels a side, as one 5×5 does.
    r and j are Python ints, start a float.
    """
    # TODO: walk the layers, updating (r, j, start) and keeping the triple after each one
    raise NotImplementedError("receptive_field")
'''


def receptive_field(layers: list[tuple[int, int, int, int]]) -> list[tuple[int, int, float]]:
    """The package's answer: `arith.receptive_field` of the stack, as (size, jump, start)."""
    fields = arith.receptive_field([arith.Layer(*layer) for layer in layers])
    return [(field.size, field.jump, field.start) for field in fields]


def receptive_field_dilation_ignored(
    layers: list[tuple[int, int, int, int]],
) -> list[tuple[int, int, float]]:
    """A kernel reaches k − 1 pixels whatever its dilation: r_out = r_in + (k − 1)·j_in."""
    return receptive_field([(k, s, p, 1) for k, s, p, _ in layers])


def receptive_field_jump_updated_first(
    layers: list[tuple[int, int, int, int]],
) -> list[tuple[int, int, float]]:
    """The jump is updated before the size: each layer's kernel is spread by its own
    stride too, r_out = r_in + d(k − 1)·j_in·s."""
    size, jump, start = 1, 1, 0.5
    fields = []
    for k, s, p, d in layers:
        jump *= s
        size += d * (k - 1) * jump
        start += (d * (k - 1) / 2 - p) * jump
        fields.append((size, jump, start))
    return fields


def receptive_field_cases(rng: random.Random) -> list[Case]:
    """Stacks of 1 to 6 layers, kernels 1 to 7, strides up to 3, padding up to 3, dilation
    up to 3; the first cases one or two layers."""
    cases = []
    for n in range(30):
        depth = min(1 + n // 4, 6)
        layers = [
            (rng.randint(1, 7), rng.randint(1, 3), rng.randint(0, 3), rng.randint(1, 3))
            for _ in range(depth)
        ]
        text = ", ".join(f"k{k}s{s}p{p}d{d}" for k, s, p, d in layers)
        cases.append(
            Case(f"layers (kernel, stride, padding, dilation): {text}", {"layers": layers})
        )
    return cases


def run_receptive_field(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    fields = implementation(case.inputs["layers"])
    return {"fields": [tuple(field) for field in fields]}


register(
    "receptive-field",
    Exercise(
        title="The receptive field of a stack of convolutions and poolings",
        topic="2. Convolution arithmetic",
        entry="receptive_field",
        starter=RECEPTIVE_FIELD_STARTER,
        reference=receptive_field,
        cases=receptive_field_cases,
        run=run_receptive_field,
        solution=("deepnotes.arith.receptive_field", "deepnotes.arith.ReceptiveField"),
        hints=(
            "Keep three numbers as you go through the layers: the field's size, the jump "
            "between neighbouring outputs, and where output 0's field is centred.",
            "A kernel of k taps spaced d apart reaches d(k − 1) more of the previous layer's "
            "pixels, and one of those pixels is j_in input pixels apart from the next.",
            "Update the size and the start with the jump *before* this layer (j_in), then "
            "multiply the jump by the stride.",
        ),
        mistakes=(
            Mistake(
                "receptive-field-without-jump",
                "Each layer adds d(k − 1) input pixels to the field, the strides of the layers "
                "before it ignored (the jump left at 1).",
                "Araujo, Norris & Sim (Distill 2019): r_out = r_in + d(k − 1)·j_in, j_out = j_in·s",
            ),
            Mistake(
                "receptive-field-dilation-ignored",
                "A dilated kernel is taken to reach k − 1 pixels, not d(k − 1).",
                "Dumoulin & Visin (2016), section 5.1: a dilated kernel spans k + (k − 1)(d − 1)",
                wrong=receptive_field_dilation_ignored,
            ),
            Mistake(
                "receptive-field-jump-updated-first",
                "The jump is multiplied by the layer's stride before the size is grown, so a "
                "strided layer's own kernel is spread by its own stride.",
                "Araujo, Norris & Sim (Distill 2019): r_out = r_in + d(k − 1)·j_in, with the "
                "jump before the layer",
                wrong=receptive_field_jump_updated_first,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- im2col convolution

CONV2D_STARTER = '''\
import torch
import torch.nn.functional as F
from torch import Tensor


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
) -> Tensor:
    """A 2-D convolution, as torch.nn.functional.conv2d computes it, by im2col and one
    matrix product.

    Deep learning's convolution slides the kernel as it is, without flipping it: it is a
    cross-correlation (notes lines 39–41: "In NN, no flip for convenience"). With s the
    stride, p the zero padding on every side, d the dilation and g = o // (C_out/groups)
    the group of output channel o,

        out[b, o, y, x] = bias[o] + Σ_{c, i, j} weight[o, c, i, j]
                                      · padded[b, g·C_in/groups + c, y·s + i·d, x·s + j·d]

    im2col gathers every patch of the padded input into a column, channel-major:
    columns[b, (c, i, j), (y, x)], of shape (B, C_in·kh·kw, H_out·W_out)
    (torch.nn.functional.unfold makes them); then the convolution is one product,
    weight.reshape(C_out, −1) @ columns, plus the bias. With groups, the rows of the
    columns and of the weights split into `groups` parts, and part g of the weights
    multiplies part g of the columns.

    Shapes:
        input  (B, C_in, H, W)
        weight (C_out, C_in/groups, kh, kw)
        bias   (C_out,) or None
        output (B, C_out, H_out, W_out), H_out = ⌊(H + 2p − d(kh − 1) − 1)/s⌋ + 1
               (notes line 48 with d = 1), the same for W_out with kw.

    Use torch operations that autograd differentiates: the gradients with respect to the
    input, the weight and the bias are checked too. Do not call F.conv2d.
    """
    # TODO: unfold the input into columns, multiply by the weight rows, fold the product
    # back into (B, C_out, H_out, W_out), add the bias
    raise NotImplementedError("conv2d")
'''


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
) -> Tensor:
    """The package's convolution: `functional.conv`, im2col and one matrix multiply."""
    return functional.conv(input, weight, bias, stride, padding, dilation, groups)


def conv2d_pads_only_the_width(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
) -> Tensor:
    """F.pad(input, (p, p)) pads the last dimension only: the width is padded, the height not."""
    padded = F.pad(input, (padding, padding))  # (B, C_in, H, W + 2p)
    return functional.conv(padded, weight, bias, stride, 0, dilation, groups)


def conv2d_weight_flattened_channels_last(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
) -> Tensor:
    """Each filter flattened in (i, j, c) order, the columns in unfold's (c, i, j) order: the
    rows and the columns pair weights with the wrong taps."""
    scrambled = weight.permute(0, 2, 3, 1).reshape(weight.shape)  # (C_out, C_in/g, kh, kw)
    return functional.conv(input, scrambled, bias, stride, padding, dilation, groups)


def conv2d_cases(rng: random.Random) -> list[Case]:
    """Valid settings, small first: batch 1 to 3, 1 to 3 channels per group, sizes from 1,
    kernels up to 4 (not square), stride and padding up to 2 or 3, dilation up to 2,
    1 to 3 groups (from the tenth case on), with and without bias."""
    cases: list[Case] = []
    while len(cases) < 24:
        n = len(cases)
        groups = 1 if n < 10 else rng.randint(1, 3)
        batch, c_in, c_out = (
            rng.randint(1, 3),
            groups * rng.randint(1, 3),
            groups * rng.randint(1, 3),
        )
        height, width = rng.randint(1, 4 + n // 3), rng.randint(1, 4 + n // 3)
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        stride, padding, dilation = rng.randint(1, 3), rng.randint(0, 2), rng.randint(1, 2)
        try:
            out_h = arith.conv_output_size(height, kh, stride, padding, dilation)
            out_w = arith.conv_output_size(width, kw, stride, padding, dilation)
        except UserError:  # the kernel does not fit: draw another
            continue
        with_bias = rng.random() < 0.7
        inputs = {
            "input": randn(rng, batch, c_in, height, width),
            "weight": randn(rng, c_out, c_in // groups, kh, kw),
            "bias": randn(rng, c_out) if with_bias else None,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
            "cotangent": randn(rng, batch, c_out, out_h, out_w),
        }
        text = (
            f"input {batch}×{c_in}×{height}×{width}, weight {c_out}×{c_in // groups}×{kh}×{kw}, "
            f"stride {stride}, padding {padding}, dilation {dilation}, groups {groups}, "
            f"{'bias' if with_bias else 'no bias'}"
        )
        cases.append(Case(text, inputs))
    return cases


def run_conv2d(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """The output and, when it has the right shape, the gradients of ⟨output, cotangent⟩
    with respect to the input, the weight and the bias."""
    settings = {key: case.inputs[key] for key in ("stride", "padding", "dilation", "groups")}
    input = case.inputs["input"].clone().requires_grad_()
    weight = case.inputs["weight"].clone().requires_grad_()
    bias = case.inputs["bias"]
    bias = None if bias is None else bias.clone().requires_grad_()
    output = implementation(input, weight, bias, **settings)
    outputs: dict[str, Any] = {"output": output}
    cotangent = case.inputs["cotangent"]
    if isinstance(output, Tensor) and output.shape == cotangent.shape:
        leaves = {"grad_input": input, "grad_weight": weight}
        if bias is not None:
            leaves["grad_bias"] = bias
        found = gradients([output], list(leaves.values()), [cotangent])
        outputs.update(zip(leaves, found, strict=True))
    return outputs


register(
    "im2col-convolution",
    Exercise(
        title="A 2-D convolution by im2col and a matrix product",
        topic="2. Convolution arithmetic",
        entry="conv2d",
        starter=CONV2D_STARTER,
        reference=conv2d,
        cases=conv2d_cases,
        run=run_conv2d,
        solution=(
            "deepnotes.nn.functional.conv",
            "deepnotes.nn.functional.im2col",
            "deepnotes.nn.functional.sliding_windows",
        ),
        hints=(
            "F.unfold(input, (kh, kw), dilation=d, padding=p, stride=s) gives the columns, "
            "(B, C_in·kh·kw, L) with L = H_out·W_out, flattened channel first, then kernel row, "
            "then kernel column — the order weight.reshape(C_out, −1) flattens a filter in.",
            "Without groups: weight.reshape(C_out, −1) @ columns is (B, C_out, L); reshape it "
            "to (B, C_out, H_out, W_out), rows first, and add bias.reshape(1, −1, 1, 1).",
            "With groups: view the columns as (B, groups, C_in/groups·kh·kw, L) and the weight "
            "as (groups, C_out/groups, C_in/groups·kh·kw); the batched product @ pairs them "
            "group by group, giving (B, groups, C_out/groups, L).",
        ),
        mistakes=(
            Mistake(
                "conv-flips-the-kernel",
                "The kernel is rotated by 180° before sliding it, which computes the "
                "mathematical convolution where deep learning computes a cross-correlation.",
                "notes line 40: In NN, no flip for convenience",
            ),
            Mistake(
                "conv-pads-only-the-width",
                "F.pad(input, (p, p)) pads only the last dimension, the width: the height is "
                "left unpadded.",
                "torch.nn.functional.pad documentation: the pad tuple is (left, right, top, "
                "bottom), last dimension first; conv2d pads both spatial dimensions",
                wrong=conv2d_pads_only_the_width,
            ),
            Mistake(
                "conv-weight-flattened-channels-last",
                "Each filter is flattened kernel taps first and channels last, while unfold "
                "flattens the patches channel first, so weights meet the wrong pixels.",
                "torch.nn.functional.unfold documentation: each column holds C × ∏(kernel_size) "
                "values, channel first",
                wrong=conv2d_weight_flattened_channels_last,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- transposed

TRANSPOSED_STARTER = '''\
import torch
import torch.nn.functional as F
from torch import Tensor


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> Tensor:
    """A transposed convolution, as torch.nn.functional.conv_transpose2d computes it, by the
    notes' recipe (docs/course-notes.txt lines 51–57), as a stride-1 convolution:

    1. insert s − 1 zeros between neighbouring input pixels, along the rows and the
       columns: H → (H − 1)·s + 1;
    2. pad k − p − 1 zeros on every side (kh − p − 1 above and below, kw − p − 1 left and
       right; when that is negative, crop instead: F.pad takes negative amounts), and
       output_padding more zeros at the bottom and on the right;
    3. convolve at stride 1 (F.conv2d may do this step) with each kernel rotated by 180°
       and the weight's input and output channels swapped.

    Shapes:
        input  (B, C_in, H, W)
        weight (C_in, C_out, kh, kw), torch's layout for a transposed convolution
        bias   (C_out,) or None
        output (B, C_out, H_out, W_out), H_out = (H − 1)·s − 2p + kh + output_padding
               (notes line 64), the same for W_out with kw.

    The settings given are valid ones (output_padding < s, H_out ≥ 1). The gradients with
    respect to the input and the weight are checked too. Do not call F.conv_transpose2d.
    """
    # TODO: stretch, pad, flip and swap the kernel, convolve
    raise NotImplementedError("conv_transpose2d")
'''


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> Tensor:
    """The package's recipe: `functional.conv_transpose_recipe`."""
    return functional.conv_transpose_recipe(input, weight, bias, stride, padding, output_padding)


def conv_transpose2d_channels_not_swapped(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> Tensor:
    """The (C_in, C_out, kh, kw) weight read as a convolution's (C_out, C_in, kh, kw): the
    kernels are flipped but their channels are not swapped (it runs when C_in = C_out)."""
    swapped = weight.transpose(0, 1)  # the recipe swaps it back: the channels end unswapped
    return functional.conv_transpose_recipe(input, swapped, bias, stride, padding, output_padding)


def transposed_cases(rng: random.Random) -> list[Case]:
    """Valid settings, small first: batch 1 to 3, channels 1 to 3 (every other case as many
    out as in), sizes from 1, kernels up to 4 (not square), stride up to 3, padding up to 3
    (more than k − 1 in some: the recipe crops), output padding below the stride."""
    cases: list[Case] = []
    while len(cases) < 24:
        n = len(cases)
        batch, c_in = rng.randint(1, 3), rng.randint(1, 3)
        c_out = c_in if n % 2 else rng.randint(1, 3)
        height, width = rng.randint(1, 3 + n // 4), rng.randint(1, 3 + n // 4)
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        stride, padding = rng.randint(1, 3), rng.randint(0, 1 + n // 8)
        output_padding = rng.randint(0, stride - 1)
        try:
            out_h = arith.transposed_output_size(height, kh, stride, padding, 1, output_padding)
            out_w = arith.transposed_output_size(width, kw, stride, padding, 1, output_padding)
        except UserError:  # the padding crops everything: draw another
            continue
        with_bias = rng.random() < 0.7
        inputs = {
            "input": randn(rng, batch, c_in, height, width),
            "weight": randn(rng, c_in, c_out, kh, kw),
            "bias": randn(rng, c_out) if with_bias else None,
            "stride": stride,
            "padding": padding,
            "output_padding": output_padding,
            "cotangent": randn(rng, batch, c_out, out_h, out_w),
        }
        text = (
            f"input {batch}×{c_in}×{height}×{width}, weight {c_in}×{c_out}×{kh}×{kw}, "
            f"stride {stride}, padding {padding}, output_padding {output_padding}, "
            f"{'bias' if with_bias else 'no bias'}"
        )
        cases.append(Case(text, inputs))
    return cases


def run_transposed(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """The output and, when it has the right shape, the gradients of ⟨output, cotangent⟩
    with respect to the input and the weight."""
    settings = {key: case.inputs[key] for key in ("stride", "padding", "output_padding")}
    input = case.inputs["input"].clone().requires_grad_()
    weight = case.inputs["weight"].clone().requires_grad_()
    output = implementation(input, weight, case.inputs["bias"], **settings)
    outputs: dict[str, Any] = {"output": output}
    cotangent = case.inputs["cotangent"]
    if isinstance(output, Tensor) and output.shape == cotangent.shape:
        grad_input, grad_weight = gradients([output], [input, weight], [cotangent])
        outputs.update(grad_input=grad_input, grad_weight=grad_weight)
    return outputs


register(
    "transposed-conv-recipe",
    Exercise(
        title="A transposed convolution by the notes' recipe",
        topic="2. Convolution arithmetic",
        entry="conv_transpose2d",
        starter=TRANSPOSED_STARTER,
        reference=conv_transpose2d,
        cases=transposed_cases,
        run=run_transposed,
        solution=(
            "deepnotes.nn.functional.conv_transpose_recipe",
            "deepnotes.nn.functional.rotate_180",
            "deepnotes.arith.transposed_padding",
        ),
        hints=(
            "Stretch first: a zero tensor of (H − 1)·s + 1 rows and (W − 1)·s + 1 columns, "
            "with the input written into every s-th row and column (slicing ::s).",
            "Pad with F.pad(x, (kw − p − 1, kw − p − 1 + output_padding, kh − p − 1, "
            "kh − p − 1 + output_padding)): F.pad lists the last dimension first.",
            "The kernel for F.conv2d is weight.transpose(0, 1).flip(2, 3): (C_out, C_in, kh, kw), "
            "rotated by 180°; convolve at stride 1 with no padding and add the bias.",
        ),
        mistakes=(
            Mistake(
                "transposed-padding-as-convolution",
                "The stretched input is padded by p, the convolution's padding, instead of "
                "k − p − 1.",
                "notes line 53: pad k − p − 1 rows and columns of zeros around the input",
            ),
            Mistake(
                "transposed-kernel-not-flipped",
                "The kernel slides over the stretched input as it is, not rotated by 180°.",
                "Dumoulin & Visin (2016), section 4: the transposed convolution is the "
                "convolution's transpose, so as a stride-1 convolution tap (i, j) of the kernel "
                "meets the input where tap (k − 1 − i, k − 1 − j) did: the kernel rotated by 180°",
            ),
            Mistake(
                "transposed-channels-not-swapped",
                "The (C_in, C_out, kh, kw) weight is used as a convolution's (C_out, C_in, kh, "
                "kw): its input and output channels are not swapped.",
                "torch.nn.ConvTranspose2d documentation: the weight has shape (in_channels, "
                "out_channels/groups, kH, kW)",
                wrong=conv_transpose2d_channels_not_swapped,
            ),
        ),
    ),
)
