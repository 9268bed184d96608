"""Generated segmentation data: shapes that touch and overlap, with a class for every pixel.

Semantic segmentation labels each pixel with the class of the object it
belongs to. `shapes-seg` makes that task with a known answer: several
circles, squares, triangles and crosses (`deepnotes.data.synthetic`'s
`shape_mask`) on a noisy background, each placed against an earlier one so
that shapes touch or overlap, drawn in order so that a later shape hides what
it covers (the painter's algorithm). The mask records what is visible:

    mask[i, j] = 0                      background
               = 1 + class of the last shape drawn over pixel (i, j)

so the network must tell a circle from a square from the part that shows,
and split two touching shapes at their common border. Each shape in an image
has its own grey level (as objects in a photograph differ), so the border
between two overlapping shapes is in the pixels, under noise of std 0.05.

Placement: shape k + 1's centre lies at distance (r_j + r_{k+1})·u, u ∈ [0.6, 1],
from an earlier shape j's centre, in a random direction: their circumscribed
circles overlap, so the shapes touch or overlap (then clipped to the image).

Images are float (N, 1, H, W), standardised with the training split's mean and
std as every image set (`image_bundle`); masks are long (N, H, W). A requested
image size resizes the images bilinearly (antialiased) and the masks by
nearest neighbour, so every mask value is still a class.

Shape: images (N, 1, H, W), masks (N, H, W), default H = W = 32.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from deepnotes.cards import DataCard
from deepnotes.data.base import DataBundle, DataRequest, image_bundle, split_indices
from deepnotes.data.synthetic import FRACTIONS, GENERATED, SHAPES, shape_mask
from deepnotes.registry import DATASETS

if TYPE_CHECKING:
    pass

# 3,000 train, 1,000 val, 1,000 test: with 1,800 training images the small U-Net overfits
# (validation loss twice the training loss) and its test mean IoU stalls below 0.9.
NUM_SEG_IMAGES = 5000
SEG_SIZE = (32, 32)
SHAPES_PER_IMAGE = (2, 4)  # inclusive range
RADIUS = (0.18, 0.3)  # shape radius, as a fraction of the image side
BACKGROUND = (0.0, 0.2)  # background grey level range
GREY_LEVELS = (0.4, 0.55, 0.7, 0.85, 1.0)  # each shape of an image takes a different one
# Half `shapes`' 0.1: a border between grey levels 0.15 apart is then 3σ, not 1.5σ, so a
# border pixel's class is in the data (at 0.1 the test mean IoU stalled near 0.89).
NOISE_STD = 0.05
SEG_CLASSES = ["background", *SHAPES]


def place_shapes(
    rng: np.random.Generator, count: int, size: tuple[int, int]
) -> list[tuple[tuple[float, float], float]]:
    """`count` (centre (y, x), radius) pairs, each after the first touching an earlier one."""
    placed: list[tuple[tuple[float, float], float]] = []
    for _ in range(count):
        radius = rng.uniform(*RADIUS) * min(size)
        if placed:
            (y, x), r = placed[rng.integers(len(placed))]
            distance = (r + radius) * rng.uniform(0.6, 1.0)
            angle = rng.uniform(0.0, 2 * math.pi)
            y, x = y + distance * math.sin(angle), x + distance * math.cos(angle)
        else:
            y, x = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        centre = (min(max(y, radius), size[0] - radius), min(max(x, radius), size[1] - radius))
        placed.append((centre, radius))
    return placed


def draw_scene(
    rng: np.random.Generator, size: tuple[int, int] = SEG_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """One image of 2-4 touching shapes on a noisy background, and its class mask.

    Returns the image, float32 (H, W) in [0, 1], and the mask, int64 (H, W):
    0 for background, 1 + the index in `SHAPES` of the shape visible at each pixel.
    """
    count = rng.integers(SHAPES_PER_IMAGE[0], SHAPES_PER_IMAGE[1] + 1)
    image = np.full(size, rng.uniform(*BACKGROUND))
    mask = np.zeros(size, dtype=np.int64)
    levels = rng.choice(GREY_LEVELS, size=count, replace=False)
    for (centre, radius), level in zip(place_shapes(rng, count, size), levels, strict=True):
        label = rng.integers(len(SHAPES))
        inside = shape_mask(SHAPES[label], size, centre, radius)  # later shapes paint over
        image[inside] = level
        mask[inside] = 1 + label
    image += rng.normal(0.0, NOISE_STD, size)
    return np.clip(image, 0.0, 1.0).astype(np.float32), mask


def fit_masks(masks: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Resize (N, H, W) class masks by nearest neighbour, which keeps every value a class."""
    from torchvision.transforms.v2 import InterpolationMode  # on use: docs/ARCHITECTURE.md
    from torchvision.transforms.v2 import functional as TF

    if size is None or tuple(masks.shape[-2:]) == tuple(size):
        return masks
    resized = TF.resize(masks[:, None], list(size), interpolation=InterpolationMode.NEAREST_EXACT)
    return resized[:, 0]  # (N, H', W')


@DATASETS.register(
    "shapes-seg",
    DataCard(
        kind="images",
        task="segmentation",
        input_size=(1, *SEG_SIZE),
        num_classes=len(SEG_CLASSES),
        source="generated: 2-4 numpy-drawn circles, squares, triangles and crosses per image, "
        "touching and overlapping, with per-pixel class masks",
        licence=GENERATED,
    ),
)
def shapes_seg(request: DataRequest) -> DataBundle:
    """5,000 grey 32×32 scenes with per-pixel masks (5 classes with background); val, test 20 %."""
    rng = np.random.default_rng(request.seed)
    scenes = [draw_scene(rng) for _ in range(NUM_SEG_IMAGES)]
    images = torch.from_numpy(np.stack([image for image, _ in scenes])).unsqueeze(1)  # (N, 1, H, W)
    masks = fit_masks(torch.from_numpy(np.stack([mask for _, mask in scenes])), request.image_size)
    parts = split_indices(len(masks), FRACTIONS, request.seed)
    return image_bundle(
        "shapes-seg",
        images={s: images[i] for s, i in parts.items()},
        labels={s: masks[i] for s, i in parts.items()},
        request=request,
        classes=SEG_CLASSES,
    )
