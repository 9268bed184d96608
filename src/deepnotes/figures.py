"""Figures shared by several models and commands: grids of images."""

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
