"""The functional forms behind the dense, convolution, pooling and dropout layers.

Dense layer: y = x Wᵀ + b, one matrix multiply.

Convolution by unfolding (im2col). A convolution slides a c_in × k × k kernel
over the input and takes one dot product per position. Gather every k × k
patch of the (padded) input into a column,

    columns[(c, kh, kw), (oh, ow)] = x[c, oh·s + kh·d, ow·s + kw·d],

and the whole convolution becomes one matrix multiply,

    y[:, (oh, ow)] = W · columns[:, (oh, ow)] + b,    W: (c_out, c_in·k·k).

Weight sharing is visible in that product: the same weight rows meet every
column, that is, every position of the image. Groups split the channels into
g independent convolutions: W is viewed as (g, c_out/g, c_in/g·k·k) and
multiplies the matching slice of the columns.

Transposed convolution. A convolution is a linear map y = C x; its transpose
x' = Cᵀ y' is what backpropagation through the convolution computes, and what a
transposed convolution computes forward: it upsamples. Two ways to compute it:

- the notes' recipe (`conv_transpose_recipe`, the lesson): insert s − 1 zeros
  between input pixels, pad d(k − 1) − p zeros on each side (plus
  output_padding on the far side), and convolve at stride 1 with the kernel
  rotated by 180° and its input and output channels swapped;
- the fast path (`conv_transpose`, what the layer uses): each input pixel
  scatters its value times a c_out × k × k block of weights into the output.
  One matrix multiply makes the blocks, Wᵀ · x, a tensor of columns; `col2im`
  adds each column into its place (the adjoint of `im2col`), and the padding p
  is cropped off. No products with inserted zeros are made: about s² times
  less work than the recipe in 2-D.

Both give o = (i − 1)·s − 2p + d(k − 1) + output_padding + 1 (`deepnotes.arith`).

Pooling uses the same sliding windows, reduced by max or mean instead of a dot
product with weights; adaptive average pooling averages over bins
[⌊j·i/o⌋, ⌈(j + 1)·i/o⌉) and is a linear map: one averaging matrix per axis.

Dropout (inverted): in training, zero each element with probability p and scale
the survivors by 1/(1 − p), so the expected output equals the input and
evaluation needs no rescaling (Srivastava et al., "Dropout: a simple way to
prevent neural networks from overfitting", JMLR 2014).

References: Chellapilla, Puri & Simard, "High performance convolutional neural
networks for document processing" (2006), for im2col; Dumoulin & Visin, "A
guide to convolution arithmetic for deep learning" (2016), for the transposed
convolution. Settings, defaults and edge cases follow torch.nn.functional.

Shape:
    - linear: (*, in_features) → (*, out_features)
    - conv: (B, c_in, *in) → (B, c_out, *out), any number of spatial dimensions
    - conv_transpose: (B, c_in, *in) → (B, c_out, *out)
    - pooling: (B, C, H, W) → (B, C, H_out, W_out)
    The batch dimension may be left out, as in torch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from deepnotes import arith
from deepnotes.arith import (
    _per_dimension,
    conv_output_size,
    pool_output_size,
    transposed_output_size,
)
from deepnotes.errors import UserError

IntOrTuple = int | Sequence[int]
PADDING_STRINGS = ("same", "valid")


# ----------------------------------------------------------------------------- dense layer


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b. (*, in_features) → (*, out_features); W is (out_features, in_features)."""
    output = input @ weight.T
    return output if bias is None else output + bias


# ----------------------------------------------------------------------------- helpers


def pad(
    input: Tensor, pairs: Sequence[tuple[int, int]], mode: str = "constant", value: float = 0.0
) -> Tensor:
    """Pad the last len(pairs) dimensions; pairs[i] = (before, after) for spatial axis i.

    A negative amount crops. `mode` is F.pad's: "constant" (with `value`),
    "circular", "reflect" or "replicate".
    """
    amounts = [amount for pair in reversed(pairs) for amount in pair]  # F.pad: last axis first
    if not any(amounts):
        return input
    return F.pad(input, amounts, mode=mode, value=value if mode == "constant" else None)


def padding_pairs(
    padding: str | IntOrTuple, kernel_size: Sequence[int], stride: IntOrTuple, dilation: IntOrTuple
) -> tuple[tuple[int, int], ...]:
    """(before, after) padding per spatial axis, from an int, a tuple, "valid" or "same".

    "same" keeps the size at stride 1: the kernel spans d(k−1)+1 pixels, so
    d(k−1) in total, split as torch does: the odd one goes after (right, bottom).
    """
    dims = len(kernel_size)
    dilations = _per_dimension("dilation", dilation, dims)
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise UserError(f"padding must be an int, a tuple, 'same' or 'valid'; got {padding!r}")
        if padding == "valid":
            return ((0, 0),) * dims
        if any(s != 1 for s in _per_dimension("stride", stride, dims)):
            raise UserError("padding='same' needs stride 1 (a strided convolution shrinks)")
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilations, strict=True)]
        return tuple((total // 2, total - total // 2) for total in totals)
    return tuple((p, p) for p in _per_dimension("padding", padding, dims))


def _add_batch(input: Tensor, dims: int, what: str) -> tuple[Tensor, bool]:
    """Give an unbatched input (C, *spatial) a batch of one; say whether it had one."""
    if input.dim() not in (dims + 1, dims + 2):
        raise UserError(
            f"{what} expects a ({dims + 1}-D) unbatched or ({dims + 2}-D) batched input, "
            f"got shape {tuple(input.shape)}"
        )
    batched = input.dim() == dims + 2
    return (input if batched else input.unsqueeze(0)), batched


def check_groups(c_in: int, c_out: int, groups: int) -> None:
    """Groups split the channels into equal parts: g must divide c_in and c_out."""
    if groups < 1 or c_in % groups or c_out % groups:
        raise UserError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")


def _check_input_channels(input: Tensor, expected: int) -> None:
    if input.shape[1] != expected:
        raise UserError(f"input has {input.shape[1]} channels, the weight expects {expected}")


# ----------------------------------------------------------------------------- im2col, col2im


def sliding_windows(
    input: Tensor, kernel_size: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> Tensor:
    """Every window of the last len(kernel_size) axes, as a view: (B, C, *in) → (B, C, *out, *k).

    `Tensor.unfold(axis, span, step)` cuts an axis into windows of `span`
    pixels every `step` and appends the window as a new last axis. A dilated
    kernel spans d(k−1)+1 pixels and keeps every d-th of them. Only whole
    windows are made: pad first.
    """
    spatial_start = input.dim() - len(kernel_size)
    for axis, (k, s, d) in enumerate(zip(kernel_size, stride, dilation, strict=True)):
        input = input.unfold(spatial_start + axis, d * (k - 1) + 1, s)
    taps = tuple(slice(None, None, d) for d in dilation)
    return input[(..., *taps)]


def im2col(
    input: Tensor, kernel_size: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> Tensor:
    """The patches of an (already padded) input: (B, C, *in) → (B, C, *k, *out).

    columns[b, c, kh, kw, oh, ow] = input[b, c, oh·s + kh·d, ow·s + kw·d]: flatten
    (c, kh, kw) and (oh, ow) and each column is one patch.
    """
    dims = len(kernel_size)
    windows = sliding_windows(input, kernel_size, stride, dilation)  # (B, C, *out, *k)
    order = (0, 1, *range(2 + dims, 2 + 2 * dims), *range(2, 2 + dims))
    return windows.permute(order)  # (B, C, *k, *out)


def col2im(columns: Tensor, stride: Sequence[int], dilation: Sequence[int]) -> Tensor:
    """Add each column back where its patch came from: (B, C, *k, *in) → (B, C, *full).

    The adjoint of `im2col` (⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩), where
    full = (in − 1)·s + d(k − 1) + 1 per axis. Kernel tap (kh, kw) of every
    input pixel lands on the strided grid of output pixels
    (ih·s + kh·d, iw·s + kw·d), so one strided slice per tap adds them all.
    """
    dims = len(stride)
    kernel_size = columns.shape[2 : 2 + dims]
    in_size = columns.shape[2 + dims :]
    full = [
        (i - 1) * s + d * (k - 1) + 1
        for i, k, s, d in zip(in_size, kernel_size, stride, dilation, strict=True)
    ]
    output = columns.new_zeros(*columns.shape[:2], *full)  # (B, C, *full)
    for tap in itertools.product(*(range(k) for k in kernel_size)):
        grid = tuple(
            slice(t * d, t * d + (i - 1) * s + 1, s)
            for t, i, s, d in zip(tap, in_size, stride, dilation, strict=True)
        )
        output[(..., *grid)].add_(columns[(slice(None), slice(None), *tap)])
    return output


# ----------------------------------------------------------------------------- convolution


def conv(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: str | IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Tensor:
    """Convolution (cross-correlation) by im2col and one matrix multiply, zero padding.

    The number of spatial dimensions is the weight's minus two, so this is
    conv1d, conv2d, ... Weight: (c_out, c_in/groups, *k).
    """
    dims = weight.dim() - 2
    kernel_size = tuple(weight.shape[2:])
    c_out, c_in_per_group = weight.shape[:2]
    strides = _per_dimension("stride", stride, dims)
    dilations = _per_dimension("dilation", dilation, dims)
    pairs = padding_pairs(padding, kernel_size, strides, dilations)
    check_groups(c_in_per_group * groups, c_out, groups)
    input, batched = _add_batch(input, dims, f"conv{dims}d")
    _check_input_channels(input, c_in_per_group * groups)
    for i, k, s, d, (before, after) in zip(
        input.shape[2:], kernel_size, strides, dilations, pairs, strict=True
    ):
        # arith pads both sides alike; the extra pixel "same" pads after counts as input
        conv_output_size(i + after - before, k, s, before, d)

    columns = im2col(pad(input, pairs), kernel_size, strides, dilations)  # (B, C, *k, *out)
    batch, out_size = input.shape[0], columns.shape[2 + dims :]
    columns = columns.reshape(batch, groups, -1, math.prod(out_size))  # (B, g, C/g·∏k, L)
    weight_rows = weight.reshape(groups, c_out // groups, -1)  # (g, c_out/g, C/g·∏k)
    output = (weight_rows @ columns).reshape(batch, c_out, *out_size)  # (B, c_out, *out)
    if bias is not None:
        output = output + bias.reshape(-1, *(1,) * dims)
    return output if batched else output.squeeze(0)


def _transposed_setup(
    input: Tensor,
    weight: Tensor,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
) -> tuple[Tensor, bool, tuple[tuple[int, ...], ...]]:
    """Shared checks of both transposed-convolution paths; per-axis (k, s, p, op, d)."""
    dims = weight.dim() - 2
    c_in, c_out_per_group = weight.shape[:2]
    check_groups(c_in, c_out_per_group * groups, groups)
    input, batched = _add_batch(input, dims, f"conv_transpose{dims}d")
    _check_input_channels(input, c_in)
    settings = tuple(
        zip(
            weight.shape[2:],
            _per_dimension("stride", stride, dims),
            _per_dimension("padding", padding, dims),
            _per_dimension("output_padding", output_padding, dims),
            _per_dimension("dilation", dilation, dims),
            strict=True,
        )
    )
    for i, (k, s, p, op, d) in zip(input.shape[2:], settings, strict=True):
        transposed_output_size(i, k, s, p, d, op)
    return input, batched, settings


def conv_transpose(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """Transposed convolution, the fast path: scatter Wᵀx into the output (col2im), crop p.

    Weight: (c_in, c_out/groups, *k), as torch stores it. Each input pixel's
    c_in/g values times the group's (c_in/g, c_out/g·∏k) block of weights give
    one column of c_out/g·∏k values; col2im adds them into the output.
    """
    input, batched, settings = _transposed_setup(
        input, weight, stride, padding, output_padding, groups, dilation
    )
    dims = len(settings)
    kernel_size, strides, paddings, output_paddings, dilations = zip(*settings, strict=True)
    batch, c_in, *in_size = input.shape
    c_out = weight.shape[1] * groups
    pixels = input.reshape(batch, groups, c_in // groups, -1)  # (B, g, c_in/g, ∏in)
    blocks = weight.reshape(groups, c_in // groups, -1).transpose(1, 2)  # (g, c_out/g·∏k, c_in/g)
    columns = (blocks @ pixels).reshape(batch, c_out, *kernel_size, *in_size)  # (B, c_out, *k, *in)
    full = col2im(columns, strides, dilations)  # (B, c_out, *full)
    # crop p on both sides (a negative pad), then output_padding more zeros after
    output = pad(full, [(-p, op - p) for p, op in zip(paddings, output_paddings, strict=True)])
    if bias is not None:
        output = output + bias.reshape(-1, *(1,) * dims)
    return output if batched else output.squeeze(0)


def rotate_180(weight: Tensor) -> Tensor:
    """Each kernel of (c_out, c_in, *k) rotated by 180°: flipped along every spatial dim, so
    that sliding it computes a convolution where the unflipped one computes a correlation."""
    return weight.flip(tuple(range(2, weight.dim())))


def conv_transpose_recipe(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """Transposed convolution by the notes' recipe: a stride-1 convolution of a stretched input.

    1. insert s − 1 zeros between input pixels: i → (i − 1)·s + 1;
    2. pad d(k − 1) − p zeros on each side (negative: crop), and output_padding
       more after (bottom, right);
    3. convolve at stride 1 and dilation d with the kernel rotated by 180°
       and its in/out channels swapped within each group.
    Same arguments and result as `conv_transpose`; most of its products multiply
    inserted zeros, which is why layers use the fast path.
    """
    input, batched, settings = _transposed_setup(
        input, weight, stride, padding, output_padding, groups, dilation
    )
    kernel_size, strides, paddings, output_paddings, dilations = zip(*settings, strict=True)
    batch, c_in, *in_size = input.shape
    c_out_per_group = weight.shape[1]

    stretched_size = [(i - 1) * s + 1 for i, s in zip(in_size, strides, strict=True)]
    stretched = input.new_zeros(batch, c_in, *stretched_size)  # (B, c_in, *stretched)
    stretched[(..., *(slice(None, None, s) for s in strides))] = input
    borders = [
        (arith.transposed_padding(k, p, d), arith.transposed_padding(k, p, d) + op)
        for k, p, op, d in zip(kernel_size, paddings, output_paddings, dilations, strict=True)
    ]
    padded = pad(stretched, borders)

    swapped = weight.reshape(groups, c_in // groups, c_out_per_group, *kernel_size)
    swapped = swapped.transpose(1, 2).reshape(
        -1, c_in // groups, *kernel_size
    )  # (c_out, c_in/g, *k)
    flipped = rotate_180(swapped)
    output = conv(padded, flipped, bias, stride=1, padding=0, dilation=dilations, groups=groups)
    return output if batched else output.squeeze(0)


# ----------------------------------------------------------------------------- pooling


def _check_pool_input(input: Tensor) -> None:
    if input.dim() < 3:
        raise UserError(f"2-D pooling expects (C, H, W) or (B, C, H, W), got {tuple(input.shape)}")


def _pool_windows(
    input: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    ceil_mode: bool,
    fill: float,
) -> tuple[Tensor, tuple[tuple[int, ...], ...]]:
    """Windows of a 2-D pooling, (*, H, W) → (*, H_out, W_out, kh, kw); per-axis (k, s, p, d).

    Pads p before and, after, exactly what the last window needs: more than p
    when `ceil_mode` adds a window that overhangs, less (a crop) when the
    floor leaves pixels over. Padded pixels hold `fill`.
    """
    kernels = _per_dimension("kernel_size", kernel_size, 2)
    strides = kernels if stride is None else _per_dimension("stride", stride, 2)
    paddings = _per_dimension("padding", padding, 2)
    dilations = _per_dimension("dilation", dilation, 2)
    settings = tuple(zip(kernels, strides, paddings, dilations, strict=True))
    _check_pool_input(input)
    pairs = []
    for i, (k, s, p, d) in zip(input.shape[-2:], settings, strict=True):
        o = pool_output_size(i, k, s, p, d, ceil_mode)
        pairs.append((p, (o - 1) * s + d * (k - 1) + 1 - i - p))
    padded = pad(input, pairs, value=fill)
    return sliding_windows(padded, kernels, strides, dilations), settings


def max_pool2d(
    input: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The largest value of each window; padding counts as −∞.

    The gradient goes to the one pixel that won each window (the first, on a
    tie). With `return_indices`, also where it is, as a flat index h·W + w into
    its input plane (what MaxUnpool2d takes).
    """
    windows, settings = _pool_windows(
        input, kernel_size, stride, padding, dilation, ceil_mode, fill=-math.inf
    )
    output, tap = windows.flatten(-2).max(dim=-1)  # (*, H_out, W_out)
    if not return_indices:
        return output
    (_, sh, ph, dh), (kw, sw, pw, dw) = settings
    out_h, out_w = output.shape[-2:]
    rows = torch.arange(out_h, device=input.device)[:, None] * sh - ph + (tap // kw) * dh
    cols = torch.arange(out_w, device=input.device) * sw - pw + (tap % kw) * dw
    return output, rows * input.shape[-1] + cols


def avg_pool2d(
    input: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean of each window: its sum over a divisor.

    The divisor is `divisor_override` when given; otherwise the number of the
    window's pixels that lie in the input, plus, with `count_include_pad`, those
    in the zero padding (but never those of a `ceil_mode` window that overhang
    the padding). It is a product of one count per axis, as torch computes it.
    """
    windows, settings = _pool_windows(input, kernel_size, stride, padding, 1, ceil_mode, fill=0.0)
    sums = windows.sum((-2, -1))  # (*, H_out, W_out)
    if divisor_override is not None:
        return sums / divisor_override
    (kh, sh, ph, _), (kw, sw, pw, _) = settings
    (in_h, in_w), (out_h, out_w) = input.shape[-2:], sums.shape[-2:]
    rows = _window_counts(in_h, out_h, kh, sh, ph, count_include_pad)  # (H_out,)
    cols = _window_counts(in_w, out_w, kw, sw, pw, count_include_pad)  # (W_out,)
    return sums / (rows[:, None] * cols).to(sums)


def _window_counts(i: int, o: int, k: int, s: int, p: int, count_include_pad: bool) -> Tensor:
    """Pixels each of o windows counts along one axis: within [−p, i + p), or within [0, i)."""
    start = torch.arange(o) * s - p
    end = (start + k).clamp(max=i + p)  # a ceil_mode window stops where the padding ends
    if not count_include_pad:
        start, end = start.clamp(min=0), end.clamp(max=i)
    return end - start


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average over bins [⌊j·i/o⌋, ⌈(j + 1)·i/o⌉) of each axis, for any input size.

    Bins may differ in size by one and overlap when i is not a multiple of o.
    A mean over a rectangle is a mean over rows of means over columns, so the
    pooling is two matrix multiplies: P_h · x · P_wᵀ, where P[j] holds
    1/(bin size) on bin j. output_size 1 is global average pooling.
    """
    _check_pool_input(input)
    sizes = _per_dimension("output_size", output_size, 2)
    in_h, in_w = input.shape[-2:]
    out_h, out_w = (i if o is None else o for i, o in zip((in_h, in_w), sizes, strict=True))
    rows = _bin_averages(in_h, out_h, input)  # (H_out, H)
    cols = _bin_averages(in_w, out_w, input)  # (W_out, W)
    return rows @ input @ cols.T  # (*, H_out, W_out)


def _bin_averages(in_size: int, out_size: int, like: Tensor) -> Tensor:
    """(out, in) matrix whose row j averages input bin [⌊j·i/o⌋, ⌈(j + 1)·i/o⌉)."""
    if out_size < 1:
        raise UserError(f"adaptive pooling output size must be positive, got {out_size}")
    j = torch.arange(out_size, device=like.device)
    start = (j * in_size) // out_size
    end = -((-(j + 1) * in_size) // out_size)  # ceiling division
    pixel = torch.arange(in_size, device=like.device)
    inside = (pixel >= start[:, None]) & (pixel < end[:, None])  # (out, in)
    return inside.to(like.dtype) / (end - start).to(like.dtype)[:, None]


# ----------------------------------------------------------------------------- dropout


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: y = x · m / (1 − p), m ~ Bernoulli(1 − p) per element, in training.

    In evaluation (or with p = 0) it returns the input itself. The scale
    1/(1 − p) keeps E[y] = x, so the evaluation network sees activations of the
    size it was trained on. The mask is drawn as torch draws it on the CPU, so
    the same seed drops the same elements.
    """
    if not 0.0 <= p <= 1.0:
        raise UserError(f"dropout probability has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        keep = torch.zeros((), dtype=input.dtype, device=input.device)
    else:
        keep = dropout_mask(input, p)
    return input.mul_(keep) if inplace else input * keep


def dropout_mask(like: Tensor, p: float) -> Tensor:
    """m/(1 − p), m ~ Bernoulli(1 − p) per element of `like` (0 ≤ p < 1): the mask of
    inverted dropout, the scale 1/(1 − p) riding in it. E[m/(1 − p)] = 1, so E[y] = x."""
    keep = torch.empty_like(like).bernoulli_(1 - p)  # 1 with probability 1 − p
    return keep.div_(1 - p)  # the inverted-dropout scale
