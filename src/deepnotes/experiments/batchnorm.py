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
  the same network without BatchNorm, trained the same way, does not;
- internal covariate shift, the change of a layer's input distribution as the
  layers below learn, measured per unit as |μ_t − μ_{t−1}|/σ_{t−1} on a fixed
  batch: BatchNorm does reduce it (the notes, after Santurkar, Tsipras, Ilyas &
  Madry, "How Does Batch Normalization Help Optimization?", NeurIPS 2018, say it
  does not), but that is not why it trains faster: Santurkar's "noisy
  BatchNorm", a random per-channel scale and shift drawn afresh at every step
  after each BatchNorm, moves the layer inputs far more than no BatchNorm does
  and still trains about as fast as plain BatchNorm;
- BatchNorm's noise alone, with ghost batches (Hoffer, Hubara & Soudry, "Train
  longer, generalize better", NeurIPS 2017): the statistics of each group of G
  examples of a fixed batch, so that only the noise changes (the mean's standard
  error is σ/√G). Too small a G is too noisy to converge; the whole batch fits
  the training set best and opens the widest gap to the test set (less
  regularisation), though on digits that shows little in test accuracy.

The layer itself is checked where the notes' version went wrong: in training it
equals `torch.nn.BatchNorm1d` (the biased variance normalises the batch), its
running statistics carry no autograd history, and γ and β are learned. Beside it
the other layer that differs between training and evaluation: dropout keeps each
unit's expected value in training (inverted dropout), so evaluation needs no rescaling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context, Control
from deepnotes.nn.batchnorm import GhostBatchNorm1d
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import Callback, StepLosses, Trainer


def relative_error(ours: Tensor, theirs: Tensor) -> float:
    """max |ours − theirs| / max |theirs|: 0 for equal tensors, ≈ 1e-7 for float32 round-off."""
    return float((ours.detach() - theirs.detach()).abs().max() / theirs.detach().abs().max())


def deep_mlp(
    batch_norm: bool,
    depth: int = 6,
    width: int = 64,
    norm: Callable[[int], nn.Module] = dn.BatchNorm1d,
) -> nn.Sequential:
    """64 → width (× depth, each Linear [→ norm] → ReLU) → 10; `norm(width)` builds the
    normalisation (BatchNorm1d, a ghost or a noisy BatchNorm) when `batch_norm` is true."""
    layers: list[nn.Module] = []
    n_in = 64
    for _ in range(depth):
        layers += [dn.Linear(n_in, width)]
        layers += [norm(width)] if batch_norm else []
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


class ChannelNoise(nn.Module):
    """Santurkar et al.'s "noisy BatchNorm" (2018, section 2.1): after a BatchNorm layer, in
    training, every channel c is scaled and shifted at random, afresh at every step,

        y_ic = s_c · x_ic + b_c,   s_c ~ U(1 − scale, 1 + scale),   b_c ~ U(−shift, shift),

    so the next layer's input has a mean and a variance that change from step to step: the
    internal covariate shift that BatchNorm is said to remove, put back on purpose. The
    identity in evaluation.

    Shape: (N, C) → (N, C).
    """

    def __init__(self, scale: float = 0.25, shift: float = 0.5) -> None:
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        channels = x.shape[1]
        s = torch.empty(channels).uniform_(1 - self.scale, 1 + self.scale)  # (C,)
        b = torch.empty(channels).uniform_(-self.shift, self.shift)  # (C,)
        return x * s + b


def noisy_batchnorm(width: int) -> nn.Sequential:
    """BatchNorm1d(width) followed by `ChannelNoise`: the non-stationary noisy BatchNorm."""
    return nn.Sequential(dn.BatchNorm1d(width), ChannelNoise())


def hidden_linear_inputs(model: nn.Sequential, x: Tensor) -> list[Tensor]:
    """The input (N, width) of each Linear layer of `model` but the first, on the batch x, in
    the model's current mode, the running statistics left as they were."""
    saved = {name: buffer.clone() for name, buffer in model.named_buffers()}
    inputs = []
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, dn.Linear):
                inputs.append(x)
            x = layer(x)
    model.load_state_dict(saved, strict=False)  # buffers only: the parameters stay
    return inputs[1:]  # the first Linear's input is the data itself, which never shifts


def moment_shift(now: Tensor, before: Tensor) -> float:
    """How far a layer's input distribution moved: per unit u, |μ_u(now) − μ_u(before)|
    over the spread σ_u(before) (+ 1e-3, for units that are always 0 after a ReLU),
    averaged over the units. Inputs (N, units) on the same N examples."""
    moved = (now.mean(0) - before.mean(0)).abs() / (before.std(0) + 1e-3)  # (units,)
    return float(moved.mean())


class InputShift(Callback):
    """Internal covariate shift as the change of each layer's input distribution: after
    every step, `moment_shift` of each hidden Linear layer's input on a fixed probe batch,
    against the step before. `shifts[t][l]`: step t, layer l."""

    def __init__(self, probe: Tensor) -> None:
        self.probe = probe
        self.shifts: list[list[float]] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        self.previous = hidden_linear_inputs(trainer.model, self.probe)

    def on_step_end(self, trainer: Trainer, logs: dict[str, Tensor]) -> None:
        now = hidden_linear_inputs(trainer.model, self.probe)
        self.shifts.append([moment_shift(a, b) for a, b in zip(now, self.previous, strict=True)])
        self.previous = now

    def per_layer(self) -> Tensor:
        """The mean shift per step of each layer (layers,)."""
        return torch.tensor(self.shifts).mean(0)  # (steps, layers) → (layers,)


@EXPERIMENTS.register(
    "batchnorm",
    ExperimentCard(
        title="BatchNorm in training: faster, batch-dependent, different in eval, "
        "poor at tiny batches, noise not covariate shift",
        topic="4. BatchNorm",
        concepts=[
            "batch normalisation",
            "running statistics",
            "train vs eval",
            "batch size",
            "internal covariate shift",
            "noisy BatchNorm",
            "ghost batch normalisation",
            "noise as a regulariser",
            "dropout",
        ],
    ),
)
def run(ctx: Context) -> None:
    digits = digit_vectors(ctx.seed)
    the_layer(ctx)
    curves, shifts = convergence(ctx, digits)
    covariate_shift(ctx, digits, curves, shifts)
    batch_dependence(ctx, digits)
    batch_sizes(ctx, digits)
    ghost_batches(ctx, digits)
    dropout_expectation(ctx)


def sgd(
    model: nn.Module,
    digits: DataBundle,
    batch_size: int,
    epochs: int,
    lr: float,
    seed: int,
    scheduler: str = "none",
    callbacks: Sequence[Callback] = (),
) -> tuple[list[float], dict[str, float]]:
    """SGD with momentum 0.9 on full batches of `batch_size` training digits (the package's
    trainer), the rate on `scheduler`, `callbacks` watching; every step's loss and the
    final metrics."""
    steps = StepLosses()
    _, metrics = fit_in_memory(
        model,
        ClassificationTask(drop_last=True),
        digits,
        callbacks=[steps, *callbacks],
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


WINDOW = 20  # the mean loss over the last `WINDOW` steps, to smooth the batch noise


def final(losses: list[float]) -> float:
    """The training loss at the end: the mean of the last `WINDOW` steps'."""
    return sum(losses[-WINDOW:]) / WINDOW


def plot_smoothed(ax: plt.Axes, losses: list[float], **style: object) -> None:
    """The step losses as their running mean over `WINDOW` steps."""
    smooth = torch.tensor(losses).unfold(0, WINDOW, 1).mean(1)  # (steps − WINDOW + 1,)
    ax.plot(range(WINDOW, len(losses) + 1), smooth, **style)


def convergence_epochs(ctx: Context) -> int:
    return 3 if ctx.quick else 10


def convergence(
    ctx: Context, digits: DataBundle
) -> tuple[dict[str, list[float]], dict[str, InputShift]]:
    """The MLP with and without BatchNorm, trained alike; returns each one's step losses and
    the shift of its layers' inputs, step by step (`covariate_shift` reads them)."""
    epochs = convergence_epochs(ctx)
    probe = digits.split("train").tensors[0][:256]  # a fixed batch the shifts are measured on
    curves, models, shifts = {}, {}, {}
    for name, batch_norm in (("with BatchNorm", True), ("without", False)):
        torch.manual_seed(ctx.seed)
        models[name] = deep_mlp(batch_norm)
        shifts[name] = InputShift(probe)
        curves[name], _ = sgd(
            models[name], digits, 32, epochs, 0.01, ctx.seed, callbacks=[shifts[name]]
        )
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
        plot_smoothed(ax, losses, label=name)
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
    return curves, shifts


def covariate_shift(
    ctx: Context,
    digits: DataBundle,
    curves: dict[str, list[float]],
    shifts: dict[str, InputShift],
) -> None:
    """Santurkar et al. (2018): BatchNorm's layer inputs are steadier, but that is not why it
    trains faster; a BatchNorm network whose layer inputs are made to shift at every step
    (`ChannelNoise`) trains about as fast. `curves`, `shifts`: the runs of `convergence`."""
    ctx.quote(168, "it does not really reduce covariate shift")
    epochs = convergence_epochs(ctx)
    torch.manual_seed(ctx.seed)
    noisy = deep_mlp(True, norm=noisy_batchnorm)  # the same weights as `convergence`'s BN MLP
    shifts["noisy BatchNorm"] = InputShift(digits.split("train").tensors[0][:256])
    curves["noisy BatchNorm"], _ = sgd(
        noisy, digits, 32, epochs, 0.01, ctx.seed, callbacks=[shifts["noisy BatchNorm"]]
    )
    shift = {name: float(recorded.per_layer().mean()) for name, recorded in shifts.items()}
    loss = {name: final(losses) for name, losses in curves.items()}
    ctx.claim(
        "bn-steadies-layer-inputs",
        "The notes say BatchNorm does not reduce covariate shift; measured by the moments of "
        "each hidden layer's input on a fixed batch of 256 digits (per unit |Δμ|/σ from one "
        "step to the next, averaged over units, layers and steps), it does: the BN MLP's "
        "inputs move under half as much as those of the MLP without (ratio), though that "
        "one barely learns",
        shift["with BatchNorm"] / shift["without"],
        "<",
        0.5,
        control=Control("noisy BatchNorm", shift["noisy BatchNorm"] / shift["without"]),
    )
    ctx.claim(
        "noisy-bn-shifts-most",
        "With a random per-channel scale U(0.75, 1.25) and shift U(−0.5, 0.5) drawn afresh "
        "each step after every BatchNorm, the layer inputs move over 10 times as much as "
        "without BatchNorm (ratio of the same measure)",
        shift["noisy BatchNorm"] / shift["without"],
        ">",
        10,
        control=Control("plain BatchNorm", shift["with BatchNorm"] / shift["without"]),
    )
    ctx.claim(
        "noisy-bn-trains-as-fast",
        f"Yet the noisy BatchNorm MLP trains about as fast as the plain one: after {epochs} "
        "epochs its training loss is under twice plain BatchNorm's (ratio, last 20 steps), "
        "where the MLP without BatchNorm is not",
        loss["noisy BatchNorm"] / loss["with BatchNorm"],
        "<",
        2,
        control=Control("the MLP without BatchNorm", loss["without"] / loss["with BatchNorm"]),
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, losses in curves.items():
        plot_smoothed(left, losses, label=name)
    left.set(yscale="log", xlabel="step (batch of 32)", ylabel="training loss (running mean)")
    left.set_title("Training: noisy BatchNorm keeps up with BatchNorm")
    for name, recorded in shifts.items():
        layers = recorded.per_layer()
        right.plot(range(2, len(layers) + 2), layers, "o-", label=name)
    right.set(yscale="log", xlabel="Linear layer (its input)", ylabel="shift per step, |Δμ|/σ")
    right.set_title("Layer inputs: how far they move each step")
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3, which="both")
    ctx.figure(
        fig,
        "covariate-shift.png",
        "Right: BatchNorm steadies each layer's input distribution (the mean of every unit "
        "moves little from step to step), and the noisy BatchNorm undoes that on purpose, "
        "moving it far more than without BatchNorm. Left: the noisy network trains about as "
        "fast as plain BatchNorm, and far faster than without: a steady input distribution "
        "is not what makes BatchNorm train faster (Santurkar et al. 2018 credit a smoother "
        "loss landscape).",
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


def ghost_batches(ctx: Context, digits: DataBundle) -> None:
    """BatchNorm's noise alone: ghost batches (`GhostBatchNorm1d`) normalise each group of G
    examples of a batch of 128 with the group's own statistics, so that G sets the noise
    while the batches, the learning rate and the steps stay the same."""
    ctx.quote(170, "batch that’s too large then you're not injecting enough noise")
    ctx.quote(171, "one that’s too small then basically the noise becomes too high")
    groups = [2, 4, 8, 16, 32, 128] if ctx.quick else [2, 4, 8, 16, 32, 64, 128]
    batch, epochs, lr = 128, 10, 0.16  # lr: batch_sizes' 0.04 per 32 examples
    task = ClassificationTask()
    train, test = digits.split("train").tensors, digits.split("test").tensors
    runs = {}
    for group in groups:
        torch.manual_seed(ctx.seed)
        model = he_initialised(deep_mlp(True, norm=partial(GhostBatchNorm1d, group_size=group)))
        losses, _ = sgd(model, digits, batch, epochs, lr, ctx.seed, scheduler="cosine")
        model.eval()
        on_train, on_test = task.evaluate(model, [train]), task.evaluate(model, [test])
        runs[group] = {
            "training loss (last steps)": final(losses),
            "train loss": on_train["loss"],
            "test loss": on_test["loss"],
            "gap": on_test["loss"] - on_train["loss"],
            "test accuracy": on_test["acc"],
        }
    tiny, middle, whole = runs[2], runs[16], runs[batch]
    ctx.claim(
        "ghost-bn-tiny-groups-do-not-converge",
        "Too little data per statistic, too much noise: with groups of 2 in the same batches "
        f"of {batch}, the MLP ends {epochs} epochs at over 4 times the training loss it "
        "reaches with groups of 16 (ratio, last 20 steps)",
        tiny["training loss (last steps)"] / middle["training loss (last steps)"],
        ">",
        4,
    )
    ctx.claim(
        "ghost-bn-whole-batch-regularises-less",
        f"Too large, too little noise: normalised with the whole batch of {batch}, the MLP "
        "fits its training set more closely than the test set; its generalisation gap (test "
        "loss − training loss, evaluation mode) is over 1.3 times that with groups of 16",
        whole["gap"] / middle["gap"],
        ">",
        1.3,
    )
    ctx.note(
        f"Ghost batches, test accuracy: groups of 16 {middle['test accuracy']:.3f}, the whole "
        f"batch of {batch} {whole['test accuracy']:.3f}. The notes' reason a too-large batch "
        "hurts, too little regularisation, shows in the gap; in test accuracy on digits it is "
        "small and not reliable: over seeds 0–4 the groups of 16 led by −0.4 to +1.3 points."
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(groups, [r["training loss (last steps)"] for r in runs.values()], "o-")
    left.set(xscale="log", yscale="log", xlabel="ghost batch G (examples per statistic)")
    left.set(ylabel="training loss at the end")
    left.set_title("Too small: too much noise to converge")
    right.plot(groups, [r["gap"] for r in runs.values()], "o-", label="test − train loss")
    right.plot(groups, [1 - r["test accuracy"] for r in runs.values()], "s--", label="test error")
    right.set(xscale="log", yscale="log", xlabel="ghost batch G (examples per statistic)")
    right.set(ylabel="evaluation mode (the gap at G = 2 is ≈ 0, off the scale)")
    right.set_title("Too large: less regularisation, a wider gap")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    right.legend()
    ctx.figure(
        fig,
        "ghost-batches.png",
        f"The same MLP, batches of {batch}, learning rate and {epochs} epochs; only the "
        "number of examples each BatchNorm statistic is taken from changes. Groups of 2 "
        "are so noisy that training barely moves; the whole batch fits the training set "
        "best and opens the widest gap to the test set.",
    )
    ctx.table(
        f"Ghost batches in batches of {batch}",
        ["G", *next(iter(runs.values()))],
        [[g, *(f"{v:.3f}" for v in r.values())] for g, r in runs.items()],
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
