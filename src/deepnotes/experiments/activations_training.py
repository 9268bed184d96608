"""Activations in training (notes, week 4): vanishing gradients, dying ReLUs, linear collapse.

- Vanishing gradients: σ′ ≤ 1/4, so backpropagation through L sigmoid layers
  multiplies the gradient by up to L factors of 1/4 (times the weights): the
  first layers of a deep sigmoid network hardly learn. ReLU's slope is 1 where
  a unit is active, and the per-layer gradient norms stay level.
- Dying ReLU: a unit whose pre-activation is negative for every input outputs 0
  and gets gradient 0 for every input, so it never recovers. A too-large
  learning rate pushes many units there; LeakyReLU (slope a > 0 for x < 0)
  keeps a gradient everywhere, so no unit is stuck.
- Linear collapse: without an activation, a deep network is one linear map and
  cannot separate classes a line cannot; with ReLU it can.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_moons
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle, tensor_bundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.errors import TrainingDivergedError
from deepnotes.experiments.base import Context, Control
from deepnotes.models.mlp import dense_stack
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory


def layer_gradient_norms(model: nn.Sequential, x: Tensor, y: Tensor) -> list[float]:
    """‖∂L/∂W‖ of each Linear layer, first to last, for one cross-entropy backward pass."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [float(m.weight.grad.norm()) for m in model if isinstance(m, dn.Linear)]


def stuck_units(model: nn.Sequential, x: Tensor) -> float:
    """Share of hidden units whose activation has slope 0 on every input (they cannot learn).

    For each hidden activation, the derivative with respect to its input is measured
    by autograd on the whole data set: a unit is stuck when it is 0 for every example.
    """
    stuck = total = 0
    h = x
    for module in model:
        if isinstance(module, dn.Linear):
            h = module(h).detach()
            continue
        pre = h.clone().requires_grad_(True)
        (slope,) = torch.autograd.grad(module(pre).sum(), pre)  # f′(pre), (N, units)
        stuck += int((slope == 0).all(dim=0).sum())
        total += pre.shape[1]
        h = module(h).detach()
    return stuck / total


@EXPERIMENTS.register(
    "activations-training",
    ExperimentCard(
        title="Activations in training: vanishing gradients, dying ReLUs and the linear collapse",
        topic="5. Activations",
        concepts=["vanishing gradient", "dying ReLU", "LeakyReLU", "linear collapse"],
    ),
)
def run(ctx: Context) -> None:
    torch.manual_seed(ctx.seed)
    digits = digit_vectors(ctx.seed)
    vanishing_gradients(ctx, *digits.split("train").tensors)
    dying_relu(ctx, digits)
    linear_collapse(ctx)


def full_batch_sgd(model: nn.Module, bundle: DataBundle, steps: int, lr: float, seed: int) -> None:
    """Gradient descent on the whole training split, `steps` steps of plain SGD (no momentum),
    with the package's trainer."""
    batch = len(bundle.split("train"))
    settings = {"optimizer": "sgd", "momentum": 0.0, "lr": lr, "seed": seed}
    fit_in_memory(model, ClassificationTask(), bundle, batch_size=batch, epochs=steps, **settings)


def vanishing_gradients(ctx: Context, x: Tensor, y: Tensor) -> None:
    depth, width = 12, 64
    sizes = [64] + [width] * (depth - 1) + [10]
    # one initialisation's ratio moves between 0.17 and 0.73 for ReLU: the claims read the
    # geometric mean over five initialisations; the figure shows the first
    seeds = range(ctx.seed, ctx.seed + 5)
    norms: dict[str, list[list[float]]] = {"sigmoid": [], "ReLU": []}
    # each with the initialisation made for it: Glorot's for sigmoid, He's for ReLU
    for name, activation, initialize in (
        ("sigmoid", dn.Sigmoid, nn.init.xavier_normal_),
        ("ReLU", dn.ReLU, lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
    ):
        for seed in seeds:
            torch.manual_seed(seed)
            model = dense_stack(sizes, activation, dn)
            for layer in model:
                if isinstance(layer, dn.Linear):
                    initialize(layer.weight)
                    nn.init.zeros_(layer.bias)
            norms[name].append(layer_gradient_norms(model, x, y))
    shrink = {  # first layer / last layer, geometric mean over the initialisations
        name: math.exp(np.mean([math.log(n[0] / n[-1]) for n in per_seed]))
        for name, per_seed in norms.items()
    }
    ctx.claim(
        "sigmoid-gradient-vanishes",
        f"In a {depth}-layer sigmoid MLP the first layer's gradient is under 1/1000 of the "
        "last layer's (measured ‖∂L/∂W₁‖ / ‖∂L/∂W_L‖ at Glorot's initialisation, geometric "
        f"mean over {len(seeds)} initialisations)",
        shrink["sigmoid"],
        "<",
        1e-3,
    )
    ctx.claim(
        "relu-gradient-survives",
        "With ReLU (and He's initialisation, as sigmoid has Glorot's) it keeps over 1/10 "
        "of it (same ratio)",
        shrink["ReLU"],
        ">",
        0.1,
        control=Control("the sigmoid network", shrink["sigmoid"]),
    )
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, per_seed in norms.items():
        ax.plot(range(1, depth + 1), per_seed[0], "o-", label=name)
    ax.set(yscale="log", xlabel="layer (input → output)", ylabel="‖∂L/∂W‖")
    ax.set_title(f"Gradient norm per layer, {depth}-layer MLP at initialisation (digits)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    ctx.figure(
        fig,
        "gradient-norms.png",
        "Backpropagation multiplies by σ′ ≤ 1/4 at every sigmoid layer: the gradient shrinks "
        "geometrically towards the input. ReLU passes it through unchanged where units are "
        "active.",
    )


def dying_relu(ctx: Context, digits: DataBundle) -> None:
    x, _ = digits.split("train").tensors
    sizes = [64, 128, 128, 10]
    steps = 100 if ctx.quick else 300
    rates = [0.01, 0.1, 0.5, 1.0, 2.0, 2.5]
    # one network's share at the top rate moves between 0.23 and 0.50 with its seed (sd ≈ 0.09):
    # the mean of eight has sd ≈ 0.03, well clear of the 0.2 threshold on every seed
    seeds = range(ctx.seed, ctx.seed + 8)
    stuck: dict[str, list[float]] = {"ReLU": [], "LeakyReLU (a = 0.01)": []}
    for lr in rates:
        for name, activation in (("ReLU", dn.ReLU), ("LeakyReLU (a = 0.01)", dn.LeakyReLU)):
            shares = []
            for seed in seeds:
                torch.manual_seed(seed)
                model = dense_stack(sizes, activation, dn)
                try:
                    full_batch_sgd(model, digits, steps, lr, seed)
                    shares.append(stuck_units(model, x))
                except TrainingDivergedError:  # the loss overflowed: no share to measure
                    shares.append(math.nan)
            trained = [share for share in shares if not math.isnan(share)]  # no overflow
            stuck[name].append(float(np.mean(trained)) if trained else math.nan)
    ctx.claim(
        "relu-dies-at-high-lr",
        f"After {steps} SGD steps at learning rate {rates[-1]}, over 20% of the ReLU units "
        f"have slope 0 on every training image (measured share of dead units, mean of "
        f"{len(seeds)} networks)",
        stuck["ReLU"][-1],
        ">",
        0.2,
        control=Control("LeakyReLU at the same rate", stuck["LeakyReLU (a = 0.01)"][-1]),
    )
    ctx.claim(
        "relu-lives-at-low-lr",
        f"…against under 5% at learning rate {rates[0]}",
        stuck["ReLU"][0],
        "<",
        0.05,
        control=Control(f"ReLU at learning rate {rates[-1]}", stuck["ReLU"][-1]),
    )
    ctx.claim(
        "leaky-relu-never-stuck",
        "LeakyReLU leaves no unit without gradient at any of these learning rates "
        "(largest measured share, over the rates at which it trained without overflow)",
        max((s for s in stuck["LeakyReLU (a = 0.01)"] if not math.isnan(s)), default=math.nan),
        "==",
        0.0,
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in stuck.items():
        ax.plot(rates, values, "o-", label=name)
    ax.set(xscale="log", xlabel="learning rate (SGD)", ylabel="share of units with slope 0")
    ax.set_title(f"Dead units after {steps} full-batch steps on digits")
    ax.legend()
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "dead-units.png",
        "A unit is dead when its input is negative for every image: ReLU's slope there is 0, "
        "so no gradient can revive it. Large steps push biases and weights there.",
    )


def disagreement(model: nn.Module, x: Tensor, other: np.ndarray) -> float:
    """Share of the points `x` that `model` assigns another class than `other` (predicted
    labels of another classifier)."""
    with torch.no_grad():
        predicted = model.eval()(x).argmax(dim=1).numpy()
    return float(np.mean(predicted != other))


def linear_collapse(ctx: Context) -> None:
    x_np, y_np = make_moons(1000, noise=0.15, random_state=ctx.seed)
    x, y = torch.tensor(x_np, dtype=torch.float32), torch.tensor(y_np)
    moons = tensor_bundle("moons", {"train": (x, y)}, classes=["upper", "lower"])
    sizes = [2, 32, 32, 32, 2]
    steps = 1000 if ctx.quick else 3000
    accuracies = {}

    def accuracy(model: nn.Module) -> float:
        return ClassificationTask().evaluate(model.eval(), [(x, y)])["acc"]

    models = {}
    for name, activation in (("no activation", None), ("ReLU", dn.ReLU)):
        torch.manual_seed(ctx.seed)
        models[name] = model = dense_stack(sizes, activation, dn)
        if name == "no activation":
            accuracies["untrained, no activation"] = accuracy(model)
        full_batch_sgd(model, moons, steps, 0.1, ctx.seed)
        accuracies[name] = accuracy(model)
    # the maximum-likelihood line (no penalty: C = ∞), which the product of the trained
    # linear maps approaches on data no line separates
    line = LogisticRegression(C=math.inf).fit(x_np, y_np)
    ctx.claim(
        "deep-linear-is-a-line",
        "A 4-layer network without activations, trained, is a single line: it classifies "
        "the two moons as logistic regression does (share of points the two classify "
        "differently)",
        disagreement(models["no activation"], x, line.predict(x_np)),
        "<",
        0.01,
        control=Control(
            "the same network with ReLU, trained alike",
            disagreement(models["ReLU"], x, line.predict(x_np)),
        ),
    )
    ctx.claim(
        "relu-bends",
        "With ReLU the same network separates the moons (training accuracy)",
        accuracies["ReLU"],
        ">",
        0.97,
        control=Control("the network without activations", accuracies["no activation"]),
    )
    ctx.table(
        "Two moons, training accuracy",
        ["model", "accuracy"],
        [["logistic regression", f"{line.score(x_np, y_np):.3f}"]]
        + [[f"4 Linear layers, {name}", f"{a:.3f}"] for name, a in accuracies.items()],
    )
