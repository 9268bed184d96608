"""Data that ships inside an installed library: nothing to download, always available.

`digits` is the UCI "Optical Recognition of Handwritten Digits" set that
scikit-learn bundles: 1,797 grey 8×8 images of the digits 0-9, each pixel a
count from 0 to 16 (the number of "on" pixels in a 4×4 block of the original
32×32 bitmap). It is MNIST in miniature: small enough that a whole training
run takes seconds on a CPU, which makes it the default for tests and first
lessons. It has no official test split, so the test split is carved out
here, stratified by class, with the request's data seed.

`digit_vectors(seed)` and `digit_images(seed)` are the same data as the
experiments use it: 70 % for training and 30 % for testing, stratified, as
standardised 64-pixel vectors (the lessons on MLPs) or as upsampled images in
[0, 1] (the lessons on augmentation and equivariance).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deepnotes.cards import DataCard
from deepnotes.data.base import (
    DataBundle,
    DataRequest,
    image_bundle,
    split_indices,
    tensor_bundle,
)
from deepnotes.registry import DATASETS

DIGIT_CLASSES = [str(d) for d in range(10)]


@DATASETS.register(
    "digits",
    DataCard(
        kind="images",
        task="classification",
        input_size=(1, 8, 8),
        num_classes=10,
        source="UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998), "
        "bundled with scikit-learn",
        licence="CC BY 4.0",
    ),
)
def digits(request: DataRequest) -> DataBundle:
    """scikit-learn's 8×8 digits, pixels scaled from 0..16 to [0, 1]; val 20 %, test 20 %."""
    from sklearn.datasets import load_digits  # on use: docs/ARCHITECTURE.md

    raw = load_digits()
    images = torch.as_tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    labels = torch.as_tensor(raw.target, dtype=torch.long)  # (N,)
    parts = split_indices(len(labels), (0.2, 0.2), request.seed, labels=labels)
    return image_bundle(
        "digits",
        images={s: images[i] for s, i in parts.items()},
        labels={s: labels[i] for s, i in parts.items()},
        request=request,
        classes=DIGIT_CLASSES,
    )


def digit_splits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits split 70 % / 30 %, stratified by class with `seed`: the pixels
    (0..16) and labels of (train, test, train labels, test labels)."""
    from sklearn.datasets import load_digits  # on use: docs/ARCHITECTURE.md
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)


def digit_vectors(seed: int) -> DataBundle:
    """The digits as 64-pixel vectors, each pixel standardised with the training split's mean
    and std: train and test (`digit_splits`)."""
    from sklearn.preprocessing import StandardScaler  # on use: docs/ARCHITECTURE.md

    x_train, x_test, y_train, y_test = digit_splits(seed)
    scaler = StandardScaler().fit(x_train)

    def tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(scaler.transform(x), dtype=torch.float32), torch.tensor(y)

    splits = {"train": tensors(x_train, y_train), "test": tensors(x_test, y_test)}
    return tensor_bundle("digit-vectors", splits, classes=DIGIT_CLASSES)


def digit_images(seed: int, side: int = 16) -> DataBundle:
    """The digits as (1, side, side) images in [0, 1], upsampled bilinearly: train and test
    (`digit_splits`). Pixels are scaled, not standardised one by one, so that a rotated or
    shifted image still means the same at every place."""
    x_train, x_test, y_train, y_test = digit_splits(seed)

    def tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = torch.tensor(x / 16, dtype=torch.float32).view(-1, 1, 8, 8)  # (N, 1, 8, 8)
        images = F.interpolate(pixels, size=(side, side), mode="bilinear", align_corners=False)
        return images, torch.tensor(y)

    splits = {"train": tensors(x_train, y_train), "test": tensors(x_test, y_test)}
    return tensor_bundle("digit-images", splits, kind="images", classes=DIGIT_CLASSES)
