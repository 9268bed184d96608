"""Convolution arithmetic: output sizes, parameter and multiply-add counts, receptive fields.

Notation, per spatial dimension: i input size, k kernel size, p zero padding on
each side, s stride, d dilation, o output size.

Output size. A dilated kernel spans d(k−1)+1 input pixels; it slides over the
padded input of i+2p pixels in steps of s, so

    o = ⌊(i + 2p − d(k−1) − 1) / s⌋ + 1,

which for d = 1 is the notes' o = ⌊(i − k + 2p) / s⌋ + 1. Examples: i=5, k=4,
p=2, s=1 gives 6; i=5, k=3, p=1, s=2 gives 3. Pooling uses the same formula
(its stride defaults to k) and may round up instead (`ceil_mode`). A transposed
convolution runs the arithmetic backwards: it maps the o of a convolution back
to its i,

    o = (i − 1)s − 2p + d(k−1) + output_padding + 1,

where output_padding picks one of the s input sizes that a stride-s
convolution maps to the same output size. The notes build it as a stride-1
convolution: insert s−1 zeros between input pixels, pad k−p−1 on each side,
convolve with the flipped kernel (`transposed_conv_recipe`).

Cost. A convolution layer with c_in input and c_out output channels in g
groups holds c_in·c_out·∏k / g weights plus c_out biases, and spends that many
multiply-adds (weights, without biases) at every output pixel. A dense layer
after a convolution that leaves c maps of m_h × m_w holds c·m_h·m_w·n weights.

Receptive field. The input pixels that one output pixel depends on. Through a
stack of layers it grows by the span of each new kernel, measured in input
pixels: with r the field size, j the jump (input pixels between adjacent
outputs) and `start` the centre of the first output's field,

    r_out = r_in + d(k−1)·j_in,   j_out = j_in·s,   start_out = start_in + (d(k−1)/2 − p)·j_in,

from r = 1, j = 1, start = 0.5 (input pixel x covers [x, x+1), its centre is x + 0.5).
Two stacked 3×3 convolutions see 5×5 pixels, like one 5×5 convolution.

Papers: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning"
(2016); Araujo, Norris & Sim, "Computing receptive fields of convolutional
neural networks" (Distill, 2019). The size rules and their error conditions
follow PyTorch's `Conv*d`, `ConvTranspose*d`, `MaxPool*d` and `AvgPool*d`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deepnotes.errors import UserError

OUTPUT_SIZE_KINDS = ("conv", "pool", "transposed")


def _require_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise UserError(f"{name} must be a positive integer, got {value}")


def _require_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise UserError(f"{name} must be zero or more, got {value}")


def _dilated_kernel_size(k: int, d: int) -> int:
    """Input pixels a kernel of k taps spaced d apart spans: d(k−1) + 1."""
    return d * (k - 1) + 1


def _per_dimension(name: str, value: int | Sequence[int], dims: int) -> tuple[int, ...]:
    """Broadcast an int to `dims` dimensions; check a tuple has one entry per dimension."""
    if isinstance(value, int):
        return (value,) * dims
    if len(value) != dims:
        raise UserError(f"{name} has {len(value)} entries, expected one per dimension ({dims})")
    return tuple(value)


def conv_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output size of a convolution: ⌊(i + 2p − d(k−1) − 1)/s⌋ + 1.

    With d = 1 this is the notes' ⌊(i − k + 2p)/s⌋ + 1. The dilated kernel must
    fit in the padded input, which also guarantees o ≥ 1.
    """
    _require_positive(i=i, k=k, s=s, d=d)
    _require_non_negative(p=p)
    kernel_span = _dilated_kernel_size(k, d)
    if kernel_span > i + 2 * p:
        raise UserError(
            f"kernel spans {kernel_span} pixels (k={k}, d={d}) but the padded input "
            f"has only {i + 2 * p} (i={i}, p={p})"
        )
    return (i + 2 * p - kernel_span) // s + 1


def pool_output_size(
    i: int, k: int, s: int | None = None, p: int = 0, d: int = 1, ceil_mode: bool = False
) -> int:
    """Output size of max or average pooling; the stride defaults to the kernel size.

    Same formula as `conv_output_size`, rounded up with `ceil_mode`. Rounding up
    may add a window that starts in the right padding, over no input at all;
    PyTorch drops it: if (o − 1)·s ≥ i + p then o −= 1. Padding may be at most
    half the kernel (k/2), so every window holds at least one input pixel.
    """
    stride = k if s is None else s
    _require_positive(i=i, k=k, s=stride, d=d)
    _require_non_negative(p=p)
    if 2 * p > k:
        raise UserError(f"pooling padding p={p} is more than half the kernel size k={k}")
    span_left = i + 2 * p - _dilated_kernel_size(k, d)
    if ceil_mode:
        o = -(-span_left // stride) + 1
        if (o - 1) * stride >= i + p:
            o -= 1
    else:
        o = span_left // stride + 1
    if o < 1:
        raise UserError(
            f"pooling window (k={k}, d={d}) does not fit in the padded input "
            f"(i={i}, p={p}): output size {o}"
        )
    return o


def transposed_output_size(
    i: int, k: int, s: int = 1, p: int = 0, d: int = 1, output_padding: int = 0
) -> int:
    """Output size of a transposed convolution: (i−1)s − 2p + d(k−1) + output_padding + 1.

    It inverts `conv_output_size`: a stride-s convolution maps s input sizes to
    one output size, and output_padding (smaller than the stride, or than the
    dilation, as PyTorch requires) picks which of them to give back.
    """
    _require_positive(i=i, k=k, s=s, d=d)
    _require_non_negative(p=p, output_padding=output_padding)
    if output_padding >= max(s, d):
        raise UserError(
            f"output_padding={output_padding} must be smaller than the stride s={s} "
            f"or the dilation d={d}"
        )
    o = (i - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
    if o < 1:
        raise UserError(
            f"transposed convolution output size is {o}: padding p={p} crops away everything"
        )
    return o


def output_shape(
    kind: str,
    input_size: tuple[int, ...],
    kernel: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    output_padding: int | tuple[int, ...] = 0,
    ceil_mode: bool = False,
) -> tuple[int, ...]:
    """Spatial output shape of a "conv", "pool" or "transposed" layer, one size per dimension.

    Each setting is an int for all dimensions or a tuple with one entry per
    dimension, as in PyTorch. The stride defaults to 1, or to the kernel for pooling.
    """
    if kind not in OUTPUT_SIZE_KINDS:
        raise UserError(f"kind must be one of {', '.join(OUTPUT_SIZE_KINDS)}; got {kind!r}")
    if ceil_mode and kind != "pool":
        raise UserError("ceil_mode only applies to pooling")
    dims = len(input_size)
    kernels = _per_dimension("kernel", kernel, dims)
    if stride is None:
        strides = kernels if kind == "pool" else (1,) * dims
    else:
        strides = _per_dimension("stride", stride, dims)
    paddings = _per_dimension("padding", padding, dims)
    dilations = _per_dimension("dilation", dilation, dims)
    output_paddings = _per_dimension("output_padding", output_padding, dims)
    if any(output_paddings) and kind != "transposed":
        raise UserError("output_padding only applies to a transposed convolution")

    shape = []
    settings = zip(input_size, kernels, strides, paddings, dilations, output_paddings, strict=True)
    for axis, (i, k, s, p, d, extra) in enumerate(settings):
        try:
            if kind == "conv":
                shape.append(conv_output_size(i, k, s, p, d))
            elif kind == "pool":
                shape.append(pool_output_size(i, k, s, p, d, ceil_mode))
            else:
                shape.append(transposed_output_size(i, k, s, p, d, extra))
        except UserError as error:
            raise UserError(f"dimension {axis}: {error}") from error
    return tuple(shape)


def transposed_padding(k: int, p: int, d: int = 1) -> int:
    """Zeros the recipe pads on each side of the stretched input: d(k − 1) − p (k − p − 1 for
    d = 1), so the first output sees one input pixel under the kernel's last tap. Negative
    means crop."""
    return d * (k - 1) - p


def transposed_conv_recipe(
    i: int, k: int, s: int, p: int, output_padding: int = 0, d: int = 1
) -> dict[str, int]:
    """The notes' recipe for a transposed convolution as a stride-1 convolution, in numbers.

    1. Insert s − 1 zeros between adjacent input pixels: the input stretches to (i−1)s + 1.
    2. Pad d(k − 1) − p zeros on each side (k − p − 1 undilated; a negative number crops
       instead), plus output_padding more on the far (right, bottom) side.
    3. Convolve with stride 1 and the kernel flipped (rotated 180°), dilated by d, its
       input and output channels swapped: the output has padded − d(k − 1) pixels, which
       is `transposed_output_size`. Example: i=2, k=3, s=1, p=0 gives 4.

    The recipe shows the shapes; it is not how to compute one, since most of
    the products it makes multiply inserted zeros (see `transposed_conv_macs`).
    """
    transposed_output_size(i, k, s, p, d, output_padding)  # same validity rules
    stretched_size = (i - 1) * s + 1
    padding_each_side = transposed_padding(k, p, d)
    padded_size = stretched_size + 2 * padding_each_side + output_padding
    return {
        "zeros_between": s - 1,
        "stretched_size": stretched_size,
        "padding_each_side": padding_each_side,
        "extra_padding_one_side": output_padding,
        "padded_size": padded_size,
        "output_size": padded_size - _dilated_kernel_size(k, d) + 1,
    }


def conv_params(
    c_in: int, c_out: int, k: int | tuple[int, ...], groups: int = 1, bias: bool = True
) -> int:
    """Learnable parameters of a convolution: c_in·c_out·∏k / groups + (c_out if bias).

    An int kernel means a square k×k kernel (2-D, the notes' case); pass a tuple
    for other dimensions. Each of the c_out filters sees c_in/groups channels.
    A transposed convolution with the same settings has the same count.
    """
    _require_positive(c_in=c_in, c_out=c_out, groups=groups)
    if c_in % groups or c_out % groups:
        raise UserError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")
    kernel = (k, k) if isinstance(k, int) else tuple(k)
    _require_positive(**{f"kernel[{axis}]": size for axis, size in enumerate(kernel)})
    weights = (c_in // groups) * c_out * math.prod(kernel)
    return weights + (c_out if bias else 0)


def conv_macs(
    c_in: int,
    c_out: int,
    k: int | tuple[int, ...],
    output_size: tuple[int, ...],
    groups: int = 1,
) -> int:
    """Multiply-adds of a convolution: c_in·c_out·∏k / groups × ∏output_size.

    Every output pixel of every output channel is one dot product over its
    filter's c_in/groups · ∏k weights: the weights (no bias) times the output
    pixels. An int kernel applies to every dimension of `output_size`.
    """
    kernel = _per_dimension("kernel", k, len(output_size))
    _require_positive(**{f"output_size[{axis}]": o for axis, o in enumerate(output_size)})
    return conv_params(c_in, c_out, kernel, groups, bias=False) * math.prod(output_size)


def transposed_conv_macs(
    c_in: int,
    c_out: int,
    k: int | tuple[int, ...],
    input_size: tuple[int, ...],
    groups: int = 1,
) -> int:
    """Multiply-adds of a transposed convolution: c_in·c_out·∏k / groups × ∏input_size.

    A transposed convolution scatters: each input pixel of each input channel
    adds its value times a k×k×c_out/groups block of weights into the output.
    So the work counts input pixels, not output pixels. Counting output pixels,
    as for the notes' recipe (zeros inserted, then a stride-1 convolution),
    would also count the products with inserted zeros: about s² times the work
    in 2-D. Contributions that padding crops off the output are counted too,
    as an implementation computes them before cropping.
    """
    kernel = _per_dimension("kernel", k, len(input_size))
    _require_positive(**{f"input_size[{axis}]": i for axis, i in enumerate(input_size)})
    return conv_params(c_in, c_out, kernel, groups, bias=False) * math.prod(input_size)


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Learnable parameters of a dense layer: n_in·n_out weights + n_out biases."""
    _require_positive(n_in=n_in, n_out=n_out)
    return n_in * n_out + (n_out if bias else 0)


def linear_macs(n_in: int, n_out: int, positions: int = 1) -> int:
    """Multiply-adds of a dense layer applied at `positions` places: n_in·n_out·positions.

    A layer applied to every token of a sequence, or to every pixel (a 1×1
    convolution), does its n_in·n_out products once per position.
    """
    _require_positive(n_in=n_in, n_out=n_out, positions=positions)
    return n_in * n_out * positions


def dense_after_conv_params(c: int, m_h: int, m_w: int, n: int, bias: bool = True) -> int:
    """Parameters of a dense layer of n units on c flattened maps of m_h × m_w: c·m_h·m_w·n (+ n).

    The notes' point: this layer often outweighs all the convolutions before it.
    """
    return linear_params(c * m_h * m_w, n, bias)


@dataclass(frozen=True)
class Layer:
    """One convolution or pooling layer, as far as the receptive field cares (one dimension)."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field after a layer, in input pixels (pixel x covers [x, x+1)).

    size: pixels one output sees; jump: input pixels between adjacent outputs;
    start: centre of output 0's field, which may lie in the padding.
    """

    size: int
    jump: int
    start: float

    def pixels(self, output_index: int = 0) -> range:
        """Input pixel indices in the field of one output (negative or past the end: padding)."""
        first = round(self.start + output_index * self.jump - self.size / 2)
        return range(first, first + self.size)


def receptive_field(layers: Sequence[Layer]) -> list[ReceptiveField]:
    """Receptive field after each layer of a stack, from the first layer on.

    r_out = r_in + d(k−1)·j_in, j_out = j_in·s, start_out = start_in + (d(k−1)/2 − p)·j_in,
    from one input pixel: r = 1, j = 1, start = 0.5.
    """
    field = ReceptiveField(size=1, jump=1, start=0.5)
    fields = []
    for layer in layers:
        _require_positive(kernel=layer.kernel, stride=layer.stride, dilation=layer.dilation)
        _require_non_negative(padding=layer.padding)
        kernel_reach = layer.dilation * (layer.kernel - 1)
        field = ReceptiveField(
            size=field.size + kernel_reach * field.jump,
            jump=field.jump * layer.stride,
            start=field.start + (kernel_reach / 2 - layer.padding) * field.jump,
        )
        fields.append(field)
    return fields


# ---------------------------------------------------- answers, as `deepnotes conv` gives them

LAYER_SPEC = re.compile(r"^k(\d+)(?:s(\d+))?(?:p(\d+))?(?:d(\d+))?$")


def parse_stack(text: str) -> list[Layer]:
    """`k3,k3s2p1,k2s2` → layers (k kernel, s stride, p padding, d dilation; s, d default 1)."""
    layers = []
    for spec in text.split(","):
        match = LAYER_SPEC.match(spec.strip())
        if not match:
            raise UserError(f"bad layer {spec!r} in --stack: write k3, k3s2, k3s1p1d2, ...")
        k, s, p, d = (
            int(g) if g else default
            for g, default in zip(match.groups(), (0, 1, 0, 1), strict=True)
        )
        layers.append(Layer(k, s, p, d))
    return layers


def conv_answer(
    kind: str,
    input_size: Sequence[int],
    kernel: int = 3,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
    ceil_mode: bool = False,
    in_channels: int = 1,
    out_channels: int = 1,
    groups: int = 1,
    bias: bool = True,
) -> dict[str, Any]:
    """The output size of a "conv", "pool" or "transposed" layer on `input_size` (one size
    per dimension), with its settings, parameters and multiply-adds (not for pooling), and
    for a transposed convolution the notes' recipe: a dictionary, as `--json` prints it."""
    dims = len(input_size)
    output = output_shape(
        kind, input_size, kernel, stride, padding, dilation, output_padding, ceil_mode=ceil_mode
    )
    answer: dict[str, Any] = {
        "kind": kind,
        "input": input_size[0] if dims == 1 else list(input_size),
        "output": output[0] if dims == 1 else list(output),
        "settings": {
            "kernel": kernel,
            "stride": stride if stride is not None else (kernel if kind == "pool" else 1),
            "padding": padding,
            "dilation": dilation,
            "output_padding": output_padding,
        },
    }
    kernels = (kernel,) * dims
    if kind != "pool":
        answer["params"] = conv_params(in_channels, out_channels, kernels, groups, bias=bias)
        macs = transposed_conv_macs if kind == "transposed" else conv_macs
        pixels = tuple(input_size) if kind == "transposed" else output
        answer["macs"] = macs(in_channels, out_channels, kernels, pixels, groups)
        answer["bias"] = bias
    if kind == "transposed":
        answer["recipe"] = transposed_conv_recipe(
            input_size[0], kernel, stride or 1, padding, output_padding, dilation
        )
    return answer


def explain_conv(answer: dict[str, Any]) -> list[str]:
    """A `conv_answer` as a person reads it: the output, the formula with the numbers put in,
    the transposed recipe, the parameters and multiply-adds."""
    output = answer["output"] if isinstance(answer["output"], list) else [answer["output"]]
    i = answer["input"] if isinstance(answer["input"], int) else answer["input"][0]
    s = answer["settings"]
    lines = [f"{answer['kind']} output: {'×'.join(map(str, output))}"]
    if answer["kind"] == "transposed":
        lines.append(
            f"  o = (i − 1)·s − 2p + d·(k − 1) + output_padding + 1 = ({i} − 1)·{s['stride']} − "
            f"2·{s['padding']} + {s['dilation']}·({s['kernel']} − 1) + {s['output_padding']} + 1 "
            f"= {output[0]}"
        )
        r = answer["recipe"]
        lines.append(
            f"  recipe: insert {r['zeros_between']} zero(s) between inputs "
            f"({r['stretched_size']}), "
            f"pad {r['padding_each_side']} each side ({r['padded_size']}), convolve with the "
            f"flipped kernel at stride 1 → {r['output_size']}"
        )
    else:
        lines.append(
            f"  o = ⌊(i + 2p − d·(k − 1) − 1)/s⌋ + 1 = ⌊({i} + 2·{s['padding']} − "
            f"{s['dilation']}·({s['kernel']} − 1) − 1)/{s['stride']}⌋ + 1 = {output[0]}"
        )
    if "params" in answer:
        lines.append(
            f"  params: {answer['params']:,} (c_in·c_out·k^{len(output)}/groups"
            f"{' + c_out' if answer['bias'] else ''})   multiply-adds: {answer['macs']:,}"
        )
    return lines


def stack_answer(layers: Sequence[Layer], input_size: int | None = None) -> dict[str, Any]:
    """Each layer's output size (given an input size), receptive field and jump."""
    fields = receptive_field(layers)
    sizes: list[int | None] = []
    size = input_size
    for layer in layers:
        if size is not None:
            size = conv_output_size(size, layer.kernel, layer.stride, layer.padding, layer.dilation)
        sizes.append(size)
    rows = [
        {
            "layer": f"k{layer.kernel} s{layer.stride} p{layer.padding} d{layer.dilation}",
            "output": o,
            "receptive_field": f.size,
            "jump": f.jump,
        }
        for layer, f, o in zip(layers, fields, sizes, strict=True)
    ]
    return {"layers": rows, "output": sizes[-1], "receptive_field": fields[-1].size}


def explain_stack(answer: dict[str, Any]) -> list[str]:
    """A `stack_answer` as a table."""
    lines = [f"{'layer':<18} {'output':>7} {'receptive field':>16} {'jump':>5}"]
    for r in answer["layers"]:
        lines.append(
            f"{r['layer']:<18} {r['output'] or '':>7} {r['receptive_field']:>16} {r['jump']:>5}"
        )
    return lines
