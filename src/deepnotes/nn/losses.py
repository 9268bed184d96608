"""Loss functions: what a network is trained to make small.

A loss ℓ(x, y) compares the network's output x with the target y, one value per
element (or per sample); the `reduction` then turns those values into the one
number that is differentiated:

    'none': the values l_1 … l_N as they are,   'mean': (1/N) Σ_n l_n,   'sum': Σ_n l_n.

The losses of the course, by use:

- Regression: L1 |x − y| (robust, median-seeking), MSE (x − y)² (mean-seeking,
  the Gaussian likelihood), Huber / smooth L1 (quadratic near 0, linear far
  away: MSE's smooth minimum with L1's robustness to outliers).
- Classification: cross-entropy −Σ_c y_c log softmax(x)_c (the categorical
  likelihood; with class weights, an ignore index and label smoothing), NLL on
  log-probabilities, BCE −[y log p + (1 − y) log(1 − p)] on probabilities and
  BCE with logits on scores (the GAN discriminator's loss), soft margin
  log(1 + e^(−yx)) (the logistic loss with ±1 labels).
- Distributions: KL divergence Σ y (log y − x) with x = log q (a VAE's
  regulariser, distillation).
- Metric learning, where the output is a distance or a similarity: margin
  ranking max(0, −y(x₁ − x₂) + margin), hinge embedding, cosine embedding and
  the triplet margin loss max(0, d(a, p) − d(a, n) + margin) (FaceNet).

Numerics are part of the lesson: log-softmax is computed through log-sum-exp
(shift by the maximum so no exp overflows) and log σ(x) as min(x, 0) − log(1 + e^(−|x|))
(both from `deepnotes.nn.activations`), and BCE clamps its logs at −100 so that a
prediction of exactly 0 or 1 costs 100, not ∞. Each class follows torch.nn's (name,
arguments, defaults, buffers, the exact 'mean' of weighted cross-entropy), so a test
can swap one for the other.

Gradients by hand. The gradient of a loss is the error signal that starts
backpropagation, and most have a short closed form, written beside each forward:

    cross-entropy   ∂l/∂x = softmax(x) − onehot(y)   (weighted, smoothed, masked: p Σq − q)
    NLL             ∂l/∂x = −onehot(y) w_y
    BCE with logits ∂l/∂x = σ(x) − y                 (with pos_weight: L σ(x) − p y)
    soft margin     ∂l/∂x = y (σ(yx) − 1)
    Huber           ∂l/∂x = clamp(x − y, −δ, δ)      (smooth L1: the same over β)

These losses are computed twice, side by side. A readable function (`cross_entropy`,
`nll_loss`, `binary_cross_entropy_with_logits`, `soft_margin_loss`, `huber_loss`,
`smooth_l1_loss`) is the formula in plain tensor operations, and autograd derives the
gradient from it. The module runs the fast path, a `torch.autograd.Function` whose
forward is the same formula with autograd off and the reduction folded in, and whose
backward is the closed form above, as micrograd puts each derivative beside its
operation: fewer operations and no graph recording, which on small batches (where
each eager operation costs microseconds of dispatch) is most of the time. Tests prove
the two equal, values, gradients and second derivatives: under `create_graph` each
backward recomputes what it saved from its inputs, so autograd records the dependence.

References: PyTorch's `torch.nn` loss documentation; Szegedy et al., "Rethinking
the Inception Architecture" (2016), label smoothing; Huber, "Robust Estimation
of a Location Parameter" (1964); Girshick, "Fast R-CNN" (2015), smooth L1;
Schroff et al., "FaceNet" (2015), triplet loss; Balntas et al., "Learning local
feature descriptors with triplets and shallow convolutional neural networks"
(2016), the distance swap.

Shape:
    - Input and target: (*) for the element-wise losses, the output 'none' has the
      same shape; (N, C, d₁, …, d_K) or (C) with class targets (N, d₁, …, d_K) or ()
      for NLL and cross-entropy; (N, D) or (D) for the embedding losses.
    - Output: a scalar unless `reduction='none'`.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from deepnotes.nn.activations import log_sigmoid, log_softmax

REDUCTIONS = ("none", "mean", "sum")

# torch's floors: the log in BCE (so log 0 costs 100, not ∞), the denominator of BCE's
# gradient (torch keeps that 1e-12 as a float32 constant, ≈ 9.999999996e-13, in every
# dtype) and the squared norms in the cosine embedding loss.
LOG_FLOOR = -100.0
BCE_GRAD_EPS = torch.tensor(1e-12, dtype=torch.float32).item()
COSINE_EPS = 1e-12


def reduce(loss: Tensor, reduction: str) -> Tensor:
    """Reduce per-element losses: 'none' keeps them, 'mean' averages them, 'sum' adds them."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction (one of {REDUCTIONS})")


def _legacy_reduction(size_average: bool | None, reduce_: bool | None) -> str:
    """torch's translation of the deprecated flags: None counts as True; reduce=False → 'none'."""
    keep_batch = reduce_ is not None and not reduce_
    average = size_average is None or size_average
    reduction = "none" if keep_batch else "mean" if average else "sum"
    warnings.warn(
        "size_average and reduce args will be deprecated, "
        f"please use reduction='{reduction}' instead.",
        UserWarning,
        stacklevel=3,
    )
    return reduction


class _Loss(nn.Module):
    """Base of every loss: holds `reduction` (or the deprecated `size_average`/`reduce`).

    `__constants__` names the hyper-parameters that `extra_repr` prints.
    """

    __constants__ = ("reduction",)

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__constants__)


class _WeightedLoss(_Loss):
    """A loss with an optional per-class (or per-element) rescaling buffer `weight`."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.weight: Tensor | None


# ---------------------------------------------------------------------------------------------
# Fast paths: the reduction folded into a forward with autograd off, undone in the backward
# ---------------------------------------------------------------------------------------------


def _reduce_saving(ctx: Any, loss: Tensor, reduction: str) -> Tensor:
    """Reduce in a fast path's forward, keeping what its backward needs to undo the reduction."""
    ctx.reduction, ctx.count = reduction, loss.numel()
    return reduce(loss, reduction)


def _grad_per_element(ctx: Any, grad: Tensor, scale: float = 1.0) -> Tensor:
    """scale·∂L/∂l_n from the reduced loss's gradient: grad ('none', 'sum'), grad/N ('mean')."""
    if ctx.reduction == "mean":
        scale = scale / ctx.count
    return grad if scale == 1 else grad * scale


def _unbroadcast(grad: Tensor, like: Tensor) -> Tensor:
    """Sum a gradient over the dimensions `like` was broadcast along (a target of another shape)."""
    return grad if grad.shape == like.shape else grad.sum_to_size(like.shape)


# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------


class L1Loss(_Loss):
    """Mean absolute error.

        l_n = |x_n − y_n|

    Used for regression when outliers should not dominate: its minimiser is the median
    of the targets, and its gradient is ±1 whatever the size of the error.

    Args:
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input: (*), any number of dimensions. Target: (*), same shape (broadcast otherwise).
        - Output: scalar; (*) with 'none'.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return reduce((input - target).abs(), self.reduction)


class MSELoss(_Loss):
    """Mean squared error.

        l_n = (x_n − y_n)²

    The regression loss of the course: minimising it is maximum likelihood under
    Gaussian noise, its minimiser is the mean, and its gradient 2(x − y) grows with
    the error (so outliers pull hard). A VAE's reconstruction term for real-valued
    pixels.

    Args:
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input: (*). Target: (*), same shape.
        - Output: scalar; (*) with 'none'.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return reduce((input - target).square(), self.reduction)


def huber(error: Tensor, delta: float) -> tuple[Tensor, Tensor]:
    """Huber's ρ(e) and its slope ρ′(e), which is the error clipped to [−δ, δ]:

        c = clamp(e, −δ, δ) = ρ′(e),   ρ(e) = c·(e − c/2)

    that is 0.5 e² for |e| < δ (c = e) and δ(|e| − δ/2) beyond (c = ±δ): one formula
    for both pieces, which meet with equal value and slope at |e| = δ.
    """
    slope = error.clamp(-delta, delta)
    return slope * error.sub(slope, alpha=0.5), slope


def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    """The Huber loss as its formula, autograd deriving the gradient (the lesson)."""
    return reduce(huber(input - target, delta)[0], reduction)


def smooth_l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """The smooth L1 loss as its formula, huber(x − y, β)/β, or |x − y| when β = 0 (the lesson)."""
    if beta == 0:
        return reduce((input - target).abs(), reduction)
    return reduce(huber(input - target, beta)[0] / beta, reduction)


class _Huber(torch.autograd.Function):
    """reduce(s·ρ(x − y)) with its derivative by hand: the fast path of `HuberLoss` (s = 1)
    and `SmoothL1Loss` (δ = β, s = 1/β).

    The forward computes the slope c = clamp(x − y, −δ, δ) on the way to ρ, and keeps it:

        ∂l/∂x = s·c,   ∂l/∂y = −s·c.

    Under `create_graph` the backward recomputes c from the saved inputs, so autograd
    records its dependence on them and second derivatives come out right.
    """

    @staticmethod
    def forward(
        ctx: Any, input: Tensor, target: Tensor, delta: float, scale: float, reduction: str
    ) -> Tensor:
        loss, slope = huber(input - target, delta)
        ctx.save_for_backward(input, target, slope)
        ctx.delta, ctx.scale = delta, scale
        return _reduce_saving(ctx, loss if scale == 1 else loss * scale, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target, slope = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: record how c depends on x and y
            slope = huber(input - target, ctx.delta)[1]
        grad_input = slope * _grad_per_element(ctx, grad, ctx.scale)  # s·c
        return (
            _unbroadcast(grad_input, input) if ctx.needs_input_grad[0] else None,
            _unbroadcast(-grad_input, target) if ctx.needs_input_grad[1] else None,
            None,
            None,
            None,
        )


class HuberLoss(_Loss):
    """Huber loss: quadratic for small errors, linear for large ones.

        l_n = 0.5 (x_n − y_n)²              if |x_n − y_n| < δ
              δ (|x_n − y_n| − 0.5 δ)        otherwise
            = c (x_n − y_n − c/2),          c = clamp(x_n − y_n, −δ, δ)

    Robust regression: MSE's smooth minimum with L1's bounded gradient, the error
    clipped to [−δ, δ], so outliers cannot dominate. It is δ times the smooth L1 loss
    with β = δ. The module runs the fast path `_Huber` (derivative by hand);
    `huber_loss` is the same formula left to autograd.

    Args:
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'
        delta: the error δ > 0 where the loss turns from quadratic to linear. Default: 1.0

    Shape:
        - Input: (*). Target: (*), same shape.
        - Output: scalar; (*) with 'none'.
    """

    __constants__ = ("reduction", "delta")

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss needs delta > 0, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _Huber.apply(input, target, self.delta, 1.0, self.reduction)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss (Fast R-CNN's box regression loss).

        l_n = 0.5 (x_n − y_n)² / β          if |x_n − y_n| < β
              |x_n − y_n| − 0.5 β            otherwise

    The Huber loss divided by δ = β: its linear part has slope 1 for every β (the L1
    loss shifted down by β/2), while the quadratic part's curvature 1/β grows as β
    shrinks; β = 0 is exactly the L1 loss. The module runs the fast path `_Huber`
    with scale 1/β; `smooth_l1_loss` is the formula left to autograd.

    Args:
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'
        beta: the error β ≥ 0 where the loss turns from quadratic to linear. Default: 1.0

    Shape:
        - Input: (*). Target: (*), same shape.
        - Output: scalar; (*) with 'none'.
    """

    __constants__ = ("reduction", "beta")

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss needs beta >= 0, got {beta}")
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.beta == 0:
            return smooth_l1_loss(input, target, self.reduction, 0.0)
        return _Huber.apply(input, target, self.beta, 1 / self.beta, self.reduction)


# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------


def _class_dim(input: Tensor) -> int:
    """Classes sit in dim 1 of (N, C, d₁, …), or dim 0 of an unbatched (C) input."""
    return 0 if input.dim() == 1 else 1


def _along_class_dim(weight: Tensor, input: Tensor) -> Tensor:
    """View a (C) weight so that it broadcasts along the class dimension of `input`."""
    shape = [1] * input.dim()
    shape[_class_dim(input)] = -1
    return weight.view(shape)  # (1, C, 1, …, 1)


def _target_weights(
    target: Tensor, weight: Tensor | None, ignore_index: int, like: Tensor
) -> tuple[Tensor, Tensor]:
    """(safe target, w_{y_n}), both (N, 1, d₁, …): each target with its class weight, 0 where
    y_n = ignore_index.

    Ignored targets (−100 by default, not a valid index) become class 0 in the safe
    target, so that it can be used as an index; their weight 0 masks them out. The
    class dimension is kept (size 1) for `gather` and `scatter_add_` along it.
    """
    target = target.unsqueeze(_class_dim(like))  # (N, 1, d₁, …)
    kept = target != ignore_index
    safe_target = target * kept  # ignored → class 0
    class_weight = kept if weight is None else weight[safe_target] * kept
    return safe_target, class_weight.to(like.dtype)


def _smoothed_target(target: Tensor, weight: Tensor | None, smoothing: float) -> Tensor:
    """q_{n,c} = w_c ((1 − ε) y_{n,c} + ε/C) for a target of class probabilities y."""
    if smoothing > 0:
        target = (1 - smoothing) * target + smoothing / target.shape[_class_dim(target)]
    return target if weight is None else target * _along_class_dim(weight, target)


class _ClassNLLResult(NamedTuple):
    """What `_class_nll` computes: the reduced loss, and what its backward needs."""

    loss: Tensor
    safe_target: Tensor | None  # class indices made valid (ignored ones → 0); None: probabilities
    target_weight: Tensor | None  # w_{y_n}, 0 where ignored, (N, 1, d₁, …)
    total_weight: Tensor | None  # Σ_n w_{y_n}, the divisor of the weighted 'mean'


def _class_nll(
    log_probs: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    smoothing: float,
    reduction: str,
) -> _ClassNLLResult:
    """−Σ_c q_{n,c} log p_{n,c}, reduced: NLL and cross-entropy once log p is at hand.

    The index target's term is a gather, never a product with the zeros of a one-hot
    q, so a logit of −∞ (a masked class) costs nothing unless it is the target.
    """
    class_dim = _class_dim(log_probs)
    if target.shape == log_probs.shape:  # class probabilities: 'mean' over the samples
        q = _smoothed_target(target, weight, smoothing)
        loss = -(q * log_probs).sum(class_dim)  # (N, d₁, …)
        return _ClassNLLResult(reduce(loss, reduction), None, None, None)
    safe_target, target_weight = _target_weights(target, weight, ignore_index, log_probs)
    loss = -target_weight * log_probs.gather(class_dim, safe_target)  # (N, 1, d₁, …)
    if smoothing > 0:
        class_cost = (
            -log_probs if weight is None else -log_probs * _along_class_dim(weight, log_probs)
        )
        kept = (target != ignore_index).unsqueeze(class_dim)
        uniform_cost = torch.where(kept, class_cost.sum(class_dim, keepdim=True), 0)
        num_classes = log_probs.shape[class_dim]
        loss = (1 - smoothing) * loss + (smoothing / num_classes) * uniform_cost
    if reduction == "mean":  # torch's weighted mean: over the total weight of the targets
        total_weight = target_weight.sum()
        return _ClassNLLResult(loss.sum() / total_weight, safe_target, target_weight, total_weight)
    if reduction == "none":
        loss = loss.squeeze(class_dim)  # (N, d₁, …)
    return _ClassNLLResult(reduce(loss, reduction), safe_target, target_weight, None)


def _index_target_gradient(
    log_probs: Tensor,
    grad: Tensor,
    target: Tensor,
    safe_target: Tensor,
    target_weight: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    smoothing: float,
    logits: bool,
) -> Tensor:
    """g_n (p_n Σ_c q_{n,c} − q_n) for class-index targets (−g_n q_n without `logits`).

    Here q_{n,c} = (1 − ε) w_{y_n} [c = y_n] + (ε/C) w_c [y_n ≠ ignore_index], the
    weighted, smoothed, masked one-hot target, is never materialised: its one-hot
    part is scattered into place and its uniform part subtracted. `grad` is g_n, one
    per sample (N, 1, d₁, …), or one scalar.
    """
    class_dim = _class_dim(log_probs)
    num_classes = log_probs.shape[class_dim]
    on_target = target_weight * grad  # g_n w_{y_n}, (N, 1, d₁, …)
    if smoothing > 0:
        on_target = (1 - smoothing) * on_target
        kept = (target != ignore_index).unsqueeze(class_dim).to(log_probs.dtype)
        kept = kept * grad  # g_n [y_n ≠ ignore_index], (N, 1, d₁, …)
        class_weight = log_probs.new_ones(num_classes) if weight is None else weight
        spread = (smoothing / num_classes) * _along_class_dim(class_weight, log_probs)
    if logits:
        total = on_target  # g_n Σ_c q_{n,c}
        if smoothing > 0:
            total = total + spread.sum() * kept
        grad_input = log_probs.exp() * total  # (N, C, d₁, …)
    else:
        grad_input = torch.zeros_like(log_probs)
    if smoothing > 0:
        grad_input = grad_input - spread * kept
    return grad_input.scatter_add_(class_dim, safe_target, -on_target)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """NLL of class-index targets given log-probabilities, as its formula (the lesson)."""
    return _class_nll(input, target, weight, ignore_index, 0.0, reduction).loss


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy as its formula, NLL of log softmax(x), autograd deriving the gradient."""
    log_probs = log_softmax(input, _class_dim(input))  # (N, C, d₁, …)
    return _class_nll(log_probs, target, weight, ignore_index, label_smoothing, reduction).loss


class _ClassNLL(torch.autograd.Function):
    """NLL, and cross-entropy when the input holds logits, with the gradient by hand: the
    fast path of `NLLLoss` and `CrossEntropyLoss`.

    Both losses are l_n = −Σ_c q_{n,c} log p_{n,c} for a weighted target q: with class
    indices, q_{n,c} = (1 − ε) w_{y_n} [c = y_n] + (ε/C) w_c [y_n ≠ ignore_index]; with
    class probabilities, q_{n,c} = w_c ((1 − ε) y_{n,c} + ε/C). NLL is given x = log p,
    so its gradient is minus the target,

        ∂l_n/∂x_{n,c} = −q_{n,c}.

    Cross-entropy is given logits, log p_c = x_c − log Σ_j e^{x_j}, whose derivative is
    ∂ log p_c/∂x_j = [c = j] − p_j. Summing over c,

        ∂l_n/∂x_{n,j} = p_{n,j} Σ_c q_{n,c} − q_{n,j}:

    the softmax, scaled by the target's total weight, minus the weighted target; for one
    class without weights or smoothing, p − onehot(y). Probability targets get
    ∂l_n/∂y_{n,c} = −(1 − ε) w_c log p_{n,c}. 'mean' divides every gradient by what it
    divides the loss by (Σ_n w_{y_n}, or the number of samples).

    The backward recomputes log p from the saved input when `create_graph` is on, so
    autograd records its dependence on x and second derivatives come out right.
    """

    @staticmethod
    def forward(
        ctx: Any,
        input: Tensor,
        target: Tensor,
        weight: Tensor | None,
        ignore_index: int,
        smoothing: float,
        reduction: str,
        logits: bool,
    ) -> Tensor:
        class_dim = _class_dim(input)
        log_probs = log_softmax(input, class_dim) if logits else input  # (N, C, d₁, …)
        loss, safe_target, target_weight, total_weight = _class_nll(
            log_probs, target, weight, ignore_index, smoothing, reduction
        )
        ctx.save_for_backward(
            input, log_probs, target, weight, safe_target, target_weight, total_weight
        )
        ctx.settings = (ignore_index, smoothing, reduction, logits)
        ctx.count = input.numel() // input.shape[class_dim]  # the samples N·d₁·…·d_K
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, log_probs, target, weight, safe_target, target_weight, total_weight = (
            ctx.saved_tensors
        )
        ignore_index, smoothing, reduction, logits = ctx.settings
        class_dim = _class_dim(input)
        if logits and torch.is_grad_enabled():  # create_graph: record how log p depends on x
            log_probs = log_softmax(input, class_dim)
        if reduction == "mean":
            grad = grad / (ctx.count if total_weight is None else total_weight)
        elif reduction == "none":
            grad = grad.unsqueeze(class_dim)  # (N, 1, d₁, …)
        grad_input = grad_target = None
        if target_weight is not None:  # class indices
            if ctx.needs_input_grad[0]:
                grad_input = _index_target_gradient(
                    log_probs,
                    grad,
                    target,
                    safe_target,
                    target_weight,
                    weight,
                    ignore_index,
                    smoothing,
                    logits,
                )
            return grad_input, None, None, None, None, None, None
        q = _smoothed_target(target, weight, smoothing)  # class probabilities
        if ctx.needs_input_grad[0]:  # p Σ_c q_c − q
            grad_input = (log_probs.exp() * q.sum(class_dim, keepdim=True) - q) * grad
        if ctx.needs_input_grad[1]:  # −(1 − ε) w_c log p_c
            grad_target = -(1 - smoothing) * grad * log_probs
            if weight is not None:
                grad_target = grad_target * _along_class_dim(weight, input)
        return grad_input, grad_target, None, None, None, None, None


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of the target class, given log-probabilities.

        l_n = −w_{y_n} x_{n, y_n},   w_{y_n} = weight[y_n] · [y_n ≠ ignore_index]

        'mean': Σ_n l_n / Σ_n w_{y_n}        'sum': Σ_n l_n

    The input holds log-probabilities (a `LogSoftmax` output); NLL after log-softmax
    is cross-entropy. Note that the weighted 'mean' divides by the total weight of the
    targets, not by N, so it is a weighted average of −x_{n, y_n}; with every target
    ignored it is 0/0 = nan, as in torch. Its gradient is −w_{y_n} at the target class
    and 0 elsewhere; the module runs the fast path `_ClassNLL` that writes it by hand,
    `nll_loss` is the formula left to autograd.

    Args:
        weight: rescaling weight of each class, a tensor of size C. Default: None (all 1)
        size_average, reduce: deprecated, see `reduction`. Default: None
        ignore_index: a target value that contributes neither to the loss nor to the
            gradient (padding, unlabelled pixels). Default: -100
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input: (N, C), (C) or (N, C, d₁, …, d_K) for K-dimensional outputs (pixels).
        - Target: (N), () or (N, d₁, …, d_K), class indices in [0, C).
        - Output: scalar; the target's shape with 'none'.
    """

    __constants__ = ("ignore_index", "reduction")

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _ClassNLL.apply(
            input, target, self.weight, self.ignore_index, 0.0, self.reduction, False
        )


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy between a target and the softmax of unnormalised scores (logits).

    With log p_{n,c} = log softmax(x_n)_c (computed through log-sum-exp) and class
    weights w_c, two kinds of target:

    Class indices y_n (the NLL of log-softmax), with label smoothing ε:

        l_n = (1 − ε) · (−w_{y_n} log p_{n, y_n}) + (ε/C) · Σ_c (−w_c log p_{n,c})

    and l_n = 0 where y_n = ignore_index. 'mean' is Σ_n l_n / Σ_n w_{y_n} over the
    non-ignored targets, for both terms; this is torch's definition, in which the
    smoothing term keeps the weights of all classes but the target's weight sets the
    normaliser.

    Class probabilities y_{n,c} (same shape as the input), which label smoothing
    mixes with the uniform distribution, y ← (1 − ε) y + ε/C:

        l_n = −Σ_c w_c y_{n,c} log p_{n,c}

    and 'mean' divides by the number of samples N·d₁·…·d_K, not by a weight sum.

    Both are l_n = −Σ_c q_{n,c} log p_{n,c} for a weighted target q, and the gradient
    is the softmax minus that target, ∂l_n/∂x_{n,j} = p_{n,j} Σ_c q_{n,c} − q_{n,j}
    (p − onehot(y) in the plain case): the error signal of every classifier. The module
    runs the fast path `_ClassNLL` that writes it by hand beside the forward;
    `cross_entropy` is the formula left to autograd.

    The classification loss of the course: maximum likelihood of a categorical
    distribution, i.e. minimising KL(data ‖ model). Label smoothing (Inception-v3)
    stops the logits growing without bound to reach a one-hot target; class weights
    rebalance rare classes; ignore_index skips padding tokens or unlabelled pixels.

    Args:
        weight: rescaling weight of each class, a tensor of size C. Default: None (all 1)
        size_average, reduce: deprecated, see `reduction`. Default: None
        ignore_index: a class-index target that is skipped (index targets only).
            Default: -100
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'
        label_smoothing: ε in [0, 1], the mass moved to the uniform distribution.
            Default: 0.0

    Shape:
        - Input: (N, C), (C) or (N, C, d₁, …, d_K), e.g. (N, C, H, W) for segmentation.
        - Target: class indices (N), () or (N, d₁, …, d_K); or class probabilities of
          the input's shape.
        - Output: scalar; (N), () or (N, d₁, …, d_K) with 'none'.
    """

    __constants__ = ("ignore_index", "reduction", "label_smoothing")

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _ClassNLL.apply(
            input,
            target,
            self.weight,
            self.ignore_index,
            self.label_smoothing,
            self.reduction,
            True,
        )


class _BinaryCrossEntropy(torch.autograd.Function):
    """−[y log x + (1 − y) log(1 − x)] with each log clamped at −100, and torch's gradient.

    The derivative of the clamped formula vanishes exactly where the prediction sits
    at 0 or 1 (a saturated sigmoid in float32, common in GANs), so no learning signal
    would be left. torch therefore writes the gradient from the unclamped derivative,
    flooring only its denominator:

        ∂l/∂x = (x − y) / max(x (1 − x), 1e-12),    ∂l/∂y = log(1 − x) − log x.
    """

    @staticmethod
    def forward(ctx, input: Tensor, target: Tensor) -> Tensor:
        ctx.save_for_backward(input, target)
        log_p = input.log().clamp(min=LOG_FLOOR)
        log_not_p = torch.log1p(-input).clamp(min=LOG_FLOOR)
        return (target - 1) * log_not_p - target * log_p

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        input, target = ctx.saved_tensors
        grad_input = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_input = grad * (input - target) / (input * (1 - input)).clamp(min=BCE_GRAD_EPS)
        if ctx.needs_input_grad[1]:
            grad_target = grad * (torch.log1p(-input) - input.log())
        return grad_input, grad_target


class BCELoss(_WeightedLoss):
    """Binary cross-entropy between predicted probabilities and targets.

        l_n = −w_n [y_n log x_n + (1 − y_n) log(1 − x_n)],   each log clamped at −100

    The Bernoulli likelihood: binary and multi-label classification on a sigmoid
    output, the GAN discriminator's loss (real = 1, fake = 0; one-sided label
    smoothing uses 0.9), a VAE's reconstruction term for binary pixels. The clamp makes
    a prediction of exactly 0 or 1 cost at most 100 instead of ∞ (and 0 · log 0 = 0);
    the gradient is torch's, see `_BinaryCrossEntropy`. `BCEWithLogitsLoss` is the
    stabler choice when the scores are at hand.

    Args:
        weight: rescaling weight w, broadcast to the input (e.g. one per element or per
            batch sample). Default: None
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input: (*), probabilities in [0, 1]. Target: (*), same shape, values in [0, 1].
        - Output: scalar; (*) with 'none'.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if target.shape != input.shape:
            raise ValueError(f"target size {target.shape} differs from input size {input.shape}")
        loss = _BinaryCrossEntropy.apply(input, target)
        if self.weight is not None:
            loss = loss * self.weight
        return reduce(loss, self.reduction)


def _logistic_terms(
    input: Tensor, target: Tensor, log_sigmoid_input: Tensor, pos_weight: Tensor | None
) -> Tensor:
    """(1 − y) x − (1 + (p − 1) y) log σ(x), BCE with logits before the weight w."""
    log_likelihood = log_sigmoid_input
    if pos_weight is not None:
        log_likelihood = log_likelihood * (1 + (pos_weight - 1) * target)
    return torch.addcmul(input - log_likelihood, target, input, value=-1)  # x − L log σ − y x


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE with logits as its formula, autograd deriving the gradient (the lesson)."""
    loss = _logistic_terms(input, target, log_sigmoid(input), pos_weight)
    return reduce(loss if weight is None else loss * weight, reduction)


class _BinaryCrossEntropyWithLogits(torch.autograd.Function):
    """BCE with logits with its derivatives by hand: the fast path of `BCEWithLogitsLoss`.

    With (log σ)′(x) = 1 − σ(x) and the positive scale L = 1 + (p − 1) y:

        ∂l/∂x = w [(1 − y) − L (1 − σ(x))] = w [L σ(x) − p y]     (w [σ(x) − y] for p = 1)
        ∂l/∂y = w [−x − (p − 1) log σ(x)]                          (−w x for p = 1)

    σ(x) = e^{log σ(x)} reuses the forward's log σ(x) (≤ 0, so the exponential is in
    [0, 1]). Under `create_graph` the backward recomputes log σ(x) from the saved input,
    so autograd records its dependence and second derivatives come out right.
    """

    @staticmethod
    def forward(
        ctx: Any,
        input: Tensor,
        target: Tensor,
        weight: Tensor | None,
        pos_weight: Tensor | None,
        reduction: str,
    ) -> Tensor:
        log_sigmoid_input = log_sigmoid(input)
        ctx.save_for_backward(input, target, weight, pos_weight, log_sigmoid_input)
        loss = _logistic_terms(input, target, log_sigmoid_input, pos_weight)
        return _reduce_saving(ctx, loss if weight is None else loss * weight, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target, weight, pos_weight, log_sigmoid_input = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: record how log σ(x) depends on x
            log_sigmoid_input = log_sigmoid(input)
        grad = _grad_per_element(ctx, grad)
        if weight is not None:
            grad = grad * weight
        grad_input = grad_target = None
        if ctx.needs_input_grad[0]:
            sigmoid_input = log_sigmoid_input.exp()
            if pos_weight is None:  # σ(x) − y
                slope = sigmoid_input - target
            else:  # L σ(x) − p y
                slope = (1 + (pos_weight - 1) * target) * sigmoid_input - pos_weight * target
            grad_input = slope * grad
        if ctx.needs_input_grad[1]:
            slope = -input  # −x − (p − 1) log σ(x)
            if pos_weight is not None:
                slope = slope - (pos_weight - 1) * log_sigmoid_input
            grad_target = slope * grad
        return grad_input, grad_target, None, None, None


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy on scores (logits): a sigmoid and BCE in one stable step.

        l_n = −w_n [p y_n log σ(x_n) + (1 − y_n) log(1 − σ(x_n))]
            = w_n [(1 − y_n) x_n − (1 + (p − 1) y_n) log σ(x_n)]

    using log(1 − σ(x)) = log σ(x) − x, with log σ(x) = min(x, 0) − log(1 + e^(−|x|)):
    finite for every x (no log of a rounded-to-1 sigmoid), and the gradient is
    σ(x) − y without pos_weight. For p = 1 this is max(x, 0) − x y + log(1 + e^(−|x|)).
    pos_weight p > 1 raises recall (a positive counts p times; p = #negatives /
    #positives balances the classes), p < 1 raises precision. The loss of a GAN
    discriminator that outputs scores, and of multi-label classification. The module
    runs the fast path `_BinaryCrossEntropyWithLogits` (derivatives by hand);
    `binary_cross_entropy_with_logits` is the formula left to autograd.

    Args:
        weight: rescaling weight w, broadcast to the input. Default: None
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'
        pos_weight: weight p of the positive examples, broadcast along the last
            dimension (one per class). Default: None (1)

    Shape:
        - Input: (*), scores. Target: (*), same shape, values in [0, 1].
        - Output: scalar; (*) with 'none'.
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", pos_weight)
        self.pos_weight: Tensor | None

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if target.shape != input.shape:
            raise ValueError(f"target size {target.shape} differs from input size {input.shape}")
        return _BinaryCrossEntropyWithLogits.apply(
            input, target, self.weight, self.pos_weight, self.reduction
        )


def soft_margin_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The soft margin loss as its formula, −log σ(y x), autograd deriving the gradient."""
    return reduce(-log_sigmoid(target.detach() * input), reduction)


class _SoftMargin(torch.autograd.Function):
    """−log σ(y x), reduced, with its derivative by hand: the fast path of `SoftMarginLoss`.

        ∂l/∂x = −y (1 − σ(y x)) = y (σ(y x) − 1),

    with σ(y x) = e^{log σ(y x)} from the forward. The target takes no gradient, as in
    torch; under `create_graph` log σ(y x) is recomputed so that autograd records it.
    """

    @staticmethod
    def forward(ctx: Any, input: Tensor, target: Tensor, reduction: str) -> Tensor:
        log_sigmoid_margin = log_sigmoid(target * input)
        ctx.save_for_backward(input, target, log_sigmoid_margin)
        return _reduce_saving(ctx, -log_sigmoid_margin, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target, log_sigmoid_margin = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: record how log σ(y x) depends on x
            log_sigmoid_margin = log_sigmoid(target * input)
        slope = target * (log_sigmoid_margin.exp() - 1)  # y (σ(y x) − 1)
        return _unbroadcast(slope * _grad_per_element(ctx, grad), input), None, None


class SoftMarginLoss(_Loss):
    """Two-class logistic loss with labels y ∈ {−1, 1}.

        l_n = log(1 + e^(−y_n x_n)) = −log σ(y_n x_n)

    BCE with logits written for ±1 labels: a soft version of the hinge max(0, −y x),
    penalising every margin y x, the smaller the more. Computed as −log σ, which stays
    finite where e^(−y x) would overflow; the target takes no gradient, as in torch.
    The module runs the fast path `_SoftMargin`, gradient y (σ(y x) − 1) by hand;
    `soft_margin_loss` is the formula left to autograd.

    Args:
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input: (*), scores. Target: (*), same shape, values ±1.
        - Output: scalar; (*) with 'none'.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _SoftMargin.apply(input, target, self.reduction)


# ---------------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------------


class KLDivLoss(_Loss):
    """Kullback–Leibler divergence KL(y ‖ q) = Σ y (log y − log q), input given as log q.

        l_n = y_n (log y_n − x_n)           (target y as probabilities, 0 log 0 = 0)
        l_n = e^(y_n) (y_n − x_n)           (log_target: target given as log y)

    The input x is the model's log-probabilities (a `LogSoftmax` output) and the target
    the data's distribution; the order is the reverse of the notation KL(P ‖ Q) with P
    the data. Used for a VAE's KL regulariser against the prior, for knowledge
    distillation, and to show that maximum likelihood minimises KL(data ‖ model).

    Note: 'mean' divides by every element (batch and classes), which is not the KL
    divergence; 'batchmean' (Σ l / N) is the mathematically correct one.

    Args:
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'batchmean' | 'mean' | 'sum'. Default: 'mean'
        log_target: whether the target is given as log-probabilities. Default: False

    Shape:
        - Input: (*), log-probabilities. Target: (*), same shape.
        - Output: scalar; (*) with 'none'.
    """

    __constants__ = ("reduction", "log_target")

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.log_target:
            loss = target.exp() * (target - input)
        else:
            loss = torch.xlogy(target, target) - target * input  # xlogy: 0 log 0 = 0
        if self.reduction == "batchmean":
            batch_size = input.shape[0] if input.dim() > 0 else 1
            return loss.sum() / batch_size
        return reduce(loss, self.reduction)


# ---------------------------------------------------------------------------------------------
# Metric learning: margins, similarities and distances
# ---------------------------------------------------------------------------------------------


class _MarginLoss(_Loss):
    """A loss with a `margin` before torch's reduction arguments: MarginRankingLoss,
    HingeEmbeddingLoss, CosineEmbeddingLoss and TripletMarginLoss (which adds p, eps, swap).
    """

    __constants__ = ("margin", "reduction")

    def __init__(
        self,
        margin: float = 0.0,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class MarginRankingLoss(_MarginLoss):
    """Ranking loss: x₁ should beat x₂ by at least the margin when y = 1 (lose when y = −1).

        l_n = max(0, −y_n (x1_n − x2_n) + margin)

    Learning to rank from pairs (search results, preferences, scores of two
    embeddings' similarities); zero once every pair is ordered with room to spare.

    Args:
        margin: the required gap. Default: 0.0
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input1, Input2: (N) or (). Target: same shape, values ±1.
        - Output: scalar; (N) with 'none'.
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        loss = (-target * (input1 - input2) + self.margin).clamp(min=0)
        return reduce(loss, self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """Hinge embedding loss, on a distance x between two things labelled similar (1) or not (−1).

        l_n = x_n                        if y_n = 1
              max(0, margin − x_n)       if y_n = −1

    Similar pairs are pulled together (their distance itself is the loss), dissimilar
    ones pushed at least `margin` apart: contrastive learning of embeddings and
    semi-supervised learning. As in torch, a label that is neither 1 nor −1 takes both
    terms.

    Args:
        margin: the distance beyond which dissimilar pairs cost nothing. Default: 1.0
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input: (*), distances. Target: (*), same shape, values ±1.
        - Output: scalar; (*) with 'none'.
    """

    def __init__(
        self,
        margin: float = 1.0,  # torch's default for this loss; `_MarginLoss`'s is 0.0
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        push_apart = torch.where(target != 1, (self.margin - input).clamp(min=0), 0)
        pull_together = torch.where(target != -1, input, 0)
        return reduce(push_apart + pull_together, self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """Cosine embedding loss: similar pairs (y = 1) aligned, dissimilar ones (y = −1) apart.

        cos_n = x1_n · x2_n / sqrt((‖x1_n‖² + ε)(‖x2_n‖² + ε)),   ε = 1e-12

        l_n = 1 − cos_n                  if y_n = 1
              max(0, cos_n − margin)     if y_n = −1

    Metric learning on directions only (lengths do not matter): face and sentence
    embeddings. ε, torch's, keeps zero vectors from dividing by zero. A margin of 0 to
    0.5 is suggested.

    Args:
        margin: the cosine below which dissimilar pairs cost nothing, in [−1, 1].
            Default: 0.0
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Input1, Input2: (N, D) or (D). Target: (N) or (), values ±1.
        - Output: scalar; (N) or () with 'none'.
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        dim = input1.dim() - 1  # the feature dimension D
        dot = (input1 * input2).sum(dim)  # (N)
        norm_product = (
            ((input1 * input1).sum(dim) + COSINE_EPS) * ((input2 * input2).sum(dim) + COSINE_EPS)
        ).sqrt()
        cos = dot / norm_product
        similar = torch.where(target == 1, 1 - cos, 0)
        dissimilar = torch.where(target == -1, (cos - self.margin).clamp(min=0), 0)
        return reduce(similar + dissimilar, self.reduction)


def _pairwise_distance(x1: Tensor, x2: Tensor, p: float, eps: float) -> Tensor:
    """‖x1 − x2 + ε‖_p over the last dimension (torch's `pairwise_distance`)."""
    return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)


class TripletMarginLoss(_MarginLoss):
    """Triplet margin loss: an anchor nearer its positive than its negative, by a margin.

        l_n = max(0, d(a_n, p_n) − d(a_n, n_n) + margin),   d(x, y) = ‖x − y + ε‖_p

    Metric learning (FaceNet): embeddings of the same identity cluster, others stay
    `margin` further away. The ε inside the norm (torch's `pairwise_distance`) keeps
    the p-norm differentiable when two embeddings coincide. With `swap`, the negative
    distance is min(d(a, n), d(p, n)): the harder of the two (Balntas et al., 2016).

    Args:
        margin: the required gap between the distances, > 0. Default: 1.0
        p: the norm degree of the distance. Default: 2.0
        eps: the constant added to the difference before the norm. Default: 1e-6
        swap: use the distance swap. Default: False
        size_average, reduce: deprecated, see `reduction`. Default: None
        reduction: 'none' | 'mean' | 'sum'. Default: 'mean'

    Shape:
        - Anchor, positive, negative: (N, D) or (D).
        - Output: scalar; (N) or () with 'none'.
    """

    __constants__ = ("margin", "p", "eps", "swap", "reduction")

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(margin, size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss needs margin > 0, got {margin}")
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        distance_positive = _pairwise_distance(anchor, positive, self.p, self.eps)  # (N)
        distance_negative = _pairwise_distance(anchor, negative, self.p, self.eps)
        if self.swap:
            distance_swap = _pairwise_distance(positive, negative, self.p, self.eps)
            distance_negative = torch.minimum(distance_negative, distance_swap)
        loss = (self.margin + distance_positive - distance_negative).clamp(min=0)
        return reduce(loss, self.reduction)
