"""Activations (notes, week 4): each one drawn with its derivative, and the notes' claims measured.

The gallery draws every activation of `deepnotes.nn.activations` from the module
itself, its derivative taken by autograd. The claims:

- a stack of linear layers is one linear map: W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂),
  so depth without a non-linearity adds nothing;
- sigmoid saturates: σ'(x) = σ(x)(1 − σ(x)) is 1/4 at 0 and vanishes away from it;
- ReLU is scale equivariant: ReLU(αx) = α·ReLU(x) for α > 0 (so is PReLU, LeakyReLU);
- softplus_β(x) = log(1 + e^{βx})/β approaches ReLU as β grows: the largest gap,
  at x = 0, is log 2 / β.

What each activation does to the signal of a deep stack (He's initialisation, N(0, 1)
inputs), after the notes' ReLU and ELU paragraphs (week 4):

- ELU(x) = x for x > 0, α(e^{x} − 1) otherwise, is negative below 0, so its mean output is
  nearer zero than ReLU's: for z ~ N(0, s²), E[ReLU(z)] = s/√(2π) while ELU adds
  α(e^{s²/2}Φ(−s) − 1/2) < 0 (Clevert, Unterthiner & Hochreiter, ICLR 2016);
- ReLU is sparse: about half of its outputs are exactly 0 (Glorot, Bordes & Bengio,
  "Deep Sparse Rectifier Neural Networks", AISTATS 2011);
- ReLU is unbounded: its outputs grow in proportion to the input's scale, tanh's stay
  within (−1, 1);
- ReLU is cheap: max(0, x) is one comparison, tanh and sigmoid an exponential and a
  division; the CPU time per element of each is measured in the same run, the three
  taking turns, and compared by the median of their ratios.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Context, Control
from deepnotes.figures import activation_gallery
from deepnotes.nn import activations
from deepnotes.nn.linear import Linear
from deepnotes.registry import EXPERIMENTS


def linear_stack_collapse(
    depth: int, width: int, seed: int, between: torch.nn.Module | None = None
) -> float:
    """Relative difference between a stack of `depth` Linear layers (with `between` after each
    but the last, if given) and the single product map of their weights and biases."""
    torch.manual_seed(seed)
    layers = [Linear(width, width).double() for _ in range(depth)]
    weight = torch.eye(width, dtype=torch.float64)
    bias = torch.zeros(width, dtype=torch.float64)
    for layer in layers:  # (W_k … W_1) and the accumulated bias
        weight = layer.weight @ weight
        bias = layer.weight @ bias + layer.bias
    x = torch.randn(256, width, dtype=torch.float64)
    stacked = x
    for i, layer in enumerate(layers):
        stacked = layer(stacked)
        if between is not None and i < depth - 1:
            stacked = between(stacked)
    with torch.no_grad():
        collapsed = x @ weight.T + bias
        return float((stacked - collapsed).norm() / collapsed.norm())


@EXPERIMENTS.register(
    "activations",
    ExperimentCard(
        title="Activations: the gallery, saturation, scale equivariance, the linear collapse, "
        "and what each does to a deep stack's signal and costs",
        topic="5. Activations",
        concepts=[
            "sigmoid",
            "tanh",
            "ReLU",
            "softplus",
            "ELU",
            "linear collapse",
            "sparsity",
            "unbounded activations",
            "cost per element",
        ],
    ),
)
def run(ctx: Context) -> None:
    ctx.figure(
        activation_gallery(),
        "gallery.png",
        "Every activation of deepnotes.nn with its derivative (autograd).",
    )

    gap = linear_stack_collapse(depth=6, width=16, seed=ctx.seed)
    bent = linear_stack_collapse(depth=6, width=16, seed=ctx.seed, between=activations.ReLU())
    ctx.claim(
        "linear-collapse",
        "Six stacked Linear layers equal one linear map (relative difference to the product map)",
        gap,
        "<=",
        1e-12,
        control=Control("the same layers with a ReLU between them", bent),
    )

    sigmoid = activations.Sigmoid().double()
    x = torch.tensor([0.0, 5.0, 10.0], dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(sigmoid(x).sum(), x)
    ctx.claim(
        "sigmoid-slope-at-0",
        "σ′(0) = 1/4, the largest slope sigmoid has",
        float(slope[0]),
        "==",
        0.25,
    )
    ctx.claim(
        "sigmoid-saturates",
        "Sigmoid saturates: σ′(10) is below 1e-4 (gradients vanish)",
        float(slope[2]),
        "<",
        1e-4,
    )

    relu = activations.ReLU()
    z = torch.randn(10_000, dtype=torch.float64)
    alphas = torch.tensor([0.1, 3.0, 1e3], dtype=torch.float64)

    def equivariance_gap(f: torch.nn.Module, scales: torch.Tensor) -> float:
        """max over α of max |f(αz) − α·f(z)|."""
        return max(float((f(a * z) - a * f(z)).abs().max()) for a in scales)

    relu_gap, sigmoid_gap = equivariance_gap(relu, alphas), equivariance_gap(sigmoid, alphas)
    ctx.claim(
        "relu-scale-equivariant",
        "ReLU(αx) = α·ReLU(x) for α > 0 (largest difference over α ∈ {0.1, 3, 1000})",
        relu_gap,
        "<=",
        1e-12,
        control=Control("sigmoid, the same measurement", sigmoid_gap),
    )
    three = torch.tensor([3.0], dtype=torch.float64)
    ctx.claim(
        "sigmoid-not-equivariant",
        "…which sigmoid is not (largest |σ(3x) − 3σ(x)|)",
        equivariance_gap(sigmoid, three),
        ">",
        0.5,
        control=Control("ReLU, the same measurement", equivariance_gap(relu, three)),
    )

    grid = torch.linspace(-5, 5, 2001, dtype=torch.float64)
    betas = [1.0, 10.0, 100.0]
    gaps = [float((activations.Softplus(beta=b)(grid) - relu(grid)).abs().max()) for b in betas]
    ctx.table(
        "Softplus → ReLU",
        ["β", "max |softplus_β − ReLU|", "log 2 / β"],
        [[b, g, math.log(2) / b] for b, g in zip(betas, gaps, strict=True)],
    )
    ctx.claim(
        "softplus-approaches-relu",
        "Softplus approaches ReLU as β grows: its largest gap at β = 100 (log 2/100 ≈ 0.0069)",
        gaps[-1],
        "<",
        0.01,
    )
    ctx.claim(
        "softplus-gap-shrinks",
        "…and the gap shrinks tenfold per tenfold β (gap at β=1 / gap at β=10)",
        gaps[0] / gaps[1],
        ">=",
        9.9,
    )
    signal_statistics(ctx)
    cost_per_element(ctx)


def hidden_outputs(activation: nn.Module, x: Tensor, depth: int, seed: int) -> list[Tensor]:
    """The output of every layer of `depth` × [Linear(width, width), `activation`], width =
    x.shape[1], with He's initialisation (W ~ N(0, 2/width), b = 0), for the inputs `x`."""
    torch.manual_seed(seed)
    outputs, h = [], x
    with torch.no_grad():
        for _ in range(depth):
            layer = Linear(x.shape[1], x.shape[1])
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
            h = activation(layer(h))
            outputs.append(h)
    return outputs


def signal_statistics(ctx: Context) -> None:
    """ELU's mean nearer zero than ReLU's, ReLU's exact zeros, ReLU unbounded against tanh."""
    ctx.quote(
        193,
        "One difference is that this one here can become negative, unlike the RELu. That may "
        "have an advantage but very much depends on the application it is used for. Allows the "
        "network to make the average of the output zero, which can help convergence.",
    )
    depth, seed = 8, ctx.seed
    x = torch.randn(1024, 256, generator=torch.Generator().manual_seed(seed))  # (N, width)
    kinds = {
        "ReLU": activations.ReLU(),
        "ELU": activations.ELU(),
        "Softplus": activations.Softplus(),
        "LeakyReLU": activations.LeakyReLU(),
        "tanh": activations.Tanh(),
    }
    outputs = {name: hidden_outputs(f, x, depth, seed) for name, f in kinds.items()}
    # the mean in units of the spread (mean/std): He's gain, made for ReLU, lets ELU's outputs
    # grow wider layer by layer, which would shift the raw mean for a reason other than its sign
    off_centre = {name: [float(h.mean() / h.std()) for h in hs] for name, hs in outputs.items()}

    def off_centre_ratio(name: str) -> float:
        """`name`'s |mean|/std over ReLU's, each averaged over the layers."""
        return float(np.mean(np.abs(off_centre[name])) / np.mean(np.abs(off_centre["ReLU"])))

    ctx.claim(
        "elu-mean-nearer-zero",
        f"ELU's mean output is nearer zero than ReLU's: under 0.6 of it, in units of the "
        f"outputs' spread (|mean|/std averaged over {depth} He-initialised layers on N(0, 1) "
        "inputs, ELU / ReLU)",
        off_centre_ratio("ELU"),
        "<",
        0.6,
        control=Control(
            "Softplus, smooth like ELU but never negative", off_centre_ratio("Softplus")
        ),
    )

    ctx.quote(
        193,
        "We would ideally want a few neurons in the network to not activate and thereby making "
        "the activations sparse and efficient. RELU allows this.",
    )

    def zero_share(name: str) -> float:
        """Share of the hidden outputs (all layers, units and inputs) that are exactly 0."""
        return float(torch.cat([h.flatten() for h in outputs[name]]).eq(0).float().mean())

    ctx.claim(
        "relu-sparse",
        "ReLU's outputs are sparse: at least 40% of them are exactly 0 (share of exact zeros "
        "over the same layers and inputs)",
        zero_share("ReLU"),
        ">=",
        0.4,
        control=Control("LeakyReLU, which has no flat piece", zero_share("LeakyReLU")),
    )

    ctx.quote(
        193,
        "It is not bound and the range of ReLu is [0, inf). This means it can blow up the "
        "activation.",
    )
    scales = [1.0, 10.0, 100.0, 1000.0]
    largest = {  # the largest output of the last layer, for the inputs scaled by s
        name: [
            float(hidden_outputs(kinds[name], s * x, depth, seed)[-1].abs().max()) for s in scales
        ]
        for name in ("ReLU", "tanh")
    }
    growth = {name: values[-1] / values[0] for name, values in largest.items()}
    ctx.claim(
        "relu-unbounded",
        f"ReLU's outputs grow with the input: the largest output of the last layer grows over "
        f"100-fold when the inputs grow {scales[-1] / scales[0]:.0f}-fold",
        growth["ReLU"],
        ">",
        100,
        control=Control("tanh, bounded by 1", growth["tanh"]),
    )

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.6))
    layers = range(1, depth + 1)
    for name in ("ReLU", "ELU", "Softplus", "tanh"):
        left.plot(layers, off_centre[name], "o-", label=name)
    left.axhline(0, color="0.5", lw=0.8)
    left.set(xlabel="layer", ylabel="mean / std of the outputs", title="How far off centre")
    left.legend()
    for name in ("ReLU", "LeakyReLU", "ELU"):
        middle.plot(
            layers, [float(h.eq(0).float().mean()) for h in outputs[name]], "o-", label=name
        )
    middle.set(
        xlabel="layer", ylabel="share of outputs exactly 0", title="Sparsity", ylim=(-0.05, 1)
    )
    middle.legend()
    for name, values in largest.items():
        right.plot(scales, values, "o-", label=name)
    right.set(
        xscale="log",
        yscale="log",
        xlabel="input scale s",
        ylabel="largest output, last layer",
        title="Bounded or not",
    )
    right.legend()
    for ax in (left, middle, right):
        ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "signal-statistics.png",
        f"A stack of {depth} Linear layers (256 units, He's initialisation) with each "
        "activation, on N(0, 1) inputs. ELU's negative part pulls the mean towards 0; ReLU sets "
        "about half of the outputs to exactly 0; scaling the inputs by s scales ReLU's outputs "
        "by s, while tanh's stay below 1.",
    )


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread for the block, so that the process's CPU time is the work done."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def time_per_element(
    functions: dict[str, Callable[[Tensor], Tensor]], x: Tensor, rounds: int, calls: int
) -> dict[str, np.ndarray]:
    """CPU nanoseconds per element of each function on `x`: `rounds` measurements each, the
    functions taking turns within a round (a slow moment of the machine falls on all of them
    alike); one measurement is the mean over `calls` calls. CPU time, not wall time, so that
    other processes on the machine do not count."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    with one_thread():
        for _ in range(rounds):
            for name, f in functions.items():
                start = time.process_time_ns()
                for _ in range(calls):
                    f(x)
                times[name].append((time.process_time_ns() - start) / calls / x.numel())
    return {name: np.array(values) for name, values in times.items()}


def cost_per_element(ctx: Context) -> None:
    """ReLU's cost against tanh's and sigmoid's: CPU time per element, medians of paired ratios."""
    ctx.quote(
        193,
        "ReLu is less computationally expensive than tanh and sigmoid because it involves "
        "simpler mathematical operations.",
    )
    x = torch.randn(2**16, generator=torch.Generator().manual_seed(ctx.seed))  # 256 KiB
    rounds = 60 if ctx.quick else 300
    ours = {"ReLU": activations.relu, "tanh": activations.tanh, "sigmoid": activations.sigmoid}
    # ReLU timed twice: the ratio of its two timings is the noise of the measurement
    functions = {**ours, "ReLU, again": activations.relu}
    functions |= {f"torch.{f.__name__}": f for f in (torch.relu, torch.tanh, torch.sigmoid)}
    times = time_per_element(functions, x, rounds, calls=10)

    def ratio(name: str, base: str = "ReLU") -> float:
        """Median over the rounds of time(name) / time(base) in the same round."""
        return float(np.median(times[name] / times[base]))

    ctx.table(
        f"CPU time per element, {x.numel():,} float32 values, one thread "
        f"(median of {rounds} rounds in which the functions take turns)",
        ["function", "ns per element", "÷ ReLU's (median of the rounds' ratios)"],
        [
            [name, f"{np.median(t):.3f}", f"{ratio(name):.2f}"]
            for name, t in times.items()
            if not name.startswith("torch.")
        ]
        + [
            [name, f"{np.median(t):.3f}", f"{ratio(name, 'torch.relu'):.2f} (÷ torch.relu)"]
            for name, t in times.items()
            if name.startswith("torch.")
        ],
    )
    ctx.claim(
        "relu-cheapest",
        "ReLU costs under half as much as tanh and sigmoid (the smaller of the two median "
        "time ratios tanh/ReLU and sigmoid/ReLU, deepnotes.nn's functions, same run)",
        min(ratio("tanh"), ratio("sigmoid")),
        ">=",
        2.0,
        control=Control("ReLU against itself timed again", ratio("ReLU, again")),
    )
    ctx.note(
        "torch's own kernels, in the same table, are timed without a verdict: a fused tanh or "
        "sigmoid costs "
        f"{ratio('torch.tanh', 'torch.relu'):.1f}× and {ratio('torch.sigmoid', 'torch.relu'):.1f}× "
        "torch.relu here, a ratio that depends on the CPU's vector instructions; deepnotes.nn "
        "writes tanh and sigmoid as four or five passes over the tensor and ReLU as one."
    )
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = list(times)
    ax.boxplot([times[n] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
    ax.set(ylabel="CPU ns per element", title="Cost of an activation, forward pass")
    ax.grid(alpha=0.3, axis="y")
    ctx.figure(
        fig,
        "cost.png",
        f"Each box: {rounds} rounds in which the functions took turns on the same tensor "
        "(quartiles and whiskers, outliers hidden). ReLU is one comparison per element.",
    )
