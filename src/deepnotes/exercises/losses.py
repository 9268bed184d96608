"""Exercises on activations and losses: a stable softmax with its log, the sigmoid with its
derivative, and cross-entropy with label smoothing, class weights and an ignored index."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from deepnotes.exercises.base import Case, Exercise, Mistake, gradients, randn, register
from deepnotes.nn import activations, losses

# ----------------------------------------------------------------------------- softmax

SOFTMAX_STARTER = '''\
import torch
from torch import Tensor


def softmax(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Softmax and log-softmax of x along `dim` (notes line 193: Softmax, LogSoftmax).

        softmax(x)ᵢ = e^{xᵢ} / Σⱼ e^{xⱼ},      log_softmax(x)ᵢ = xᵢ − log Σⱼ e^{xⱼ},

    sums over j along `dim` (negative dims count from the end). Both are unchanged when a
    constant is added along `dim`: subtract the maximum m first (the log-sum-exp trick,
    log Σⱼ e^{xⱼ} = m + log Σⱼ e^{xⱼ − m}) so that no exponent is positive. The cases hold
    entries near ±1000, where e^{x} overflows (inf) and e^{x − m} underflows to 0, and
    log_softmax must still be finite. Gradients are compared too (autograd is fine).

    Shape: x (*) → (softmax, log_softmax), each of x's shape.
    """
    # TODO: shift by the maximum along dim, then both outputs
    raise NotImplementedError("softmax")
'''


def softmax(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The package's `deepnotes.nn.activations.softmax` and `log_softmax`."""
    return activations.softmax(x, dim), activations.log_softmax(x, dim)


def softmax_without_max_subtraction(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The mistake: e^{x} straight from the formula, which overflows for x ≳ 709 (float64)."""
    exps = x.exp()
    total = exps.sum(dim, keepdim=True)
    return exps / total, x - total.log()


def log_softmax_as_log_of_softmax(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The mistake: a stable softmax, and its log taken afterwards: −inf where it underflows."""
    shifted = x - x.amax(dim, keepdim=True)
    exps = shifted.exp()
    probabilities = exps / exps.sum(dim, keepdim=True)
    return probabilities, probabilities.log()


def softmax_along_the_last_dim(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The mistake: normalised along the last dim whatever `dim` says."""
    return activations.softmax(x, -1), activations.log_softmax(x, -1)


def softmax_cases(rng: random.Random) -> list[Case]:
    """Vectors first, then 2-D and 3-D inputs, every dim (negative ones too); inputs of
    scale 1, offset by ±1000 (the plain formula overflows), and of scale 1000 (the
    softmax underflows to 0 where log_softmax is finite)."""
    cases: list[Case] = []
    for index in range(18):
        rank = 1 if index < 3 else rng.randint(2, 3)
        shape = tuple(rng.randint(1, 2 + index // 3) for _ in range(rank))
        kind = ("scale 1", "offset ±1000", "scale 1000")[index % 3]
        x = randn(rng, *shape)
        if kind == "offset ±1000":
            x = x + rng.choice((-1000.0, 1000.0))
        elif kind == "scale 1000":
            x = x * 1000
        dim = rng.randint(-rank, rank - 1)
        inputs = {"x": x, "dim": dim, "cotangents": (randn(rng, *shape), randn(rng, *shape))}
        cases.append(Case(f"dim={dim}; x of shape {shape}, {kind}", inputs))
    return cases


def run_softmax(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """Each output's gradient from a call of its own (a graph is walked once)."""
    cotangent, log_cotangent = case.inputs["cotangents"]
    x = case.inputs["x"].clone().requires_grad_()
    probabilities, _ = implementation(x, case.inputs["dim"])
    (grad,) = gradients([probabilities], [x], [cotangent])
    x = case.inputs["x"].clone().requires_grad_()
    _, log_probabilities = implementation(x, case.inputs["dim"])
    (log_grad,) = gradients([log_probabilities], [x], [log_cotangent])
    return {
        "softmax": probabilities,
        "log_softmax": log_probabilities,
        "gradient through softmax": grad,
        "gradient through log_softmax": log_grad,
    }


register(
    "softmax",
    Exercise(
        title="A stable softmax and log-softmax",
        topic="5. Activations",
        entry="softmax",
        starter=SOFTMAX_STARTER,
        reference=softmax,
        cases=softmax_cases,
        run=run_softmax,
        solution=(
            "deepnotes.nn.activations.softmax_formula",
            "deepnotes.nn.activations.log_softmax_formula",
        ),
        hints=(
            "e^{1000} is inf in float64: shift x so that its largest entry along dim is 0; the "
            "result does not change.",
            "m = x.amax(dim, keepdim=True); shifted = x − m; softmax = e^{shifted}/Σ e^{shifted}.",
            "Do not take the log of the softmax (it is 0 where it underflows): log_softmax = "
            "shifted − log Σ e^{shifted}, the sum along dim with keepdim=True.",
        ),
        mistakes=(
            Mistake(
                "softmax-without-max-subtraction",
                "e^{x} is taken straight from the formula, so inputs near 1000 overflow to inf "
                "and the outputs are nan.",
                "Goodfellow, Bengio & Courville, Deep Learning (2016), section 4.1: softmax(z) "
                "with z = x − maxᵢ xᵢ",
                softmax_without_max_subtraction,
            ),
            Mistake(
                "log-softmax-as-log-of-softmax",
                "log_softmax is the log of the softmax, which is −inf wherever the softmax "
                "underflows to 0.",
                "torch.nn.functional.log_softmax documentation: doing log(softmax(x)) "
                "separately is slower and numerically unstable",
                log_softmax_as_log_of_softmax,
            ),
            Mistake(
                "softmax-along-the-last-dim",
                "The softmax is taken along the last dim, whatever dim is given.",
                "torch.nn.Softmax documentation: dim, the dimension along which the outputs "
                "sum to 1",
                softmax_along_the_last_dim,
            ),
        ),
    ),
)

# ----------------------------------------------------------------------------- sigmoid

SIGMOID_STARTER = '''\
import torch
from torch import Tensor


def sigmoid_and_derivative(x: Tensor) -> tuple[Tensor, Tensor]:
    """The logistic sigmoid and its derivative, element-wise (notes line 193: the sigmoid
    saturates, "the gradient at that region is going to be small").

        σ(x) = 1/(1 + e^{−x}),      σ′(x) = σ(x)·(1 − σ(x)).

    The cases hold inputs up to ±1000: keep every intermediate finite (e^{1000} is inf,
    and inf/inf is nan). Return σ′ as values (not through autograd).

    Shape: x (*) → (σ(x), σ′(x)), each of x's shape.
    """
    # TODO: σ, then its derivative from σ
    raise NotImplementedError("sigmoid_and_derivative")
'''


def sigmoid_and_derivative(x: Tensor) -> tuple[Tensor, Tensor]:
    """σ by `deepnotes.nn.activations.sigmoid`, σ′ by its hand-written backward (the
    derivative of an element-wise function is the gradient of the sum of its outputs)."""
    leaf = x.detach().requires_grad_()
    with torch.enable_grad():
        y = activations.sigmoid(leaf)
        (slope,) = gradients([y], [leaf], [torch.ones_like(y)])
    return y.detach(), slope


def sigmoid_as_ratio_of_exponentials(x: Tensor) -> tuple[Tensor, Tensor]:
    """The mistake: σ = e^{x}/(1 + e^{x}), which is inf/inf = nan for x ≳ 710."""
    exps = x.exp()
    y = exps / (1 + exps)
    return y, y * (1 - y)


def sigmoid_derivative_from_x(x: Tensor) -> tuple[Tensor, Tensor]:
    """The mistake: σ′ = x(1 − x), the formula σ(1 − σ) applied to the input."""
    return torch.sigmoid(x), x * (1 - x)


def sigmoid_cases(rng: random.Random) -> list[Case]:
    """Shapes from one element to three dims; inputs of scale 1 and 10, and in every third
    case three entries set to −1000, 0 and +1000 (where e^{∓x} overflows)."""
    cases: list[Case] = []
    for index in range(15):
        shape = tuple(rng.randint(1, 2 + index // 3) for _ in range(rng.randint(1, 3)))
        scale = rng.choice((1.0, 10.0))
        extremes = index % 3 == 2
        if extremes:  # at least three entries, so that each holds one of −1000, 0 and +1000
            shape = (*shape[:-1], max(shape[-1], 3))
        x = randn(rng, *shape) * scale
        if extremes:
            flat = x.view(-1)
            positions = rng.sample(range(flat.numel()), 3)
            flat[positions] = torch.tensor([-1000.0, 0.0, 1000.0], dtype=flat.dtype)
        text = f"x of shape {shape}, scale {scale}" + (", with 0 and ±1000" if extremes else "")
        cases.append(Case(text, {"x": x}))
    return cases


def run_sigmoid(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    y, slope = implementation(case.inputs["x"])
    return {"sigmoid": y, "derivative": slope}


register(
    "sigmoid-and-derivative",
    Exercise(
        title="The sigmoid and its derivative, stable at ±1000",
        topic="5. Activations",
        entry="sigmoid_and_derivative",
        starter=SIGMOID_STARTER,
        reference=sigmoid_and_derivative,
        cases=sigmoid_cases,
        run=run_sigmoid,
        solution=(
            "deepnotes.nn.activations.sigmoid_formula",
            "deepnotes.nn.activations._SigmoidRule",
        ),
        hints=(
            "σ′ follows from σ itself: differentiate 1/(1 + e^{−x}) and write the result with σ.",
            "σ′ = σ·(1 − σ), computed from σ(x), not from x.",
            "1/(1 + e^{−x}) is safe in IEEE arithmetic (e^{1000} = inf gives 1/inf = 0); "
            "e^{x}/(1 + e^{x}) is not (inf/inf = nan). Or use z = e^{−|x|} and "
            "torch.where(x ≥ 0, 1/(1 + z), z/(1 + z)).",
        ),
        mistakes=(
            Mistake(
                "sigmoid-derivative-without-one-minus",
                "The derivative is written σ(x) instead of σ(x)(1 − σ(x)): it never vanishes.",
                "notes line 193: the sigmoid's gradient is small where it saturates",
            ),
            Mistake(
                "sigmoid-derivative-from-x",
                "The derivative σ(1 − σ) is computed from x instead of σ(x).",
                "notes line 193: the sigmoid's gradient is small where it saturates",
                sigmoid_derivative_from_x,
            ),
            Mistake(
                "sigmoid-as-ratio-of-exponentials",
                "σ is computed as e^{x}/(1 + e^{x}), which is inf/inf = nan for large x.",
                "Goodfellow, Bengio & Courville, Deep Learning (2016), section 4.1: overflow",
                sigmoid_as_ratio_of_exponentials,
            ),
        ),
    ),
)

# ----------------------------------------------------------------------------- cross-entropy

CROSS_ENTROPY_STARTER = '''\
import torch
from torch import Tensor


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy from logits with label smoothing, as torch.nn.functional.cross_entropy.

    With log p_{n,c} = log_softmax(logits)_{n,c}, C classes, ε = label_smoothing and
    class weights w (all 1 when weight is None), each row n whose target y_n is not
    ignore_index costs

        l_n = −(1 − ε)·w_{y_n}·log p_{n,y_n} − (ε/C)·Σ_c w_c·log p_{n,c}

    (the target mixes the one-hot with the uniform distribution over all C classes:
    Szegedy et al., "Rethinking the Inception Architecture", 2016, section 7); an ignored
    row costs 0. reduction: "none" → (l_n) of shape (N,); "sum" → Σ_n l_n; "mean" →
    Σ_n l_n / Σ_n w_{y_n} over the rows not ignored (the weighted mean; at least one row
    is kept in every case). ignore_index may also be a valid class.

    Shape: logits (N, C) float, target (N,) long with values in [0, C) or ignore_index,
    weight (C,) → a scalar, or (N,) for "none". Gradients are compared too.
    """
    # TODO: log-softmax, the smoothed and weighted cost per row, the reduction
    raise NotImplementedError("cross_entropy")
'''


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """The package's `deepnotes.nn.losses.cross_entropy`."""
    return losses.cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing)


def _per_row_cost(
    logits: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, smoothed: Tensor
) -> tuple[Tensor, Tensor]:
    """−Σ_c q_{n,c} log p_{n,c} for each row (0 where ignored), and w_{y_n} (0 where
    ignored), given the smoothed target q without its weights."""
    kept = target != ignore_index  # (N,)
    class_weight = torch.ones_like(logits[0]) if weight is None else weight  # (C,)
    log_probabilities = activations.log_softmax(logits, 1)  # (N, C)
    cost = -(smoothed * class_weight * log_probabilities).sum(1) * kept  # (N,)
    return cost, class_weight[target * kept] * kept


def _reduced(cost: Tensor, total_weight: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return cost
    return cost.sum() if reduction == "sum" else cost.sum() / total_weight


def cross_entropy_smoothing_over_the_other_classes(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """The mistake: the target keeps 1 − ε and spreads ε over the C − 1 other classes."""
    num_classes = logits.shape[1]
    safe_target = target * (target != ignore_index)
    one_hot = torch.nn.functional.one_hot(safe_target, num_classes).to(logits.dtype)  # (N, C)
    smoothed = (1 - label_smoothing) * one_hot + label_smoothing / (num_classes - 1) * (1 - one_hot)
    cost, target_weight = _per_row_cost(logits, target, weight, ignore_index, smoothed)
    return _reduced(cost, target_weight.sum(), reduction)


def cross_entropy_without_smoothing(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """The mistake: label_smoothing is accepted and ignored."""
    return losses.cross_entropy(logits, target, weight, ignore_index, reduction, 0.0)


def cross_entropy_mean_over_all_rows(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """The mistake: "mean" averages the N per-row costs, ignored rows and weights included."""
    cost = losses.cross_entropy(logits, target, weight, ignore_index, "none", label_smoothing)
    return cost.mean() if reduction == "mean" else losses.reduce(cost, reduction)


def cross_entropy_cases(rng: random.Random) -> list[Case]:
    """Batches of 1 to 9 rows and 2 to 7 classes; label smoothing 0 and up to 0.3; no weight
    and positive class weights; no ignored row, ignore_index −100 on some rows or a valid
    class; every reduction."""
    cases: list[Case] = []
    for index in range(20):
        n, c = rng.randint(1, 2 + index // 3), rng.randint(2, 3 + index // 4)
        target = torch.tensor([rng.randrange(c) for _ in range(n)])
        ignore_index = -100
        if index % 3 == 1 and n > 1:  # some rows ignored, one at least kept
            ignore_index = rng.choice((-100, rng.randrange(c)))
            for row in rng.sample(range(1, n), rng.randint(1, n - 1)):
                target[row] = ignore_index
            target[0] = (ignore_index + 1) % c if target[0] == ignore_index else target[0]
        weight = None if index % 2 == 0 else 0.2 + randn(rng, c).abs()
        settings = {
            "ignore_index": ignore_index,
            "reduction": ("mean", "sum", "none", "mean")[index % 4],
            "label_smoothing": rng.choice((0.0, 0.1, 0.2, 0.3)) if index else 0.1,
        }
        logits = randn(rng, n, c) * (1 + 2 * rng.random())
        cotangent = randn(rng, n) if settings["reduction"] == "none" else randn(rng, ())
        inputs = dict(logits=logits, target=target, weight=weight, **settings)
        text = f"N={n}, C={c}, weight={'None' if weight is None else 'given'}, " + ", ".join(
            f"{key}={value!r}" for key, value in settings.items()
        )
        cases.append(Case(text, dict(inputs, cotangent=cotangent)))
    return cases


def run_cross_entropy(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    inputs = dict(case.inputs)
    cotangent = inputs.pop("cotangent")
    logits = inputs.pop("logits").clone().requires_grad_()
    loss = implementation(logits, **inputs)
    (grad,) = gradients([loss], [logits], [cotangent])
    return {"loss": loss, "gradient": grad}


register(
    "cross-entropy-label-smoothing",
    Exercise(
        title="Cross-entropy with label smoothing, class weights and an ignored index",
        topic="6. Losses and augmentation",
        entry="cross_entropy",
        starter=CROSS_ENTROPY_STARTER,
        reference=cross_entropy,
        cases=cross_entropy_cases,
        run=run_cross_entropy,
        solution=("deepnotes.nn.losses.cross_entropy", "deepnotes.nn.losses._class_nll"),
        hints=(
            "Start from log p = log_softmax(logits) along dim 1 (stable), and write the "
            "smoothed target q as a matrix (N, C) before weighting it.",
            "q_{n,c} = (1 − ε)·[c = y_n] + ε/C, over all C classes, the target's included; "
            "the cost is −Σ_c w_c·q_{n,c}·log p_{n,c} except that the one-hot part weighs "
            "w_{y_n}: both are w_c·q_{n,c}.",
            "Mask ignored rows to 0 (index with target·kept so the gather is valid); "
            "'mean' divides Σ l_n by Σ_n w_{y_n}·kept_n, not by N.",
        ),
        mistakes=(
            Mistake(
                "label-smoothing-over-the-other-classes",
                "The smoothing mass ε is spread over the C − 1 other classes (ε/(C − 1)) "
                "instead of over all C classes (ε/C, the target's own included).",
                "Szegedy et al. (2016), section 7: q′(k) = (1 − ε)δ_{k,y} + ε/K; "
                "torch.nn.CrossEntropyLoss documentation, label_smoothing",
                cross_entropy_smoothing_over_the_other_classes,
            ),
            Mistake(
                "label-smoothing-not-applied",
                "label_smoothing is accepted but not applied: the target stays one-hot.",
                "torch.nn.CrossEntropyLoss documentation, label_smoothing",
                cross_entropy_without_smoothing,
            ),
            Mistake(
                "cross-entropy-mean-over-all-rows",
                "'mean' averages the N per-row costs, counting ignored rows as zeros and not "
                "dividing by the targets' total class weight.",
                "torch.nn.CrossEntropyLoss documentation: 'mean' is Σ l_n / Σ w_{y_n}·"
                "1{y_n ≠ ignore_index}",
                cross_entropy_mean_over_all_rows,
            ),
        ),
    ),
)
