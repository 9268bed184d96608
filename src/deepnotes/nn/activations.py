"""Activation functions: the non-linearity between layers, written from their formulas.

Without a non-linearity φ a stack of linear layers is one linear map,
W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂), however deep it is; φ is what lets depth
add expressive power. Each activation below is a small function of plain tensor
operations plus an `nn.Module` with torch's name, arguments and defaults; its class
docstring gives the formula, the derivative and the notes' guidance.

Guidance from the notes (week 4): ReLU is the default for classification; if the
network does not converge, try LeakyReLU or PReLU; tanh is fine for regression and
continuous reconstruction. Sigmoid and tanh saturate, so their gradients vanish in
deep stacks.

Two ways to get the derivative. Each activation is written twice, side by side:

- `sigmoid_formula(x)` and its kin are the lesson: the formula, in operations that
  autograd differentiates for us;
- `sigmoid(x)` and its kin, which the modules and `deepnotes.nn.losses` call, are the
  fast path: a `torch.autograd.Function` (`_HandDerivative`) whose forward evaluates
  the formula with autograd off and whose backward multiplies the incoming gradient
  by the derivative written by hand beside it, as micrograd does (σ′ = σ(1 − σ) from
  the saved output σ).

Layout: the shared machinery comes first (−|x|, the in-place write-back, the autograd
Function `_HandDerivative`, the log-sum-exp shift, the modules' small base classes);
then one section per activation, in the order Sigmoid, Tanh, ReLU, ReLU6, LeakyReLU,
PReLU, Softplus, ELU, CELU, SELU, GELU, LogSigmoid, Softmax, Softmin, LogSoftmax, each
holding its formula, its hand derivative (`_SigmoidRule` …), its fast function and
its module; last, the `ACTIVATIONS` table that lists them all.

Why both: on a small batch each eager operation costs microseconds of dispatch, and
under autograd it also records a graph node and later runs a backward node. A
formula of eight operations, differentiated by autograd, is therefore several times
slower than torch's one fused kernel; with autograd off and a derivative of two or
three operations it comes within about twice. The tests check that the two paths agree
(values, first and second derivatives) and that both agree with torch. PReLU keeps
autograd's derivative: its formula is three operations and already as fast as that.

Numerical stability. A formula can be exact and still overflow in floating point:
e^{x} is inf in float32 above x ≈ 88. The formulas keep every intermediate finite:

- sigmoid, tanh and log-sigmoid only ever exponentiate −|x| ≤ 0;
- softplus follows torch and returns x itself once βx exceeds `threshold`;
- softmax and log-softmax subtract the row maximum first (the log-sum-exp trick):
  log Σⱼ e^{xⱼ} = m + log Σⱼ e^{xⱼ − m}, m = maxⱼ xⱼ, so every exponent is ≤ 0.

Where a branch is discarded by `torch.where`, its input is kept finite too: autograd
multiplies the discarded branch's gradient by zero, and 0·inf is NaN. The fast paths
need less care, because no autograd runs through their forward: 1/(1 + e^{−x}) at
x = −1e4 is 1/(1 + inf) = 0 exactly in IEEE arithmetic; only autograd's derivative
of that expression met 0·inf. The hand-written derivatives use the saved output
(σ(1 − σ), 1 − tanh²) and stay finite. So the fast paths may use the shorter forms:
σ as 1/(1 + e^{−x}), tanh as 1 − 2/(1 + e^{2x}), GELU's tanh fit as x·σ(2u). Two of
those trade relative accuracy near 0 for speed, keeping the absolute error within
an ulp of 1: tanh (1 − 2/(1 + e^{2x}) cancels for small x, where the formula's expm1
does not), and log-sigmoid and the ELUs, which use log(1 + e^{−|x|}) and e^{x} − 1
where the formulas use log1p and expm1, because in float32 on CPU torch's log1p and
expm1 take several times longer than log and exp (softplus keeps log1p: torch's own
kernel pays the same).

Derivatives at kinks follow torch: ReLU′(0) = 0, ReLU6′(0) = ReLU6′(6) = 0,
LeakyReLU′(0) = PReLU′(0) = the negative slope, ELU′(0) = α, SELU′(0) = λα.

References: Nair & Hinton, "Rectified Linear Units Improve Restricted Boltzmann
Machines" (ICML 2010); Maas, Hannun & Ng, "Rectifier Nonlinearities Improve Neural
Network Acoustic Models" (2013); He et al., "Delving Deep into Rectifiers" (ICCV 2015);
Dugas et al., "Incorporating Second-Order Functional Knowledge for Better Option
Pricing" (NIPS 2000); Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep
Network Learning by Exponential Linear Units" (ICLR 2016); Barron, "Continuously
Differentiable Exponential Linear Units" (2017); Klambauer et al., "Self-Normalizing
Neural Networks" (NeurIPS 2017); Hendrycks & Gimpel, "Gaussian Error Linear Units"
(2016); Krizhevsky, "Convolutional Deep Belief Networks on CIFAR-10" (2010); Karpathy,
micrograd (2020). Names, arguments and defaults follow `torch.nn`.

Shape:
    Element-wise activations: input (*), any shape; output (*), the same shape.
    Softmax, Softmin, LogSoftmax: input (*); output the same shape, normalised along `dim`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor, nn

# ----------------------------------------------------------------------------- machinery


def _negative_abs(x: Tensor) -> Tensor:
    """−|x|, with the derivative −sign(x) taken as −1 at 0.

    torch's |x|′(0) = 0 would zero the derivative at 0 of sigmoid(x) written via
    e^{−|x|}; the functions using this are smooth at 0, so either one-sided
    derivative is right.
    """
    return torch.where(x >= 0, -x, x)


def _write_back(x: Tensor, result: Tensor, inplace: bool) -> Tensor:
    """Return `result`, or with `inplace` copy it into `x` and return `x`.

    torch's `inplace=True` overwrites the input to save memory; here the result is
    computed out of place and copied, which keeps torch's semantics (the input
    changes, autograd still works on non-leaf inputs) but not the saving. What the
    derivative needs is never `x` itself (the formulas use `where` and `masked_fill`,
    not `clamp`; the fast paths save the output or a slope), so the copy does not
    invalidate it.
    """
    return x.copy_(result) if inplace else result


class _Rule(Protocol):
    """An activation's forward and its hand-written derivative, for `_HandDerivative`."""

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """y = f(x) (autograd is off), and the tensors the derivative needs."""
        ...

    def backward(self, grad: Tensor, *saved: Tensor) -> Tensor:
        """∂L/∂x from ∂L/∂y = `grad` and the saved tensors."""
        ...


class _HandDerivative(torch.autograd.Function):
    """y = f(x) without recording a graph; ∂L/∂x = f′ · ∂L/∂y with f′ written by hand.

    forward runs `rule.value(x)` (autograd is off inside a Function's forward, so its
    operations record nothing and may work in place) and keeps what the derivative
    needs: the input x, the output y, or constants such as LeakyReLU's slope.
    backward runs `rule.backward(grad, *saved)`.

    Second derivatives (`gradgradcheck`, a gradient penalty) come for free as long as
    backward is itself made of differentiable, out-of-place operations on those saved
    tensors: a saved output keeps its link to x through this Function, so autograd can
    differentiate the backward again. A value that depends on x but was computed in
    forward and saved would break that chain (its derivative would count as 0), so the
    rules recompute such values in backward; only LeakyReLU's slope (and ELU's mask
    x > 0, for a negative α) are saved, being constant wherever they have a derivative.
    Each saved tensor is also memory written in forward and read in backward, which is
    what bounds a compiled (fused) activation on a large batch, so the rules save as
    little as they can.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, rule: _Rule) -> Tensor:
        y, saved = rule.value(x)
        ctx.rule = rule
        ctx.save_for_backward(*saved)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return ctx.rule.backward(grad, *ctx.saved_tensors), None


def _shifted_by_max(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """(x − m, m) with m = max of x along `dim` (kept as a size-1 dim).

    m is a constant shift: softmax(x − m) = softmax(x) for any m, so it is detached
    (its gradient would cancel, up to rounding). An infinite m is replaced by 0, as
    torch.logsumexp does, so a row of −inf gives log Σ = −inf instead of NaN.
    """
    m = x.amax(dim, keepdim=True).detach()
    m = m.masked_fill(m.isinf(), 0.0)
    return x - m, m


def log_sum_exp(x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    """log Σⱼ e^{xⱼ} along `dim`, as m + log Σⱼ e^{xⱼ − m} with m = maxⱼ xⱼ."""
    shifted, m = _shifted_by_max(x, dim)
    result = m + torch.log(torch.exp(shifted).sum(dim, keepdim=True))
    return result if keepdim else result.squeeze(dim)


def _implicit_dim(name: str, dim: int | None, ndim: int) -> int:
    """torch's legacy choice when `dim` is None: 0 for 0-, 1- and 3-d inputs, else 1."""
    if dim is not None:
        return dim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _inplace_repr(inplace: bool, leading: str = "") -> str:
    """torch's `extra_repr` tail: ", inplace=True" when set (no comma when alone)."""
    if not inplace:
        return leading
    return f"{leading}, inplace=True" if leading else "inplace=True"


class _InplaceActivation(nn.Module):
    """The base of ReLU, ReLU6 and SELU, whose one setting is torch's `inplace`.

    They differ only by the fast function f they call, y = f(x, inplace), which each
    class names as `_function = staticmethod(f)` (static: called as it is, not bound
    to the module).
    """

    _function: Callable[..., Tensor]

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return self._function(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class _AlphaActivation(_InplaceActivation):
    """The base of ELU and CELU: a negative saturation value α besides `inplace`.

    As in `_InplaceActivation`, each names its fast function f; y = f(x, α, inplace).
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return self._function(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"alpha={self.alpha}")


class _SoftmaxBase(nn.Module):
    """Holds `dim` (None: torch's legacy implicit choice, with its warning)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def _dim(self, x: Tensor) -> int:
        return _implicit_dim(type(self).__name__.lower(), self.dim, x.dim())

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ----------------------------------------------------------------------------- Sigmoid


def sigmoid_formula(x: Tensor) -> Tensor:
    """σ(x) = 1/(1 + e^{−x}), evaluated through z = e^{−|x|} ∈ (0, 1]."""
    z = torch.exp(_negative_abs(x))
    # x ≥ 0: 1/(1 + e^{−x}) = 1/(1 + z);   x < 0: e^{x}/(1 + e^{x}) = z/(1 + z)
    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


class _SigmoidRule:
    """σ(x) = 1/(1 + e^{−x});   σ′ = σ(1 − σ), from the saved output."""

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        y = x.neg().exp_().add_(1).reciprocal_()  # e^{−x} = inf gives exactly 0
        return y, (y,)

    def backward(self, grad: Tensor, y: Tensor) -> Tensor:
        grad_y = grad * y
        return torch.addcmul(grad_y, grad_y, y, value=-1)  # g·σ − g·σ·σ


_SIGMOID = _SigmoidRule()


def sigmoid(x: Tensor) -> Tensor:
    """σ(x), the fast path of `sigmoid_formula` (see `_SigmoidRule`)."""
    return _HandDerivative.apply(x, _SIGMOID)


class Sigmoid(nn.Module):
    r"""The logistic sigmoid, squashing ℝ into (0, 1).

    .. math::
        σ(x) = \frac{1}{1 + e^{-x}}, \qquad σ'(x) = σ(x)\,(1 - σ(x)).

    Smooth and step-like: it pushes outputs towards 0 or 1, which makes clear
    decisions. But it saturates: σ′ is at most 1/4 (at 0) and vanishes for large
    |x|, so gradients through many sigmoids shrink ("vanishing gradients") and
    learning stalls. The formula goes through e^{−|x|}, so that autograd's
    derivative at ±1e4 is not NaN; the fast path evaluates 1/(1 + e^{−x}) as it
    stands (1/(1 + inf) = 0) and takes σ′ = σ(1 − σ) from its output.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    def forward(self, x: Tensor) -> Tensor:
        return sigmoid(x)


# ----------------------------------------------------------------------------- Tanh


def tanh_formula(x: Tensor) -> Tensor:
    """tanh(x) = (e^{x} − e^{−x})/(e^{x} + e^{−x}), evaluated through e^{−2|x|} − 1."""
    # tanh|x| = (1 − e^{−2|x|})/(1 + e^{−2|x|}) = −m/(2 + m) with m = e^{−2|x|} − 1 (expm1:
    # exact for small |x|, where 1 − e^{−2|x|} would cancel); tanh is odd.
    m = torch.expm1(2 * _negative_abs(x))
    magnitude = -m / (2 + m)
    return torch.where(x >= 0, magnitude, -magnitude)


class _TanhRule:
    """tanh(x) = 1 − 2/(1 + e^{2x});   tanh′ = 1 − tanh², from the saved output."""

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        # e^{2x} = inf gives exactly 1, e^{2x} = 0 exactly −1
        y = torch.exp(2 * x).add_(1).reciprocal_().mul_(-2).add_(1)
        return y, (y,)

    def backward(self, grad: Tensor, y: Tensor) -> Tensor:
        return torch.addcmul(grad, grad * y, y, value=-1)  # g − g·tanh·tanh


_TANH = _TanhRule()


def tanh(x: Tensor) -> Tensor:
    """tanh(x), the fast path of `tanh_formula` (see `_TanhRule`)."""
    return _HandDerivative.apply(x, _TANH)


class Tanh(nn.Module):
    r"""The hyperbolic tangent, squashing ℝ into (−1, 1).

    .. math::
        \tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}} = 2σ(2x) - 1,
        \qquad \tanh'(x) = 1 - \tanh^2(x).

    Zero-centred: its outputs have mean near zero (it sees positive and negative
    values), which tends to make the next layer converge faster than after a
    sigmoid; its gradient (1 at 0) is stronger than sigmoid's. It still saturates,
    so deep stacks of tanh suffer vanishing gradients too. The notes recommend it
    for regression and reconstruction.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    def forward(self, x: Tensor) -> Tensor:
        return tanh(x)


# ----------------------------------------------------------------------------- ReLU


def relu_formula(x: Tensor, inplace: bool = False) -> Tensor:
    """ReLU(x) = max(0, x); the derivative is 0 at x = 0, as in torch."""
    return _write_back(x, x.masked_fill(x <= 0, 0.0), inplace)


class _ReLURule:
    """ReLU(x) = max(0, x);   ReLU′ = 1 where y > 0, 0 where y = 0 (x ≤ 0): sign(y)."""

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        y = x.clamp(min=0)
        return y, (y,)

    def backward(self, grad: Tensor, y: Tensor) -> Tensor:
        return grad * y.sign()


_RELU = _ReLURule()


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """ReLU(x), the fast path of `relu_formula` (see `_ReLURule`)."""
    return _write_back(x, _HandDerivative.apply(x, _RELU), inplace)


class ReLU(_InplaceActivation):
    r"""The rectified linear unit.

    .. math::
        \mathrm{ReLU}(x) = \max(0, x), \qquad
        \mathrm{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}

    Cheap (a comparison), and sparse: units with negative input output exactly 0.
    Unbounded above, so activations can blow up. Units whose input stays negative
    get zero gradient and stop learning: the "dying ReLU" problem (try LeakyReLU or
    PReLU). The ReLU family is scale equivariant: ReLU(αx) = α·ReLU(x) for α > 0,
    so it reacts to the shape of the signal, not its amplitude. The notes' default
    for classification.

    Args:
        inplace: overwrite the input with the result. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    _function = staticmethod(relu)


# ----------------------------------------------------------------------------- ReLU6


def relu6_formula(x: Tensor, inplace: bool = False) -> Tensor:
    """ReLU6(x) = min(max(0, x), 6); the derivative is 0 at both kinks, as in torch."""
    return _write_back(x, x.masked_fill(x <= 0, 0.0).masked_fill(x >= 6, 6.0), inplace)


class _ReLU6Rule:
    """ReLU6(x) = min(max(0, x), 6);   ReLU6′ = 1 for 0 < y < 6, else 0: sign(y(6 − y))."""

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        y = x.clamp(0, 6)
        return y, (y,)

    def backward(self, grad: Tensor, y: Tensor) -> Tensor:
        return grad * torch.sign(y * (6 - y))


_RELU6 = _ReLU6Rule()


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """ReLU6(x), the fast path of `relu6_formula` (see `_ReLU6Rule`)."""
    return _write_back(x, _HandDerivative.apply(x, _RELU6), inplace)


class ReLU6(_InplaceActivation):
    r"""ReLU capped at 6.

    .. math::
        \mathrm{ReLU6}(x) = \min(\max(0, x), 6), \qquad
        \mathrm{ReLU6}'(x) = \begin{cases} 1 & 0 < x < 6 \\ 0 & \text{otherwise} \end{cases}

    The cap bounds the activations (Krizhevsky 2010; MobileNets use it because a
    bounded range survives low-precision arithmetic). The derivative is 0 at both
    kinks, as in torch.

    Args:
        inplace: overwrite the input with the result. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    _function = staticmethod(relu6)


# ----------------------------------------------------------------------------- LeakyReLU


def leaky_relu_formula(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """LeakyReLU(x) = x for x > 0, negative_slope·x otherwise (slope also at x = 0)."""
    return _write_back(x, torch.where(x > 0, x, negative_slope * x), inplace)


@dataclass
class _LeakyReLURule:
    """LeakyReLU(x) = slope·x, slope = 1 for x > 0, a for x ≤ 0;   LeakyReLU′ = slope.

    The output cannot tell the pieces apart when a < 0 (both are positive), so forward
    saves the slope itself. It is constant wherever the function is differentiable, so
    its own derivative is 0 and saving it keeps second derivatives right.
    """

    negative_slope: float

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        positive = x.clamp(min=0).sign_()  # [x > 0], as 1.0 or 0.0
        # [x > 0] + a·[x ≤ 0]: exactly 1 or a (a + (1 − a)·[x > 0] can round to 1 − ulp)
        slope = torch.add(positive, 1 - positive, alpha=self.negative_slope)
        return x * slope, (slope,)

    def backward(self, grad: Tensor, slope: Tensor) -> Tensor:
        return grad * slope


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """LeakyReLU(x), the fast path of `leaky_relu_formula` (see `_LeakyReLURule`)."""
    return _write_back(x, _HandDerivative.apply(x, _LeakyReLURule(negative_slope)), inplace)


class LeakyReLU(nn.Module):
    r"""ReLU with a small slope for negative inputs.

    .. math::
        \mathrm{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases}, \qquad
        \mathrm{LeakyReLU}'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}

    with a = negative_slope (0.01: y = 0.01x for x < 0). The gradient is never
    zero, so a unit pushed into the negative region can recover: the fix for
    "dying ReLU", and the notes' first thing to try when training stalls. Still
    scale equivariant.

    Args:
        negative_slope: the slope a for x ≤ 0. Default: 0.01
        inplace: overwrite the input with the result. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"negative_slope={self.negative_slope}")


# ----------------------------------------------------------------------------- PReLU


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """PReLU(x) = x for x > 0, a·x otherwise; `weight` holds a per channel (dim 1) or one a.

    The one activation without a hand-written twin: three operations, which autograd
    differentiates (including ∂/∂a, summed over the positions sharing a) about as fast.
    """
    if weight.numel() > 1:
        weight = weight.view(-1, *(1,) * (x.dim() - 2))  # (C, 1, …): channel dim 1 of (N, C, …)
    return torch.where(x > 0, x, weight * x)


class PReLU(nn.Module):
    r"""LeakyReLU whose negative slope is learned (parametric ReLU).

    .. math::
        \mathrm{PReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases}, \qquad
        \frac{∂}{∂x} = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}, \qquad
        \frac{∂}{∂a} = \begin{cases} 0 & x > 0 \\ x & x \le 0 \end{cases}

    The slope a is a parameter (`weight`), one shared or one per channel (dim 1 of
    the input). He et al. (2015) found it learns to keep more negative signal in
    early layers. Another choice when training with ReLU stalls. Inputs with fewer
    than two dims have no channel dim and need num_parameters = 1.

    Args:
        num_parameters: number of slopes a: 1, or the number of input channels. Default: 1
        init: the initial value of a. Default: 0.25

    Attributes:
        weight: the learnable slopes, shape (num_parameters,).

    Shape:
        - Input: (*), channels at dim 1 when num_parameters > 1.
        - Output: (*), the same shape.
    """

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        return prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


# ----------------------------------------------------------------------------- Softplus


def softplus_formula(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Softplus(x) = log(1 + e^{βx})/β, and x itself where βx > threshold (as torch)."""
    scaled = beta * x
    linear = scaled > threshold
    # zeroing βx where it is not used keeps e^{βx} finite in the discarded branch
    smooth = torch.log1p(torch.exp(scaled.masked_fill(linear, 0.0))) / beta
    return torch.where(linear, x, smooth)


@dataclass
class _SoftplusRule:
    """log(1 + e^{βx})/β, or x where βx > threshold;   Softplus′ = σ(βx), or 1."""

    beta: float
    threshold: float

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        scaled = x * self.beta if self.beta != 1 else x
        linear = scaled > self.threshold
        # capped at the threshold, e^{βx} stays finite in the discarded branch
        smooth = scaled.clamp(max=self.threshold).exp_().log1p_()
        if self.beta != 1:
            smooth.div_(self.beta)
        return torch.where(linear, x, smooth), (x,)

    def backward(self, grad: Tensor, x: Tensor) -> Tensor:
        scaled = self.beta * x
        # σ(βx) = 1/(1 + e^{−βx}) written out: differentiable again for second derivatives
        return torch.where(scaled > self.threshold, grad, grad / (1 + torch.exp(-scaled)))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Softplus(x), the fast path of `softplus_formula` (see `_SoftplusRule`)."""
    return _HandDerivative.apply(x, _SoftplusRule(beta, threshold))


class Softplus(nn.Module):
    r"""A smooth ReLU.

    .. math::
        \mathrm{Softplus}(x) = \frac{1}{β}\log(1 + e^{βx}), \qquad
        \mathrm{Softplus}'(x) = σ(βx).

    Differentiable everywhere and always positive, so it can constrain an output
    to be positive (a variance, a rate). As β grows it approaches ReLU: the gap is
    largest at 0, log 2/β. Unlike the ReLUs it depends on the amplitude of its
    input (not scale equivariant). Where βx > threshold it returns x (the
    difference is below e^{−threshold}/β), as torch does.

    Args:
        beta: the sharpness β. Default: 1.0
        threshold: above this value of βx the function is linear. Default: 20.0

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


# ----------------------------------------------------------------------------- ELU


def elu_formula(
    x: Tensor, alpha: float = 1.0, input_scale: float = 1.0, inplace: bool = False
) -> Tensor:
    """ELU(x) = x for x > 0, α(e^{s·x} − 1) otherwise (s = input_scale; CELU has s = 1/α)."""
    negative_part = torch.where(x > 0, 0.0, x)  # min(x, 0): e^{s·x} is never evaluated above 1
    result = torch.where(x > 0, x, alpha * torch.expm1(input_scale * negative_part))
    return _write_back(x, result, inplace)


@dataclass
class _ELURule:
    """λ·(x for x > 0, α(e^{s·x} − 1) otherwise);   f′ = λ for x > 0, λαs·e^{s·x} = s(y + λα).

    ELU has λ = s = 1, CELU s = 1/α, SELU Klambauer et al.'s λ and α. As in torch, the
    derivative is read off the saved output; for α ≥ 0 the output is positive exactly
    where x is, so y is all that is saved (a mask x > 0 saved beside it made the
    compiled kernel about twice as slow); a negative α also saves that mask.
    """

    alpha: float
    input_scale: float = 1.0
    scale: float = 1.0

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        # multiplications by a constant 1 (ELU's s and λ, ELU's α) are skipped
        negative_piece = x.clamp(max=0)
        if self.input_scale != 1:
            negative_piece.mul_(self.input_scale)
        negative_piece.exp_().sub_(1)  # e^{s·x} − 1 (torch's CPU expm1 is ~8× slower than exp)
        if self.alpha != 1:
            negative_piece.mul_(self.alpha)
        y = torch.where(x > 0, x, negative_piece)
        if self.scale != 1:
            y.mul_(self.scale)
        return y, (y,) if self.alpha >= 0 else (y, x > 0)

    def backward(self, grad: Tensor, y: Tensor, positive: Tensor | None = None) -> Tensor:
        negative_slope = (y + self.scale * self.alpha) * self.input_scale
        positive = y > 0 if positive is None else positive
        return grad * torch.where(positive, self.scale, negative_slope)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """ELU(x), the fast path of `elu_formula` (see `_ELURule`)."""
    return _write_back(x, _HandDerivative.apply(x, _ELURule(alpha)), inplace)


class ELU(_AlphaActivation):
    r"""The exponential linear unit: a ReLU with a smooth negative part.

    .. math::
        \mathrm{ELU}(x) = \begin{cases} x & x > 0 \\ α(e^{x} - 1) & x \le 0 \end{cases}, \qquad
        \mathrm{ELU}'(x) = \begin{cases} 1 & x > 0 \\ α e^{x} & x \le 0 \end{cases}

    Unlike ReLU it goes negative (down to −α), which pushes the mean activation
    towards zero and can speed up convergence (Clevert et al. 2016). Smooth at 0
    only when α = 1; torch's ELU′(0) is α.

    Args:
        alpha: the negative saturation value α. Default: 1.0
        inplace: overwrite the input with the result. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    _function = staticmethod(elu)


# ----------------------------------------------------------------------------- CELU


def celu_formula(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """CELU(x) = max(0, x) + min(0, α(e^{x/α} − 1)): ELU with its input scaled by 1/α."""
    return elu_formula(x, alpha, input_scale=1 / alpha, inplace=inplace)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """CELU(x), the fast path of `celu_formula`: ELU with its input scaled by 1/α."""
    return _write_back(x, _HandDerivative.apply(x, _ELURule(alpha, 1 / alpha)), inplace)


class CELU(_AlphaActivation):
    r"""The continuously differentiable ELU.

    .. math::
        \mathrm{CELU}(x) = \max(0, x) + \min(0, α(e^{x/α} - 1)), \qquad
        \mathrm{CELU}'(x) = \begin{cases} 1 & x > 0 \\ e^{x/α} & x \le 0 \end{cases}

    Scaling the input of the exponential by 1/α makes the slope at 0 equal to 1
    from both sides for every α, so the derivative is continuous (Barron 2017).
    α = 1 gives ELU.

    Args:
        alpha: the negative saturation value α. Default: 1.0
        inplace: overwrite the input with the result. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    _function = staticmethod(celu)


# ----------------------------------------------------------------------------- SELU


# Klambauer et al. (2017), eq. 14: the fixed point (mean 0, variance 1) of the SELU map.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu_formula(x: Tensor, inplace: bool = False) -> Tensor:
    """SELU(x) = λ·ELU(x; α) with Klambauer et al.'s λ ≈ 1.0507 and α ≈ 1.6733."""
    return _write_back(x, SELU_SCALE * elu_formula(x, SELU_ALPHA), inplace)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """SELU(x), the fast path of `selu_formula`: λ·ELU(x; α)."""
    rule = _ELURule(SELU_ALPHA, scale=SELU_SCALE)
    return _write_back(x, _HandDerivative.apply(x, rule), inplace)


class SELU(_InplaceActivation):
    r"""The scaled ELU of self-normalising networks.

    .. math::
        \mathrm{SELU}(x) = λ\begin{cases} x & x > 0 \\ α(e^{x} - 1) & x \le 0 \end{cases}, \qquad
        \mathrm{SELU}'(x) = λ\begin{cases} 1 & x > 0 \\ α e^{x} & x \le 0 \end{cases}

    with α ≈ 1.6733 and λ ≈ 1.0507 (Klambauer et al. 2017), chosen so that zero
    mean and unit variance is an attracting fixed point of a layer: activations
    of a deep fully connected network with LeCun-normal weights stay normalised
    without BatchNorm ("self-normalising").

    Args:
        inplace: overwrite the input with the result. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    _function = staticmethod(selu)


# ----------------------------------------------------------------------------- GELU


# Hendrycks & Gimpel's fit Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))).
GELU_TANH_SCALE = math.sqrt(2 / math.pi)
GELU_TANH_CUBIC = 0.044715


def _normal_cdf(x: Tensor) -> Tensor:
    """Φ(x) = ½(1 + erf(x/√2)), the standard normal CDF."""
    return 0.5 * (1 + torch.erf(x * (1 / math.sqrt(2))))


def gelu_formula(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x·Φ(x), Φ the standard normal CDF; `approximate="tanh"` uses the tanh fit."""
    if approximate == "tanh":
        inner = GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x**3)
        return 0.5 * x * (1 + tanh_formula(inner))
    return x * _normal_cdf(x)


class _GELURule:
    """GELU(x) = x·Φ(x);   GELU′ = Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π), from the saved x."""

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        return x * _normal_cdf(x), (x,)

    def backward(self, grad: Tensor, x: Tensor) -> Tensor:
        gauss = torch.exp(x * x * -0.5)
        return grad * torch.addcmul(_normal_cdf(x), x, gauss, value=1 / math.sqrt(2 * math.pi))


def _gelu_tanh_cubic(x: Tensor, square: Tensor, coefficient: float) -> Tensor:
    """x + coefficient·x³, from x and its square x², in one `addcmul`."""
    return torch.addcmul(x, square, x, value=coefficient)


class _GELUTanhRule:
    """½x(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³);   f′ = s + x·s(1 − s)·2u′, s = σ(2u).

    ½(1 + tanh u) = σ(2u) saves the tanh, and x + 0.044715x³ is one fused multiply-add
    (`addcmul`) on x². backward recomputes s with the sigmoid's fast path, whose own
    derivative then carries the second derivative.
    """

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        minus_twice_inner = _gelu_tanh_cubic(x, x * x, GELU_TANH_CUBIC).mul_(-2 * GELU_TANH_SCALE)
        # x/(1 + e^{−2u}): e^{−2u} = inf (x ≪ 0) gives exactly −0
        return x / minus_twice_inner.exp_().add_(1), (x,)

    def backward(self, grad: Tensor, x: Tensor) -> Tensor:
        square = x * x
        s = sigmoid(_gelu_tanh_cubic(x, square, GELU_TANH_CUBIC) * (2 * GELU_TANH_SCALE))
        s_slope = torch.addcmul(s, s, s, value=-1)  # σ′(2u) = s(1 − s)
        # x·2u′ = 2√(2/π)(x + 3·0.044715x³)
        x_inner_slope = _gelu_tanh_cubic(x, square, 3 * GELU_TANH_CUBIC)
        return grad * torch.addcmul(s, x_inner_slope, s_slope, value=2 * GELU_TANH_SCALE)


_GELU, _GELU_TANH = _GELURule(), _GELUTanhRule()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x), the fast path of `gelu_formula` (see `_GELURule`, `_GELUTanhRule`)."""
    return _HandDerivative.apply(x, _GELU_TANH if approximate == "tanh" else _GELU)


class GELU(nn.Module):
    r"""The Gaussian error linear unit: x weighted by the probability that a normal is below it.

    .. math::
        \mathrm{GELU}(x) = x\,Φ(x) = \frac{x}{2}\left(1 + \mathrm{erf}(x/\sqrt{2})\right), \qquad
        \mathrm{GELU}'(x) = Φ(x) + x\,φ(x),

    with Φ, φ the standard normal CDF and density. With approximate="tanh", Hendrycks
    & Gimpel's fit Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))). A smooth,
    non-monotonic ReLU (it dips to about −0.17 near x = −0.75); the activation of
    BERT and GPT.

    Args:
        approximate: "none" (erf) or "tanh". Default: "none"

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"approximate argument must be either none or tanh, got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


# ----------------------------------------------------------------------------- LogSigmoid


def log_sigmoid_formula(x: Tensor) -> Tensor:
    """log σ(x) = −softplus(−x) = min(x, 0) − log(1 + e^{−|x|}), which never overflows."""
    return torch.where(x < 0, x, 0.0) - torch.log1p(torch.exp(_negative_abs(x)))


class _LogSigmoidRule:
    """log σ(x) = min(x, 0) − log(1 + e^{−|x|});   (log σ)′ = 1 − σ(x) = 1 − e^{y}."""

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        y = x.clamp(max=0) - x.abs().neg_().exp_().add_(1).log_()
        return y, (y,)

    def backward(self, grad: Tensor, y: Tensor) -> Tensor:
        return torch.addcmul(grad, grad, torch.exp(y), value=-1)  # g − g·σ(x), σ(x) = e^{y}


_LOG_SIGMOID = _LogSigmoidRule()


def log_sigmoid(x: Tensor) -> Tensor:
    """log σ(x), the fast path of `log_sigmoid_formula` (see `_LogSigmoidRule`)."""
    return _HandDerivative.apply(x, _LOG_SIGMOID)


class LogSigmoid(nn.Module):
    r"""The logarithm of the sigmoid.

    .. math::
        \log σ(x) = -\mathrm{softplus}(-x) = \min(x, 0) - \log(1 + e^{-|x|}), \qquad
        (\log σ)'(x) = 1 - σ(x) = σ(-x).

    The right-hand form never exponentiates a positive number, so large negative x
    gives ≈ x instead of log(0) = −inf. It is the log-likelihood term of logistic
    regression (BCE with logits).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.
    """

    def forward(self, x: Tensor) -> Tensor:
        return log_sigmoid(x)


# ----------------------------------------------------------------------------- Softmax


def softmax_formula(x: Tensor, dim: int) -> Tensor:
    """softmax(x)ᵢ = e^{xᵢ}/Σⱼ e^{xⱼ} along `dim`, computed as e^{xᵢ − m}/Σⱼ e^{xⱼ − m}."""
    exps = torch.exp(_shifted_by_max(x, dim)[0])
    return exps / exps.sum(dim, keepdim=True)


@dataclass
class _SoftmaxRule:
    """yᵢ = e^{xᵢ − m}/Σⱼ e^{xⱼ − m};   ∂L/∂xᵢ = yᵢ(gᵢ − Σⱼ gⱼyⱼ), from the saved output."""

    dim: int

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        exps = (x - x.amax(self.dim, keepdim=True)).exp_()
        y = exps.div_(exps.sum(self.dim, keepdim=True))
        return y, (y,)

    def backward(self, grad: Tensor, y: Tensor) -> Tensor:
        grad_y = grad * y
        return torch.addcmul(grad_y, y, grad_y.sum(self.dim, keepdim=True), value=-1)


def softmax(x: Tensor, dim: int) -> Tensor:
    """softmax(x) along `dim`, the fast path of `softmax_formula` (see `_SoftmaxRule`)."""
    return _HandDerivative.apply(x, _SoftmaxRule(dim))


class Softmax(_SoftmaxBase):
    r"""Exponentiate and normalise along `dim`: a probability vector.

    .. math::
        \mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}, \qquad
        \frac{∂\,\mathrm{softmax}_i}{∂x_j} = \mathrm{softmax}_i(δ_{ij} - \mathrm{softmax}_j).

    Invariant to adding a constant to every xᵢ, so the row maximum is subtracted
    before exponentiating (no overflow). For two entries, softmax(x, 0)₀ = σ(x).

    Args:
        dim: the dimension along which the outputs sum to 1.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape, values in [0, 1].
    """

    def forward(self, x: Tensor) -> Tensor:
        return softmax(x, self._dim(x))


# ----------------------------------------------------------------------------- Softmin


class Softmin(_SoftmaxBase):
    r"""Softmax of −x: the smallest entries get the largest weights.

    .. math::
        \mathrm{softmin}(x)_i = \frac{e^{-x_i}}{\sum_j e^{-x_j}}, \qquad
        \frac{∂\,\mathrm{softmin}_i}{∂x_j} = -\mathrm{softmin}_i(δ_{ij} - \mathrm{softmin}_j).

    Args:
        dim: the dimension along which the outputs sum to 1.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape, values in [0, 1].
    """

    def forward(self, x: Tensor) -> Tensor:
        return softmax(-x, self._dim(x))


# ----------------------------------------------------------------------------- LogSoftmax


def log_softmax_formula(x: Tensor, dim: int) -> Tensor:
    """log softmax(x)ᵢ = xᵢ − log Σⱼ e^{xⱼ} = (xᵢ − m) − log Σⱼ e^{xⱼ − m}.

    Subtracting m before the log keeps the result exact when xᵢ ≈ m is large
    (x − (m + log Σ) would round at the scale of m).
    """
    shifted, _ = _shifted_by_max(x, dim)
    return shifted - torch.log(torch.exp(shifted).sum(dim, keepdim=True))


@dataclass
class _LogSoftmaxRule:
    """yᵢ = (xᵢ − m) − log Σⱼ e^{xⱼ − m};   ∂L/∂xᵢ = gᵢ − e^{yᵢ} Σⱼ gⱼ (e^{y} is the softmax)."""

    dim: int

    def value(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        shifted = x - x.amax(self.dim, keepdim=True)
        y = shifted.sub_(shifted.exp().sum(self.dim, keepdim=True).log_())
        return y, (y,)

    def backward(self, grad: Tensor, y: Tensor) -> Tensor:
        return torch.addcmul(grad, torch.exp(y), grad.sum(self.dim, keepdim=True), value=-1)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """log softmax(x) along `dim`, the fast path of `log_softmax_formula`."""
    return _HandDerivative.apply(x, _LogSoftmaxRule(dim))


class LogSoftmax(_SoftmaxBase):
    r"""The logarithm of softmax, computed without forming softmax.

    .. math::
        \log\mathrm{softmax}(x)_i = x_i - \log\sum_j e^{x_j}, \qquad
        \frac{∂}{∂x_j} = δ_{ij} - \mathrm{softmax}(x)_j.

    The log-sum-exp is taken after subtracting the maximum, so the result is exact
    where softmax itself underflows to 0 (its log would be −inf). Followed by the
    negative log-likelihood it is the cross-entropy loss.

    Args:
        dim: the dimension along which exp of the outputs sums to 1.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape, values in (−∞, 0].
    """

    def forward(self, x: Tensor) -> Tensor:
        return log_softmax(x, self._dim(x))


# ----------------------------------------------------------------------------- the table


class ActivationEntry(NamedTuple):
    """One row of `ACTIVATIONS`: our module, torch's, and the keyword arguments for both."""

    ours: type[nn.Module]
    theirs: type[nn.Module]
    kwargs: dict[str, Any]


# Display name → entry; the gallery draws each row and the tests compare each with torch.
# Rows with "dim" in kwargs act on vectors (along dim), the others element-wise.
ACTIVATIONS: dict[str, ActivationEntry] = {
    "Sigmoid": ActivationEntry(Sigmoid, nn.Sigmoid, {}),
    "Tanh": ActivationEntry(Tanh, nn.Tanh, {}),
    "ReLU": ActivationEntry(ReLU, nn.ReLU, {}),
    "LeakyReLU (a=0.1)": ActivationEntry(LeakyReLU, nn.LeakyReLU, {"negative_slope": 0.1}),
    "PReLU (a=0.25)": ActivationEntry(PReLU, nn.PReLU, {}),
    "Softplus (β=1)": ActivationEntry(Softplus, nn.Softplus, {"beta": 1.0}),
    "Softplus (β=4)": ActivationEntry(Softplus, nn.Softplus, {"beta": 4.0}),
    "ELU": ActivationEntry(ELU, nn.ELU, {}),
    "CELU (α=2)": ActivationEntry(CELU, nn.CELU, {"alpha": 2.0}),
    "SELU": ActivationEntry(SELU, nn.SELU, {}),
    "GELU": ActivationEntry(GELU, nn.GELU, {}),
    "GELU (tanh)": ActivationEntry(GELU, nn.GELU, {"approximate": "tanh"}),
    "ReLU6": ActivationEntry(ReLU6, nn.ReLU6, {}),
    "LogSigmoid": ActivationEntry(LogSigmoid, nn.LogSigmoid, {}),
    "Softmax": ActivationEntry(Softmax, nn.Softmax, {"dim": -1}),
    "Softmin": ActivationEntry(Softmin, nn.Softmin, {"dim": -1}),
    "LogSoftmax": ActivationEntry(LogSoftmax, nn.LogSoftmax, {"dim": -1}),
}
