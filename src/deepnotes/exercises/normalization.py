"""Exercises on normalisation and dropout: BatchNorm2d with its running statistics, LayerNorm,
and inverted dropout."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.exercises.base import Case, Exercise, Mistake, gradients, randn, register
from deepnotes.nn import batchnorm, functional, norm

# ----------------------------------------------------------------------------- shared


def _set_affine(module: nn.Module, values: Mapping[str, Tensor]) -> None:
    """Give the module's γ (`weight`) and β (`bias`) the case's values, where it has them, so
    that a layer that ignores them is caught (ones and zeros would hide it)."""
    with torch.no_grad():
        for name, value in values.items():
            tensor = getattr(module, name, None)
            if isinstance(tensor, Tensor):
                tensor.copy_(value)


def _named_parameters(module: nn.Module) -> tuple[list[str], list[Tensor]]:
    """The module's parameters, sorted by name: the names and the tensors."""
    named = sorted(module.named_parameters())
    return [name for name, _ in named], [tensor for _, tensor in named]


def _settings(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in values.items())


# ----------------------------------------------------------------------------- BatchNorm2d

BATCHNORM_STARTER = '''\
import torch
from torch import Tensor, nn


class BatchNorm2d(nn.Module):
    """Batch normalisation of images (N, C, H, W), as torch.nn.BatchNorm2d.

    Training: each channel c is normalised with the mean and the *biased* variance of
    its m = N·H·W values in the batch (notes line 125; Ioffe & Szegedy, 2015):

        μ_c = (1/m) Σ x,   σ²_c = (1/m) Σ (x − μ_c)²,
        y = γ_c · (x − μ_c)/√(σ²_c + ε) + β_c,

    and, if track_running_stats, the running estimates move towards the batch's, with the
    *unbiased* variance σ²_c·m/(m − 1) and without autograd history (torch.no_grad):

        running_mean ← (1 − momentum)·running_mean + momentum·μ_c
        running_var  ← (1 − momentum)·running_var  + momentum·σ²_c·m/(m − 1)

    momentum=None uses 1/t at the t-th training batch instead (count them in the buffer
    num_batches_tracked, a long tensor). Evaluation (self.training False) normalises with
    running_mean and running_var; without track_running_stats there are none
    (set them to None) and the batch statistics are used in both modes.

    γ and β: learned nn.Parameters named `weight` (ones) and `bias` (zeros), of shape
    (C,), only when affine; buffers (register_buffer) running_mean (zeros) and
    running_var (ones), shape (C,). The notes' version (lines 148, 156, 159) has three
    faults: find them.

    Shape: x (N, C, H, W) → y (N, C, H, W).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        # TODO: the settings, the parameters weight and bias, the buffers
        raise NotImplementedError("BatchNorm2d.__init__")

    def forward(self, x: Tensor) -> Tensor:
        # TODO: batch statistics (and the running update) in training, running ones in evaluation
        raise NotImplementedError("BatchNorm2d.forward")
'''


class BatchNorm2d(batchnorm.BatchNorm2d):
    """The package's `deepnotes.nn.batchnorm.BatchNorm2d`, in the exercise's signature."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)


class BatchNorm2dEvaluatedWithBatchStatistics(BatchNorm2d):
    """The mistake: evaluation normalises with the batch's statistics, as training does."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return super().forward(x)
        per_channel = (x.shape[1], 1, 1)  # γ, β against (N, C, H, W)
        y, _, _ = norm.normalize(
            x, self.weight, self.bias, x.shape, (0, 2, 3), per_channel, self.eps
        )
        return y


class BatchNorm2dWithMomentumReversed(BatchNorm2d):
    """The mistake: running ← momentum·running + (1 − momentum)·batch, the weights swapped."""

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, biased_var: Tensor, count: int) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean, 1 - factor)
        self.running_var.lerp_(biased_var * (count / (count - 1)), 1 - factor)


def batchnorm_cases(rng: random.Random) -> list[Case]:
    """A few training batches, then one in evaluation: N from 1 (with H·W > 1), C up to 4,
    odd sizes, every eps, momentum (None too), affine and track_running_stats."""
    cases: list[Case] = []
    for index in range(14):
        c = rng.randint(1, 2 + index // 4)
        n, h, w = rng.randint(1, 2 + index // 3), rng.randint(1, 4), rng.randint(1, 5)
        if n * h * w == 1:  # a channel of one value has no variance
            w = 2
        settings: dict[str, Any] = {
            "num_features": c,
            "eps": rng.choice((1e-5, 1e-3, 0.1)),
            "momentum": rng.choice((0.1, 0.1, 0.5, None)),
            "affine": index % 4 != 3,
            "track_running_stats": index % 5 != 4,
        }
        steps = rng.randint(1, 3)
        scale, shift = 0.5 + 2 * rng.random(), 3 * rng.random() - 1.5  # so the stats matter
        inputs = dict(
            settings,
            batches=[randn(rng, n, c, h, w) * scale + shift for _ in range(steps)],
            cotangents=[randn(rng, n, c, h, w) for _ in range(steps)],
            # evaluation without running statistics needs 2 values per channel too
            evaluation_batch=randn(rng, rng.randint(1 + (h * w == 1), 3), c, h, w) * scale + shift,
            affine_values={"weight": 1 + 0.5 * randn(rng, c), "bias": randn(rng, c)},
        )
        inputs["evaluation_cotangent"] = randn(rng, *inputs["evaluation_batch"].shape)
        text = f"{_settings(settings)}; {steps} training batches of {(n, c, h, w)}, then evaluation"
        cases.append(Case(text, inputs))
    return cases


def run_batchnorm(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    inputs = case.inputs
    settings = ("num_features", "eps", "momentum", "affine", "track_running_stats")
    module = implementation(**{key: inputs[key] for key in settings}).double()
    _set_affine(module, inputs["affine_values"])
    names, parameters = _named_parameters(module)
    outputs: dict[str, list[Any]] = {
        "training outputs": [],
        "training input gradients": [],
        "training parameter gradients": [],
    }
    module.train()
    for batch, cotangent in zip(inputs["batches"], inputs["cotangents"], strict=True):
        x = batch.clone().requires_grad_()
        y = module(x)
        grad_x, *grad_parameters = gradients([y], [x, *parameters], [cotangent])
        outputs["training outputs"].append(y)
        outputs["training input gradients"].append(grad_x)
        outputs["training parameter gradients"].append(grad_parameters)
    running = [getattr(module, name, None) for name in ("running_mean", "running_var")]
    module.eval()
    x = inputs["evaluation_batch"].clone().requires_grad_()
    y = module(x)
    grad_x, *grad_parameters = gradients([y], [x, *parameters], [inputs["evaluation_cotangent"]])
    return {
        **outputs,
        "parameter names": names,
        "running_mean": running[0],
        "running_var": running[1],
        "running statistics carry autograd history": any(
            isinstance(t, Tensor) and t.requires_grad for t in running
        ),
        "evaluation output": y,
        "evaluation input gradient": grad_x,
        "evaluation parameter gradients": grad_parameters,
    }


register(
    "batchnorm2d",
    Exercise(
        title="BatchNorm2d: batch statistics in training, running estimates in evaluation",
        topic="4. BatchNorm",
        entry="BatchNorm2d",
        starter=BATCHNORM_STARTER,
        reference=BatchNorm2d,
        cases=batchnorm_cases,
        run=run_batchnorm,
        solution=(
            "deepnotes.nn.batchnorm._BatchNorm",
            "deepnotes.nn.batchnorm.affine_parameters",
            "deepnotes.nn.norm.standardize",
        ),
        hints=(
            "Three things differ from the notes' code: what γ and β are, which variance "
            "normalises the batch, and what the running update is computed under.",
            "γ and β must be nn.Parameter (else model.parameters() misses them); normalise with "
            "x.var(dims, unbiased=False) but store var·m/(m − 1) in running_var; update the "
            "buffers in place under torch.no_grad().",
            "dims = (0, 2, 3); mean, var = x.mean(dims), x.var(dims, unbiased=False); in "
            "training y = (x − mean)/√(var + eps)·γ + β over views (1, C, 1, 1), and "
            "running_mean.mul_(1 − f).add_(f·mean); in evaluation the running ones instead.",
        ),
        mistakes=(
            Mistake(
                "batchnorm-unbiased-variance",
                "The batch is normalised with x.var(), the unbiased variance ÷(m − 1), where "
                "the biased one ÷m belongs (the running variance stores the unbiased one).",
                "notes line 156: var = x.var(dim=(0, 2, 3)); Ioffe & Szegedy (2015), Algorithm 1",
            ),
            Mistake(
                "batchnorm-running-stats-with-history",
                "The running statistics are updated from μ and σ² with their autograd history "
                "(outside torch.no_grad()), so the buffers hold every earlier step's graph.",
                "notes line 159: self.running_mean = self.momentum * mean + …",
            ),
            Mistake(
                "batchnorm-affine-not-learned",
                "γ and β are plain tensors, not nn.Parameters: the optimiser never sees them.",
                "notes line 148: self.gamma = torch.ones((1, num_features, 1, 1))",
            ),
            Mistake(
                "batchnorm-evaluation-with-batch-statistics",
                "Evaluation normalises with the batch's own statistics instead of the running "
                "estimates, so a prediction depends on the rest of its batch.",
                "notes line 162: in evaluation x_hat = (x − running_mean)/√(running_var + eps)",
                BatchNorm2dEvaluatedWithBatchStatistics,
            ),
            Mistake(
                "batchnorm-momentum-reversed",
                "The running update weighs the old estimate by momentum and the batch by "
                "1 − momentum, the wrong way round.",
                "notes line 159: running_mean = momentum·mean + (1 − momentum)·running_mean",
                BatchNorm2dWithMomentumReversed,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- LayerNorm

LAYERNORM_STARTER = '''\
import torch
from torch import Tensor, nn


class LayerNorm(nn.Module):
    """Layer normalisation, as torch.nn.LayerNorm (Ba, Kiros & Hinton, 2016).

    Each sample is normalised over its last D dims, D = len(normalized_shape), with the
    mean and the *biased* variance of those m values (no batch statistics, so training
    and evaluation are the same):

        μ = (1/m) Σ x,   σ² = (1/m) Σ (x − μ)²,   y = γ ⊙ (x − μ)/√(σ² + ε) + β.

    normalized_shape: an int (D = 1) or a tuple of the last dims' sizes. γ (`weight`, ones)
    and β (`bias`, zeros) are nn.Parameters of shape normalized_shape, only when
    elementwise_affine.

    Shape: x (*, *normalized_shape) → y of the same shape.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
    ) -> None:
        super().__init__()
        # TODO: the settings and the parameters weight and bias
        raise NotImplementedError("LayerNorm.__init__")

    def forward(self, x: Tensor) -> Tensor:
        # TODO: statistics over the last D dims
        raise NotImplementedError("LayerNorm.forward")
'''


class LayerNorm(norm.LayerNorm):
    """The package's `deepnotes.nn.norm.LayerNorm`, in the exercise's signature."""

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
    ) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine)


class LayerNormOverTheBatch(LayerNorm):
    """The mistake: each feature is normalised over the batch (every leading dim), as
    BatchNorm does, not each sample over its features."""

    def forward(self, x: Tensor) -> Tensor:
        leading = tuple(range(x.dim() - len(self.normalized_shape)))
        return norm.normalize(
            x, self.weight, self.bias, x.shape, leading, self.normalized_shape, self.eps
        )[0]


class LayerNormOverTheLastDimOnly(LayerNorm):
    """The mistake: the statistics are taken over the last dim alone, whatever D is."""

    def forward(self, x: Tensor) -> Tensor:
        return norm.normalize(
            x, self.weight, self.bias, x.shape, (-1,), self.normalized_shape, self.eps
        )[0]


def layernorm_cases(rng: random.Random) -> list[Case]:
    """Inputs (*, *normalized_shape) with one or two leading dims (a batch of one too),
    normalized_shape an int or a tuple of one or two sizes (m ≥ 2), every eps and affine."""
    cases: list[Case] = []
    for index in range(16):
        dims = 1 if index < 6 else rng.randint(1, 2)
        shape = tuple(rng.randint(1, 5) for _ in range(dims))
        if math.prod(shape) == 1:  # one value has no spread to normalise
            shape = (*shape[:-1], 2)
        normalized_shape: int | tuple[int, ...] = shape[0] if dims == 1 and index % 2 else shape
        leading = tuple(rng.randint(1, 2 + index // 4) for _ in range(rng.randint(1, 2)))
        settings = {
            "normalized_shape": normalized_shape,
            "eps": rng.choice((1e-5, 1e-3, 0.1)),
            "elementwise_affine": index % 4 != 3,
        }
        x = randn(rng, *leading, *shape) * (0.5 + 2 * rng.random()) + 2 * rng.random()
        inputs = dict(
            settings,
            x=x,
            cotangent=randn(rng, *x.shape),
            affine_values={"weight": 1 + 0.5 * randn(rng, *shape), "bias": randn(rng, *shape)},
        )
        cases.append(Case(f"{_settings(settings)}; x of shape {tuple(x.shape)}", inputs))
    return cases


def run_layernorm(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    inputs = case.inputs
    settings = ("normalized_shape", "eps", "elementwise_affine")
    module = implementation(**{key: inputs[key] for key in settings}).double()
    _set_affine(module, inputs["affine_values"])
    names, parameters = _named_parameters(module)
    x = inputs["x"].clone().requires_grad_()
    y = module(x)
    grad_x, *grad_parameters = gradients([y], [x, *parameters], [inputs["cotangent"]])
    return {
        "output": y,
        "input gradient": grad_x,
        "parameter names": names,
        "parameter gradients": grad_parameters,
    }


register(
    "layernorm",
    Exercise(
        title="LayerNorm: normalise each sample over its last dims",
        topic="4. BatchNorm",
        entry="LayerNorm",
        starter=LAYERNORM_STARTER,
        reference=LayerNorm,
        cases=layernorm_cases,
        run=run_layernorm,
        solution=("deepnotes.nn.norm.LayerNorm", "deepnotes.nn.norm.standardize"),
        hints=(
            "BatchNorm averages a feature over the batch; LayerNorm averages a sample over "
            "its features: which dims are they here?",
            "dims = the last len(normalized_shape) dims: tuple(range(-D, 0)); an int "
            "normalized_shape is a tuple of one.",
            "mean = x.mean(dims, keepdim=True); var = x.var(dims, unbiased=False, "
            "keepdim=True); y = (x − mean)/√(var + eps)·weight + bias, weight and bias of "
            "shape normalized_shape broadcasting against the last dims.",
        ),
        mistakes=(
            Mistake(
                "batchnorm-unbiased-variance",
                "The sample is normalised with x.var(), the unbiased variance ÷(m − 1), "
                "where the biased one ÷m belongs.",
                "Ba, Kiros & Hinton (2016), equation 3: σ = √((1/H) Σ (a − μ)²); "
                "torch.nn.LayerNorm documentation: the biased estimator",
            ),
            Mistake(
                "layernorm-over-the-batch",
                "Each feature is normalised over the batch, as BatchNorm does, instead of "
                "each sample over its own features.",
                "Ba, Kiros & Hinton (2016), section 3: statistics over the hidden units of "
                "one layer, for each training case",
                LayerNormOverTheBatch,
            ),
            Mistake(
                "layernorm-over-the-last-dim-only",
                "The statistics are taken over the last dim alone, even when "
                "normalized_shape names more.",
                "torch.nn.LayerNorm documentation: mean and standard deviation over the last "
                "D dimensions, D = len(normalized_shape)",
                LayerNormOverTheLastDimOnly,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- dropout

DROPOUT_STARTER = '''\
import torch
from torch import Tensor


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout (Srivastava et al., 2014; AlexNet's regulariser, notes line 81).

    In training each element is zeroed with probability p, independently, and the kept
    ones are divided by 1 − p, so that E[y] = x:

        y = x · m / (1 − p),   m ~ Bernoulli(1 − p) per element;

    in evaluation (training False) y = x, unchanged. p = 0 keeps everything; p = 1 zeroes
    everything (and must not divide by zero). Draw the mask with torch's generator
    (torch.rand_like, torch.bernoulli, …): the grader checks statistics, not one mask.
    The gradient reaches the kept elements only, scaled by 1/(1 − p).

    Shape: x (*) → y (*), the same shape.
    """
    # TODO: the mask, the scale, the evaluation case
    raise NotImplementedError("dropout")
'''


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """The package's `deepnotes.nn.functional.dropout`, in the exercise's signature."""
    return functional.dropout(x, p, training)


def dropout_scaled_at_evaluation(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """The mistake: the kept units are left as they are in training, and evaluation
    multiplies by 1 − p instead (the original paper's scheme, not inverted dropout)."""
    if not training:
        return x * (1 - p)
    return x * torch.empty_like(x).bernoulli_(1 - p)


def dropout_keeping_with_probability_p(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """The mistake: each unit is *kept* with probability p (dropped with 1 − p)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0
    return x * torch.empty_like(x).bernoulli_(p) / (1 - p)


def dropout_cases(rng: random.Random) -> list[Case]:
    """Small tensors first, then large ones (n ≈ 10⁴, for the fraction dropped); p from 0
    to 1 with both ends, training and evaluation."""
    cases: list[Case] = []
    ps = [0.5, 0.2, 0.0, 1.0, 0.8] + [rng.choice((0.1, 0.25, 0.3, 0.5, 0.7, 0.9)) for _ in range(9)]
    for index, p in enumerate(ps):
        if index < 5:  # small, and the ends p = 0 and p = 1
            shape = (rng.randint(1, 4), rng.randint(1, 5))
        else:  # 4000 to 16000 elements: the fraction dropped is within ±0.04 of p at 5 SE
            shape = (rng.randint(40, 80), rng.randint(100, 200))
        training = index % 4 != 1
        x = randn(rng, *shape).exp()  # positive, so no element is 0 before dropout
        inputs = {"x": x, "p": p, "training": training, "cotangent": randn(rng, *shape)}
        cases.append(Case(f"p={p}, training={training}; x of shape {shape}", inputs))
    return cases


def run_dropout(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """Statistics of one draw, which any correct implementation passes whatever its mask:
    the shape, each element 0 or x/(1 − p), the fraction dropped within 5 standard errors
    of p (a false alarm about once in 10⁶ cases), the gradient the mask/(1 − p), and the
    identity in evaluation."""
    x, p, training = case.inputs["x"], case.inputs["p"], case.inputs["training"]
    cotangent = case.inputs["cotangent"]
    leaf = x.clone().requires_grad_()
    y = implementation(leaf, p, training)
    (grad,) = gradients([y], [leaf], [cotangent])
    y = y.detach()
    kept = y != 0
    scale = 1.0 if not training else 1 / (1 - p) if p < 1 else 0.0
    close = torch.isclose(y, x * scale, rtol=1e-12, atol=0)
    dropped = 1 - kept.double().mean().item()
    standard_error = math.sqrt(p * (1 - p) / x.numel())
    expected_grad = torch.where(kept, cotangent * scale, 0)
    return {
        "shape": tuple(y.shape),
        "every element 0 or x/(1 − p)": bool(torch.where(kept, close, y == 0).all()),
        "fraction dropped within 5 standard errors of p": abs(dropped - (p if training else 0))
        <= 5 * standard_error + 1e-12,
        "the gradient is the mask/(1 − p)": bool(
            torch.allclose(grad, expected_grad, rtol=1e-12, atol=0)
        ),
        "evaluation returns x itself": (not training) and bool(torch.equal(y, x)),
    }


register(
    "dropout",
    Exercise(
        title="Inverted dropout: zero with probability p, scale the rest by 1/(1 − p)",
        topic="4. BatchNorm",
        entry="dropout",
        starter=DROPOUT_STARTER,
        reference=dropout,
        cases=dropout_cases,
        run=run_dropout,
        solution=("deepnotes.nn.functional.dropout", "deepnotes.nn.functional.dropout_mask"),
        hints=(
            "A unit survives with probability 1 − p; the survivors must make up for the ones "
            "that are gone, so that the expected output is x.",
            "keep = (torch.rand_like(x) ≥ p); in training y = x·keep/(1 − p); in evaluation "
            "return x.",
            "Handle the ends first: training False or p == 0 → x; p == 1 → x·0 (1/(1 − p) "
            "would be 1/0).",
        ),
        mistakes=(
            Mistake(
                "dropout-without-inverted-scaling",
                "The kept units are not divided by 1 − p, so in training each unit is "
                "(1 − p)·x on average, in evaluation x.",
                "torch.nn.Dropout documentation: the outputs are scaled by 1/(1 − p) during "
                "training",
            ),
            Mistake(
                "dropout-scaled-at-evaluation",
                "The kept units are left unscaled in training and evaluation multiplies by "
                "1 − p: the original paper's scheme, not inverted dropout.",
                "torch.nn.Dropout documentation: during evaluation the module computes an "
                "identity function",
                dropout_scaled_at_evaluation,
            ),
            Mistake(
                "dropout-keeping-with-probability-p",
                "Each unit is kept with probability p instead of dropped with it.",
                "Srivastava et al. (2014), section 1: units are dropped; torch.nn.Dropout "
                "documentation: p is the probability of an element to be zeroed",
                dropout_keeping_with_probability_p,
            ),
        ),
    ),
)
