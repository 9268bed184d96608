"""Transposed convolution (notes, week 2): the recipe step by step, and what it is not.

The notes compute a transposed convolution (stride s, padding p, kernel k) as
an ordinary stride-1 convolution of a stretched input:

1. insert s − 1 zeros between adjacent input pixels;
2. pad k − p − 1 zeros on every side;
3. convolve with the kernel rotated by 180°.

The output has (i − 1)s − 2p + k pixels a side. The experiment draws the steps
for the notes' example (2×2 input, k = 3) and for stride 2, checks the result
against torch's `ConvTranspose2d` and `deepnotes.nn`'s recipe, and measures
what "transposed" means: it is the adjoint (the gradient) of the convolution
with the same kernel, ⟨conv(x), y⟩ = ⟨x, conv_transpose(y)⟩; it restores the
shape of the convolution's input, not its values — it is not an inverse.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor

from deepnotes import arith
from deepnotes.cards import ExperimentCard
from deepnotes.errors import UserError
from deepnotes.experiments.base import Context, Control
from deepnotes.nn import functional
from deepnotes.registry import EXPERIMENTS


def largest_difference(ours: Tensor, reference: Tensor) -> float:
    """max |ours − reference|; infinite when the shapes differ."""
    if ours.shape != reference.shape:
        return math.inf
    return float((ours - reference).abs().max())


def recipe_steps(x: Tensor, kernel: Tensor, stride: int, padding: int) -> dict[str, Tensor]:
    """The recipe's intermediate maps for one (H, W) input and one (k, k) kernel, to draw.

    Returns the input, the zero-stretched input, the padded map, the flipped kernel
    and the output.
    """
    k = kernel.shape[-1]
    height, width = x.shape
    stretched = x.new_zeros((height - 1) * stride + 1, (width - 1) * stride + 1)
    stretched[::stride, ::stride] = x  # s − 1 zeros between neighbours
    border = arith.transposed_padding(k, padding)
    padded = F.pad(stretched, (border,) * 4)  # k − p − 1 zeros each side
    flipped = functional.rotate_180(kernel[None, None])[0, 0]  # rotated by 180°
    if min(padded.shape) >= k:
        output = F.conv2d(padded[None, None], flipped[None, None])[0, 0]  # stride-1 convolution
    else:  # too little padding: the kernel fits nowhere
        output = x.new_zeros(0, 0)
    return {
        "input": x,
        "zeros inserted": stretched,
        "padded": padded,
        "flipped kernel": flipped,
        "output": output,
    }


def draw_steps(axes: list[plt.Axes], steps: dict[str, Tensor], title: str) -> None:
    """One panel per step, each map's numbers written in its cells."""
    for ax, (name, values) in zip(axes, steps.items(), strict=True):
        if values.numel():
            ax.imshow(values.numpy(), cmap="Blues", vmin=0)
        for (r, c), value in zip(
            ((r, c) for r in range(values.shape[0]) for c in range(values.shape[1])),
            values.flatten().tolist(),
            strict=True,
        ):
            ax.text(c, r, f"{value:g}", ha="center", va="center", fontsize=7)
        ax.set_title(f"{name}\n{values.shape[0]}×{values.shape[1]}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel(title, fontsize=10)


@EXPERIMENTS.register(
    "transposed-conv",
    ExperimentCard(
        title="Transposed convolution: the recipe step by step, and why it is no inverse",
        topic="2. Convolution arithmetic",
        concepts=["transposed convolution", "upsampling", "adjoint", "zero insertion"],
        formulas=(
            r"o = (i - 1) s - 2p + k",
            r"i \to (i - 1) s + 1 \ \text{(zeros inserted)} \to (i - 1) s + 1 + 2 (k - p - 1) \ "
            r"\text{(padded)}",
            r"\langle \operatorname{conv}(x), y \rangle = \langle x, \operatorname{conv}^\top(y) "
            r"\rangle",
        ),
        code=(
            "deepnotes.nn.functional.conv_transpose_recipe",
            "deepnotes.arith.transposed_conv_recipe",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        51,
        "但转置卷积不是卷积的逆运算(一般卷积操作是不可逆的),它只能恢复到原来的大小(shape)数值与原来不同",
        english="but a transposed convolution is not the inverse of the convolution (a "
        "convolution is in general not invertible): it only restores the original size "
        "(shape), its values differ from the original",
    )
    torch.manual_seed(ctx.seed)
    settings = [  # (claim id, label, input side, k, s, p)
        ("size-notes-example", "notes: i=2, k=3, s=1, p=0", 2, 3, 1, 0),
        ("size-stride-2", "i=3, k=3, s=2, p=0", 3, 3, 2, 0),
        ("size-stride-2-padding-1", "i=3, k=3, s=2, p=1", 3, 3, 2, 1),
    ]
    fig, axes = plt.subplots(len(settings), 5, figsize=(13, 2.9 * len(settings)))
    worst_torch = worst_ours = 0.0
    for row, (claim_id, label, side, k, s, p) in zip(axes, settings, strict=True):
        x = torch.arange(1.0, side * side + 1).view(side, side)  # small integers, easy to read
        kernel = torch.arange(1.0, k * k + 1).view(k, k)
        steps = recipe_steps(x, kernel, s, p)
        draw_steps(list(row), steps, label)
        reference = F.conv_transpose2d(x[None, None], kernel[None, None], stride=s, padding=p)
        try:
            ours = functional.conv_transpose_recipe(
                x[None, None], kernel[None, None], stride=s, padding=p
            )
        except UserError:  # the recipe's padded input is too small for the kernel
            ours = x.new_zeros(0)
        worst_torch = max(worst_torch, largest_difference(steps["output"], reference[0, 0]))
        worst_ours = max(worst_ours, largest_difference(ours, reference))
        ctx.claim(
            claim_id,
            f"{label}: the recipe's output side is (i − 1)s − 2p + k",
            steps["output"].shape[-1],
            "==",
            arith.transposed_output_size(side, k, s, p),
        )
    fig.tight_layout()
    ctx.figure(
        fig,
        "recipe-steps.png",
        "The recipe on small integers: insert s − 1 zeros between the input's pixels, pad "
        "k − p − 1 zeros around, and slide the kernel rotated by 180° at stride 1. The numbers "
        "are exactly torch's ConvTranspose2d output.",
    )
    ctx.claim(
        "recipe-equals-torch",
        "The drawn steps give torch's conv_transpose2d exactly (largest |difference| over "
        "the three settings)",
        worst_torch,
        "==",
        0.0,
    )
    ctx.claim(
        "deepnotes-recipe-equals-torch",
        "deepnotes.nn's recipe (any channels) gives the same (largest |difference|)",
        worst_ours,
        "==",
        0.0,
    )

    # What "transposed" means: the adjoint of the convolution with the same kernel
    channels_in, channels_out, k, s, p, side = 3, 4, 3, 2, 1, 9
    weight = torch.randn(channels_out, channels_in, k, k, dtype=torch.float64)
    x = torch.randn(2, channels_in, side, side, dtype=torch.float64)
    y_side = arith.conv_output_size(side, k, s, p)
    y = torch.randn(2, channels_out, y_side, y_side, dtype=torch.float64)
    forward = functional.conv(x, weight, stride=s, padding=p)

    def adjoint_gap(transposed_weight: Tensor) -> float:
        """|⟨conv(x), y⟩ − ⟨x, conv_transpose(y)⟩| / |⟨conv(x), y⟩|, by deepnotes.nn."""
        back = functional.conv_transpose(y, transposed_weight, stride=s, padding=p)
        left, right = float((forward * y).sum()), float((x * back).sum())
        return abs(left - right) / abs(left)

    ctx.claim(
        "adjoint-of-convolution",
        "A transposed convolution is the adjoint of the convolution with the same weights: "
        "⟨conv(x), y⟩ = ⟨x, conv_transpose(y)⟩ (relative difference, deepnotes.nn's layers)",
        adjoint_gap(weight),
        "<",
        1e-12,
        control=Control(
            "the transposed convolution with each kernel rotated by 180°",
            adjoint_gap(weight.flip(-2, -1)),
        ),
    )
    restored = functional.conv_transpose_recipe(forward, weight, stride=s, padding=p)
    even = torch.randn(2, channels_in, side + 1, side + 1, dtype=torch.float64)
    even_restored = functional.conv_transpose_recipe(
        functional.conv(even, weight, stride=s, padding=p), weight, stride=s, padding=p
    )
    ctx.claim(
        "restores-shape",
        f"It restores the shape: a {side}×{side} map convolved (k={k}, s={s}, p={p}) to "
        f"{y_side}×{y_side} comes back {side}×{side} (measured side − {side}, by the recipe)",
        restored.shape[-1] - side,
        "==",
        0,
        control=Control(
            f"a {side + 1}×{side + 1} map, convolved to the same {y_side}×{y_side}: a stride-2 "
            "convolution maps two sizes to one, and output_padding must say which",
            even_restored.shape[-1] - (side + 1),
        ),
    )
    inverse = functional.conv_transpose(forward, weight, stride=s, padding=p)
    delta = torch.zeros(channels_in, channels_in, k, k, dtype=torch.float64)
    delta[range(channels_in), range(channels_in), k // 2, k // 2] = 1  # copies each channel
    copied = functional.conv(x, delta, padding=k // 2)
    ctx.claim(
        "not-an-inverse",
        "…but not the values: it is no inverse (relative error ‖restored − x‖ / ‖x‖)",
        float((inverse - x).norm() / x.norm()),
        ">",
        0.5,
        control=Control(
            "after a stride-1 convolution whose kernel copies each channel (a delta), the "
            "one case where the transpose inverts",
            float((functional.conv_transpose(copied, delta, padding=k // 2) - x).norm() / x.norm()),
        ),
    )
