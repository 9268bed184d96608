"""Convolution arithmetic (notes, week 2): output sizes and parameters.

The notes' formula o = ⌊(i − k + 2p)/s⌋ + 1 and its worked examples, each
computed by `deepnotes.arith` and checked on torch's own layers; the transposed convolution's
o = (i − 1)s − 2p + k; pooling with the same formula. How stacked layers see
more of the input (the receptive field) is measured in `architectures`.
"""

from __future__ import annotations

import random

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle
from torch import nn

import deepnotes.nn as dn
from deepnotes import arith
from deepnotes.cards import ExperimentCard
from deepnotes.errors import UserError
from deepnotes.experiments.base import Context
from deepnotes.registry import EXPERIMENTS


def torch_width(layer: nn.Module, i: int) -> int:
    """The output width torch's layer actually produces for an i×i input."""
    return layer(torch.zeros(1, 1, i, i)).shape[-1]


def agreement_with_torch(trials: int, seed: int) -> float:
    """Share of random (i, k, s, p, d) settings where arith's conv size equals torch's.

    An invalid setting counts as agreement when both arith and torch refuse it.
    """
    rng = random.Random(seed)
    agree = 0
    for _ in range(trials):
        i, k, s, p, d = (
            rng.randint(1, 12),
            rng.randint(1, 6),
            rng.randint(1, 3),
            rng.randint(0, 3),
            rng.randint(1, 2),
        )
        try:
            ours: int | None = arith.conv_output_size(i, k, s, p, d)
        except UserError:
            ours = None
        try:
            conv = nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d)
            theirs: int | None = conv(torch.zeros(1, 1, i)).shape[-1]
        except RuntimeError:
            theirs = None
        agree += ours == theirs
    return agree / trials


def draw_example(
    ax: plt.Axes, title: str, inner: int, pad: int, k: int, s: int, out: int, zeros_between: int = 0
) -> None:
    """A padded input grid with the first two kernel positions, and the output grid beside it."""
    stretched = (inner - 1) * (zeros_between + 1) + 1
    size = stretched + 2 * pad
    for r in range(size):
        for c in range(size):
            inside = pad <= r < pad + stretched and pad <= c < pad + stretched
            real = (
                inside
                and (r - pad) % (zeros_between + 1) == 0
                and (c - pad) % (zeros_between + 1) == 0
            )
            face = "#5b8fd6" if real else ("#dde6f3" if inside else "white")
            ax.add_patch(
                Rectangle(
                    (c, size - 1 - r),
                    1,
                    1,
                    facecolor=face,
                    edgecolor="#999",
                    linestyle="-" if inside else ":",
                )
            )
    for step, colour in ((0, "#d62728"), (1, "#ff7f0e")):
        if step * s + k <= size:
            ax.add_patch(
                Rectangle((step * s, size - k), k, k, fill=False, edgecolor=colour, lw=2.5)
            )
    left = size + 1.5
    for r in range(out):
        for c in range(out):
            ax.add_patch(
                Rectangle((left + c, size - 1 - r), 1, 1, facecolor="#7cc47c", edgecolor="#2f6b2f")
            )
    ax.set_xlim(-0.5, left + out + 0.5)
    ax.set_ylim(-0.5, size + 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


@EXPERIMENTS.register(
    "conv-arithmetic",
    ExperimentCard(
        title="Convolution arithmetic: output sizes and parameters",
        topic="2. Convolution arithmetic",
        concepts=["output size", "padding", "stride", "transposed convolution"],
        formulas=(
            r"o = \left\lfloor \frac{i + 2p - d(k-1) - 1}{s} \right\rfloor + 1",
            r"o = (i - 1) s - 2p + k",
            r"c_{\mathrm{in}} \, c_{\mathrm{out}} \, k^2 + c_{\mathrm{out}}",
        ),
        code=(
            "deepnotes.arith.conv_output_size",
            "deepnotes.arith.transposed_output_size",
            "deepnotes.arith.conv_params",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        49,
        "例如原图是5, kernal是3, padding是1, stride是2, output就是 (5 − 3 + 2)/2 + 1 = 3",
        english="for example an input of 5, kernel 3, padding 1, stride 2: the output is (5 − 3 + "
        "2)/2 + 1 = 3",
    )
    torch.manual_seed(ctx.seed)
    examples = [
        # (claim id, statement, layer, i, notes' o, arith's o)
        (
            "conv-i5-k4-p2",
            "Convolution with i=5, k=4, p=2, s=1 gives o=6 (notes)",
            nn.Conv2d(1, 1, 4, padding=2),
            5,
            6,
            arith.conv_output_size(5, 4, s=1, p=2),
        ),
        (
            "conv-i5-k3-p1-s2",
            "Convolution with i=5, k=3, p=1, s=2 gives o=3 (notes)",
            nn.Conv2d(1, 1, 3, stride=2, padding=1),
            5,
            3,
            arith.conv_output_size(5, 3, s=2, p=1),
        ),
        (
            "transposed-i2-k3",
            "Transposed convolution of a 2×2 input, k=3, s=1, p=0 gives 4×4 (notes)",
            nn.ConvTranspose2d(1, 1, 3),
            2,
            4,
            arith.transposed_output_size(2, 3),
        ),
        (
            "pool-i5-k2-s2",
            "Pooling follows the same formula: i=5, k=2, s=2 gives ⌊(5−2)/2⌋+1 = 2",
            nn.MaxPool2d(2, 2),
            5,
            2,
            arith.pool_output_size(5, 2, 2),
        ),
    ]
    rows = []
    for claim_id, statement, layer, i, notes_o, arith_o in examples:
        measured = torch_width(layer, i)
        ctx.claim(
            claim_id,
            f"{statement}: deepnotes.arith gives it, and torch's layer outputs {measured}",
            arith_o if arith_o == measured else f"{arith_o} (torch {measured})",
            "==",
            notes_o,
        )
        rows.append([statement.split(" gives")[0], notes_o, arith_o, measured])
    ctx.table("The notes' worked examples", ["setting", "notes", "deepnotes.arith", "torch"], rows)

    trials = 300 if ctx.quick else 3000
    ctx.claim(
        "formula-agrees-with-torch",
        f"o = ⌊(i + 2p − d(k−1) − 1)/s⌋ + 1 equals torch's Conv1d output on {trials} random "
        "settings (share of agreement, invalid ones refused by both)",
        agreement_with_torch(trials, ctx.seed),
        "==",
        1.0,
    )

    conv = dn.Conv2d(3, 16, 3)
    ctx.claim(
        "conv-params",
        "deepnotes.arith counts a conv layer's c_in·c_out·k² + c_out parameters as the layer "
        "holds them (arith's count for 3 → 16 channels, k = 3; target: the layer's)",
        arith.conv_params(3, 16, (3, 3)),
        "==",
        sum(p.numel() for p in conv.parameters()),
    )

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
    draw_example(axes[0], "conv i=5, k=4, p=2, s=1 → o=6", 5, 2, 4, 1, 6)
    draw_example(axes[1], "conv i=5, k=3, p=1, s=2 → o=3", 5, 1, 3, 2, 3)
    recipe = arith.transposed_conv_recipe(2, 3, 1, 0)
    draw_example(
        axes[2],
        "transposed i=2, k=3, s=1, p=0:\npad k−p−1 = 2, convolve → o=4",
        2,
        recipe["padding_each_side"],
        3,
        1,
        recipe["output_size"],
    )
    fig.tight_layout()
    ctx.figure(
        fig,
        "worked-examples.png",
        "The notes' worked examples drawn: the kernel slides over the padded input, one output "
        "pixel per position. Blue: input; dotted: zero padding; red and orange: the kernel's "
        "first two positions, a stride apart; green: the output.",
    )

    sizes = list(range(5, 33))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, kw in [
        ("k=3, p=1, s=1 (same)", dict(k=3, p=1, s=1)),
        ("k=3, p=0, s=1 (valid)", dict(k=3, p=0, s=1)),
        ("k=3, p=1, s=2", dict(k=3, p=1, s=2)),
        ("k=5, p=0, s=2", dict(k=5, p=0, s=2)),
    ]:
        ax.plot(sizes, [arith.conv_output_size(i, **kw) for i in sizes], marker=".", label=label)
    ax.set_xlabel("input size i")
    ax.set_ylabel("output size o")
    ax.set_title("o = ⌊(i − k + 2p)/s⌋ + 1")
    ax.legend()
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "output-size.png",
        "Output size against input size: padding k//2 keeps the size "
        "(same), no padding loses k−1 pixels (valid), stride s divides it by s.",
    )
