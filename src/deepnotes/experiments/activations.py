"""Activations (notes, week 4): each one drawn with its derivative, and the notes' claims measured.

The gallery draws every activation of `deepnotes.nn.activations` from the module
itself, its derivative taken by autograd. The claims:

- a stack of linear layers is one linear map: W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂),
  so depth without a non-linearity adds nothing;
- sigmoid saturates: σ'(x) = σ(x)(1 − σ(x)) is 1/4 at 0 and vanishes away from it;
- ReLU is scale equivariant: ReLU(αx) = α·ReLU(x) for α > 0 (so is PReLU, LeakyReLU);
- softplus_β(x) = log(1 + e^{βx})/β approaches ReLU as β grows: the largest gap,
  at x = 0, is log 2 / β.

What each activation does to the signal, in a deep stack (He's initialisation, N(0, 1)
inputs) and in an MLP trained on the digits, after the notes' ReLU and ELU paragraphs
(week 4):

- ELU(x) = x for x > 0, α(e^{x} − 1) otherwise, is negative below 0, so its mean output is
  nearer zero than ReLU's: for z ~ N(0, s²), E[ReLU(z)] = s/√(2π) while ELU adds
  α(e^{s²/2}Φ(−s) − 1/2) < 0 (Clevert, Unterthiner & Hochreiter, ICLR 2016);
- ReLU is sparse: many of its outputs are exactly 0 (Glorot, Bordes & Bengio, "Deep
  Sparse Rectifier Neural Networks", AISTATS 2011), measured on an MLP trained on the
  digits (a fresh draw would give one half by the weights' symmetry alone);
- ReLU is unbounded: in that trained MLP its outputs grow with the input's scale (the
  learned biases matter less and less), tanh's stay within (−1, 1);
- ReLU is cheap: max(0, x) is one comparison, tanh and sigmoid an exponential and a
  division; the CPU time per element of torch's kernels is measured in the same run, the
  three taking turns, and compared by the median of their ratios (deepnotes.nn's, written
  as several passes for tanh and sigmoid, are timed beside them).
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

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context, Control
from deepnotes.figures import activation_gallery
from deepnotes.models.mlp import dense_stack, he, initialize_linears
from deepnotes.nn import activations
from deepnotes.nn.linear import Linear
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory


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
        formulas=(
            r"\sigma'(x) = \sigma(x)\left(1 - \sigma(x)\right) \le \frac{1}{4}",
            r"\operatorname{ReLU}(\alpha x) = \alpha \operatorname{ReLU}(x) \quad (\alpha > 0)",
            r"\operatorname{softplus}_\beta(x) = \frac{1}{\beta} \log\left(1 + "
            r"e^{\beta x}\right), \quad \max_x \left(\operatorname{softplus}_\beta(x) - "
            r"\operatorname{ReLU}(x)\right) = \frac{\log 2}{\beta}",
        ),
        code=(
            "deepnotes.nn.activations.sigmoid_formula",
            "deepnotes.nn.activations.softplus_formula",
            "deepnotes.nn.activations.elu_formula",
        ),
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
    signal_statistics(ctx, digit_vectors(ctx.seed))
    cost_per_element(ctx)


def hidden_outputs(activation: nn.Module, x: Tensor, depth: int, seed: int) -> list[Tensor]:
    """The output of every layer of `depth` × [Linear(width, width), `activation`], width =
    x.shape[1], with He's initialisation (W ~ N(0, 2/width), b = 0), for the inputs `x`."""
    torch.manual_seed(seed)
    width = x.shape[1]
    layers = initialize_linears(nn.Sequential(*(Linear(width, width) for _ in range(depth))), he)
    outputs, h = [], x
    with torch.no_grad():
        for layer in layers:
            h = activation(layer(h))
            outputs.append(h)
    return outputs


def trained_on_digits(
    activation: Callable[[], nn.Module], digits: DataBundle, seed: int, epochs: int
) -> nn.Sequential:
    """A 64 → 64 → 64 → 10 MLP with `activation` (torch's initialisation, biases included)
    trained on the digits: SGD, momentum 0.9, lr 0.05, batches of 64."""
    torch.manual_seed(seed)
    model = dense_stack([64, 64, 64, 10], activation, dn)
    settings = {"optimizer": "sgd", "momentum": 0.9, "lr": 0.05, "seed": seed}
    fit_in_memory(model, ClassificationTask(), digits, batch_size=64, epochs=epochs, **settings)
    return model.eval()


def activation_outputs(model: nn.Sequential, x: Tensor) -> list[Tensor]:
    """The output (N, units) of every hidden layer's activation of `model` on `x`."""
    outputs, h = [], x
    with torch.no_grad():
        for module in model:
            h = module(h)
            if not isinstance(module, Linear):
                outputs.append(h)
    return outputs


def signal_statistics(ctx: Context, digits: DataBundle) -> None:
    """ELU's mean nearer zero than ReLU's (a fresh He stack); ReLU's exact zeros and ReLU
    unbounded against tanh (networks trained on the digits)."""
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
    # trained networks, so that what is measured is what training made of the weights and
    # biases, not the symmetry of a fresh draw (half of N(0, s²) is below 0)
    epochs = 10 if ctx.quick else 30
    trained = {
        name: trained_on_digits(f, digits, seed, epochs)
        for name, f in (
            ("ReLU", activations.ReLU),
            ("LeakyReLU", activations.LeakyReLU),
            ("tanh", activations.Tanh),
        )
    }
    x_test, _ = digits.split("test").tensors
    hidden = {name: activation_outputs(model, x_test) for name, model in trained.items()}

    def zero_share(name: str) -> float:
        """Share of the trained network's hidden outputs on the test digits (all layers,
        units and images) that are exactly 0."""
        return float(torch.cat([h.flatten() for h in hidden[name]]).eq(0).float().mean())

    ctx.claim(
        "relu-sparse",
        f"ReLU's outputs are sparse: in a 64 → 64 → 64 → 10 MLP trained {epochs} epochs on "
        "the digits, at least 30% of its hidden outputs on the test digits are exactly 0 "
        "(share of exact zeros, both hidden layers)",
        zero_share("ReLU"),
        ">=",
        0.3,
        control=Control("LeakyReLU, trained alike: no flat piece", zero_share("LeakyReLU")),
    )

    ctx.quote(
        193,
        "It is not bound and the range of ReLu is [0, inf). This means it can blow up the "
        "activation.",
    )
    scales = [1.0, 10.0, 100.0, 1000.0]
    largest = {  # the largest output of the last hidden layer, for the test digits scaled by s
        name: [float(activation_outputs(trained[name], s * x_test)[-1].abs().max()) for s in scales]
        for name in ("ReLU", "tanh")
    }
    growth = {name: values[-1] / values[0] for name, values in largest.items()}
    ctx.claim(
        "relu-unbounded",
        "ReLU's outputs grow with the input: in the trained ReLU MLP (biases learned, so not "
        "ReLU(αx) = α·ReLU(x) alone), the largest output of the last hidden layer grows over "
        f"100-fold when the test digits are scaled {scales[-1] / scales[0]:.0f}-fold",
        growth["ReLU"],
        ">",
        100,
        control=Control("the tanh MLP, trained alike, bounded by 1", growth["tanh"]),
    )

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.6))
    layers = range(1, depth + 1)
    for name in ("ReLU", "ELU", "Softplus", "tanh"):
        left.plot(layers, off_centre[name], "o-", label=name)
    left.axhline(0, color="0.5", lw=0.8)
    left.set(xlabel="layer", ylabel="mean / std of the outputs", title="How far off centre")
    left.legend()
    for name in ("ReLU", "LeakyReLU", "tanh"):
        shares = [float(h.eq(0).float().mean()) for h in hidden[name]]
        middle.plot(range(1, len(shares) + 1), shares, "o-", label=name)
    middle.set(
        xlabel="hidden layer (trained)",
        ylabel="share of outputs exactly 0",
        title="Sparsity, test digits",
        ylim=(-0.05, 1),
    )
    middle.legend()
    for name, values in largest.items():
        right.plot(scales, values, "o-", label=name)
    right.set(
        xscale="log",
        yscale="log",
        xlabel="input scale s",
        ylabel="largest output, last hidden layer",
        title="Bounded or not (trained)",
    )
    right.legend()
    for ax in (left, middle, right):
        ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "signal-statistics.png",
        f"Left: a stack of {depth} Linear layers (256 units, He's initialisation) with each "
        "activation, on N(0, 1) inputs; ELU's negative part pulls the mean towards 0. Middle "
        f"and right: 64 → 64 → 64 → 10 MLPs trained {epochs} epochs on the digits, on the "
        "test digits. ReLU leaves many of its outputs exactly 0; scaling the inputs by s "
        "scales ReLU's outputs almost by s (the learned biases stay), while tanh's stay "
        "below 1.",
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
    """ReLU's cost against tanh's and sigmoid's: CPU time per element of torch's kernels,
    medians of paired ratios."""
    ctx.quote(
        193,
        "ReLu is less computationally expensive than tanh and sigmoid because it involves "
        "simpler mathematical operations.",
    )
    x = torch.randn(2**16, generator=torch.Generator().manual_seed(ctx.seed))  # 256 KiB
    rounds = 200 if ctx.quick else 1000
    # torch's kernels: one fused pass each, so that the ratio is the operations' cost, not
    # the number of passes; torch.relu timed twice, the ratio of its two timings the noise
    kernels = {"torch.relu": torch.relu, "torch.tanh": torch.tanh, "torch.sigmoid": torch.sigmoid}
    functions = {**kernels, "torch.relu, again": torch.relu}
    # deepnotes.nn's, shown beside them: tanh and sigmoid written as several passes
    functions |= {
        "deepnotes.nn relu": activations.relu,
        "deepnotes.nn tanh": activations.tanh,
        "deepnotes.nn sigmoid": activations.sigmoid,
    }
    times = time_per_element(functions, x, rounds, calls=10)

    def ratio(name: str, base: str = "torch.relu") -> float:
        """Median over the rounds of time(name) / time(base) in the same round."""
        return float(np.median(times[name] / times[base]))

    ctx.table(
        f"CPU time per element, {x.numel():,} float32 values, one thread "
        f"(median of {rounds} rounds in which the functions take turns)",
        ["function", "ns per element", "÷ torch.relu's (median of the rounds' ratios)"],
        [[name, f"{np.median(t):.3f}", f"{ratio(name):.2f}"] for name, t in times.items()],
    )
    ctx.claim(
        "relu-cheapest",
        "ReLU is the cheapest of the three: torch's own kernel for it costs under 2/3 of "
        "torch.tanh's and torch.sigmoid's (the smaller of the two median time ratios "
        "tanh/ReLU and sigmoid/ReLU, one thread, same run, over 1.5)",
        min(ratio("torch.tanh"), ratio("torch.sigmoid")),
        ">=",
        1.5,
        control=Control("torch.relu against itself timed again", ratio("torch.relu, again")),
    )
    ctx.note(
        "deepnotes.nn, in the same table, is timed without a verdict: it writes tanh and "
        "sigmoid as several passes over the tensor and ReLU as one, so its ratios "
        f"({ratio('deepnotes.nn tanh', 'deepnotes.nn relu'):.1f}× and "
        f"{ratio('deepnotes.nn sigmoid', 'deepnotes.nn relu'):.1f}× its ReLU here) count "
        "passes as much as operations. torch's ratios depend on the CPU's vector instructions."
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
        "(quartiles and whiskers, outliers hidden). ReLU is one comparison per element; tanh "
        "and sigmoid an exponential and a division.",
    )
