"""Capacity (notes, week 1): overfitting as capacity grows, and deep-narrow against shallow-wide.

Overfitting. Training error can only fall as a model's capacity grows; test
error falls, then rises once the model fits the noise of its few training
points. Shown twice: least-squares polynomials of growing degree on 15 noisy
samples of sin(2πx), and an MLP trained for longer and longer on 100 digits
(its test loss turns up while its training loss keeps falling).

Deep and narrow. "A larger number of compositions of simple functions is more
expressive than a few shallower, more complicated ones." Made exact with
Telgarsky's sawtooth ("Benefits of depth in neural networks", COLT 2016): the
tent map t(x) = 2·min(x, 1 − x) is two ReLU units, t(x) = 2ReLU(x) − 4ReLU(x − ½)
on [0, 1], and composing it L times gives a sawtooth of 2^L linear pieces with
width-2 layers, 4 + 6(L − 1) + 3 parameters. A one-hidden-layer ReLU network
with W units is piecewise linear with at most W + 1 pieces, so with the same
parameter count (3W + 1) it leaves most teeth without a kink: on each such tooth
its best line misses the tent by a mean square of at least 1/12.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle, tensor_bundle
from deepnotes.data.embedded import digit_vectors
from deepnotes.experiments.base import Context, Control
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask, RegressionTask
from deepnotes.train.fit import fit_in_memory


@EXPERIMENTS.register(
    "overfitting",
    ExperimentCard(
        title="Capacity: overfitting as it grows, and deep-narrow against shallow-wide",
        topic="1. Generalisation and capacity",
        concepts=["overfitting", "capacity", "train/test split", "depth", "expressivity"],
        formulas=(
            r"\hat w = \operatorname{argmin}_w \sum_{i=1}^{15} \left(\sum_{j=0}^{D} w_j x_i^j - "
            r"y_i\right)^2",
            r"t(x) = 2 \operatorname{ReLU}(x) - 4 \operatorname{ReLU}\left(x - \frac{1}{2}\right)",
            r"t^{L} = t \circ \cdots \circ t: \ 2^L \text{ pieces from } 4 + 6(L - 1) + 3 "
            r"\text{ parameters}; \quad W \text{ units}: \le W + 1 \text{ pieces}",
        ),
        code=(
            "deepnotes.experiments.overfitting.overfit_ratio",
            "deepnotes.experiments.overfitting.tent_layers",
            "deepnotes.experiments.overfitting.relu_pieces",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        84,
        "a larger number of compositions of simple functions turns out to be more expressive and "
        "more able to fit meaningful models than a small number of shallower and more complicated "
        "functions.",
    )
    rng = np.random.default_rng(ctx.seed)
    polynomial_capacity(ctx, rng)
    training_too_long(ctx)
    deep_narrow_shallow_wide(ctx)


def rises(values: list[float]) -> int:
    """How many times a sequence goes up from one entry to the next (beyond round-off)."""
    return sum(b > a + 1e-12 for a, b in itertools.pairwise(values))


def overfit_ratio(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, top: int
) -> float:
    """Test error of the degree-`top` least-squares polynomial over that of the best degree
    from 0 to `top`, all fitted to (x, y)."""
    errors = [
        float(np.mean((np.polynomial.Legendre.fit(x, y, d, domain=[0, 1])(x_test) - y_test) ** 2))
        for d in range(top + 1)
    ]
    return errors[-1] / min(errors)


def polynomial_capacity(ctx: Context, rng: np.random.Generator) -> None:
    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.random(n)
        return x, np.sin(2 * np.pi * x) + 0.2 * rng.standard_normal(n)

    x_train, y_train = sample(15)
    x_test, y_test = sample(1000)
    degrees = list(range(0, 13))
    train_mse, test_mse, fits = [], [], {}
    for degree in degrees:
        # least squares on Legendre features of 2x − 1: well conditioned at every degree
        fit = np.polynomial.Legendre.fit(x_train, y_train, degree, domain=[0, 1])
        fits[degree] = fit
        train_mse.append(float(np.mean((fit(x_train) - y_train) ** 2)))
        test_mse.append(float(np.mean((fit(x_test) - y_test) ** 2)))
    best = int(np.argmin(test_mse))
    ctx.claim(
        "train-error-falls-with-capacity",
        "Training error never rises with the degree (rises counted, degrees 0–12)",
        rises(train_mse),
        "==",
        0,
        control=Control("the test error over the same degrees", rises(test_mse)),
    )
    # one draw's ratio swings over orders of magnitude (a degree-12 curve through 15 points
    # can shoot off anywhere between them): the claim reads the median over 25 draws, the
    # first of them the one drawn above
    draws = [(x_train, y_train)] + [sample(15) for _ in range(24)]
    ratios = [overfit_ratio(x, y, x_test, y_test, degrees[-1]) for x, y in draws]
    many_x, many_y = sample(1000)  # the control: enough points that degree 12 fits no noise
    ctx.claim(
        "high-capacity-overfits",
        "A degree-12 polynomial fitted to 15 points has over 10× the test error of the best "
        "degree (median over 25 draws of the 15 points; the figure shows the first)",
        float(np.median(ratios)),
        ">",
        10,
        control=Control(
            "the same ratio for 1,000 training points",
            overfit_ratio(many_x, many_y, x_test, y_test, degrees[-1]),
        ),
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    grid = np.linspace(0, 1, 400)
    left.plot(x_train, y_train, "ko", label="15 training points")
    left.plot(grid, np.sin(2 * np.pi * grid), "k:", label="sin(2πx)")
    for degree in (1, degrees[best], degrees[-1]):
        left.plot(grid, fits[degree](grid), label=f"degree {degree}")
    left.set(ylim=(-2, 2), xlabel="x", ylabel="y", title="Least-squares polynomials")
    left.legend(fontsize=8)
    right.plot(degrees, train_mse, "o-", label="train")
    right.plot(degrees, test_mse, "o-", label="test")
    right.set(yscale="log", xlabel="degree (capacity)", ylabel="mean squared error")
    right.set_title("Train and test error against capacity")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "polynomial-capacity.png",
        "More capacity always fits the training points better; past a point it fits their "
        "noise, and the test error climbs.",
    )


def training_too_long(ctx: Context) -> None:
    digits = digit_vectors(ctx.seed)
    x_train, y_train = digits.split("train").tensors
    test = digits.split("test").tensors  # watched each epoch

    def few(start: int) -> DataBundle:  # 100 examples: easy to memorise
        train = (x_train[start : start + 100], y_train[start : start + 100])
        return tensor_bundle("100-digits", {"train": train, "val": test}, classes=digits.classes)

    all_train = tensor_bundle(  # the control: every training digit, the same steps
        "all-digits", {"train": (x_train, y_train), "val": test}, classes=digits.classes
    )
    epochs = 500 if ctx.quick else 1000
    # which 100 digits are drawn moves one network's ratio between 1.5 and 2.0: the claim
    # reads the mean over five disjoint sets of 100; the figure shows the first
    curves = [full_batch_curves(few(start), epochs, ctx.seed) for start in range(0, 500, 100)]
    turned_up = [curve[-1] / min(curve) for _, curve in curves]
    train_loss, test_loss = curves[0]
    best = int(np.argmin(test_loss))
    _, all_test_loss = full_batch_curves(all_train, epochs, ctx.seed)
    ctx.claim(
        "test-loss-turns-up",
        f"Trained on 100 digits, the test loss turns up: after {epochs} epochs it is over "
        f"20% above its minimum (epoch {best + 1} for the first 100) while the training loss "
        f"kept falling (final / minimum test loss, mean over {len(curves)} disjoint sets of "
        "100 digits)",
        float(np.mean(turned_up)),
        ">",
        1.2,
        control=Control(
            f"the same network trained on all {len(x_train)} training digits",
            all_test_loss[-1] / min(all_test_loss),
        ),
    )
    ctx.claim(
        "train-loss-keeps-falling",
        "…the training loss at the end is under 1/10 of its value at the test minimum",
        train_loss[-1] / train_loss[best],
        "<",
        0.1,
        control=Control("the test loss, same epochs", test_loss[-1] / test_loss[best]),
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(train_loss, label="train (100 images)")
    ax.plot(test_loss, label="test")
    ax.axvline(best, color="grey", ls=":", label="test minimum")
    ax.set(yscale="log", xlabel="epoch", ylabel="cross-entropy", title="Training too long")
    ax.legend()
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "train-test-curves.png",
        "A 64-256-10 MLP on 100 training digits: the training loss falls towards 0 while the "
        "test loss, after its minimum, rises as the network grows confident on what it "
        "memorised.",
    )


def tent_layers(depth: int) -> nn.Sequential:
    """The sawtooth t∘t∘…∘t (depth times) as a width-2 ReLU network, weights set by hand.

    Each layer computes (ReLU(x), ReLU(x − ½)) of the previous value x and the next
    layer's first linear map forms t(x) = 2ReLU(x) − 4ReLU(x − ½) on the way in.
    """
    modules: list[nn.Module] = []
    for layer in range(depth):
        linear = dn.Linear(1 if layer == 0 else 2, 2)
        with torch.no_grad():
            # input: x (first layer) or the previous pair (a, b) with t = 2a − 4b
            into = torch.tensor([[1.0]]) if layer == 0 else torch.tensor([[2.0, -4.0]])
            linear.weight.copy_(torch.cat([into, into]))  # both units see the same value
            linear.bias.copy_(torch.tensor([0.0, -0.5]))
        modules += [linear, dn.ReLU()]
    out = dn.Linear(2, 1)
    with torch.no_grad():
        out.weight.copy_(torch.tensor([[2.0, -4.0]]))
        out.bias.zero_()
    return nn.Sequential(*modules, out)


def sawtooth(x: Tensor, depth: int) -> Tensor:
    """t applied `depth` times, t(x) = 2·min(x, 1 − x): the target, computed directly."""
    for _ in range(depth):
        x = 2 * torch.minimum(x, 1 - x)
    return x


def linear_pieces(y: Tensor, x: Tensor) -> int:
    """Linear pieces of a sampled piecewise-linear function: slope changes + 1."""
    slopes = torch.diff(y) / torch.diff(x)
    return int((torch.diff(slopes).abs() > 1e-6).sum()) + 1


def full_batch_curves(digits: DataBundle, epochs: int, seed: int) -> tuple[list, list]:
    """Training and validation loss per epoch of a 64 → 256 → 10 ReLU MLP, trained with Adam
    (lr 1e-2) on the whole training split at each step."""
    torch.manual_seed(seed)
    model = nn.Sequential(dn.Linear(64, 256), dn.ReLU(), dn.Linear(256, 10))
    n_train = len(digits.split("train"))
    trainer, _ = fit_in_memory(  # full batch: one step an epoch
        model, ClassificationTask(), digits, batch_size=n_train, epochs=epochs, lr=1e-2, seed=seed
    )
    history = trainer.state.history
    return [row["train_loss"] for row in history], [row["val_loss"] for row in history]


def relu_pieces(shallow: nn.Sequential) -> int:
    """Linear pieces on [0, 1] of x ↦ Σ_i v_i ReLU(w_i x + b_i) + c: one more than the distinct
    kinks x = −b_i/w_i inside (0, 1). Counted from the weights, where sampling the float32
    output would see round-off as slope changes."""
    first = shallow[0]
    with torch.no_grad():
        w, b = first.weight.flatten().double(), first.bias.double()
        kinks = -b[w != 0] / w[w != 0]
    inside = kinks[(kinks > 0) & (kinks < 1)]
    return len(torch.unique(inside)) + 1


def deep_narrow_shallow_wide(ctx: Context) -> None:
    depth = 6
    deep = tent_layers(depth)
    params = sum(p.numel() for p in deep.parameters())
    width = (params - 1) // 3  # 1 → W → 1 has 3W + 1 parameters
    x = torch.linspace(0, 1, 2**depth * 64 + 1, dtype=torch.float32)[:, None]  # (n, 1)
    target = sawtooth(x, depth)
    with torch.no_grad():
        deep_out = deep(x)

    torch.manual_seed(ctx.seed)
    shallow = nn.Sequential(dn.Linear(1, width), dn.ReLU(), dn.Linear(width, 1))
    sawtooth_points = tensor_bundle("sawtooth", {"train": (x, target)})
    steps = 2000 if ctx.quick else 10000
    fit_in_memory(  # full batch: one Adam step an epoch
        shallow, RegressionTask(), sawtooth_points, batch_size=len(x), epochs=steps, lr=1e-2
    )
    with torch.no_grad():
        shallow_out = shallow(x)
        shallow_mse = float(F.mse_loss(shallow_out, target))
    shallow_label = f"the trained shallow network (width {width}, same parameters)"
    ctx.claim(
        "deep-narrow-pieces",
        f"A {depth}-layer, width-2 ReLU network ({params} parameters) computes a sawtooth of "
        f"2^{depth} = {2**depth} linear pieces (pieces counted on a fine grid)",
        linear_pieces(deep_out.flatten(), x.flatten()),
        "==",
        2**depth,
        control=Control(shallow_label, relu_pieces(shallow)),
    )
    ctx.claim(
        "deep-narrow-exact",
        "…exactly (largest |network − sawtooth|)",
        float((deep_out - target).abs().max()),
        "<",
        1e-5,
        control=Control(shallow_label, float((shallow_out - target).abs().max())),
    )
    teeth = 2 ** (depth - 1)
    bound = (teeth - (width + 1)) / teeth / 12  # teeth without a kink, each ≥ 1/12 off
    ctx.derived(
        "shallow-wide-cannot",
        f"A one-hidden-layer ReLU network with the same {3 * width + 1} parameters (W = "
        f"{width}, at most {width + 1} pieces) cannot: the trained one's mean squared error",
        round(shallow_mse, 4),
        f"any function of at most {width + 1} linear pieces leaves {teeth - (width + 1)} of the "
        f"{teeth} teeth without a kink, each at least 1/12 off in mean square: "
        f"({teeth} − {width + 1})/{teeth} · 1/12 = {bound:.3f} ≤ its error, trained or not",
    )
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.plot(x, target, "k", lw=1, label=f"sawtooth, {2**depth} pieces")
    ax.plot(x, deep_out, "--", label=f"deep, width 2, {depth} layers ({params} params): exact")
    ax.plot(x, shallow_out, label=f"shallow, width {width} ({3 * width + 1} params), trained")
    ax.set(xlabel="x", ylabel="y", title="Deep and narrow against shallow and wide")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "deep-vs-shallow.png",
        "Composition multiplies linear pieces (2 per layer), addition only adds them (1 per "
        "unit): with equal parameters the deep narrow network represents the sawtooth and "
        "the shallow wide one cannot.",
    )
