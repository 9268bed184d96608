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
  batches of 2 does worse in evaluation than with batches of 32 or more, while
  the same network without BatchNorm, trained the same way, does not.

The layer itself is checked where the notes' version went wrong: in training it
equals `torch.nn.BatchNorm1d` (the biased variance normalises the batch), its
running statistics carry no autograd history, and γ and β are learned. Beside it
the other layer that differs between training and evaluation: dropout keeps each
unit's expected value in training (inverted dropout), so evaluation needs no rescaling.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context, Control
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import StepLosses


def relative_error(ours: Tensor, theirs: Tensor) -> float:
    """max |ours − theirs| / max |theirs|: 0 for equal tensors, ≈ 1e-7 for float32 round-off."""
    return float((ours.detach() - theirs.detach()).abs().max() / theirs.detach().abs().max())


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


def he_initialised(model: nn.Sequential) -> nn.Sequential:
    """`model` with every Linear's weights drawn from N(0, 2/fan_in) and its biases 0 (He
    et al. 2015): the scale at which a deep ReLU stack passes its signal on undiminished,
    so that the network trains without BatchNorm too (BatchNorm undoes any scale)."""
    for layer in model:
        if isinstance(layer, dn.Linear):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return model


def batchnorm_layers(model: nn.Module) -> list[dn.BatchNorm1d]:
    return [m for m in model.modules() if isinstance(m, dn.BatchNorm1d)]


@EXPERIMENTS.register(
    "batchnorm",
    ExperimentCard(
        title="BatchNorm in training: faster, batch-dependent, different in eval, "
        "poor at tiny batches",
        topic="4. BatchNorm",
        concepts=[
            "batch normalisation",
            "running statistics",
            "train vs eval",
            "batch size",
            "dropout",
        ],
    ),
)
def run(ctx: Context) -> None:
    digits = digit_vectors(ctx.seed)
    the_layer(ctx)
    convergence(ctx, digits)
    batch_dependence(ctx, digits)
    batch_sizes(ctx, digits)
    dropout_expectation(ctx)


def sgd(
    model: nn.Module,
    digits: DataBundle,
    batch_size: int,
    epochs: int,
    lr: float,
    seed: int,
    scheduler: str = "none",
) -> tuple[list[float], dict[str, float]]:
    """SGD with momentum 0.9 on full batches of `batch_size` training digits (the package's
    trainer), the rate on `scheduler`; every step's loss and the final metrics."""
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
        scheduler=scheduler,
        seed=seed,
    )
    return steps.losses, metrics


def the_layer(ctx: Context) -> None:
    """`deepnotes.nn.BatchNorm1d` against torch's on the same batches, in training mode."""
    torch.manual_seed(ctx.seed)
    ours, theirs = dn.BatchNorm1d(16), nn.BatchNorm1d(16)
    errors = []
    for _ in range(3):  # three steps: each output, and the running statistics they update
        x = torch.randn(8, 16) * 3 + 2  # a batch of m = 8, where ÷m and ÷(m − 1) differ by 1/8
        errors.append(relative_error(ours(x), theirs(x)))
    errors.append(relative_error(ours.running_mean, theirs.running_mean))
    errors.append(relative_error(ours.running_var, theirs.running_var))
    ctx.claim(
        "bn-equals-torch",
        "In training, deepnotes.nn.BatchNorm1d gives torch.nn.BatchNorm1d's outputs and "
        "running mean and variance on the same three batches of 8 (largest relative error; "
        "float32 round-off is about 1e-7)",
        max(errors),
        "<",
        1e-5,
    )


def convergence(ctx: Context, digits: DataBundle) -> None:
    epochs = 3 if ctx.quick else 10
    curves, models = {}, {}
    for name, batch_norm in (("with BatchNorm", True), ("without", False)):
        torch.manual_seed(ctx.seed)
        models[name] = deep_mlp(batch_norm)
        curves[name], _ = sgd(models[name], digits, 32, epochs, 0.01, ctx.seed)
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
    moved = [
        float(t.detach().sub(start).abs().max())
        for layer in batchnorm_layers(models["with BatchNorm"])
        for t, start in ((layer.weight, 1.0), (layer.bias, 0.0))
    ]
    ctx.claim(
        "bn-affine-learned",
        "BatchNorm's γ and β are learned: after that run they have moved from their start "
        "γ = 1, β = 0 (largest |γ − 1| or |β| over the six layers)",
        max(moved),
        ">",
        0.01,
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
    ctx.claim(
        "bn-buffers-plain",
        "After an epoch of training the running statistics are plain numbers, each step's "
        "graph freed (number of BatchNorm buffers that carry autograd history, a grad_fn)",
        sum(buffer.grad_fn is not None for buffer in model.buffers()),
        "==",
        0,
    )
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

    torch.manual_seed(ctx.seed)
    plain = deep_mlp(batch_norm=False)  # the control: no layer that differs between modes
    with torch.no_grad():
        plain_train = plain.train()(torch.cat([probe, others[0]]))[0]
        plain_eval = plain.eval()(torch.cat([probe, others[0]]))[0]
    ctx.claim(
        "bn-train-depends-on-batch",
        "In training, one image's output changes with the other images in its batch "
        "(largest change of its logits across three batches)",
        spread(in_train),
        ">",
        0.01,
        control=Control("the same network in evaluation", spread(in_eval)),
    )
    ctx.claim(
        "bn-eval-independent",
        "In evaluation it does not (the same measurement)",
        spread(in_eval),
        "==",
        0.0,
        control=Control("the same network in training", spread(in_train)),
    )
    ctx.claim(
        "bn-train-differs-from-eval",
        "Train and eval mode give the same image different outputs (largest logit difference)",
        float((in_train[0] - in_eval[0]).abs().max()),
        ">",
        0.01,
        control=Control("the MLP without BatchNorm", float((plain_train - plain_eval).abs().max())),
    )


def batch_sizes(ctx: Context, digits: DataBundle) -> None:
    sizes = [2, 8, 32, 128] if ctx.quick else [2, 4, 8, 16, 32, 64, 128, 256, 512]
    epochs = 3 if ctx.quick else 10

    def test_accuracy(batch_norm: bool, batch_size: int) -> float:
        """The MLP's test accuracy after `epochs` at `batch_size`: He's initialisation, at
        which it trains without BatchNorm too (from torch's default the BN-free network
        stays at chance for these epochs, a control that fails for the wrong reason), and
        the rate on a cosine to 0, so that the final accuracy is not one noisy step's."""
        torch.manual_seed(ctx.seed)
        model = he_initialised(deep_mlp(batch_norm))
        lr = 0.04 * batch_size / 32  # the linear scaling rule: the same progress per example
        _, metrics = sgd(model, digits, batch_size, epochs, lr, ctx.seed, scheduler="cosine")
        return metrics["test_acc"]

    results = {batch_size: test_accuracy(True, batch_size) for batch_size in sizes}
    without = {batch_size: test_accuracy(False, batch_size) for batch_size in (2, 32)}
    ctx.claim(
        "bn-tiny-batches-hurt",
        "Trained with batches of 2, the BN network is over 3 points less accurate in "
        "evaluation than with batches of 32 (test accuracy at 32 − at 2); the same network "
        "without BatchNorm, trained the same way, is not",
        results[32] - results[2],
        ">",
        0.03,
        control=Control(
            "the same MLP without BatchNorm, trained the same way", without[32] - without[2]
        ),
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(list(results), list(results.values()), "o-", label="with BatchNorm")
    ax.plot(list(without), list(without.values()), "s--", label="without")
    ax.set(xscale="log", xlabel="batch size (learning rate ∝ batch size)", ylabel="test accuracy")
    ax.set_title(f"6-layer MLP on digits, {epochs} epochs")
    ax.legend()
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "batch-size.png",
        "The batch statistics are estimates from the batch: with 2 examples they are poor, "
        "training normalises differently from evaluation, and test accuracy suffers. The "
        "network without BatchNorm learns as well from batches of 2 as of 32.",
    )
    ctx.table(
        "Test accuracy by batch size",
        ["batch size", "with BatchNorm", "without"],
        [[b, f"{a:.3f}", f"{without[b]:.3f}" if b in without else ""] for b, a in results.items()],
    )


def dropout_expectation(ctx: Context) -> None:
    """Inverted dropout in training: E[dropout(x)] = x, unit by unit."""
    torch.manual_seed(ctx.seed)
    p, draws, units = 0.5, 10_000, 64
    x = torch.rand(units) + 0.5  # activations in [0.5, 1.5), away from 0
    kept = (dn.Dropout(p).train()(x.repeat(draws, 1)) / x).mean(0)  # per unit: mean y/x
    # each y/x is 0 or 1/(1 − p), standard deviation √(p/(1 − p)) = 1 at p = 1/2: the mean of
    # 10,000 draws has a standard error of 0.01, and 0.05 is 5 of them
    ctx.claim(
        "dropout-keeps-expectation",
        "In training, deepnotes.nn.Dropout(p=0.5) keeps every unit's expected value: the "
        "mean of dropout(x)/x over 10,000 draws is 1 within 0.05 (5 standard errors) for "
        "each of 64 units (largest |mean − 1|)",
        float((kept - 1).abs().max()),
        "<",
        0.05,
    )
