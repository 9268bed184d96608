"""Activations (notes, week 4): each one drawn with its derivative, and the notes' claims measured.

The gallery draws every activation of `deepnotes.nn.activations` from the module
itself, its derivative taken by autograd. The claims:

- a stack of linear layers is one linear map: W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂),
  so depth without a non-linearity adds nothing;
- sigmoid saturates: σ'(x) = σ(x)(1 − σ(x)) is 1/4 at 0 and vanishes away from it;
- ReLU is scale equivariant: ReLU(αx) = α·ReLU(x) for α > 0 (so is PReLU, LeakyReLU);
- softplus_β(x) = log(1 + e^{βx})/β approaches ReLU as β grows: the largest gap,
  at x = 0, is log 2 / β.
"""

from __future__ import annotations

import math

import torch

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
        title="Activations: the gallery, saturation, scale equivariance and the linear collapse",
        topic="5. Activations",
        concepts=["sigmoid", "tanh", "ReLU", "softplus", "linear collapse"],
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
