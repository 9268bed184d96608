"""Data augmentation (notes, week 4): more training images from the ones you have.

A transformation that does not change the label — a small rotation, shift or
zoom of a digit — gives a new training image for free, and teaches the
network the invariance the transformation expresses. A transformation that
changes the label does harm: a horizontally flipped 3 is no 3. The gallery
shows torchvision's v2 transforms on digits and on generated shapes; the
measurement trains the same small CNN on 10 digits per class with and without
random affine augmentation, and, as the control, with random flips, which
change what a digit is.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn
from torchvision.transforms import v2

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle, tensor_bundle
from deepnotes.data.embedded import digit_images
from deepnotes.data.synthetic import draw_shape
from deepnotes.experiments.base import Context, Control
from deepnotes.registry import EXPERIMENTS
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.fit import fit_in_memory

SIDE = 16  # digits' 8×8 upsampled: room to rotate and shift


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        dn.Conv2d(1, 16, 3, padding=1),
        dn.ReLU(),
        dn.MaxPool2d(2),  # 16 → 8
        dn.Conv2d(16, 32, 3, padding=1),
        dn.ReLU(),
        dn.MaxPool2d(2),  # 8 → 4
        dn.Flatten(),
        dn.Linear(32 * 4 * 4, 10),
    )


def few_per_class(x: Tensor, y: Tensor, per_class: int) -> tuple[Tensor, Tensor]:
    """The first `per_class` examples of each class."""
    keep = torch.cat([torch.nonzero(y == c).flatten()[:per_class] for c in range(10)])
    return x[keep], y[keep]


def train_and_test(
    digits: DataBundle,
    train: tuple[Tensor, Tensor],
    augment: nn.Module | None,
    epochs: int,
    seed: int,
) -> float:
    """Adam (lr 3e-3) on mini-batches of 20 of `train`, each batch freshly transformed by
    `augment`, with the package's trainer; the test accuracy."""
    torch.manual_seed(seed)
    few = tensor_bundle("few-digits", {"train": train, "test": digits.split("test").tensors})
    _, metrics = fit_in_memory(
        small_cnn(),
        ClassificationTask(augment),
        few,
        batch_size=20,
        epochs=epochs,
        lr=3e-3,
        seed=seed,
    )
    return metrics["test_acc"]


GALLERY = {
    "RandomRotation(20)": v2.RandomRotation(20),
    "RandomAffine(translate)": v2.RandomAffine(0, translate=(0.15, 0.15)),
    "RandomResizedCrop": v2.RandomResizedCrop(SIDE, scale=(0.6, 1.0), antialias=True),
    "RandomHorizontalFlip(p=1)": v2.RandomHorizontalFlip(p=1.0),
    "GaussianBlur(5)": v2.GaussianBlur(5, sigma=1.0),
    "ElasticTransform": v2.ElasticTransform(alpha=20.0, sigma=3.0),
    "RandomErasing(p=1)": v2.RandomErasing(p=1.0, scale=(0.1, 0.2), value=0),
    "ColorJitter(contrast)": v2.ColorJitter(contrast=0.8),
}


@EXPERIMENTS.register(
    "augmentation",
    ExperimentCard(
        title="Data augmentation: torchvision's transforms, and what they buy with scarce data",
        topic="4. Data augmentation",
        concepts=["data augmentation", "invariance", "scarce data", "torchvision.transforms.v2"],
        formulas=(
            r"\min_\theta \frac{1}{N} \sum_{i=1}^{N} \mathbb{E}_{T \sim \mathcal{T}} "
            r"\left[\ell\left(f_\theta(T(x_i)), y_i\right)\right]",
            r"y(T(x)) = y(x) \quad \text{for every } T \in \mathcal{T}",
        ),
        code=("deepnotes.tasks.supervised.ClassificationTask.training_step",),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        81,
        "Heavy data augmentation",
    )
    torch.manual_seed(ctx.seed)
    digits = digit_images(ctx.seed, SIDE)
    x_train, y_train = digits.split("train").tensors
    gallery(ctx, x_train[:1])

    per_class = 10
    train = few_per_class(x_train, y_train, per_class)
    affine = v2.RandomAffine(degrees=12, translate=(0.1, 0.1), scale=(0.9, 1.1))
    epochs = 120 if ctx.quick else 200
    seeds = list(range(ctx.seed, ctx.seed + (4 if ctx.quick else 8)))  # paired by seed
    # the control: flips, which turn a 2 into no digit at all, are augmentation that should
    # not help (the notes: choose transforms the label is invariant to)
    flips = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()])
    runs = {"as given": None, "random affine": affine, "random flips": flips}
    accuracy = {
        name: [train_and_test(digits, train, augment, epochs, s) for s in seeds]
        for name, augment in runs.items()
    }
    mean = {name: sum(values) / len(seeds) for name, values in accuracy.items()}
    ctx.claim(
        "augmentation-helps-scarce-data",
        f"With {per_class} digits per class, random rotations, shifts and zooms raise the "
        f"CNN's test accuracy by over 1.5 points (mean over {len(seeds)} seeds, difference)",
        mean["random affine"] - mean["as given"],
        ">",
        0.015,
        control=Control(
            "random horizontal and vertical flips, which change what a digit is",
            mean["random flips"] - mean["as given"],
        ),
    )
    ctx.table(
        f"Small CNN, {per_class} training digits per class, {epochs} epochs",
        ["training data", *[f"seed {s}" for s in seeds], "mean"],
        [
            [name, *[f"{a:.3f}" for a in values], f"{mean[name]:.3f}"]
            for name, values in accuracy.items()
        ],
    )


def gallery(ctx: Context, digit: Tensor) -> None:
    """Each transform of GALLERY applied three times to a digit and to a generated shape."""
    pixels, _ = draw_shape("triangle", np.random.default_rng(ctx.seed), (SIDE, SIDE))
    shape = torch.from_numpy(pixels)[None, None]  # (H, W) → (1, 1, H, W)
    rows = {"digit": digit, "shape": shape}
    fig, axes = plt.subplots(
        2 * 3, len(GALLERY) + 1, figsize=(1.3 * (len(GALLERY) + 1), 8), layout="constrained"
    )
    for block, (name, image) in enumerate(rows.items()):
        for repeat in range(3):
            row = axes[3 * block + repeat]
            row[0].imshow(image[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            row[0].set_ylabel(f"{name} {repeat + 1}", fontsize=8)
            for ax, transform in zip(row[1:], GALLERY.values(), strict=True):
                ax.imshow(transform(image)[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, title in zip(axes[0], ["original", *GALLERY], strict=True):
        ax.set_title(title, fontsize=7)
    ctx.figure(
        fig,
        "gallery.png",
        "torchvision v2 transforms, each drawn three times (they are random). Rotations, "
        "shifts, crops and elastic warps keep a digit a digit; a horizontal flip does not "
        "(a flipped 3 is no 3) — choose transforms the label is invariant to.",
    )
