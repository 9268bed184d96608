"""Data augmentation (notes, week 4): more training images from the ones you have.

A transformation that does not change the label — a small rotation, shift or
zoom of a digit — gives a new training image for free, and teaches the
network the invariance the transformation expresses. A transformation that
changes the label does harm: a horizontally flipped 3 is no 3. The gallery
shows torchvision's v2 transforms on digits and on generated shapes; the
measurement trains the same small CNN on 10 digits per class with and without
random affine augmentation.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor, nn
from torchvision.transforms import v2

import deepnotes.nn as dn
from deepnotes.data.synthetic import draw_shape
from deepnotes.experiments.base import Context
from deepnotes.registry import EXPERIMENTS

SIDE = 16  # digits' 8×8 upsampled: room to rotate and shift


def digit_images(seed: int) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Digits as (N, 1, 16, 16) images in [0, 1] (bilinear upsampling): train and test splits.

    Pixels are scaled, not standardised one by one: a rotated or shifted image must
    still mean the same at every place.
    """
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=seed, stratify=y
    )

    def images(x) -> Tensor:
        pixels = torch.tensor(x / 16, dtype=torch.float32).view(-1, 1, 8, 8)  # (N, 1, 8, 8)
        return F.interpolate(pixels, size=(SIDE, SIDE), mode="bilinear", align_corners=False)

    return (images(x_train), torch.tensor(y_train)), (images(x_test), torch.tensor(y_test))


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
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    augment: nn.Module | None,
    epochs: int,
    seed: int,
) -> float:
    """Adam on mini-batches of 20, each batch freshly transformed by `augment`; test accuracy."""
    torch.manual_seed(seed)
    model = small_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = train
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(20):
            images = x[batch] if augment is None else augment(x[batch])
            loss = F.cross_entropy(model(images), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return float((model(test[0]).argmax(1) == test[1]).float().mean())


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
    title="Data augmentation: torchvision's transforms, and what they buy with scarce data",
    topic="4. Data augmentation",
    concepts=["data augmentation", "invariance", "scarce data", "torchvision.transforms.v2"],
)
def run(ctx: Context) -> None:
    torch.manual_seed(ctx.seed)
    (x_train, y_train), test = digit_images(ctx.seed)
    gallery(ctx, x_train[:1])

    per_class = 10
    train = few_per_class(x_train, y_train, per_class)
    affine = v2.RandomAffine(degrees=12, translate=(0.1, 0.1), scale=(0.9, 1.1))
    epochs = 120 if ctx.quick else 200
    seeds = [ctx.seed, ctx.seed + 1] if ctx.quick else list(range(ctx.seed, ctx.seed + 5))
    plain = [train_and_test(train, test, None, epochs, s) for s in seeds]
    augmented = [train_and_test(train, test, affine, epochs, s) for s in seeds]
    mean_plain, mean_augmented = sum(plain) / len(seeds), sum(augmented) / len(seeds)
    ctx.claim(
        "augmentation-helps-scarce-data",
        f"With {per_class} digits per class, random rotations, shifts and zooms raise the "
        f"CNN's test accuracy by over 1.5 points (mean over {len(seeds)} seeds, difference)",
        mean_augmented - mean_plain,
        ">",
        0.015,
    )
    ctx.table(
        f"Small CNN, {per_class} training digits per class, {epochs} epochs",
        ["training data", *[f"seed {s}" for s in seeds], "mean"],
        [
            ["as given", *[f"{a:.3f}" for a in plain], f"{mean_plain:.3f}"],
            ["random affine", *[f"{a:.3f}" for a in augmented], f"{mean_augmented:.3f}"],
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
