"""Mini-batch noise (notes, week 3): the gradient of a batch is a noisy estimate.

The gradient of a mini-batch of B examples drawn at random is an unbiased
estimate of the full-data gradient g, with covariance Σ/B (Σ: the covariance
of one example's gradient), so its mean squared error

    E‖g_B − g‖² = tr(Σ)/B · (N − B)/(N − 1)     (B examples of N, without replacement)

falls like 1/B: sixteen times the batch, a quarter of the noise's size — if
the B draws are independent (B copies of one example are as noisy as one). At
a fixed budget of epochs small batches take more, noisier steps and reach a
higher test accuracy, but at an equal number of steps the large batch catches
up: the epochs hid a 157-fold difference in steps (1,257 digits: 157 batches
of 8, one of 1024). Trained on to the same
training accuracy, large batches are said to generalise worse (Keskar et al.,
"On large-batch training for deep learning: generalization gap and sharp
minima", ICLR 2017) — on digits the table shows how small that gap is.
Measured on digits.

The training here runs the from-scratch optimisers of `deepnotes.optim`; the last
section checks them: the same network from the same weights on the same batches,
trained by `deepnotes.optim` and by `torch.optim`, follows the same loss curve.
"""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context, Control
from deepnotes.models.mlp import dense_stack
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import StepLosses


def small_mlp() -> nn.Sequential:
    return dense_stack([64, 64, 10], dn.ReLU, dn)


def flat_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """∇ of the mean cross-entropy over (x, y), every parameter's gradient in one vector."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def gradient_noise(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    draws: int,
    generator: torch.Generator,
    independent: bool = True,
) -> float:
    """Mean over `draws` random batches of ‖g_B − g‖², g the gradient on all of (x, y).

    A batch is `batch_size` distinct examples drawn at random; with `independent` false it is
    one random example repeated `batch_size` times, whose mean gradient is as noisy as one's."""
    full = flat_gradient(model, x, y)
    errors = []
    for _ in range(draws):
        if independent:
            batch = torch.randperm(len(x), generator=generator)[:batch_size]
        else:
            batch = torch.randint(len(x), (1,), generator=generator).expand(batch_size)
        errors.append(float((flat_gradient(model, x[batch], y[batch]) - full).pow(2).sum()))
    return float(np.mean(errors))


@EXPERIMENTS.register(
    "minibatch-noise",
    ExperimentCard(
        title="Mini-batch noise: gradient variance falls like 1/B; "
        "small batches and generalisation",
        topic="3. Optimisation",
        concepts=[
            "stochastic gradient",
            "mini-batch",
            "gradient variance",
            "generalisation",
            "momentum",
            "Adam",
        ],
    ),
)
def run(ctx: Context) -> None:
    digits = digit_vectors(ctx.seed)
    variance_law(ctx, digits)
    generalisation(ctx, digits)
    same_steps_as_torch(ctx, digits)


def variance_law(ctx: Context, digits: DataBundle) -> None:
    x, y = digits.split("train").tensors
    torch.manual_seed(ctx.seed)
    model = small_mlp()
    generator = torch.Generator().manual_seed(ctx.seed)
    sizes = [1, 4, 16, 64, 256]
    draws = 100 if ctx.quick else 400
    n = len(x)
    # the finite-population factor (N − B)/(N − 1) removed: what is left is tr(Σ)/B
    noise = [gradient_noise(model, x, y, b, draws, generator) * (n - 1) / (n - b) for b in sizes]
    slope = float(np.polyfit(np.log(sizes), np.log(noise), 1)[0])
    # the control: B copies of one example, no independent draws to average (and no
    # finite-population factor: copies are drawn with replacement, one at a time)
    copies = [gradient_noise(model, x, y, b, draws, generator, independent=False) for b in sizes]
    copies_slope = float(np.polyfit(np.log(sizes), np.log(copies), 1)[0])
    ctx.claim(
        "gradient-noise-one-over-b",
        "The squared error of a mini-batch gradient falls like 1/B: the slope of "
        "log E‖g_B − g‖² against log B is −1 (|measured slope + 1|)",
        abs(slope + 1),
        "<",
        0.1,
        control=Control("batches of B copies of one example", abs(copies_slope + 1)),
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(sizes, noise, "o", label=f"measured ({draws} batches each)")
    ax.plot(sizes, [noise[0] / b for b in sizes], "--", label="tr(Σ)/B")
    ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="E‖g_B − g‖² · (N−1)/(N−B)")
    ax.set_title(f"Gradient noise of a 64-64-10 MLP on digits (slope {slope:.2f})")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    ctx.figure(
        fig,
        "gradient-noise.png",
        "How far a batch's gradient lies from the full gradient, by batch size: a straight "
        "line of slope −1 on log axes, the 1/B of an average of B independent draws.",
    )


def generalisation(ctx: Context, digits: DataBundle) -> None:
    epochs = 10 if ctx.quick else 30
    n_train = len(digits.split("train"))
    small_steps = epochs * (n_train // 8)  # the large batch's epochs for as many steps
    runs = [
        (8, 0.01, epochs),
        (64, 0.01, epochs),
        (1024, 0.01, epochs),
        (1024, 0.01, small_steps),
        (1024, 0.3, 400),
    ]
    results = {}
    for batch_size, lr, run_epochs in runs:
        torch.manual_seed(ctx.seed)
        model = small_mlp()
        task = ClassificationTask(drop_last=True)  # full batches of 1024: one step an epoch
        _, metrics = fit_in_memory(
            model,
            task,
            digits,
            optimizer="sgd",
            momentum=0.9,
            batch_size=batch_size,
            epochs=run_epochs,
            lr=lr,
            seed=ctx.seed,
        )
        train_acc = task.evaluate(model.eval(), [digits.split("train").tensors])["acc"]
        results[batch_size, lr, run_epochs] = (train_acc, metrics["test_acc"])
    small, large, large_same_steps = results[runs[0]], results[runs[2]], results[runs[3]]
    ctx.claim(
        "small-batches-learn-more-per-epoch",
        f"At the same {epochs} epochs and learning rate, batches of 8 reach over 5 points "
        f"higher test accuracy than batches of 1024 (difference): the budget of steps, "
        f"{n_train // 8}× larger, not the noise, is what the epochs hide",
        small[1] - large[1],
        ">",
        0.05,
        control=Control(
            f"batches of 1024 for as many steps as the batches of 8 ({small_steps})",
            small[1] - large_same_steps[1],
        ),
    )
    ctx.table(
        "Digits, 64-64-10 MLP, SGD with momentum 0.9; the last row trains the large batch "
        "on to the small one's training accuracy, where the test accuracies nearly meet",
        ["batch size", "learning rate", "epochs", "steps", "train accuracy", "test accuracy"],
        [
            [b, lr, e, e * (len(digits.split("train")) // b), f"{tr:.3f}", f"{te:.3f}"]
            for (b, lr, e), (tr, te) in results.items()
        ],
    )


def loss_curve(
    start: nn.Module, digits: DataBundle, impl: str, seed: int, **settings: float | str
) -> list[float]:
    """Every step's training loss of a copy of `start` trained by the package's trainer with
    the optimiser of library `impl` ("deepnotes" or "torch"), batches of 64 shuffled by
    `seed`; `settings` are TrainConfig fields."""
    steps = StepLosses()
    fit_in_memory(
        copy.deepcopy(start),
        ClassificationTask(drop_last=True),
        digits,
        callbacks=[steps],
        optimizer_impl=impl,
        batch_size=64,
        seed=seed,
        **settings,
    )
    return steps.losses


def same_steps_as_torch(ctx: Context, digits: DataBundle) -> None:
    """deepnotes.optim against torch.optim: one network, one start, the same batches."""
    epochs = 3 if ctx.quick else 10
    torch.manual_seed(ctx.seed)
    start = small_mlp()
    optimisers = {
        "adam": ("Adam", {"optimizer": "adam", "lr": 1e-3}),
        "sgd-momentum": ("SGD with momentum 0.9", {"optimizer": "sgd", "lr": 0.05}),
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (key, (name, settings)) in zip(axes, optimisers.items(), strict=True):
        ours, theirs = (
            loss_curve(start, digits, impl, ctx.seed, epochs=epochs, momentum=0.9, **settings)
            for impl in ("deepnotes", "torch")
        )
        gap = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
        # both take the same float32 operations in the same order, so the curves are equal
        # to the bit or within round-off (≈ 1e-7 of a loss near 1, grown a little along the
        # way if an operation differs); 1e-5 is a hundred times that, and a mistake in the
        # rule moves the curve by 1e-3 or more within a few steps
        ctx.claim(
            f"{key}-curve-equals-torch",
            f"{name} of deepnotes.optim takes torch.optim's steps: the same MLP from the same "
            f"weights on the same batches has the same loss at each of its {len(ours)} steps "
            "(largest |difference|)",
            gap,
            "<",
            1e-5,
        )
        ax.plot(theirs, lw=3, alpha=0.4, label="torch.optim")
        ax.plot(ours, lw=1, label="deepnotes.optim")
        ax.set(yscale="log", xlabel="step (batch of 64)", ylabel="training loss")
        ax.set_title(f"{name}: largest difference {gap:.2g}")
        ax.legend()
        ax.grid(alpha=0.3, which="both")
    ctx.figure(
        fig,
        "optimisers.png",
        "The from-scratch optimisers against torch.optim, on the 64-64-10 MLP from the same "
        "initial weights and batches: the curves lie on each other.",
    )
