"""Batch normalisation in training (notes, week 4): faster, batch-dependent, noisy.

BatchNorm (Ioffe & Szegedy, 2015) normalises each feature by the mean and
variance of the current mini-batch in training, and by running estimates of
them in evaluation:

    train: y = γ (x − μ_B)/√(σ²_B + ε) + β        eval: y = γ (x − μ̂)/√(σ̂² + ε) + β

Measured here, on digits with the from-scratch `deepnotes.nn.BatchNorm1d`:
- a deep MLP trains faster with it (lower loss after the same steps);
- in training, an example's output depends on the other examples of its batch
  (BN as noise, a regulariser); in evaluation it does not;
- the same input gives different outputs in train and eval mode;
- tiny batches make μ_B and σ²_B poor estimates: the network trained with
  batches of 2 does worse in evaluation than with batches of 32 or more.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import StepLosses


def deep_mlp(batch_norm: bool, depth: int = 6, width: int = 64) -> nn.Sequential:
    """64 → width (× depth, each Linear [→ BatchNorm1d] → ReLU) → 10."""
    layers: list[nn.Module] = []
    n_in = 64
    for _ in range(depth):
        layers += [dn.Linear(n_in, width)]
        layers += [dn.BatchNorm1d(width)] if batch_norm else []
        layers += [dn.ReLU()]
        n_in = width
    layers.append(dn.Linear(n_in, 10))
    return nn.Sequential(*layers)


@EXPERIMENTS.register(
    "batchnorm",
    ExperimentCard(
        title="BatchNorm in training: faster, batch-dependent, different in eval, "
        "poor at tiny batches",
        topic="4. BatchNorm",
        concepts=["batch normalisation", "running statistics", "train vs eval", "batch size"],
    ),
)
def run(ctx: Context) -> None:
    digits = digit_vectors(ctx.seed)
    convergence(ctx, digits)
    batch_dependence(ctx, digits)
    batch_sizes(ctx, digits)


def sgd(
    model: nn.Module, digits: DataBundle, batch_size: int, epochs: int, lr: float, seed: int
) -> tuple[list[float], dict[str, float]]:
    """SGD with momentum 0.9 on full batches of `batch_size` training digits (the package's
    trainer); every step's loss and the final metrics."""
    steps = StepLosses()
    _, metrics = fit_in_memory(
        model,
        ClassificationTask(drop_last=True),
        digits,
        callbacks=[steps],
        optimizer="sgd",
        momentum=0.9,
        batch_size=batch_size,
        epochs=epochs,
        lr=lr,
        seed=seed,
    )
    return steps.losses, metrics


def convergence(ctx: Context, digits: DataBundle) -> None:
    epochs = 3 if ctx.quick else 10
    curves = {}
    for name, batch_norm in (("with BatchNorm", True), ("without", False)):
        torch.manual_seed(ctx.seed)
        curves[name], _ = sgd(deep_mlp(batch_norm), digits, 32, epochs, 0.01, ctx.seed)
    window = 20  # the mean loss over the last `window` steps, to smooth the batch noise

    def final(losses: list[float]) -> float:
        return sum(losses[-window:]) / window

    ctx.claim(
        "bn-trains-faster",
        f"A 6-layer ReLU MLP with BatchNorm ends {epochs} epochs of SGD (lr 0.01) at under "
        "half the training loss of the same MLP without (loss ratio, last 20 steps)",
        final(curves["with BatchNorm"]) / final(curves["without"]),
        "<",
        0.5,
    )
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, losses in curves.items():
        smooth = torch.tensor(losses).unfold(0, window, 1).mean(1)  # running mean of `window`
        ax.plot(range(window, len(losses) + 1), smooth, label=name)
    ax.set(yscale="log", xlabel="step (batch of 32)", ylabel="training loss (running mean)")
    ax.set_title("6-layer MLP on digits, SGD lr 0.01, momentum 0.9")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    ctx.figure(
        fig,
        "convergence.png",
        "Normalising every layer's inputs keeps them in the range where the next layer "
        "learns: the same network, learning rate and batches train much faster with BN.",
    )


def batch_dependence(ctx: Context, digits: DataBundle) -> None:
    torch.manual_seed(ctx.seed)
    model = deep_mlp(batch_norm=True)
    sgd(model, digits, 32, 1, 0.01, ctx.seed)
    x, _ = digits.split("train").tensors
    probe = x[:1]
    others = [x[1:16], x[100:115], x[500:515]]  # three different batches around the probe
    with torch.no_grad():
        model.train()
        in_train = [model(torch.cat([probe, batch]))[0] for batch in others]
        model.eval()
        in_eval = [model(torch.cat([probe, batch]))[0] for batch in others]

    def spread(outputs: list[Tensor]) -> float:
        """Largest difference between the probe's outputs in different batches."""
        return max(float((a - b).abs().max()) for a in outputs for b in outputs)

    ctx.claim(
        "bn-train-depends-on-batch",
        "In training, one image's output changes with the other images in its batch "
        "(largest change of its logits across three batches)",
        spread(in_train),
        ">",
        0.01,
    )
    ctx.claim(
        "bn-eval-independent",
        "In evaluation it does not (the same measurement)",
        spread(in_eval),
        "==",
        0.0,
    )
    ctx.claim(
        "bn-train-differs-from-eval",
        "Train and eval mode give the same image different outputs (largest logit difference)",
        float((in_train[0] - in_eval[0]).abs().max()),
        ">",
        0.01,
    )


def batch_sizes(ctx: Context, digits: DataBundle) -> None:
    sizes = [2, 8, 32, 128] if ctx.quick else [2, 4, 8, 16, 32, 64, 128, 256, 512]
    epochs = 3 if ctx.quick else 10
    results = {}
    for batch_size in sizes:
        torch.manual_seed(ctx.seed)
        model = deep_mlp(batch_norm=True)
        lr = 0.01 * batch_size / 32  # the linear scaling rule: the same progress per example
        _, metrics = sgd(model, digits, batch_size, epochs, lr, ctx.seed)
        results[batch_size] = metrics["test_acc"]
    ctx.claim(
        "bn-tiny-batches-hurt",
        "Trained with batches of 2, the BN network is over 3 points less accurate in "
        "evaluation than with batches of 32 (test accuracy at 32 − at 2)",
        results[32] - results[2],
        ">",
        0.03,
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(list(results), list(results.values()), "o-")
    ax.set(xscale="log", xlabel="batch size (learning rate ∝ batch size)", ylabel="test accuracy")
    ax.set_title(f"BatchNorm MLP on digits, {epochs} epochs")
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "batch-size.png",
        "The batch statistics are estimates from the batch: with 2 examples they are poor, "
        "training normalises differently from evaluation, and test accuracy suffers.",
    )
    ctx.table(
        "Test accuracy by batch size",
        ["batch size", "accuracy"],
        [[b, f"{a:.3f}"] for b, a in results.items()],
    )
