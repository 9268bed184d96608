"""Figures shared by several models and commands: grids of images, clouds of points."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor


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
