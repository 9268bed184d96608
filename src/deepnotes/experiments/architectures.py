"""The design ideas of the CNN architectures (notes, weeks 3–4), each measured on the zoo's code.

VGG's stacked 3×3 convolutions, NiN's 1×1 convolutions and global average
pooling, ResNeXt's and ShuffleNet's grouped convolutions and channel shuffle,
ResNet's identity at initialisation, DenseNet's growth rate, SENet's channel
gates and U-Net's valid-convolution arithmetic: each claim of the notes is
measured on the very modules the registered models are built from, not
asserted. Figures: parameters against multiply-adds for the zoo, and how the
receptive field grows with depth, pooling and dilation.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes import arith
from deepnotes.cards import ExperimentCard
from deepnotes.errors import UserError
from deepnotes.experiments.base import Context, Control
from deepnotes.models import densenet, shufflenet, unet
from deepnotes.models.resnet import BasicBlock, Bottleneck
from deepnotes.models.senet import SqueezeExcitation
from deepnotes.models.unet import UNet, unet_input_side
from deepnotes.registry import EXPERIMENTS, MODELS
from deepnotes.summary import summarize


def measured_receptive_field(stack: nn.Module, side: int) -> int:
    """Width of the input region whose pixels reach the centre output pixel (by gradient).

    Backpropagates from one output pixel of a one-channel stack whose weights
    are all positive, and measures the span of input columns with nonzero gradient.
    """
    x = torch.zeros(1, 1, side, side, requires_grad=True)
    y = stack(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    columns = x.grad[0, 0].abs().sum(dim=0).nonzero()
    return int(columns.max() - columns.min() + 1)


def positive_stack(*modules: nn.Module) -> nn.Sequential:
    """A one-channel stack with every conv weight 1, so no gradient cancels to zero by chance."""
    stack = nn.Sequential(*modules)
    for module in stack:
        if isinstance(module, (nn.Conv2d, dn.Conv2d)):
            nn.init.ones_(module.weight)
    return stack


@torch.no_grad()
def relative_error(ours: Tensor, reference: Tensor) -> float:
    """‖ours − reference‖ / ‖reference‖."""
    return float((ours - reference).norm() / reference.norm())


def groups_reached(block: nn.Module, channels: int, groups: int) -> int:
    """How many input channel groups output channel 0 depends on (by gradient)."""
    x = torch.randn(1, channels, 4, 4, requires_grad=True)
    block(x)[0, 0].sum().backward()
    per_group = x.grad[0].abs().sum(dim=(1, 2)).view(groups, channels // groups).sum(dim=1)
    return int((per_group > 0).sum())


def zoo_costs() -> list[tuple[str, str, int, int]]:
    """(name, family, parameters, multiply-adds) of every full classifier at 3×224×224.

    Built on the meta device: shapes and counts without memory or arithmetic.
    """
    rows = []
    for entry in MODELS:
        card = entry.card
        at_imagenet = card.reference is not None and card.reference.input_size == (3, 224, 224)
        if card.task != "classification" or not at_imagenet:
            continue
        with torch.device("meta"):
            model = entry.builder(num_classes=1000, input_size=(3, 224, 224))
            summary = summarize(model, (3, 224, 224))
        rows.append((entry.name, card.family, summary.total_params, summary.total_macs))
    return rows


@EXPERIMENTS.register(
    "architectures",
    ExperimentCard(
        title="CNN design ideas, measured: 3×3 stacks, 1×1 convs, groups, shuffle, skips, gates",
        topic="4. Architectures",
        concepts=[
            "receptive field",
            "1×1 convolution",
            "global average pooling",
            "grouped convolution",
            "channel shuffle",
            "residual block",
            "dense block",
            "squeeze-and-excitation",
            "U-Net",
        ],
    ),
)
def run(ctx: Context) -> None:
    torch.manual_seed(ctx.seed)
    stacked_3x3(ctx)
    one_by_one_and_pooling(ctx)
    groups_and_shuffle(ctx)
    residual_dense_and_gates(ctx)
    unet_sizes(ctx)
    zoo_figure(ctx)


def stacked_3x3(ctx: Context) -> None:
    """VGG: two 3×3 convolutions see what one 5×5 sees, with 18 weights instead of 25."""
    two_3x3 = positive_stack(dn.Conv2d(1, 1, 3, bias=False), dn.Conv2d(1, 1, 3, bias=False))
    one_3x3 = positive_stack(dn.Conv2d(1, 1, 3, bias=False))
    one_5x5 = positive_stack(dn.Conv2d(1, 1, 5, bias=False))
    ctx.claim(
        "two-3x3-see-5x5",
        "Two stacked 3×3 convolutions see as many input pixels as one 5×5 "
        "(both measured by gradient from one output pixel)",
        measured_receptive_field(two_3x3, 11),
        "==",
        measured_receptive_field(one_5x5, 11),
        control=Control("one 3×3 convolution", measured_receptive_field(one_3x3, 11)),
    )
    ctx.derived(
        "two-3x3-fewer-weights",
        "Two 3×3 kernels hold 18/25 of the weights of one 5×5, per channel pair",
        sum(m.weight.numel() for m in two_3x3) / one_5x5[0].weight.numel(),
        "2 · 3² / 5² = 18/25",
    )

    # receptive-field growth by arith's formula, four ways of stacking
    depth = 13
    stacks = {
        "3×3 convs (r = 2n + 1)": [arith.Layer(3)] * depth,
        "5×5 convs (r = 4n + 1)": [arith.Layer(5)] * depth,
        "VGG-16: 3×3 convs, 2×2 pool after each block": vgg16_layers(),
        "3×3 convs dilated 1, 2, 4, … (r = 2^(n+1) − 1)": [
            arith.Layer(3, dilation=2**n) for n in range(depth)
        ],
    }
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, stack in stacks.items():
        sizes = [field.size for field in arith.receptive_field(stack)]
        ax.plot(range(1, len(sizes) + 1), sizes, marker=".", label=label)
    ax.set(xlabel="layers", ylabel="receptive field (input pixels)", yscale="log")
    ax.set_title("Receptive-field growth: r_out = r_in + d(k − 1)·j_in")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "receptive-field-growth.png",
        "Receptive field after each layer. Stride-1 convolutions add k − 1 pixels per layer; "
        "each pooling doubles the jump j, so later layers add twice as much (VGG); dilation "
        "doubling per layer grows it exponentially without pooling.",
    )
    # average, not max, pooling: max pooling passes gradient to one pixel per window only
    vgg = [dn.AvgPool2d(2) if layer.kernel == 2 else dn.Conv2d(1, 1, 3) for layer in vgg16_layers()]
    formula = arith.receptive_field(vgg16_layers()[:-1])[-1].size
    ctx.claim(
        "vgg16-receptive-field",
        f"VGG-16's last conv sees {formula}×{formula} input pixels by the formula; "
        "measured by gradient on the same stack of 3×3 convs and 2×2 poolings",
        measured_receptive_field(positive_stack(*vgg[:-1]), 240),
        "==",
        formula,
    )


def vgg16_layers() -> list[arith.Layer]:
    """VGG-16's feature extractor for the receptive field: 13 3×3 convs, 5 2×2 poolings."""
    blocks = []
    for convs in (2, 2, 3, 3, 3):
        blocks += [arith.Layer(3, padding=1)] * convs + [arith.Layer(2, stride=2)]
    return blocks


def one_by_one_and_pooling(ctx: Context) -> None:
    """NiN: a 1×1 convolution is a dense layer at every pixel; GAP has no parameters."""
    conv = dn.Conv2d(32, 16, 1)
    wide = dn.Conv2d(32, 16, 3, padding=1)  # the control: it also reads the neighbours
    dense = dn.Linear(32, 16)
    with torch.no_grad():  # the same weights: (16, 32, 1, 1) → (16, 32), and as wide's centre
        dense.weight.copy_(conv.weight.view(16, 32))
        dense.bias.copy_(conv.bias)
        wide.weight.normal_(0, 0.1)
        wide.weight[:, :, 1, 1] = dense.weight
        wide.bias.copy_(conv.bias)
    x = torch.randn(4, 32, 9, 9)
    per_pixel = dense(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, H, W, C) → (B, C, H, W)
    ctx.claim(
        "1x1-conv-is-dense-per-pixel",
        "A 1×1 convolution equals the same dense layer applied at every pixel "
        "(relative difference ‖conv − dense‖ / ‖dense‖)",
        relative_error(conv(x), per_pixel),
        "<",
        1e-6,
        control=Control(
            "a 3×3 convolution with the dense weights at its centre",
            relative_error(wide(x), per_pixel),
        ),
    )

    nin = MODELS.create("nin_small", num_classes=10, input_size=(3, 32, 32), impl="deepnotes")
    gap = nin.classifier[-2]  # MLPConv → AdaptiveAvgPool2d → Flatten
    features = torch.randn(4, 10, 7, 7)
    pooled = gap(features)
    ctx.derived(
        "gap-no-parameters",
        "NiN's global average pooling has no parameters",
        sum(p.numel() for p in gap.parameters()),
        "a mean has nothing to learn (counted on the layer)",
    )
    means = features.mean(dim=(2, 3))
    ctx.claim(
        "gap-one-value-per-channel",
        "NiN's global average pooling gives one value per channel, its mean over H and W "
        "(relative difference from x.mean over H, W)",
        relative_error(pooled.flatten(1), means),
        "<",
        1e-6,
        control=Control(
            "the largest value per channel", relative_error(features.amax((2, 3)), means)
        ),
    )


def groups_and_shuffle(ctx: Context) -> None:
    """ResNeXt / ShuffleNet: g groups cost 1/g of the weights, and shuffle lets them talk."""
    channels, group_counts = 48, (1, 2, 3, 4, 6, 8)
    weights = {
        g: dn.Conv2d(channels, channels, 3, groups=g, bias=False).weight.numel()
        for g in group_counts
    }
    ctx.derived(
        "grouped-conv-1-over-g",
        f"A grouped conv with g groups has 1/g of the weights of the full one "
        f"(largest |g · weights(g) / weights(1) − 1| over g in {group_counts})",
        max(abs(g * weights[g] / weights[1] - 1) for g in group_counts),
        "c_in/g · c_out · k² weights: each output channel reads its group only",
    )

    groups = 3
    order = shufflenet.channel_shuffle(
        torch.arange(channels).float().view(1, channels, 1, 1), groups
    )
    ctx.derived(
        "shuffle-is-permutation",
        "Channel shuffle moves channels and computes nothing: its output sorted is 0…C−1",
        bool(torch.equal(order.flatten().long().sort().values, torch.arange(channels))),
        "a view as g × C/g, a transpose, a view back",
    )

    def grouped() -> nn.Module:
        return dn.Conv2d(channels, channels, 1, groups=groups, bias=False)

    class Shuffle(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return shufflenet.channel_shuffle(x, groups)

    without = groups_reached(nn.Sequential(grouped(), grouped()), channels, groups)
    with_shuffle = groups_reached(nn.Sequential(grouped(), Shuffle(), grouped()), channels, groups)
    ctx.claim(
        "grouped-stack-stays-in-group",
        "Two stacked grouped convs (g = 3): an output channel depends on 1 input group "
        "(groups reached by gradient)",
        without,
        "==",
        1,
        control=Control("the same stack with a channel shuffle between", with_shuffle),
    )
    ctx.claim(
        "shuffle-mixes-groups",
        "With a channel shuffle between them it depends on all 3 groups",
        with_shuffle,
        "==",
        groups,
        control=Control("the same stack without the shuffle", without),
    )
    ctx.table(
        "Weights of a 48 → 48 3×3 convolution by groups",
        ["groups g", "weights", "weights(1) / g"],
        [[g, weights[g], weights[1] // g] for g in group_counts],
    )


def residual_dense_and_gates(ctx: Context) -> None:
    """ResNet's identity at γ = 0, DenseNet's growth rate, SENet's gates in (0, 1)."""
    x = torch.relu(torch.randn(2, 64, 8, 8))  # a block's input is a ReLU's output
    worst = 0.0
    for block in (BasicBlock(64, 64), Bottleneck(64, 16)):
        block.zero_init_last()
        block.eval()
        with torch.no_grad():
            worst = max(worst, relative_error(block(x), x))
    ctx.claim(
        "resnet-block-zero-gamma-identity",
        "A residual block (basic and bottleneck) whose last BatchNorm has γ = 0 is the identity "
        "(largest relative difference ‖block(x) − x‖ / ‖x‖)",
        worst,
        "==",
        0.0,
    )

    c0, growth, num_layers = 64, 32, 6
    block = densenet.DenseBlock(num_layers, c0, growth)
    read = []
    for layer in block.values():
        layer.register_forward_pre_hook(lambda _, inputs: read.append(inputs[0].shape[1]))
    out = block(torch.randn(1, c0, 8, 8))
    channels = [*read, out.shape[1]]
    ctx.claim(
        "densenet-growth-rate",
        f"DenseNet's channels grow by the growth rate k = {growth} per layer "
        f"(measured channels entering each of {num_layers} layers, then leaving: {channels})",
        sorted({b - a for a, b in itertools.pairwise(channels)}),
        "==",
        [growth],
    )

    se = SqueezeExcitation(64)
    features = 10 * torch.randn(16, 64, 6, 6)  # large inputs spread the gates
    with torch.no_grad():
        gates = se.channel_weights(features)
        reweighted = se(features)
    ctx.claim(
        "se-gates-above-0",
        "SE reweights the channels by gates in (0, 1): the smallest gate is above 0…",
        float(gates.min()),
        ">",
        0.0,
    )
    ctx.claim("se-gates-below-1", "…and the largest below 1", float(gates.max()), "<", 1.0)
    ctx.claim(
        "se-scales-channels",
        "…and its output is each channel times its gate (relative difference)",
        relative_error(reweighted, gates * features),
        "<",
        1e-6,
        control=Control("the input left unweighted", relative_error(features, gates * features)),
    )


def formula_side(side: int) -> int | str:
    """The U-Net's output side by `unet_output_side`, or "refused" where the formula finds none."""
    try:
        return unet.unet_output_side(side)
    except UserError:
        return "refused"


def unet_sizes(ctx: Context) -> None:
    """U-Net: valid convolutions shrink the map, so the output is smaller than the input."""
    rows = []
    mismatches = 0
    bottoms = (4, 6, 8) if ctx.quick else (4, 6, 8, 28)  # 28: the paper's 572 × 572 tile
    for side in (unet_input_side(bottom) for bottom in bottoms):
        try:
            # a narrow U-Net (width 2) has the paper's layers and sizes at a fraction of the cost
            net = UNet(num_classes=2, input_size=(1, side, side), width=2)
        except UserError:  # its check (by the formula) refuses a side that has a bottom
            mismatches += 1
            rows.append([side, "refused", "—"])
            continue
        with torch.no_grad():
            measured = net(torch.zeros(1, 1, side, side)).shape[-1]
        expected = formula_side(side)
        mismatches += measured != expected
        rows.append([side, expected, measured])
    ctx.claim(
        "unet-output-size",
        "The U-Net's output side follows the valid-conv arithmetic (572 → 388 in the paper): "
        "sides, built by unet_input_side, that the net refuses or where its output differs from "
        "unet_output_side",
        mismatches,
        "==",
        0,
    )
    ctx.claim(
        "unet-paper-572-388",
        "The paper's 572×572 tile gives a 388×388 map (arith)",
        formula_side(572),
        "==",
        388,
    )
    ctx.table("U-Net (valid convolutions, depth 4) sides", ["input", "formula", "measured"], rows)


def zoo_figure(ctx: Context) -> None:
    """Parameters against multiply-adds for every full classifier of the zoo."""
    rows = zoo_costs()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    families = sorted({family for _, family, _, _ in rows})
    colours = dict(zip(families, plt.colormaps["tab10"].colors, strict=False))
    plotted = sorted((r for r in rows if not r[0].endswith("_bn")), key=lambda r: r[3])
    for rank, (name, family, params, macs) in enumerate(plotted):  # ± BN: the same point
        ax.scatter(macs / 1e9, params / 1e6, color=colours[family], s=30)
        ax.annotate(
            name,
            (macs / 1e9, params / 1e6),
            fontsize=7,
            xytext=(4, 3 if rank % 2 else -9),  # alternate sides: neighbours overlap less
            textcoords="offset points",
        )
    ax.set(xscale="log", yscale="log", xlabel="GMACs (3×224×224)", ylabel="parameters (M)")
    ax.set_title("The zoo: parameters against multiply-adds")
    ax.grid(alpha=0.3, which="both")
    ctx.figure(
        fig,
        "zoo-params-vs-macs.png",
        "Each full classifier at 224×224, 1000 classes, counted by `deepnotes summary` "
        "(VGG with BatchNorm lies on VGG's point). "
        "Dense heads cost parameters (AlexNet, VGG: most of their weights), convolutions on "
        "large maps cost multiply-adds (VGG); 1×1 bottlenecks, groups and depthwise "
        "convolutions cut both (ResNet-50, ResNeXt, ShuffleNet).",
    )
    ctx.table(
        "The zoo at 3×224×224",
        ["model", "parameters", "GMACs"],
        [[name, f"{params:,}", f"{macs / 1e9:.3f}"] for name, _, params, macs in rows],
    )
