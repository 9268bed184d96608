"""Equivariance and invariance (notes, week 3): what convolution does and does not promise.

- Convolution is shift equivariant: conv(shift(x)) = shift(conv(x)). Exactly so
  with circular padding; with zero padding it breaks only within k//2 pixels of
  the border.
- Pooling and striding are meant to add shift invariance, but subsampling
  aliases: a stride-2 network's prediction can change when the input moves by
  one pixel. Zhang, "Making convolutional networks shift-invariant again"
  (ICML 2019): blur before subsampling (BlurPool) — max pool at stride 1, a
  low-pass [1, 2, 1]⊗[1, 2, 1]/16 filter, then subsample — restores much of it.
- Aliasing, by Nyquist: a frequency above half the new sampling rate folds onto
  a lower one when a signal is subsampled; blurring first removes it.
- Convolution is not rotation equivariant: rotating the input does not rotate
  the output (unless the kernel is itself symmetric).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.embedded import digit_images
from deepnotes.experiments.base import Context, Control
from deepnotes.nn import pooling
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory


def strided_cnn(anti_aliased: bool) -> nn.Sequential:
    """Two conv blocks that halve a 16×16 map twice — max pool 2×2/2, or max pool 2×2/1 then
    BlurPool /2 — and a dense head on the 4×4 map (16 → 8 → 4 either way)."""

    def down(channels: int) -> list[nn.Module]:
        if anti_aliased:
            return [dn.MaxPool2d(2, stride=1), dn.BlurPool2d(channels)]
        return [dn.MaxPool2d(2)]

    return nn.Sequential(
        dn.Conv2d(1, 16, 3, padding=1),
        dn.ReLU(),
        *down(16),
        dn.Conv2d(16, 32, 3, padding=1),
        dn.ReLU(),
        *down(32),
        dn.Flatten(),
        dn.Linear(32 * 4 * 4, 10),
    )


def fit(model: nn.Module, digits: DataBundle, epochs: int, seed: int) -> nn.Module:
    """Adam (lr 3e-3) on batches of 64 training digits with the package's trainer."""
    torch.manual_seed(seed)
    fit_in_memory(
        model, ClassificationTask(), digits, batch_size=64, epochs=epochs, lr=3e-3, seed=seed
    )
    return model.eval()


def translate(x: Tensor, dy: int, dx: int) -> Tensor:
    """Move (B, C, H, W) images by (dy, dx) pixels, filling with zeros (the digits' background)."""
    pad = max(abs(dy), abs(dx))
    height, width = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p)
    return padded[..., pad - dy : pad - dy + height, pad - dx : pad - dx + width]


@torch.no_grad()
def shift_consistency(model: nn.Module, x: Tensor, shift: int) -> float:
    """Share of (image, shift) pairs whose predicted class is the unshifted image's.

    Shifts by `shift` pixels up, down, left, right and diagonally.
    """
    reference = model(x).argmax(1)
    moves = [(shift, 0), (-shift, 0), (0, shift), (0, -shift), (shift, shift)]
    agree = sum(int((model(translate(x, *move)).argmax(1) == reference).sum()) for move in moves)
    return agree / (len(moves) * len(x))


def peak_frequency(signal: np.ndarray) -> float:
    """The frequency (cycles per sample, 0 to ½) with the largest amplitude."""
    spectrum = np.abs(np.fft.rfft(signal - signal.mean()))
    return float(np.fft.rfftfreq(len(signal))[spectrum.argmax()])


@EXPERIMENTS.register(
    "equivariance",
    ExperimentCard(
        title="Equivariance: convolution commutes with shifts, not rotations; "
        "aliasing and BlurPool",
        topic="3. Invariance and equivariance",
        concepts=["shift equivariance", "shift invariance", "aliasing", "BlurPool", "rotation"],
        formulas=(
            r"\operatorname{conv}(S_\tau x) = S_\tau \operatorname{conv}(x), \quad "
            r"\operatorname{conv}(R x) \ne R \operatorname{conv}(x)",
            r"\cos\left(2 \pi f \cdot 2n\right) = \cos\left(2 \pi \, |2f - 1| \, n\right)",
            r"K = \frac{1}{16} \begin{pmatrix} 1 & 2 & 1 \\ 2 & 4 & 2 \\ 1 & 2 & 1 \end{pmatrix}",
        ),
        code=(
            "deepnotes.nn.functional.conv",
            "deepnotes.nn.pooling.binomial_filter",
            "deepnotes.nn.pooling.BlurPool2d",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        73,
        "CNN 拥有approximate shift equivariance, 是通过convolution layers实现的, "
        "因为原图的移动, conv完后的feature map也会拥有同样的移动",
        english="a CNN has approximate shift equivariance, through its convolution layers: when "
        "the image moves, the feature map after the convolution moves the same way",
    )
    torch.manual_seed(ctx.seed)
    convolution_shifts(ctx)
    aliasing(ctx)
    network_invariance(ctx)


def convolution_shifts(ctx: Context) -> None:
    x = torch.randn(1, 1, 24, 24)
    shift = (3, 5)
    circular = dn.Conv2d(1, 4, 5, padding=2, padding_mode="circular", bias=False)
    zeros = dn.Conv2d(1, 4, 5, padding=2, bias=False)
    zeros.weight.data.copy_(circular.weight.data)
    with torch.no_grad():
        circular_error = (circular(x.roll(shift, (2, 3))) - circular(x).roll(shift, (2, 3))).abs()
        zeros_error = (zeros(x.roll(shift, (2, 3))) - zeros(x).roll(shift, (2, 3))).abs()
    ctx.claim(
        "conv-shift-equivariant",
        "With circular padding convolution commutes with a circular shift: "
        "max |conv(shift(x)) − shift(conv(x))|",
        float(circular_error.max()),
        "<",
        1e-5,
        control=Control("the same convolution with zero padding", float(zeros_error.max())),
    )
    border = 2 + max(shift)  # k//2 pixels of the border, moved by the shift
    interior = zeros_error[..., border:-border, border:-border]
    ctx.claim(
        "zero-padding-holds-inside",
        "With zero padding it still holds away from the border (max error inside)…",
        float(interior.max()),
        "<",
        1e-5,
        control=Control("the same, border included", float(zeros_error.max())),
    )
    ctx.claim(
        "zero-padding-breaks-at-border",
        "…and fails at the border (max error overall)",
        float(zeros_error.max()),
        ">",
        0.1,
        control=Control("circular padding", float(circular_error.max())),
    )

    def rotation_difference(conv: nn.Module) -> tuple[Tensor, Tensor]:
        """(conv(rot(x)) − rot(conv(x)), rot(conv(x))) for a 90° rotation."""
        with torch.no_grad():
            first, after = conv(x.rot90(1, (2, 3))), conv(x).rot90(1, (2, 3))
        return first - after, after

    def rotation_gap(conv: nn.Module) -> float:
        """‖conv(rot(x)) − rot(conv(x))‖ / ‖conv(x)‖."""
        difference, after = rotation_difference(conv)
        return float(difference.norm() / after.norm())

    symmetric = dn.Conv2d(1, 4, 5, padding=2, padding_mode="circular", bias=False)
    with torch.no_grad():  # the mean of a kernel's four rotations is unchanged by rotating it
        w = circular.weight
        symmetric.weight.copy_(sum(w.rot90(r, (2, 3)) for r in range(4)) / 4)
    ctx.claim(
        "conv-not-rotation-equivariant",
        "Convolution does not commute with a 90° rotation (relative difference "
        "‖conv(rot(x)) − rot(conv(x))‖ / ‖conv(x)‖, random kernel)",
        rotation_gap(circular),
        ">",
        0.5,
        control=Control("a kernel equal to its own rotations", rotation_gap(symmetric)),
    )
    rotation_error, _ = rotation_difference(circular)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    for ax, image, title in (
        (axes[0], x[0, 0], "input x"),
        (axes[1], zeros_error[0, 0], "zero padding: |conv(shift x) − shift(conv x)|"),
        (axes[2], rotation_error[0, 0].abs(), "|conv(rot x) − rot(conv x)|"),
    ):
        shown = ax.imshow(image.numpy(), cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(shown, ax=ax, shrink=0.8)
    ctx.figure(
        fig,
        "equivariance-errors.png",
        "Shifting then convolving equals convolving then shifting, except where zero padding "
        "meets the wrapped-around border; rotating does not commute with convolution anywhere.",
    )


def aliasing(ctx: Context) -> None:
    # 112 whole periods in 256 samples: a periodic signal, so the circular blur has no seam
    n, frequency = 256, 112 / 256  # 0.4375 cycles per sample, above the ¼ stride 2 can carry
    signal = np.cos(2 * np.pi * frequency * np.arange(n))
    subsampled = signal[::2]  # stride 2: now 0.875 cycles per (new) sample
    blur = pooling.binomial_filter().numpy()
    blurred = np.convolve(np.pad(signal, 1, mode="wrap"), blur, mode="valid")[::2]
    alias = abs(2 * frequency - 1)  # 0.875 folds to |0.875 − 1| = 0.125
    ctx.claim(
        "subsampling-aliases",
        f"Subsampling cos(2π·{frequency}·t) by 2 shows the false frequency |2·{frequency} − 1| "
        f"= {alias} cycles per sample (measured spectral peak)",
        peak_frequency(subsampled),
        "==",
        alias,
        control=Control("the same signal, not subsampled", peak_frequency(signal)),
    )
    box = np.convolve(np.pad(signal, 1, mode="wrap"), [0.5, 0.5, 0.0], mode="valid")[::2]
    ctx.claim(
        "blur-removes-alias",
        "Blurring with [1, 2, 1]/4 first leaves under 10% of the alias's amplitude "
        "(amplitude blurred / amplitude not; the filter's gain there is (1 + cos 2πf)/2)",
        float(np.abs(blurred).max() / np.abs(subsampled).max()),
        "<",
        0.1,
        control=Control(
            "the two-tap average [1, 1]/2, whose gain there is |cos πf|",
            float(np.abs(box).max() / np.abs(subsampled).max()),
        ),
    )

    # Nyquist in 2-D: a zone plate, whose frequency grows with the radius
    side = 128
    yy, xx = np.mgrid[-1 : 1 : side * 1j, -1 : 1 : side * 1j]
    zone = 0.5 + 0.5 * np.cos(np.pi * side / 8 * (xx**2 + yy**2))  # ¼ cycle/pixel at r = 1
    image = torch.tensor(zone, dtype=torch.float32)[None, None]
    naive = image[..., ::4, ::4]
    blur_pool = dn.BlurPool2d(1)  # blur, then every 2nd pixel
    smooth = blur_pool(blur_pool(image))  # twice, as in a network: /4
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), layout="constrained")
    for ax, shown, title in (
        (axes[0], image, f"zone plate {side}×{side}"),
        (axes[1], naive, "every 4th pixel: aliased rings"),
        (axes[2], smooth, "BlurPool twice: blur, /2, blur, /2"),
    ):
        ax.imshow(shown[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ctx.figure(
        fig,
        "nyquist.png",
        "Downsampling a pattern whose frequency grows outwards: past the new Nyquist limit the "
        "fine rings fold into false coarse rings (middle); blurring before each subsampling "
        "(BlurPool, right) turns most of them into smooth grey, with only faint alias left.",
    )


def network_invariance(ctx: Context) -> None:
    digits = digit_images(ctx.seed)
    x_test, _ = digits.split("test").tensors
    epochs = 15 if ctx.quick else 40
    seeds = list(range(ctx.seed, ctx.seed + (3 if ctx.quick else 5)))
    shifts = [1, 2]
    networks = {
        "max pool /2": lambda: strided_cnn(anti_aliased=False),
        "max pool /1 + BlurPool": lambda: strided_cnn(anti_aliased=True),
    }
    # the same seed gives both networks the same initial weights and batches: paired trainings
    models = {
        name: [fit(build(), digits, epochs, seed) for seed in seeds]
        for name, build in networks.items()
    }
    consistency = {  # name → (seeds, shifts)
        name: np.array([[shift_consistency(model, x_test, s) for s in shifts] for model in trained])
        for name, trained in models.items()
    }
    plain, blurred = consistency["max pool /2"], consistency["max pool /1 + BlurPool"]
    ctx.claim(
        "strided-net-not-invariant",
        "A CNN with stride-2 pooling is not shift invariant: over 5% of its test predictions "
        f"change when the digit moves by one pixel (share that change, mean of {len(seeds)} "
        "trainings)",
        float(1 - plain[:, 0].mean()),
        ">",
        0.05,
        control=Control(
            "the same networks with the digits not moved: the measure reads 0 without a shift",
            float(1 - np.mean([shift_consistency(m, x_test, 0) for m in models["max pool /2"]])),
        ),
    )
    ctx.claim(
        "blurpool-more-consistent",
        "BlurPool makes predictions more consistent under 1- and 2-pixel shifts, by over 2 "
        "points "
        f"(consistency with BlurPool − without, mean over shifts and {len(seeds)} paired "
        "trainings)",
        float((blurred - plain).mean()),
        ">",
        0.02,
    )
    ctx.table(
        f"Share of test predictions unchanged when digits (16×16) move (mean of {len(seeds)} "
        "trainings)",
        ["network", *[f"{s} pixel" for s in shifts]],
        [[name, *[f"{v:.4f}" for v in values.mean(0)]] for name, values in consistency.items()],
    )
