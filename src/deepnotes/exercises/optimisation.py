"""Exercises on optimisation: a step of SGD with momentum, and a step of Adam, as torch.optim
takes them."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from deepnotes.exercises.base import Case, Exercise, Mistake, randn, register
from deepnotes.optim import adam, sgd

# ----------------------------------------------------------------------------- SGD

SGD_STARTER = '''\
import torch
from torch import Tensor


def sgd_step(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor | None],
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> tuple[list[Tensor], list[Tensor | None]]:
    """One step of stochastic gradient descent, as torch.optim.SGD takes it.

    For each parameter θ with gradient g and momentum buffer b (None before the first
    step), learning rate γ, momentum μ, dampening τ, weight decay λ:

        g ← g + λθ                                    (L2 weight decay)
        b ← g                   if b is None (the first step: the gradient, not dampened)
        b ← μb + (1 − τ)g       otherwise
        u = g + μb  (Nesterov)   or   u = b           (u = g when μ = 0: no buffer)
        θ ← θ − γu

    (torch.optim.SGD's documentation; Sutskever et al., "On the importance of
    initialization and momentum in deep learning", ICML 2013, for Nesterov.)

    Return the new parameters and the new buffers, in the order given; with μ = 0 the
    buffers stay None. Every tensor of a parameter's has the parameter's shape. You may
    change the tensors you were given in place or make new ones.
    """
    # TODO: update each parameter and its buffer
    raise NotImplementedError("sgd_step")
'''


def sgd_step(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor | None],
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> tuple[list[Tensor], list[Tensor | None]]:
    """The package's step: one `sgd.SGD.step` with the buffers loaded into its state."""
    params = [param.detach().clone() for param in params]
    optimiser = sgd.SGD(
        params,
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        weight_decay=weight_decay,
        nesterov=nesterov,
    )
    for param, grad, buffer in zip(params, grads, buffers, strict=True):
        param.grad = grad.clone()
        if buffer is not None:
            optimiser.state[param]["momentum_buffer"] = buffer.clone()
    optimiser.step()
    new_buffers = [optimiser.state[param].get("momentum_buffer") for param in params]
    return params, new_buffers


def sgd_nesterov_as_plain_momentum(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor | None],
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> tuple[list[Tensor], list[Tensor | None]]:
    """Nesterov's step taken as the heavy ball's: u = b instead of u = g + μb."""
    return sgd_step(params, grads, buffers, lr, momentum, dampening, weight_decay, nesterov=False)


def sgd_first_buffer_dampened(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor | None],
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> tuple[list[Tensor], list[Tensor | None]]:
    """The buffer starts at zero, so the first step's is (1 − τ)g rather than g."""
    if momentum != 0:
        buffers = [
            torch.zeros_like(param) if buffer is None else buffer
            for param, buffer in zip(params, buffers, strict=True)
        ]
    return sgd_step(params, grads, buffers, lr, momentum, dampening, weight_decay, nesterov)


def sgd_cases(rng: random.Random) -> list[Case]:
    """1 to 5 steps on 1 to 3 parameters of odd shapes; momentum 0, 0.5 or 0.9, in every
    third case with Nesterov (no dampening), otherwise dampening 0, 0.1 or 0.5; weight
    decay 0, 0.01 or 0.1; learning rates from 0.01 to 0.5."""
    cases = []
    for n in range(24):
        steps = min(1 + n // 3, 5)
        nesterov = n % 3 == 2
        momentum = rng.choice((0.5, 0.9)) if nesterov or n % 4 else 0.0
        shapes = [
            tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(1, 3))
        ]
        hyper = {
            "lr": rng.choice((0.01, 0.1, 0.5)),
            "momentum": momentum,
            "dampening": 0.0 if nesterov else rng.choice((0.0, 0.1, 0.5)),
            "weight_decay": rng.choice((0.0, 0.01, 0.1)),
            "nesterov": nesterov,
        }
        inputs = {
            "params": [randn(rng, *shape) for shape in shapes],
            "grads": [[randn(rng, *shape) for shape in shapes] for _ in range(steps)],
            "hyper": hyper,
        }
        text = ", ".join(f"{key}={value}" for key, value in hyper.items())
        cases.append(Case(f"{steps} steps, parameter shapes {shapes}, {text}", inputs))
    return cases


def run_sgd(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """The parameters after each step and the buffers after the last, each step fed the
    parameters and buffers the one before returned."""
    params = case.inputs["params"]
    buffers: list[Tensor | None] = [None] * len(params)
    outputs: dict[str, Any] = {}
    for t, grads in enumerate(case.inputs["grads"], start=1):
        params, buffers = implementation(params, grads, buffers, **case.inputs["hyper"])
        params, buffers = list(params), list(buffers)
        outputs[f"params after step {t}"] = [param.detach().clone() for param in params]
    outputs["buffers"] = [None if b is None else b.detach().clone() for b in buffers]
    return outputs


register(
    "sgd-momentum",
    Exercise(
        title="A step of SGD with momentum, dampening, Nesterov and weight decay",
        topic="3. Optimisation",
        entry="sgd_step",
        starter=SGD_STARTER,
        reference=sgd_step,
        cases=sgd_cases,
        run=run_sgd,
        solution=("deepnotes.optim.sgd.SGD.update", "deepnotes.optim.sgd.momentum_update"),
        hints=(
            "Add the weight decay to the gradient first; everything after uses that gradient.",
            "The buffer is created at the first step as a copy of the gradient, undampened; "
            "from then on b = μb + (1 − τ)g.",
            "The step direction is the buffer itself, or with Nesterov g + μb using the "
            "buffer just updated; then θ − γ·direction.",
        ),
        mistakes=(
            Mistake(
                "sgd-momentum-applied-twice",
                "The buffer is multiplied by μ twice a step, b ← μ(μb + (1 − τ)g).",
                "torch.optim.SGD documentation: b_t = μ b_{t−1} + (1 − τ) g_t, "
                "θ_t = θ_{t−1} − γ b_t",
            ),
            Mistake(
                "sgd-nesterov-as-plain-momentum",
                "With nesterov=True the step is still the buffer, u = b, instead of the "
                "look-ahead u = g + μb.",
                "torch.optim.SGD documentation: if nesterov, g_t = g_t + μ b_t; Sutskever et "
                "al. (ICML 2013)",
                wrong=sgd_nesterov_as_plain_momentum,
            ),
            Mistake(
                "sgd-first-buffer-dampened",
                "The buffer starts at zero, so the first step moves by (1 − τ)g instead of g.",
                "torch.optim.SGD documentation: at t = 1 the buffer is b_1 = g_1",
                wrong=sgd_first_buffer_dampened,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- Adam

ADAM_STARTER = '''\
import torch
from torch import Tensor


def adam_step(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """One step of Adam, as torch.optim.Adam takes it (Kingma & Ba, "Adam: A Method for
    Stochastic Optimization", ICLR 2015, Algorithm 1).

    For each parameter θ with gradient g, first moment m and second moment v (zeros
    before the first step), step number t (1 at the first step), learning rate γ, decay
    rates β₁, β₂, weight decay λ:

        g ← g + λθ                        (L2 weight decay, in the gradient)
        m ← β₁m + (1 − β₁)g
        v ← β₂v + (1 − β₂)g²
        m̂ = m / (1 − β₁ᵗ),   v̂ = v / (1 − β₂ᵗ)      (bias correction)
        θ ← θ − γ m̂ / (√v̂ + ε)           (ε outside the square root)

    Return the new parameters, first moments and second moments, in the order given,
    each of its parameter's shape. You may change the tensors you were given in place or
    make new ones.
    """
    # TODO: update m and v, correct their bias, step each parameter
    raise NotImplementedError("adam_step")
'''


def adam_update(
    optimiser_class: type[adam.Adam],
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    step: int,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """One `step` of an `adam` optimiser with the moments and the step count loaded into its
    state (the count is t − 1 before the step, as the optimiser keeps it)."""
    params = [param.detach().clone() for param in params]
    optimiser = optimiser_class(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    for param, grad, exp_avg, exp_avg_sq in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        param.grad = grad.clone()
        optimiser.state[param].update(
            step=torch.tensor(float(step - 1)),
            exp_avg=exp_avg.clone(),
            exp_avg_sq=exp_avg_sq.clone(),
        )
    optimiser.step()
    states = [optimiser.state[param] for param in params]
    return params, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]


def adam_step(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """The package's step: one `adam.Adam.step`."""
    moments = (exp_avgs, exp_avg_sqs)
    return adam_update(adam.Adam, params, grads, *moments, step, lr, betas, eps, weight_decay)


def adam_weight_decay_decoupled(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """AdamW's decay, θ ← θ − γλθ, where Adam adds λθ to the gradient."""
    moments = (exp_avgs, exp_avg_sqs)
    return adam_update(adam.AdamW, params, grads, *moments, step, lr, betas, eps, weight_decay)


def adam_eps_inside_the_root(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """θ ← θ − γ m̂ / √(v̂ + ε): ε added under the square root."""
    beta1, beta2 = betas
    new_params, new_means, new_squares = [], [], []
    for param, grad, mean, square in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        grad = grad + weight_decay * param
        mean = beta1 * mean + (1 - beta1) * grad
        square = beta2 * square + (1 - beta2) * grad**2
        corrected_mean = mean / (1 - beta1**step)
        corrected_square = square / (1 - beta2**step)
        new_params.append(param - lr * corrected_mean / (corrected_square + eps).sqrt())
        new_means.append(mean)
        new_squares.append(square)
    return new_params, new_means, new_squares


def adam_cases(rng: random.Random) -> list[Case]:
    """1 to 5 steps on 1 to 3 parameters of odd shapes; gradients from 10⁻³ to 1 in size
    (so ε matters in some); ε 1e-8, 1e-3 or 0.1; β pairs from (0.5, 0.9) to (0.9, 0.999);
    weight decay in every other case; learning rates from 10⁻⁴ to 1. Every third case from
    the seventh starts later, from the moments after 10 to 100 steps (Adam's recurrences
    run on gradients of the same size), so that a wrong exponent t of 1 − βᵗ shows."""
    cases = []
    for n in range(30):
        steps = min(1 + n // 3, 5)
        shapes = [
            tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(1, 3))
        ]
        scale = 10 ** rng.uniform(-3, 0)
        hyper = {
            "lr": rng.choice((1e-4, 1e-3, 0.01, 0.1, 0.3, 1.0)),
            "betas": rng.choice(((0.9, 0.999), (0.8, 0.99), (0.5, 0.9))),
            "eps": rng.choice((1e-8, 1e-3, 0.1)),
            "weight_decay": rng.choice((0.01, 0.1)) if n % 2 else 0.0,
        }
        start = rng.choice((10, 15, 30, 100)) if n >= 6 and n % 3 == 0 else 0
        (beta1, beta2), means, squares = hyper["betas"], [], []
        for shape in shapes:  # the moments after `start` steps (zeros for start = 0)
            mean = square = torch.zeros(shape, dtype=torch.float64)
            for grad in (scale * randn(rng, *shape) for _ in range(start)):
                mean = beta1 * mean + (1 - beta1) * grad
                square = beta2 * square + (1 - beta2) * grad**2
            means.append(mean)
            squares.append(square)
        inputs = {
            "params": [randn(rng, *shape) for shape in shapes],
            "grads": [[scale * randn(rng, *shape) for shape in shapes] for _ in range(steps)],
            "start": start,
            "exp_avgs": means,
            "exp_avg_sqs": squares,
            "hyper": hyper,
        }
        text = ", ".join(f"{key}={value}" for key, value in hyper.items())
        cases.append(
            Case(
                f"{steps} steps after step {start}, parameter shapes {shapes}, "
                f"gradients ≈{scale:.2g}, {text}",
                inputs,
            )
        )
    return cases


def run_adam(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """The parameters after each step and the moments after the last, each step fed what
    the one before returned, from the case's moments after step `start`."""
    params = case.inputs["params"]
    means, squares = case.inputs["exp_avgs"], case.inputs["exp_avg_sqs"]
    outputs: dict[str, Any] = {}
    for t, grads in enumerate(case.inputs["grads"], start=case.inputs["start"] + 1):
        params, means, squares = (
            list(values)
            for values in implementation(params, grads, means, squares, t, **case.inputs["hyper"])
        )
        outputs[f"params after step {t}"] = [param.detach().clone() for param in params]
    outputs["exp_avgs"] = [mean.detach().clone() for mean in means]
    outputs["exp_avg_sqs"] = [square.detach().clone() for square in squares]
    return outputs


register(
    "adam",
    Exercise(
        title="A step of Adam, bias-corrected",
        topic="3. Optimisation",
        entry="adam_step",
        starter=ADAM_STARTER,
        reference=adam_step,
        cases=adam_cases,
        run=run_adam,
        solution=("deepnotes.optim.adam.Adam.update", "deepnotes.optim.adam.bias_correction"),
        hints=(
            "m and v are moving averages of g and g², elementwise; the weight decay joins the "
            "gradient before either is updated.",
            "Both averages start at 0, so early on they are too small: divide m by 1 − β₁ᵗ and "
            "v by 1 − β₂ᵗ, with t the step number starting at 1.",
            "Step by γ m̂ / (v̂.sqrt() + ε): ε is added after the square root, and the returned "
            "moments are m and v, not the corrected m̂ and v̂.",
        ),
        mistakes=(
            Mistake(
                "adam-without-bias-correction",
                "The averages are used as they are, m/(√v + ε), without dividing by 1 − βᵗ, so "
                "the first steps are far too long.",
                "Kingma & Ba (ICLR 2015), Algorithm 1 and section 3: m̂ = m/(1 − β₁ᵗ), "
                "v̂ = v/(1 − β₂ᵗ)",
            ),
            Mistake(
                "adam-eps-inside-the-root",
                "ε is added under the square root, √(v̂ + ε), instead of after it, √v̂ + ε.",
                "Kingma & Ba (ICLR 2015), Algorithm 1: θ ← θ − α m̂/(√v̂ + ε)",
                wrong=adam_eps_inside_the_root,
            ),
            Mistake(
                "adam-weight-decay-decoupled",
                "The weight decay shrinks the weights directly, θ ← θ − γλθ (AdamW), where "
                "Adam adds λθ to the gradient.",
                "torch.optim.Adam documentation: g_t ← g_t + λθ_{t−1}; decoupled decay is "
                "AdamW's (Loshchilov & Hutter, ICLR 2019)",
                wrong=adam_weight_decay_decoupled,
            ),
        ),
    ),
)
