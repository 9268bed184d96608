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

Noise as a regulariser (notes, week 4: the mini-batch "also regularises"; of BatchNorm,
"regularization by noise injection"). At an equal number of steps and one learning-rate
schedule, batches of B and of B′ < B take the same expected step; they differ in the noise
alone, of covariance Σ/B against Σ/B′. The section trains both from the same starts, then
gives the large batch the small one's noise: each example's loss weighted by
1 + s(z_i − z̄), z ~ N(0, I), adds to the batch's gradient Gaussian noise of covariance
(s²/B) Σ̂, and s² = B(B − B′)/(B′(B − 1)) makes its total the small batch's (Wen et al., "An
empirical study of large-batch stochastic gradient descent with structured covariance
noise", AISTATS 2020); and, as a second control, isotropic noise of the same size (Zhu et
al., "The anisotropic noise in stochastic gradient descent", ICML 2019). On digits the
notes' regulariser does not show: the noise of batches of 8 costs test accuracy and
convergence; the injected noise of that shape does part of the same to batches of 256, and
isotropic noise of the same size does not.

The training here runs the from-scratch optimisers of `deepnotes.optim`; the last
section checks them: the same network from the same weights on the same batches,
trained by `deepnotes.optim` and by `torch.optim`, follows the same loss curve.
"""

from __future__ import annotations

import copy
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import gmean
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context, Control
from deepnotes.models.mlp import dense_stack
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.base import Update
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import StepLosses


def small_mlp() -> nn.Sequential:
    return dense_stack([64, 64, 10], dn.ReLU, dn)


def flat_gradient(model: nn.Module, x: Tensor, y: Tensor, weights: Tensor | None = None) -> Tensor:
    """∇ of the mean cross-entropy over (x, y), each example's loss times its weight if
    `weights` (B,) are given; every parameter's gradient in one vector."""
    model.zero_grad()
    losses = F.cross_entropy(model(x), y, reduction="none")  # (B,)
    (losses if weights is None else weights * losses).mean().backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def matching_scale(batch: int, smaller: int) -> float:
    """The s for which batches of `batch` (B) with `noise_weights` carry the gradient noise of
    batches of `smaller` (B′): s² = B (B − B′) / (B′ (B − 1)).

    Per-example gradients g_i of N, C their covariance: a batch of B drawn without replacement
    has E‖ḡ_B − g‖² = tr C/B · (N − B)/(N − 1); the weights add noise of covariance (s²/B) Σ̂,
    and E Σ̂ = C (B − 1)/B · N/(N − 1). Their sum is the smaller batch's tr C/B′ · (N − B′)/(N − 1)
    when s² (B − 1) N / B² = N (1/B′ − 1/B), for every N."""
    return (batch * (batch - smaller) / (smaller * (batch - 1))) ** 0.5


def noise_weights(batch: int, scale: float, generator: torch.Generator) -> Tensor:
    """Per-example loss weights w = 1 + s (z − z̄), z ~ N(0, I_B): shape (B,), summing to B.

    The weighted mean gradient (1/B) Σ w_i g_i = ḡ + (s/B) Σ (z_i − z̄)(g_i − ḡ): the batch's own
    gradient plus Gaussian noise (given the batch) of covariance (s²/B) Σ̂, Σ̂ the batch's
    covariance of one example's gradient, the shape of mini-batch noise (Wen et al., "An
    empirical study of large-batch stochastic gradient descent with structured covariance
    noise", AISTATS 2020). Centring z keeps the noise off ḡ itself."""
    z = torch.randn(batch, generator=generator)
    return 1 + scale * (z - z.mean())


def gradient_noise(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    draws: int,
    generator: torch.Generator,
    independent: bool = True,
    injected: float = 0.0,
) -> float:
    """Mean over `draws` random batches of ‖g_B − g‖², g the gradient on all of (x, y).

    A batch is `batch_size` distinct examples drawn at random; with `independent` false it is
    one random example repeated `batch_size` times, whose mean gradient is as noisy as one's.
    With `injected` = s > 0 each batch's gradient carries the noise of `noise_weights`."""
    full = flat_gradient(model, x, y)
    errors = []
    for _ in range(draws):
        if independent:
            batch = torch.randperm(len(x), generator=generator)[:batch_size]
        else:
            batch = torch.randint(len(x), (1,), generator=generator).expand(batch_size)
        weights = noise_weights(batch_size, injected, generator) if injected else None
        gradient = flat_gradient(model, x[batch], y[batch], weights)
        errors.append(float((gradient - full).pow(2).sum()))
    return float(np.mean(errors))


class InjectedNoiseTask(ClassificationTask):
    """Classification whose every training gradient carries Gaussian noise of a smaller
    batch's size: of its shape (`noise_weights` with `scale`), or, if `isotropic`, of the
    same size spread evenly over every direction.

    Isotropic: the shaped noise n of the step is drawn, and ‖n‖ ξ/√P (ξ ~ N(0, I_P), P
    parameters) is added instead, through the term ⟨θ, v⟩ of the loss, whose gradient is v:
    noise as large on average, in no preferred direction (Zhu et al., "The anisotropic noise
    in stochastic gradient descent", ICML 2019). Evaluation is the plain task's.
    """

    def __init__(self, scale: float, seed: int, isotropic: bool = False) -> None:
        super().__init__(drop_last=True)
        self.scale = scale
        self.isotropic = isotropic
        self.generator = torch.Generator().manual_seed(seed)

    def training_step(self, model: nn.Module, batch: Any, update: Update) -> dict[str, Tensor]:
        x, y = batch
        logits = model(x)  # (B, classes)
        losses = F.cross_entropy(logits, y, reduction="none")  # (B,)
        weights = noise_weights(len(y), self.scale, self.generator)
        if self.isotropic:
            params = list(model.parameters())
            shaped = torch.autograd.grad(((weights - 1) * losses).mean(), params, retain_graph=True)
            size = torch.cat([n.flatten() for n in shaped]).norm()
            per_coordinate = size / sum(p.numel() for p in params) ** 0.5
            loss = (
                losses.mean()
                + sum((p * torch.randn(p.shape, generator=self.generator)).sum() for p in params)
                * per_coordinate
            )
        else:
            loss = (weights * losses).mean()
        update(loss)
        acc = (logits.argmax(dim=1) == y).float().mean()
        return {"loss": losses.mean().detach(), "acc": acc}


@EXPERIMENTS.register(
    "minibatch-noise",
    ExperimentCard(
        title="Mini-batch noise: gradient variance falls like 1/B; "
        "small batches, injected noise and generalisation",
        topic="3. Optimisation",
        concepts=[
            "stochastic gradient",
            "mini-batch",
            "gradient variance",
            "generalisation",
            "generalisation gap",
            "noise as a regulariser",
            "gradient noise injection",
            "momentum",
            "Adam",
        ],
        formulas=(
            r"\mathbb{E} \|g_B - g\|^2 = \frac{\operatorname{tr} \Sigma}{B} \cdot "
            r"\frac{N - B}{N - 1}",
            r"s^2 = \frac{B (B - B')}{B' (B - 1)}",
        ),
        code=(
            "deepnotes.experiments.minibatch_noise.gradient_noise",
            "deepnotes.experiments.minibatch_noise.noise_weights",
            "deepnotes.optim.sgd.SGD.update",
        ),
    ),
)
def run(ctx: Context) -> None:
    digits = digit_vectors(ctx.seed)
    variance_law(ctx, digits)
    generalisation(ctx, digits)
    noise_at_equal_steps(ctx, digits)
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


# the same steps, learning rate and schedule for every batch size, so that the batches differ
# in their noise alone (SGD with momentum; lr 0.08 is where the noise of batches of 8 shows)
EQUAL_STEPS = {
    "optimizer": "sgd",
    "momentum": 0.9,
    "lr": 0.08,
    "scheduler": "cosine",
    "max_steps": 400,
}


def equal_steps_run(
    digits: DataBundle, batch_size: int, seed: int, task: ClassificationTask | None = None
) -> dict[str, float]:
    """The 64-64-10 MLP from the start `seed` makes, trained by `task` (plain classification
    by default) for `EQUAL_STEPS` under one learning-rate schedule whatever the batch size:
    its final accuracy and loss on the training split and on the test split, and the gap."""
    torch.manual_seed(seed)
    model = small_mlp()
    _, metrics = fit_in_memory(
        model,
        task or ClassificationTask(drop_last=True),
        digits,
        batch_size=batch_size,
        seed=seed,
        **EQUAL_STEPS,
    )
    train = ClassificationTask().evaluate(model.eval(), [digits.split("train").tensors])
    return {
        "train_acc": train["acc"],
        "test_acc": metrics["test_acc"],
        "train_loss": train["loss"],
        "test_loss": metrics["test_loss"],
        "gap": train["acc"] - metrics["test_acc"],  # the generalisation gap
    }


def noise_at_equal_steps(ctx: Context, digits: DataBundle) -> None:
    """Small and large batches at an equal number of steps and learning-rate schedule, so
    that only the gradient noise differs; then the large batch with the small one's noise
    injected (shaped like it, and isotropic of the same size), from the same starts."""
    ctx.quote(
        193,
        "但是后来发现这个还有regularisation作用, 每个batch有自己的分布, 导致weights不准了",
        english="but it was found later that this also regularises: each batch has its own "
        "distribution, which makes the weights inexact",
    )
    ctx.quote(168, "it actually turns out that basically this is doing regularization by noise")
    sizes = [8, 32, 256] if ctx.quick else [8, 16, 32, 64, 128, 256]  # 32: the control
    starts = [ctx.seed + r for r in range(3 if ctx.quick else 6)]  # paired: same starts
    small, large = sizes[0], sizes[-1]
    scale = matching_scale(large, small)

    x, y = digits.split("train").tensors
    torch.manual_seed(ctx.seed)
    model = small_mlp()
    generator = torch.Generator().manual_seed(ctx.seed)
    # a small batch's squared error is heavy-tailed (a few examples have large gradients), so
    # it takes many more draws than the large batch's; they are cheap
    draws = 1000 if ctx.quick else 4000
    small_noise = gradient_noise(model, x, y, small, draws, generator)
    injected_noise = gradient_noise(model, x, y, large, draws // 3, generator, injected=scale)
    large_noise = gradient_noise(model, x, y, large, draws // 3, generator)
    ctx.claim(
        "injected-noise-has-the-small-batch-variance",
        f"Weighting each example's loss by 1 + s(z − z̄), s = {scale:.2f}, gives batches of "
        f"{large} the gradient noise of batches of {small}: E‖g̃ − g‖² over E‖g_{small} − g‖² "
        f"is 1 within 10% ({draws} and {draws // 3} batches; |ratio − 1|)",
        abs(injected_noise / small_noise - 1),
        "<",
        0.1,
        control=Control(
            f"batches of {large} without the weights", abs(large_noise / small_noise - 1)
        ),
    )

    runs = {f"batches of {b}": [equal_steps_run(digits, b, s) for s in starts] for b in sizes}
    shaped, isotropic = f"{large} + noise of {small}", f"{large} + isotropic noise"
    runs[shaped] = [equal_steps_run(digits, large, s, InjectedNoiseTask(scale, s)) for s in starts]
    runs[isotropic] = [
        equal_steps_run(digits, large, s, InjectedNoiseTask(scale, s, isotropic=True))
        for s in starts
    ]

    def mean(name: str, key: str) -> float:
        return float(np.mean([r[key] for r in runs[name]]))

    def accuracy_lost(name: str) -> float:
        """Test accuracy of the noiseless large batch minus `name`'s, mean over the starts."""
        return mean(f"batches of {large}", "test_acc") - mean(name, "test_acc")

    def loss_ratio(name: str, key: str) -> float:
        """`name`'s final `key` over the noiseless large batch's, geometric mean over starts."""
        pairs = zip(runs[name], runs[f"batches of {large}"], strict=True)
        return float(gmean([a[key] / b[key] for a, b in pairs]))

    steps = EQUAL_STEPS["max_steps"]
    ctx.claim(
        "equal-steps-small-batches-generalise-worse",
        f"The notes say the noise of mini-batches regularises; measured: not at equal steps. "
        f"After the same {steps} steps and learning-rate schedule from the same "
        f"{len(starts)} starts, batches of {small} reach a lower test accuracy than batches "
        f"of {large}, by over 1 point (mean of the paired differences)",
        accuracy_lost(f"batches of {small}"),
        ">",
        0.01,
        control=Control(
            f"batches of 32, a quarter of the noise variance of batches of {small}",
            accuracy_lost("batches of 32"),
        ),
    )
    for key, times, what in (("train_loss", 3, "training"), ("test_loss", 2, "test")):
        ctx.claim(
            f"injected-noise-raises-{what}-loss-like-small-batches",
            f"Gaussian noise of the covariance of batches of {small}, added to the gradients "
            f"of batches of {large}, does to them part of what it does to the small batch: "
            f"after the same steps the {what} loss is over {times}× the noiseless run's "
            f"(geometric mean over the starts; batches of {small} themselves: "
            f"{loss_ratio(f'batches of {small}', key):.0f}×), and isotropic noise of the "
            "same size does not: the noise's shape, not its size alone, is what acts",
            loss_ratio(shaped, key),
            ">",
            times,
            control=Control("isotropic noise of the same size", loss_ratio(isotropic, key)),
        )

    def spread(name: str, key: str) -> tuple[float, float, float]:
        values = [r[key] for r in runs[name]]
        return float(np.mean(values)), float(np.min(values)), float(np.max(values))

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
    panels = [
        ("test_acc", "test accuracy", "Test accuracy"),
        ("gap", "train − test accuracy", "Generalisation gap"),
        ("train_loss", "training loss", "Final training loss"),
    ]
    for ax, (key, label, title) in zip(axes, panels, strict=True):
        middle, low, high = zip(*(spread(f"batches of {b}", key) for b in sizes), strict=True)
        ax.fill_between(sizes, low, high, alpha=0.2)
        ax.plot(sizes, middle, "o-", label="plain batches (mean, range over starts)")
        # the noisy large batches, drawn a little right of it so that the bars stay apart
        for name, marker, shift in ((shaped, "s", 1.15), (isotropic, "^", 1.3)):
            m, lo, hi = spread(name, key)
            ax.errorbar(
                [large * shift], [m], [[m - lo], [hi - m]], fmt=marker, capsize=4, label=name
            )
        ax.set(xscale="log", xlabel="batch size", ylabel=label, title=title)
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.grid(alpha=0.3, which="both")
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Digits, 64-64-10 MLP, {steps} SGD steps at every batch size")
    ctx.figure(
        fig,
        "equal-steps.png",
        f"At an equal number of steps and the same learning-rate schedule, the noise of small "
        f"batches costs test accuracy and convergence rather than regularising; Gaussian "
        f"noise shaped like that of batches of {small}, added to batches of {large}, moves "
        "them part of the way there, and isotropic noise of the same size hardly at all.",
    )
    ctx.table(
        f"Equal steps ({steps}), equal learning-rate schedule (SGD, momentum "
        f"{EQUAL_STEPS['momentum']}, lr {EQUAL_STEPS['lr']}, {EQUAL_STEPS['scheduler']}), "
        f"the same {len(starts)} starts: means over the starts",
        [
            "batches",
            "train accuracy",
            "test accuracy",
            "gap (train − test accuracy)",
            "train loss",
            "test loss",
            "gap (test − train loss)",
        ],
        [
            [
                name,
                f"{mean(name, 'train_acc'):.3f}",
                f"{mean(name, 'test_acc'):.3f}",
                f"{mean(name, 'gap'):.3f}",
                f"{mean(name, 'train_loss'):.3g}",
                f"{mean(name, 'test_loss'):.3g}",
                f"{mean(name, 'test_loss') - mean(name, 'train_loss'):.3g}",
            ]
            for name in runs
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
