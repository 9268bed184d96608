"""Figures shared by several tasks, experiments and commands: grids of images, clouds of
points, segmentation masks over their images, the gallery of activations, curves
smoothed by a running mean, and a run's training curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepnotes.nn.activations import ACTIVATIONS


def image_grid(images: Tensor, rows: int, title: str) -> Any:
    """A figure of (N, C, H, W) images in [0, 1], `rows` rows, grey or colour."""
    from matplotlib.figure import Figure  # matplotlib only when drawing

    columns = math.ceil(len(images) / rows)
    fig = Figure(figsize=(0.9 * columns, 0.9 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, image in zip(axes.flat, images.cpu(), strict=False):
        pixels = image.permute(1, 2, 0).clamp(0, 1).numpy()  # (H, W, C)
        ax.imshow(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels, cmap="gray")
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title)
    return fig


def point_cloud(points: Tensor, title: str, reference: Tensor | None = None) -> Any:
    """A scatter plot of (N, 2) samples, over a reference cloud (the data) in grey."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4), layout="constrained")
    ax = fig.subplots()
    if reference is not None:
        ax.scatter(*reference.cpu().T.numpy(), s=4, c="0.75", label="data")
    ax.scatter(*points.cpu().T.numpy(), s=2, alpha=0.5, c="C0", label="samples")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title)
    return fig


def samples_figure(samples: Tensor, title: str, reference: Tensor | None = None) -> Any:
    """Samples as people look at them: (N, C, H, W) images as a grid, (N, 2) points as a scatter."""
    if samples.dim() == 4:
        return image_grid(samples, math.ceil(math.sqrt(len(samples))), title)
    if samples.dim() == 2 and samples.shape[1] == 2:
        return point_cloud(samples, title, reference)
    raise ValueError(f"cannot draw samples of shape {tuple(samples.shape)}: images or 2-D points")


def mask_overlays(images: Tensor, masks: Tensor, predicted: Tensor, classes: list[str]) -> Any:
    """The image, the true mask over it and the predicted mask over it, one column per image.

    `images` are (n, C, H, W) pixels in [0, 1], `masks` and `predicted` (n, H, W) class
    indices; classes are colours, class 0 (the background) is left clear.
    """
    from matplotlib import colormaps  # matplotlib only when drawing
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    pixels = images.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # (n, H, W, C)
    colors = ListedColormap(
        [(0, 0, 0, 0)] + [(*color, 0.6) for color in colormaps["tab10"].colors[: len(classes) - 1]]
    )
    fig = Figure(figsize=(1.6 * len(pixels), 5.2), layout="constrained")
    axes = fig.subplots(3, len(pixels), squeeze=False)
    rows = (("image", None), ("true", masks.cpu().numpy()), ("predicted", predicted.cpu().numpy()))
    for row, (title, labels) in zip(axes, rows, strict=True):
        for k, ax in enumerate(row):
            ax.imshow(pixels[k].squeeze(-1) if pixels.shape[-1] == 1 else pixels[k], cmap="gray")
            if labels is not None:
                ax.imshow(
                    labels[k], cmap=colors, vmin=0, vmax=len(classes) - 1, interpolation="nearest"
                )
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(title)
    fig.legend(
        handles=[Patch(color=colors(c), label=name) for c, name in enumerate(classes) if c],
        loc="outside lower center",
        ncols=len(classes) - 1,
    )
    return fig


def activation_gallery() -> Any:
    """Every activation of `deepnotes.nn` (solid) with its derivative by autograd (dashed) on
    x ∈ [−4, 4]; softmax-like ones as one coordinate of (x, 0)."""
    from matplotlib.figure import Figure

    names = list(ACTIVATIONS)
    columns = 5
    rows = math.ceil(len(names) / columns)
    fig = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="tight")
    axes = fig.subplots(rows, columns, squeeze=False)
    x = torch.linspace(-4, 4, 801, dtype=torch.float64)
    for ax, name in zip(axes.flat, names, strict=False):
        ours_cls, _, kwargs = ACTIVATIONS[name]
        module = ours_cls(**kwargs).double()
        inputs = x.clone().requires_grad_(True)
        # Softmax-like activations act on a vector: show one coordinate against a fixed other (0)
        vector_wise = "dim" in kwargs
        if vector_wise:
            pair = torch.stack([inputs, torch.zeros_like(inputs)], dim=1)  # (801, 2)
            y = module(pair)[:, 0]
        else:
            y = module(inputs)
        (derivative,) = torch.autograd.grad(y.sum(), inputs)
        ax.plot(x, y.detach(), label="f(x)", color="#1f77b4")
        ax.plot(x, derivative, "--", label="f′(x)", color="#d62728")
        ax.axhline(0, color="#999", lw=0.6)
        ax.axvline(0, color="#999", lw=0.6)
        ax.set_title(name + (" (x, 0)₁" if vector_wise else ""), fontsize=10)
        ax.set_ylim(-2.2, 4.2)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Activations (solid) and their derivatives (dashed), drawn from deepnotes.nn")
    return fig


def running_mean(values: Sequence[float], window: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy curve (a loss per step) smoothed for a plot: the mean of every `window`
    consecutive values, m_t = (v_{t−window+1} + … + v_t)/window, placed at the 1-based step
    t of its last value. Returns (steps, means), each (len(values) − window + 1,)."""
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    return np.arange(window, len(values) + 1), means


def training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]]) -> Any:
    """The curves of one or more runs, a panel per metric: `train_M` solid and `val_M`
    dashed against the epoch, one colour per run. `histories` maps a run's label to its
    rows (a metrics.csv: epoch, train_loss, val_loss, val_acc, ...)."""
    from matplotlib.figure import Figure

    metrics: list[str] = []  # the metrics by their name without the split, in first-seen order
    for rows in histories.values():
        for key in rows[0] if rows else ():
            split, _, metric = key.partition("_")
            if split in ("train", "val") and metric and metric not in metrics:
                metrics.append(metric)
    if not metrics:
        raise ValueError("no train_ or val_ metric to draw")
    columns = min(3, len(metrics))
    fig = Figure(figsize=(4.2 * columns, 3.0 * math.ceil(len(metrics) / columns)), layout="tight")
    axes = fig.subplots(math.ceil(len(metrics) / columns), columns, squeeze=False)
    colours = [f"C{i % 10}" for i in range(len(histories))]
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for colour, (label, rows) in zip(colours, histories.items(), strict=True):
            epochs = [row["epoch"] for row in rows]
            for split, style in (("train", "-"), ("val", "--")):
                values = [row.get(f"{split}_{metric}", math.nan) for row in rows]
                if not all(math.isnan(v) for v in values):
                    ax.plot(epochs, values, style, color=colour, label=f"{label} {split}")
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    return fig
