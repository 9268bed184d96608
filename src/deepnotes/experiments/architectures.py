"""The design ideas of the CNN architectures (notes, weeks 3–4), each measured on the zoo's code.

VGG's stacked 3×3 convolutions, NiN's 1×1 convolutions and global average
pooling, ResNeXt's and ShuffleNet's grouped convolutions and channel shuffle,
ResNet's identity at initialisation, DenseNet's growth rate, SENet's channel
gates and U-Net's valid-convolution arithmetic: each claim of the notes is
measured on the very modules the registered models are built from, not
asserted. Figures: parameters against multiply-adds for the zoo, and how the
receptive field grows with depth, pooling and dilation.

Three sections train small networks on the digits:

- AlexNet's ensembling (Krizhevsky et al. 2012): k networks from different seeds,
  their softmax outputs averaged, p̄(y|x) = (1/k) Σ_m p_m(y|x); the ensemble's
  accuracy against its members' as k grows. Members that err on different digits
  outvote each other's mistakes; k copies of one network gain nothing.
- Inception's savings (Szegedy et al. 2015; v3: Szegedy et al. 2016): a conv of
  k_h × k_w from c_in to c_out channels holds c_in·c_out·k_h·k_w weights and does
  that many multiply-adds per output pixel (`deepnotes.arith`), so a 1×1
  reduction to r channels before a k×k costs c_in·r + r·c·k² instead of c_in·c·k²,
  two 3×3 cost 18 per channel pair instead of a 5×5's 25, and a 1×n then an n×1
  2n instead of n². The formulas are checked against the built modules (their
  parameters, `deepnotes.summary`'s multiply-adds), the saving is trained against
  the block without reductions (beside it, the same block stopped early: a cost
  that shows), and the stem's fast downsampling (224 → 28 before
  the first module) is counted as multiply-adds per stage.
- Squeeze-and-excitation's gate: the paper (Hu et al. 2018) scales channel c by
  s_c = σ(e_c), each gate in (0, 1) on its own; the notes write a softmax,
  s_c = exp(e_c) / Σ_j exp(e_j), whose gates sum to 1 (mean 1/C), so raising one
  lowers the others. Both gates in the same network, trained alike: the gate
  values, the channels left open (s > ½), the accuracy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes import arith
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_images, digit_vectors
from deepnotes.errors import UserError
from deepnotes.experiments.base import Context, Control
from deepnotes.models import densenet, inception, shufflenet, unet
from deepnotes.models.mlp import dense_stack
from deepnotes.models.resnet import BasicBlock, Bottleneck
from deepnotes.models.senet import SqueezeExcitation
from deepnotes.models.unet import UNet, unet_input_side
from deepnotes.registry import EXPERIMENTS, MODELS
from deepnotes.summary import summarize
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory


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
            "sigmoid vs softmax gate",
            "U-Net",
            "ensembling",
            "Inception module",
            "1×1 reductions",
            "factorised convolutions",
            "stem downsampling",
        ],
        formulas=(
            r"r_l = r_{l-1} + d_l (k_l - 1) \, j_{l-1}, \quad j_l = j_{l-1} \, s_l",
            r"c_{\mathrm{in}} \, r + r \, c \, k^2 \quad \text{instead of} \quad c_{\mathrm{in}} "
            r"\, c \, k^2",
            r"\bar p(y \mid x) = \frac{1}{k} \sum_{m=1}^{k} p_m(y \mid x)",
        ),
        code=(
            "deepnotes.arith.receptive_field",
            "deepnotes.models.shufflenet.channel_shuffle",
            "deepnotes.models.senet.SqueezeExcitation.channel_weights",
        ),
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
    ensembles(ctx)
    inception_stem(ctx)
    inception_savings(ctx)
    se_gate_softmax_or_sigmoid(ctx)


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


def fit_digits(model: nn.Module, digits: DataBundle, seed: int, **settings: float) -> nn.Module:
    """Train on the digits with the package's trainer (Adam), seeded: the same seed gives the
    same batches, so two models of one seed differ only in what they are. Returns it in eval."""
    settings = {"batch_size": 64, "epochs": 6, "lr": 3e-3, **settings}
    fit_in_memory(model, ClassificationTask(), digits, seed=seed, **settings)
    return model.eval()


def test_accuracy(model: nn.Module, digits: DataBundle) -> float:
    """Share of the test digits classified right."""
    return ClassificationTask().evaluate(model.eval(), [digits.splits["test"].tensors])["acc"]


MEMBER = {"epochs": 5, "batch_size": 128, "lr": 1e-2}  # a few seconds for all the members


@torch.no_grad()
def ensemble_accuracy(probabilities: Tensor, labels: Tensor) -> float:
    """Accuracy of the ensemble that averages its members' softmax outputs.

    probabilities: (members, N, classes), each member's p_m(y | x); the ensemble
    predicts argmax_y (1/k) Σ_m p_m(y | x).
    """
    return float((probabilities.mean(dim=0).argmax(dim=1) == labels).float().mean())


def mean_ensemble_accuracy(probabilities: Tensor, labels: Tensor, k: int) -> float:
    """The ensemble's accuracy averaged over every choice of k of the members."""
    subsets = itertools.combinations(range(len(probabilities)), k)
    scores = [ensemble_accuracy(probabilities[list(subset)], labels) for subset in subsets]
    return sum(scores) / len(scores)


def ensembles(ctx: Context) -> None:
    """AlexNet's ensembling: small networks of different seeds, their softmax outputs averaged."""
    ctx.quote(81, "Model ensembling")
    digits = digit_vectors(ctx.seed)
    x, labels = digits.splits["test"].tensors
    count, hidden = (8 if ctx.quick else 12), 8
    outputs = []
    for member in range(count):
        seed = 1000 * ctx.seed + member  # another initialisation and another batch order
        torch.manual_seed(seed)
        net = fit_digits(dense_stack([64, hidden, 10], dn.ReLU, dn), digits, seed, **MEMBER)
        with torch.no_grad():
            outputs.append(net(x).softmax(dim=1))  # (N, 10)
    probabilities = torch.stack(outputs)  # (members, N, 10)
    members = [ensemble_accuracy(p[None], labels) for p in probabilities]
    mean_member = sum(members) / count
    sizes = range(1, count + 1)
    ensemble = [mean_ensemble_accuracy(probabilities, labels, k) for k in sizes]
    k = 5
    copies = probabilities[[0] * k]  # the control: one network k times
    copies_gain = ensemble_accuracy(copies, labels) - members[0]

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(sizes, ensemble, marker="o", label="ensemble of k (mean over every k of the members)")
    ax.axhline(mean_member, color="grey", ls="--", label="the mean member")
    ax.scatter([1] * count, members, color="grey", s=12, label="each member")
    ax.plot(sizes, [members[0]] * count, color="C3", ls=":", label="k copies of member 0")
    ax.set(xlabel="networks averaged k", ylabel="test accuracy")
    ax.set_title(f"Ensembles of {count} MLPs 64 → {hidden} → 10 on the digits")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "ensemble-accuracy.png",
        "Averaging the softmax outputs of small networks trained from different seeds "
        "(initialisation and batch order): the members err on different digits, and the "
        "average outvotes each one's mistakes. Copies of one network agree on every mistake.",
    )
    ctx.claim(
        "ensemble-beats-members",
        f"An ensemble of {k} small networks (different seeds, softmax outputs averaged) is more "
        f"accurate than its mean member: gain in test accuracy, averaged over every {k} of "
        f"{count} members",
        ensemble[k - 1] - mean_member,
        ">",
        0.02,
        control=Control(f"{k} copies of the same network", copies_gain),
    )
    ctx.table(
        "Ensembles on the digits (test accuracy)",
        ["k", "ensemble", "mean member", "gain"],
        [
            [n, f"{a:.4f}", f"{mean_member:.4f}", f"{a - mean_member:+.4f}"]
            for n, a in zip(sizes, ensemble, strict=True)
        ],
    )


Conv = tuple[int, int, int | tuple[int, int]]  # (c_in, c_out, kernel)


def basic_convs_cost(convs: list[Conv], side: int) -> tuple[int, int]:
    """Parameters and multiply-adds of conv → BatchNorm → ReLU layers (`BasicConv2d`) on
    side × side maps that their padding keeps, by `arith`'s formulas:

        params = Σ c_in·c_out·k_h·k_w + 2·c_out      (no bias; BatchNorm's γ and β)
        MACs   = Σ c_in·c_out·k_h·k_w · side²
    """
    params = sum(
        arith.conv_params(c_in, c_out, k, bias=False) + 2 * c_out for c_in, c_out, k in convs
    )
    macs = sum(arith.conv_macs(c_in, c_out, k, (side, side)) for c_in, c_out, k in convs)
    return params, macs


def built_cost(build: Callable[[], nn.Module], channels: int, side: int) -> tuple[int, int]:
    """(parameters, multiply-adds) of the module `build()` makes, counted by `deepnotes.summary`
    on a (channels, side, side) input; built on the meta device (shapes, no arithmetic)."""
    with torch.device("meta"):
        summary = summarize(build(), (channels, side, side))
    return summary.total_params, summary.total_macs


def inception_structures(c: int) -> dict[str, tuple[Callable[[], nn.Module], list[Conv]]]:
    """Inception 3a (c input channels) with and without its 1×1 reductions, one 3×3 conv with
    the same outputs, and v3's factorisations on c → c channels: each as (builder, its convs)."""
    c1, r3, c3, r5, c5, pool = inception.INCEPTION_TABLE["3a"]
    out = c1 + c3 + c5 + pool
    return {
        "Inception 3a, 1×1 reductions": (
            lambda: inception.Inception(c, c1, r3, c3, r5, c5, pool),
            [(c, c1, 1), (c, r3, 1), (r3, c3, 3), (c, r5, 1), (r5, c5, 3), (c, pool, 1)],
        ),
        "Inception 3a, no reductions": (
            lambda: inception.InceptionWithoutReductions(c, c1, c3, c5, pool),
            [(c, c1, 1), (c, c3, 3), (c, c5, 3), (c, pool, 1)],
        ),
        f"one 3×3 conv {c} → {out}": (
            lambda: inception.BasicConv2d(c, out, 3, padding=1),
            [(c, out, 3)],
        ),
        "v3 block n = 7 (3a's widths)": (
            lambda: inception.InceptionV3Block(c, c1, r3, c3, r5, c5, pool, n=7),
            [
                (c, c1, 1),
                (c, r3, 1),
                (r3, r3, (1, 7)),
                (r3, c3, (7, 1)),
                (c, r5, 1),
                (r5, c5, 3),
                (c5, c5, 3),
                (c, pool, 1),
            ],
        ),
        "5×5 conv": (lambda: inception.BasicConv2d(c, c, 5, padding=2), [(c, c, 5)]),
        "two 3×3 convs": (
            lambda: nn.Sequential(
                inception.BasicConv2d(c, c, 3, padding=1), inception.BasicConv2d(c, c, 3, padding=1)
            ),
            [(c, c, 3), (c, c, 3)],
        ),
        "7×7 conv": (lambda: inception.BasicConv2d(c, c, 7, padding=3), [(c, c, 7)]),
        "1×7 then 7×1": (
            lambda: inception.factorized_conv(c, c, c, 7),
            [(c, c, (1, 7)), (c, c, (7, 1))],
        ),
    }


def tiny_inception_net(reductions: tuple[int, int] | None = (4, 2)) -> nn.Sequential:
    """For 8×8 digits: a 3×3 conv 1 → 16, one Inception block 16 → 40 (with 1×1 reductions to
    `reductions` channels before its 3×3 and "5×5" branches, or none), a 2×2 max pool and a
    dense layer."""
    block = (
        inception.InceptionWithoutReductions(16, 8, 16, 8, 8)
        if reductions is None
        else inception.Inception(16, 8, reductions[0], 16, reductions[1], 8, 8)
    )
    return nn.Sequential(
        inception.BasicConv2d(1, 16, 3, padding=1),
        block,
        nn.MaxPool2d(2),
        nn.Flatten(),  # (B, 40, 4, 4) → (B, 640)
        nn.Linear(40 * 4 * 4, 10),
    )


def inception_savings(ctx: Context) -> None:
    """Inception's 1×1 reductions and v3's factorisations: counted, checked, trained."""
    ctx.quote(
        110,
        "由于是不同类型的卷积核concat, 能够大大减少由单一卷积核生成导致的大量参数问题",
        english="because kernels of different kinds are concatenated, the many parameters "
        "that a single kind of kernel would need are greatly reduced",
    )
    ctx.quote(
        115,
        "用两个33conv代替55可以减少参数量, 但是具有相同的感受野",
        english="two 3×3 convs instead of a 5×5 have fewer parameters and the same receptive field",
    )
    ctx.quote(116, "V3版本中还用了17 71 conv", english="v3 also uses 1×7 and 7×1 convs")
    channels, side = 192, 28  # module 3a's input: 192 × 28 × 28
    rows, counts = [], {}
    for name, (build, convs) in inception_structures(channels).items():
        formula, measured = basic_convs_cost(convs, side), built_cost(build, channels, side)
        counts[name] = formula
        rows.append([name, *(f"{n:,}" for n in (formula[0], measured[0], formula[1], measured[1]))])
        counts[name, "mismatch"] = formula != measured
    ctx.table(
        f"Parameters and multiply-adds on {channels} × {side} × {side}: arith's formula against "
        'the built module (conv → BatchNorm → ReLU; the "5×5" branch is a 3×3, as in '
        "torchvision)",
        ["structure", "params (formula)", "params (module)", "MACs (formula)", "MACs (summary)"],
        rows,
    )
    names = list(inception_structures(channels))
    ctx.claim(
        "inception-reductions-counted",
        "Inception 3a with and without its 1×1 reductions, and one 3×3 conv with its outputs: "
        "structures whose parameters (built module) or multiply-adds (deepnotes summary) differ "
        "from arith's formula",
        sum(counts[n, "mismatch"] for n in names[:3]),
        "==",
        0,
    )
    ctx.claim(
        "v3-factorisations-counted",
        "v3's factorisations (5×5 → two 3×3, 7×7 → 1×7 + 7×1, the v3 block): structures whose "
        "parameters or multiply-adds differ from arith's formula",
        sum(counts[n, "mismatch"] for n in names[3:]),
        "==",
        0,
    )
    reduced, naive, single = (counts[n] for n in names[:3])
    ctx.derived(
        "reductions-save-parameters",
        "Inception 3a's 1×1 reductions: its parameters without them ÷ with them",
        naive[0] / reduced[0],
        "Σ c_in·c·k² ÷ Σ (c_in·r + r·c·k²), with BatchNorm (arith)",
    )
    ctx.derived(
        "reductions-save-macs",
        "…and its multiply-adds without them ÷ with them",
        naive[1] / reduced[1],
        "the same ratio of weights: every conv runs on 28 × 28 (arith)",
    )
    ctx.derived(
        "module-vs-one-kernel",
        "Inception 3a's parameters ÷ those of one 3×3 conv with its 256 outputs",
        reduced[0] / single[0],
        "(arith)",
    )
    ctx.derived(
        "two-3x3-vs-5x5",
        "Two 3×3 convs' weights ÷ one 5×5's, c → c channels",
        (counts["two 3×3 convs"][1]) / counts["5×5 conv"][1],
        "2 · 3² / 5² = 18/25 (arith's MACs, proportional to the weights)",
    )
    ctx.derived(
        "1x7-7x1-vs-7x7",
        "1×7 then 7×1 convs' weights ÷ one 7×7's, c → c channels",
        counts["1×7 then 7×1"][1] / counts["7×7 conv"][1],
        "2n / n² = 14/49 for n = 7 (arith)",
    )

    # What the saving costs: the same small network with and without the reductions, in pairs
    # that share their seed (the stem's initial weights, the batches)
    digits = digit_images(ctx.seed, side=8)
    pairs = 2
    # each variant: the block's reductions and its training; "stopped early" is the control, a
    # network that does lose a little: 36 steps of batches of 64 (1.8 epochs) instead of 5 epochs
    variants = {
        "with": ((4, 2), {"epochs": 5}),
        "without": (None, {"epochs": 5}),
        "stopped early": ((4, 2), {"epochs": 5, "max_steps": 36}),
    }
    accuracy: dict[str, list[float]] = {name: [] for name in variants}
    for pair in range(pairs):
        seed = 1000 * ctx.seed + pair
        for name, (reductions, training) in variants.items():
            torch.manual_seed(seed)
            trained = fit_digits(tiny_inception_net(reductions), digits, seed, **training)
            accuracy[name].append(test_accuracy(trained, digits))
    mean = {name: sum(a) / pairs for name, a in accuracy.items()}
    parameters = {  # the block's own
        name: built_cost(lambda r=variants[name][0]: tiny_inception_net(r)[1], 16, 8)[0]
        for name in ("with", "without")
    }
    ctx.claim(
        "reductions-cost-little",
        "On the digits the 1×1 reductions cost almost nothing: test accuracy of a small "
        f"network with one Inception block without them minus with them (mean of {pairs} "
        "pairs, each of one seed: same stem weights, same batches; the block with reductions "
        f"to 4 and 2 channels has {parameters['with']:,} parameters, without "
        f"{parameters['without']:,})",
        mean["without"] - mean["with"],
        "<",
        0.015,
        control=Control(
            "the same difference against the network with reductions stopped after 36 steps "
            "instead of 5 epochs: a small cost the comparison must see",
            mean["without"] - mean["stopped early"],
        ),
    )
    ctx.note(
        f"Inception on the digits: {mean['with']:.4f} with the 1×1 reductions, "
        f"{mean['without']:.4f} without them (mean of {pairs} seeds); on so easy a task the "
        f"saving costs no accuracy that shows. Stopped after 36 steps: {mean['stopped early']:.4f}."
    )


STAGES = {
    "conv1": "stem",
    "maxpool1": "stem",
    "conv2": "stem",
    "conv3": "stem",
    "maxpool2": "stem",
    "maxpool3": "stage 4",
    "maxpool4": "stage 5",
}


def stage_of(layer: str) -> str:
    """GoogLeNet's stage of a summary row: stem, stage 3/4/5 (Inception modules), head."""
    top = layer.split(".")[0]
    if top.startswith("inception"):
        return f"stage {top[len('inception')]}"
    return STAGES.get(top, "head")


def stem_side(side: int, fast: bool) -> int:
    """The side of the map GoogLeNet's stem hands to Inception 3a, by `arith`'s output sizes:
    the fast stem's 7×7/2 conv and 3×3/2 pool (or, without them, a 3×3 stride-1 conv), then
    1×1 and 3×3 convs that keep the side and a 3×3/2 pool; the pools round up (ceil_mode)."""
    if fast:
        side = arith.conv_output_size(side, 7, s=2, p=3)
        side = arith.pool_output_size(side, 3, 2, ceil_mode=True)
    return arith.pool_output_size(side, 3, 2, ceil_mode=True)


def inception_stem(ctx: Context) -> None:
    """GoogLeNet's stem shrinks 224 × 224 to 28 × 28 before the first Inception module."""
    ctx.quote(
        112,
        "reduce the dimensionality reasonably quickly",
    )
    side = 224
    summaries = {}
    for stem in ("imagenet", "small"):
        with torch.device("meta"):
            net = inception.GoogLeNet(num_classes=1000, stem=stem)
            summaries[stem] = summarize(net, (3, side, side))
    stages = ["stem", "stage 3", "stage 4", "stage 5", "head"]
    macs = {
        stem: [sum(r.macs for r in s.rows if stage_of(r.name) == g) for g in stages]
        for stem, s in summaries.items()
    }
    entering = {
        stem: next(r.output_shape[-1] for r in s.rows if r.name == "maxpool2")
        for stem, s in summaries.items()
    }
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.4
    for offset, (stem, label) in zip(
        (-width / 2, width / 2),
        (
            ("imagenet", "7×7/2 conv + 3×3/2 pool first (GoogLeNet)"),
            ("small", "3×3 stride-1 conv, no first pool"),
        ),
        strict=True,
    ):
        ax.bar(
            [i + offset for i in range(len(stages))],
            [m / 1e9 for m in macs[stem]],
            width,
            label=f"{label}: {entering[stem]}×{entering[stem]} into 3a",
        )
    ax.set_xticks(range(len(stages)), stages)
    ax.set(ylabel="GMACs", yscale="log")
    ax.set_title(f"GoogLeNet at {side}×{side}: multiply-adds per stage")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ctx.figure(
        fig,
        "googlenet-macs-per-stage.png",
        "Counted by `deepnotes summary`. The fast stem divides the side by 8 before the first "
        "Inception module, so every module runs on 64× fewer pixels than the input; without "
        "its stride and first pool the modules run on 4× the side, 16× the pixels and the "
        "multiply-adds. Each later stage halves the side and about doubles the channels, so "
        "the stages cost about alike.",
    )
    inception_macs = {stem: sum(m[1:4]) for stem, m in macs.items()}
    ctx.claim(
        "stem-hands-28x28",
        f"GoogLeNet's stem turns {side}×{side} into {stem_side(side, True)}×"
        f"{stem_side(side, True)} (arith) before Inception 3a: the side measured on the built "
        "network",
        entering["imagenet"],
        "==",
        stem_side(side, fast=True),
        control=Control("the stem without its stride and first pool", entering["small"]),
    )
    slow, fast = stem_side(side, fast=False), stem_side(side, fast=True)
    ctx.claim(
        "stem-saves-module-macs",
        f"…so the Inception modules cost (side {slow} ÷ side {fast})² = "
        f"{(slow / fast) ** 2:g}× less than without the stem's fast downsampling (ratio of "
        "stage 3–5 multiply-adds, summary)",
        inception_macs["small"] / inception_macs["imagenet"],
        "==",
        (slow / fast) ** 2,
    )
    ctx.derived(
        "stem-share-of-macs",
        "The fast stem's share of GoogLeNet's multiply-adds at 224×224",
        macs["imagenet"][0] / sum(macs["imagenet"]),
        "the stem rows of the summary ÷ all of them",
    )
    ctx.table(
        f"GoogLeNet's multiply-adds per stage at {side}×{side} (GMACs)",
        ["stem", *stages],
        [[stem, *(f"{m / 1e9:.3f}" for m in macs[stem])] for stem in macs],
    )


class ChannelSoftmax(nn.Module):
    """The notes' gate: s_c = scale · exp(e_c) / Σ_j exp(e_j) over the channels of (B, C, 1, 1)
    logits; the gates sum to `scale` (1: mean 1/C; C: mean 1)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.softmax = dn.Softmax(dim=1)

    def forward(self, logits: Tensor) -> Tensor:
        return self.scale * self.softmax(logits)


def se_digit_net(gate: nn.Module, channels: int = 16) -> nn.Sequential:
    """For 8×8 digits: a 3×3 conv 1 → C, ReLU, squeeze-and-excitation (r = 4) with `gate` as
    its scale activation, a 2×2 max pool and a dense layer."""
    se = SqueezeExcitation(channels, reduction=4, impl="deepnotes")
    se.scale_activation = gate
    return nn.Sequential(
        dn.Conv2d(1, channels, 3, padding=1),
        dn.ReLU(),
        se,
        dn.MaxPool2d(2),
        dn.Flatten(),  # (B, C, 4, 4) → (B, 16·C)
        dn.Linear(channels * 16, 10),
    )


def se_gate_softmax_or_sigmoid(ctx: Context) -> None:
    """SE's gate: the paper's sigmoid against the notes' softmax, in the same network."""
    ctx.quote(
        190, "Finally you use those numbers and the softmax over them to rewrite your channels."
    )
    channels = 16
    digits = digit_images(ctx.seed, side=8)
    x = digits.splits["test"].tensors[0]
    gates_of = {
        "sigmoid (the paper)": dn.Sigmoid(),
        "softmax (the notes)": ChannelSoftmax(),
        f"{channels} × softmax": ChannelSoftmax(channels),
    }
    gates, accuracy = {}, {}
    for name, gate in gates_of.items():
        torch.manual_seed(ctx.seed)  # the same initial weights for every gate
        net = fit_digits(se_digit_net(gate, channels), digits, ctx.seed)
        accuracy[name] = test_accuracy(net, digits)
        with torch.no_grad():
            gates[name] = net[2].channel_weights(net[1](net[0](x))).flatten(1)  # (N, C)
    sigmoid, softmax, scaled = gates_of
    open_channels = {name: float((g > 0.5).sum(dim=1).float().mean()) for name, g in gates.items()}

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name in (sigmoid, softmax):
        left.hist(gates[name].flatten().numpy(), bins=50, range=(0, 1), alpha=0.6, label=name)
    left.axvline(1 / channels, color="k", ls=":", label=f"1/C = 1/{channels}")
    left.set(xlabel="gate s_c", ylabel="(image, channel) pairs", yscale="log")
    left.set_title("Gate values on the test digits")
    left.legend(fontsize=8)
    for name, g in gates.items():
        mean_gate = g.mean(dim=0).sort(descending=True).values / (channels if name == scaled else 1)
        right.plot(
            range(channels),
            mean_gate.numpy(),
            marker=".",
            label=f"{name}" + (" (÷ C)" if name == scaled else ""),
        )
    right.axhline(0.5, color="grey", ls="--", lw=0.8)
    right.set(
        xlabel="channel (by mean gate)", ylabel="mean gate over the test digits", yscale="log"
    )
    right.set_title("Each channel's mean gate")
    right.legend(fontsize=8)
    ctx.figure(
        fig,
        "se-gates.png",
        "The same network trained with each gate (same initial weights, same batches). The "
        "sigmoid gates each channel on its own and leaves most of them open; the softmax "
        "makes them share one unit, so at most one channel can pass more than half of itself "
        "and the mean gate is 1/C.",
    )
    ctx.derived(
        "softmax-gates-sum-to-1",
        "The softmax gates of each test digit sum to (mean measured)",
        float(gates[softmax].sum(dim=1).mean()),
        "Σ_c exp(e_c) / Σ_j exp(e_j) = 1: the mean gate is 1/C, so raising one lowers others",
    )
    ctx.note(
        f"Channels per test digit with a gate above ½, of {channels}: "
        + ", ".join(f"{name} {count:.2f}" for name, count in open_channels.items())
        + ". Shown, not claimed: the softmax's count is at most 1 by construction (its gates "
        f"sum to 1), and {channels} × softmax, whose gates compete just as much, is free to "
        "leave most open: the count tells the gates' scale more than whether they compete."
    )
    ctx.claim(
        "softmax-gate-costs-accuracy",
        "The notes say softmax; measured: trained alike, the softmax gate loses accuracy "
        "against the paper's sigmoid (test accuracy, sigmoid minus softmax, paired)",
        accuracy[sigmoid] - accuracy[softmax],
        ">",
        0.03,
        control=Control(
            f"sigmoid minus {channels} × softmax (still competing, mean gate 1): the loss is "
            "the 1/C scale",
            accuracy[sigmoid] - accuracy[scaled],
        ),
    )
    ctx.table(
        "Squeeze-and-excitation's gate on the digits",
        ["gate", "test accuracy", "mean gate", "channels with gate > ½", "largest gate"],
        [
            [
                name,
                f"{accuracy[name]:.4f}",
                f"{float(g.mean()):.4f}",
                f"{open_channels[name]:.2f}",
                f"{float(g.max()):.3f}",
            ]
            for name, g in gates.items()
        ],
    )
