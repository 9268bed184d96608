"""Faults in activations: their derivatives and their slopes."""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.nn import activations
from deepnotes.registry import FAULTS


def sigmoid_backward_without_one_minus(self: object, grad: Tensor, y: Tensor) -> Tensor:
    """g·σ: the derivative σ(1 − σ) written as σ."""
    return grad * y


@FAULTS.register(
    "sigmoid-derivative-without-one-minus",
    FaultCard(
        mistake="The sigmoid's hand-written derivative is σ(x) instead of σ(x)(1 − σ(x))",
        consequence="the slope at 0 doubles to 1/2 and, worse, never vanishes: σ′(10) comes "
        "out near 1, so the saturation that makes deep sigmoid networks stall is hidden",
        replaces="deepnotes.nn.activations._SigmoidRule.backward",
        targets=(
            "activations/sigmoid-slope-at-0",
            "activations/sigmoid-saturates",
            "activations-training/sigmoid-gradient-vanishes",
        ),
    ),
)
def sigmoid_derivative() -> AbstractContextManager[None]:
    return replaced(activations._SigmoidRule, "backward", sigmoid_backward_without_one_minus)


def leaky_relu_without_slope(self: object, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """max(0, x) with slope [x > 0]: the negative slope a left out."""
    slope = x.clamp(min=0).sign_()  # [x > 0]
    return x * slope, (slope,)


@FAULTS.register(
    "leaky-relu-without-slope",
    FaultCard(
        mistake="LeakyReLU is written as max(0, x), its negative slope a forgotten",
        consequence="it is ReLU again: units pushed into the negative region get no gradient "
        "and die at high learning rates, the very problem LeakyReLU is for",
        replaces="deepnotes.nn.activations._LeakyReLURule.value",
        targets=(
            "activations-training/leaky-relu-never-stuck",
            "activations-training/leakyrelu-unstalls",
        ),
    ),
)
def leaky_relu_slope() -> AbstractContextManager[None]:
    return replaced(activations._LeakyReLURule, "value", leaky_relu_without_slope)


def softplus_beta_outside_only(self: object, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """log(1 + e^{x})/β: β divides, but the exponent forgot it."""
    return x.clamp(max=self.threshold).exp().log1p() / self.beta, (x,)


@FAULTS.register(
    "softplus-beta-outside-only",
    FaultCard(
        mistake="Softplus_β is written log(1 + e^{x})/β, the β inside the exponent forgotten",
        consequence="the curve is only squashed by β, not sharpened: for x > 0 it tends to x/β, "
        "so a large β does not bring softplus closer to ReLU, it pulls it away",
        replaces="deepnotes.nn.activations._SoftplusRule.value",
        targets=("activations/softplus-approaches-relu", "activations/softplus-gap-shrinks"),
    ),
)
def softplus_beta() -> AbstractContextManager[None]:
    return replaced(activations._SoftplusRule, "value", softplus_beta_outside_only)
