"""Lipschitz continuity (notes, week 2): how fast a trained network can change, bounded and found.

A function is L-Lipschitz when ‖f(x) − f(x')‖ ≤ L‖x − x'‖ for all x, x': its slope
never exceeds L. For a differentiable f the smallest such L is the largest
slope, sup_x ‖J(x)‖₂, the spectral norm of the input Jacobian at the steepest
point. An MLP f = W₃ ∘ tanh ∘ W₂ ∘ tanh ∘ W₁ (biases aside) has, by the chain rule,

    J(x) = W₃ D₂ W₂ D₁ W₁,    D_l = diag(1 − tanh²(z_l)),  0 < 1 − tanh² ≤ 1,

so ‖J(x)‖₂ ≤ σ(W₃)σ(W₂)σ(W₁), with σ the spectral norm (`deepnotes.nn.spectral`,
by power iteration). Two bounds on the network's Lipschitz constant L follow:

    largest ‖J(x)‖₂ found   ≤   L   ≤   Π_l σ(W_l),

the lower one measured at the test digits and pushed up by gradient ascent on
‖J(x)‖₂ over x, the upper one read off the weights (Szegedy et al., "Intriguing
properties of neural networks", 2014, bound a network's sensitivity this way).

Measured on 64-64-64-10 tanh MLPs trained on the digits: without regularisation,
with L2 weight decay λ (the penalty λ‖θ‖²/2 in the loss) at six λ from 1e-3 to
5e-2, and with spectral normalisation (each W replaced by W/σ(W); Miyato et al.,
"Spectral normalization for generative adversarial networks", ICLR 2018). The link to
generalisation (Bartlett, Foster & Telgarsky, "Spectrally-normalized margin
bounds for neural networks", NeurIPS 2017, bound the gap by the product of
spectral norms) is stated as what was measured: the test − train loss of each
setting beside its bound, ranked against it by Spearman's ρ over the eight settings
and judged at the exact one-sided 5% critical value for that many pairs.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context, Control
from deepnotes.nn import spectral
from deepnotes.optim import Adam
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import Callback, Trainer

NOTES_LINE = 22  # the notes' Lipschitz passage, in Chinese
# L2 weight decay λ: enough settings for a rank correlation across them to mean something
DECAYS = (1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 5e-2)


@dataclass
class Setting:
    """One way of training the MLP: its label, L2 weight decay λ, spectral normalisation."""

    label: str
    weight_decay: float = 0.0
    spectral: bool = False


@dataclass
class Measured:
    """What one trained network gave: layer norms, the two bounds, losses and accuracies."""

    setting: Setting
    norms: list[float]  # σ(W_l), by power iteration
    svd_norms: list[float]  # σ(W_l), by torch.linalg.matrix_norm (the SVD)
    slope_at_test: float  # largest ‖J(x)‖₂ over the test digits
    slope_found: float  # largest ‖J(x)‖₂ after gradient ascent from the steepest of them
    linear_part: float  # σ(W₃W₂W₁): the slope where every tanh has slope 1
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float

    @property
    def bound(self) -> float:
        """Π_l σ(W_l): the upper bound on the Lipschitz constant."""
        return float(np.prod(self.norms))

    @property
    def gap(self) -> float:
        """The generalisation gap in loss: test − train cross-entropy."""
        return self.test_loss - self.train_loss


def tanh_mlp(seed: int, spectral_norm: bool = False, hidden: int = 64) -> nn.Sequential:
    """64 → hidden → hidden → 10 with tanh between (1-Lipschitz), each Linear optionally
    spectrally normalised."""
    torch.manual_seed(seed)
    linears = [dn.Linear(64, hidden), dn.Linear(hidden, hidden), dn.Linear(hidden, 10)]
    if spectral_norm:
        linears = [spectral.spectral_norm(linear) for linear in linears]
    return nn.Sequential(linears[0], dn.Tanh(), linears[1], dn.Tanh(), linears[2])


def linear_layers(model: nn.Sequential) -> list[dn.Linear]:
    return [module for module in model if isinstance(module, dn.Linear)]


def input_jacobians(model: nn.Sequential, x: Tensor) -> Tensor:
    """J(x) = W_L D_{L−1} W_{L−1} ⋯ D₁ W₁ of the tanh MLP at each row of x (B, in), in float64,
    by the chain rule layer by layer: (B, out, in). Differentiable in x."""
    h = x.double()
    jacobian = None
    layers = linear_layers(model)
    for index, layer in enumerate(layers):
        weight = layer.weight.detach().double()  # (out_l, in_l); W/σ when normalised
        z = h @ weight.T + layer.bias.detach().double()  # (B, out_l)
        jacobian = weight.expand(len(x), *weight.shape) if jacobian is None else weight @ jacobian
        if index < len(layers) - 1:
            h = torch.tanh(z)
            jacobian = (1 - h**2)[:, :, None] * jacobian  # D_l: tanh′(z) = 1 − tanh²(z)
    return jacobian


def slopes(model: nn.Sequential, x: Tensor) -> Tensor:
    """‖J(x)‖₂ at each row of x: the local slope of the network, (B,)."""
    return torch.linalg.matrix_norm(input_jacobians(model, x), 2)


def steepest_found(model: nn.Sequential, starts: Tensor, steps: int, lr: float = 0.05) -> float:
    """The largest ‖J(x)‖₂ met by gradient ascent on ‖J(x)‖₂ over x (Adam), from each start."""
    x = starts.clone().double().requires_grad_(True)
    optimizer = Adam([x], lr=lr)
    best = 0.0
    for _ in range(steps + 1):
        found = slopes(model, x)
        best = max(best, float(found.detach().max()))
        optimizer.zero_grad()
        (-found.sum()).backward()
        optimizer.step()
    return best


def spectral_norms(model: nn.Sequential, seed: int) -> list[float]:
    """σ(W_l) of each layer by power iteration, in float64, through `spectral` so that a fault
    planted there reaches it."""
    generator = torch.Generator().manual_seed(seed)
    return [
        spectral.spectral_norm_estimate(layer.weight.detach().double(), generator=generator)
        for layer in linear_layers(model)
    ]


class LayerNorms(Callback):
    """Each layer's spectral norm σ(W_l) (of W/σ̂ when normalised) at the end of every epoch,
    read in evaluation mode so that reading moves no power iteration."""

    def __init__(self) -> None:
        self.norms: list[list[float]] = []  # epoch → layer → σ

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        model = trainer.model.eval()
        with torch.no_grad():
            self.norms.append(
                [float(torch.linalg.matrix_norm(m.weight, 2)) for m in linear_layers(model)]
            )
        model.train()


def train(
    setting: Setting, digits: DataBundle, epochs: int, seed: int
) -> tuple[nn.Sequential, list[list[float]]]:
    """The tanh MLP trained on the digits with Adam (lr 1e-3, batches of 64) in `setting`, and
    its layers' norms after each epoch."""
    model = tanh_mlp(seed, setting.spectral)
    norms = LayerNorms()
    fit_in_memory(
        model,
        ClassificationTask(),
        digits,
        [norms],
        epochs=epochs,
        batch_size=64,
        lr=1e-3,
        weight_decay=setting.weight_decay,
        seed=seed,
    )
    return model.eval(), norms.norms


def measure(
    setting: Setting, model: nn.Sequential, digits: DataBundle, ascent_steps: int, seed: int
) -> Measured:
    """Both bounds on the trained network's Lipschitz constant, its losses and accuracies."""
    x_test = digits.split("test").tensors[0]
    at_test = slopes(model, x_test).detach()
    steepest = x_test[at_test.topk(16).indices]  # the ascent starts at the 16 steepest digits
    weights = [layer.weight.detach() for layer in linear_layers(model)]
    train, test = (
        ClassificationTask().evaluate(model, [digits.split(split).tensors])  # loss, acc
        for split in ("train", "test")
    )
    return Measured(
        setting,
        spectral_norms(model, seed),
        [float(torch.linalg.matrix_norm(weight, 2)) for weight in weights],
        float(at_test.max()),
        steepest_found(model, steepest, ascent_steps),
        float(torch.linalg.matrix_norm(torch.linalg.multi_dot(weights[::-1]), 2)),  # W₃W₂W₁
        train["loss"],
        train["acc"],
        test["loss"],
        test["acc"],
    )


@EXPERIMENTS.register(
    "lipschitz",
    ExperimentCard(
        title="Lipschitz continuity: trained networks' slopes, bounded by their spectral norms",
        topic="2. Lipschitz continuity",
        concepts=[
            "Lipschitz constant",
            "spectral norm",
            "power iteration",
            "weight decay",
            "spectral normalisation",
            "generalisation",
        ],
        formulas=(
            r"\|f(x) - f(x')\| \le L \, \|x - x'\|",
            r"J(x) = W_3 D_2 W_2 D_1 W_1, \quad D_l = \operatorname{diag}\left(1 - "
            r"\tanh^2(z_l)\right)",
            r"\max_x \|J(x)\|_2 \le L \le \prod_l \sigma(W_l)",
        ),
        code=(
            "deepnotes.nn.spectral.power_iteration",
            "deepnotes.nn.spectral.spectral_norm_estimate",
            "deepnotes.nn.spectral.SpectralNorm",
        ),
    ),
)
def run(ctx: Context) -> None:
    digits = digit_vectors(ctx.seed)
    epochs = 20 if ctx.quick else 60
    ascent_steps = 50 if ctx.quick else 300
    settings = [
        Setting("no regularisation"),
        *(Setting(f"λ = {decay:g}", weight_decay=decay) for decay in DECAYS),
        Setting("spectral norm", spectral=True),
    ]
    trained = {s.label: train(s, digits, epochs, ctx.seed) for s in settings}
    models = {label: model for label, (model, _) in trained.items()}
    measured = [measure(s, models[s.label], digits, ascent_steps, ctx.seed) for s in settings]
    ctx.quote(
        NOTES_LINE,
        "直觉上,利普希茨连续函数限制了函数改变的速度,符合利普希茨条件的函数的斜率,"
        "必小于一个称为利普希茨常数的实数(该常数依函数而定)",
        english="Intuitively, a Lipschitz continuous function limits how fast it can change: "
        "the slope of a function that meets the Lipschitz condition must be less than a real "
        "number, the Lipschitz constant (which depends on the function).",
    )
    bounds(ctx, measured)
    weight_decay(ctx, measured, train(settings[0], digits, epochs, ctx.seed + 1)[0])
    spectral_normalisation(ctx, models, measured)
    norms_in_training(ctx, {label: norms for label, (_, norms) in trained.items()})
    ctx.quote(
        NOTES_LINE,
        "是一个比一致连续更强的光滑性条件",
        english="[Lipschitz continuity] is a smoothness condition stronger than uniform "
        "continuity.",
    )
    generalisation(ctx, models, measured, digits)


def bounds(ctx: Context, measured: list[Measured]) -> None:
    """The largest slope found against the product of the layers' spectral norms."""
    relative_error = max(
        abs(p - s) / s for m in measured for p, s in zip(m.norms, m.svd_norms, strict=True)
    )
    ctx.claim(
        "power-iteration-equals-svd",
        "Power iteration (from a random start, until σ̂ moves by under 1e-12 a round) gives "
        "each trained layer's spectral norm as the SVD does (largest relative difference over "
        f"the {sum(len(m.norms) for m in measured)} layers, torch.linalg.matrix_norm(W, 2) as "
        "reference)",
        relative_error,
        "<",
        1e-5,
    )
    ratios = [m.slope_found / m.bound for m in measured]
    sums = [m.slope_found / sum(m.norms) for m in measured]
    worst = int(np.argmax(ratios))
    ctx.claim(
        "slope-below-bound",
        "In every setting the largest slope ‖J(x)‖₂ found (at the test digits, then by gradient "
        "ascent on it) stays at or below the product of the layers' spectral norms (largest "
        f"ratio found / bound over the {len(measured)} settings, "
        f"{measured[worst].setting.label})",
        max(ratios),
        "<=",
        1.0,
        control=Control("the sum of the layers' norms taken for the bound", max(sums)),
    )
    ctx.derived(
        "bound-nearly-tight",
        "How much of the bound the ascent reached, per setting (slope found / bound)",
        ", ".join(f"{m.setting.label}: {r:.2f}" for m, r in zip(measured, ratios, strict=True)),
        "where every tanh works near its middle (slope 1) J = W₃W₂W₁, and σ(W₃W₂W₁)/Πσ(W_l) "
        "is "
        + ", ".join(f"{m.linear_part / m.bound:.2f}" for m in measured)
        + ": training lines up each layer's top singular vectors with the next one's, so "
        "the product of norms is nearly reached",
    )
    ctx.table(
        "Bounds on each trained network's Lipschitz constant",
        ["setting", "σ(W₁), σ(W₂), σ(W₃)", "bound Πσ", "slope at test digits", "slope found"],
        [
            [
                m.setting.label,
                ", ".join(f"{n:.3f}" for n in m.norms),
                round(m.bound, 3),
                round(m.slope_at_test, 3),
                round(m.slope_found, 3),
            ]
            for m in measured
        ],
    )
    fig, ax = plt.subplots(figsize=(8, 4))
    positions = np.arange(len(measured))
    ax.bar(positions - 0.2, [m.bound for m in measured], 0.4, label="upper: Π σ(W_l)")
    ax.bar(positions + 0.2, [m.slope_found for m in measured], 0.4, label="lower: slope found")
    ax.plot(
        positions + 0.2,
        [m.slope_at_test for m in measured],
        "k_",
        ms=18,
        mew=2,
        label="largest slope at a test digit",
    )
    ax.plot(
        positions - 0.2,
        [sum(m.norms) for m in measured],
        "rx",
        ms=9,
        mew=2,
        label="Σ σ(W_l): no bound",
    )
    ax.set_xticks(positions, [m.setting.label for m in measured])
    ax.set(
        yscale="log",
        ylabel="Lipschitz constant (‖J‖₂)",
        title="The network's Lipschitz constant lies between the two bars",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ctx.figure(
        fig,
        "bounds.png",
        "Upper bound (the product of the layers' spectral norms) and lower bound (the steepest "
        "slope found by gradient ascent on ‖J(x)‖₂) for each way of training. The sum of the "
        "norms (red) falls below slopes actually reached: it bounds nothing.",
    )


def weight_decay(ctx: Context, measured: list[Measured], other_init: nn.Sequential) -> None:
    """The bound against λ, paired: the same initialisation and batches at every λ."""
    by_label = {m.setting.label: m for m in measured}
    plain = by_label["no regularisation"]
    other_bound = float(np.prod(spectral_norms(other_init, ctx.seed)))
    ctx.claim(
        "weight-decay-lowers-bound",
        "L2 weight decay λ = 0.03 at least halves the bound on the Lipschitz constant, same "
        "initialisation and batches (bound with λ / bound without; the table above shows it "
        "at each λ)",
        by_label["λ = 0.03"].bound / plain.bound,
        "<",
        0.5,
        control=Control(
            "no decay, another initialisation and batch order (its bound / this one's)",
            other_bound / plain.bound,
        ),
    )


def normalised_like_torch(seed: int, steps: int = 3) -> float:
    """Largest |difference| between the weights W/σ that `spectral.spectral_norm` and torch's
    `parametrizations.spectral_norm` give a 64 → 32 layer built from the same seed, over
    `steps` training-mode forwards with the same changes to W between them."""
    torch.manual_seed(seed)
    ours = spectral.spectral_norm(dn.Linear(64, 32))
    torch.manual_seed(seed)
    theirs = nn.utils.parametrizations.spectral_norm(nn.Linear(64, 32))
    generator = torch.Generator().manual_seed(seed)
    difference = 0.0
    for _ in range(steps):
        difference = max(difference, float((ours.weight - theirs.weight).detach().abs().max()))
        change = 0.1 * torch.randn(32, 64, generator=generator)  # a step of training
        with torch.no_grad():
            ours.parametrizations.weight.original.add_(change)
            theirs.parametrizations.weight.original.add_(change)
    return difference


def converged_norms(model: nn.Sequential, rounds: int = 1000) -> list[float]:
    """σ(W/σ̂) of each spectrally normalised layer after its power iteration has run `rounds`
    more rounds on the final weights (on a copy: the trained network stays as it is)."""
    model = copy.deepcopy(model)
    norms = []
    for layer in linear_layers(model):
        parametrization = layer.parametrizations.weight
        parametrization[0].update(parametrization.original.detach(), rounds)
        norms.append(float(torch.linalg.matrix_norm(layer.weight.detach(), 2)))
    return norms


def spectral_normalisation(
    ctx: Context, models: dict[str, nn.Sequential], measured: list[Measured]
) -> None:
    """Each layer's norm under spectral normalisation: equal to torch's, at 1 once its power
    iteration has converged, and above 1 as trained."""
    by_label = {m.setting.label: m for m in measured}
    normalised = by_label["spectral norm"]
    ctx.claim(
        "sn-equals-torch",
        "deepnotes.nn.spectral.spectral_norm normalises a layer as torch's parametrizations."
        "spectral_norm does: same u, v draws and rounds (largest |difference| of W/σ over "
        "three training-mode forwards with W changed between them)",
        normalised_like_torch(ctx.seed),
        "<",
        1e-6,
    )
    converged = converged_norms(models["spectral norm"])
    ctx.claim(
        "sn-layers-at-most-one",
        "Spectral normalisation holds every layer's spectral norm at 1: largest σ(W/σ̂) by the "
        "SVD, once the layers' own power iteration has run 1,000 rounds on the final weights "
        "(within 1e-4)",
        max(converged),
        "<=",
        1 + 1e-4,
        control=Control(
            "the same layers trained without normalisation",
            max(by_label["no regularisation"].svd_norms),
        ),
    )
    ctx.claim(
        "sn-one-round-lags",
        "…but as trained, with the paper's one round per step, the estimate σ̂ lags and some "
        "layer ends over 1% above 1 (largest σ(W/σ̂) as trained; see the table and the note)",
        max(normalised.svd_norms),
        ">",
        1.01,
        control=Control("the same layers after 1,000 rounds on the final weights", max(converged)),
    )
    ctx.table(
        "Spectral normalisation's layers as trained, and why its estimate lags",
        ["layer", "σ(W/σ̂) as trained", "σ₂/σ₁", "after 1,000 more rounds"],
        [
            [
                f"W{index + 1}",
                round(normalised.svd_norms[index], 4),
                round(float(values[1] / values[0]), 3),
                round(converged[index], 4),
            ]
            for index, values in enumerate(
                torch.linalg.svdvals(layer.weight.detach())
                for layer in linear_layers(models["spectral norm"])
            )
        ],
    )
    ctx.note(
        "Power iteration's estimate σ̂ = uᵀWv approaches σ from below, the error shrinking by "
        "about (σ₂/σ₁)² a round; trained layers' top singular values crowd (σ₂/σ₁ in the "
        "table), so one round per step trails the moving W, and σ(W/σ̂) = σ/σ̂ stays a few per "
        "cent above 1. More rounds on the final weights bring it to 1."
    )


def norms_in_training(ctx: Context, norms: dict[str, list[list[float]]]) -> None:
    """The bound and, under spectral normalisation, each layer's norm, epoch by epoch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, history in norms.items():
        epochs = np.arange(1, len(history) + 1)
        left.plot(epochs, np.prod(history, axis=1), label=label)
    left.set(
        yscale="log", xlabel="epoch", ylabel="bound Π σ(W_l)", title="The bound through training"
    )
    left.legend(fontsize=8)
    history = np.array(norms["spectral norm"])  # (epochs, layers)
    for index in range(history.shape[1]):
        right.plot(np.arange(1, len(history) + 1), history[:, index], label=f"W{index + 1}")
    right.axhline(1, color="k", ls=":")
    right.set(xlabel="epoch", ylabel="σ(W/σ̂)", title="Spectral normalisation's layers")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "norms-in-training.png",
        "Left: the product of the layers' spectral norms grows through training unless weight "
        "decay or spectral normalisation holds it. Right: under spectral normalisation each "
        f"layer's true norm stays near 1 but above it ({history.min():.2f} to "
        f"{history.max():.2f} at the epochs' ends): one power-iteration round per step "
        "trails the moving weights.",
    )


def spearman_critical(n: int, alpha: float = 0.05) -> float:
    """The one-sided critical value of Spearman's ρ for n pairs: the smallest c with
    P(ρ ≥ c) ≤ α when the ranks are unrelated, every one of the n! orders equally likely
    (exact, by enumerating them; n ≤ 9)."""
    ranks = np.array(list(itertools.permutations(range(n))))  # (n!, n)
    rho = 1 - 6 * ((ranks - np.arange(n)) ** 2).sum(1) / (n * (n**2 - 1))  # (n!,)
    values = np.unique(rho.round(12))
    tail = np.array([(rho >= v - 1e-12).mean() for v in values])  # P(ρ ≥ v)
    return float(values[tail <= alpha].min())


def generalisation(
    ctx: Context, models: dict[str, nn.Sequential], measured: list[Measured], digits: DataBundle
) -> None:
    """The generalisation gap and the test scores of each setting against its bound."""
    bound = [m.bound for m in measured]
    gaps = [m.gap for m in measured]
    x_train, y_train = digits.split("train").tensors
    halves = list(zip(x_train.chunk(2), y_train.chunk(2), strict=True))

    def half_difference(model: nn.Module) -> float:
        """|loss on one half of the trained-on digits − on the other|: a gap of sampling alone."""
        first, second = (ClassificationTask().evaluate(model, [h])["loss"] for h in halves)
        return abs(first - second)

    no_gap = [half_difference(models[m.setting.label]) for m in measured]
    against_bound = {  # Spearman's ρ of each measurement against the bound, over the settings
        name: float(spearmanr(bound, values).statistic)
        for name, values in {
            "gap in loss": gaps,
            "gap in accuracy": [m.train_accuracy - m.test_accuracy for m in measured],
            "test loss": [m.test_loss for m in measured],
            "test accuracy": [m.test_accuracy for m in measured],
        }.items()
    }
    critical = spearman_critical(len(measured))
    ctx.claim(
        "gap-follows-bound",
        "The smaller the bound, the smaller the generalisation gap in loss (test − train "
        f"cross-entropy): Spearman's ρ over the {len(measured)} settings, at least "
        f"{critical:.3f}, the one-sided 5% critical value for {len(measured)} pairs",
        against_bound["gap in loss"],
        ">=",
        critical,
        control=Control(
            "the same ρ for |loss on one half of the training digits − on the other|, a gap "
            "of sampling alone",
            float(spearmanr(bound, no_gap).statistic),
        ),
    )
    ctx.note(
        "What the bound's fall bought, measured (Spearman's ρ against the bound over the "
        f"{len(measured)} settings): "
        + ", ".join(f"the {name} ρ = {rho:.2f}" for name, rho in against_bound.items())
        + ". A smaller bound narrowed the gap in loss by raising the training loss more than "
        "the test loss: a smoother network fitted less, and did not score better on the test "
        "digits."
    )
    ctx.table(
        "Generalisation of each setting beside its bound",
        ["setting", "bound Πσ", "train / test loss", "gap in loss", "train / test accuracy"],
        [
            [
                m.setting.label,
                round(m.bound, 3),
                f"{m.train_loss:.3f} / {m.test_loss:.3f}",
                round(m.gap, 4),
                f"{m.train_accuracy:.3f} / {m.test_accuracy:.3f}",
            ]
            for m in measured
        ],
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for m in measured:
        left.plot(m.bound, m.gap, "o")
        left.annotate(
            m.setting.label, (m.bound, m.gap), fontsize=8, xytext=(4, 4), textcoords="offset points"
        )
    left.set(
        xlim=(0, 1.25 * max(bound)),
        xlabel="bound Π σ(W_l)",
        ylabel="test − train cross-entropy",
        title="Generalisation gap against the bound",
    )
    right.plot(bound, [m.test_accuracy for m in measured], "o-", label="test")
    right.plot(bound, [m.train_accuracy for m in measured], "s--", label="train")
    right.set(
        xlim=(0, 1.25 * max(bound)),
        xlabel="bound Π σ(W_l)",
        ylabel="accuracy",
        title="Accuracy against the bound",
    )
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "generalisation.png",
        "Each way of training placed by its bound: the gap between test and training loss "
        "shrinks with the bound, while the accuracies fall once the bound is small — "
        "smoothness bought by fitting less.",
    )
