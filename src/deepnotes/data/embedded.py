"""Data that ships inside an installed library: nothing to download, always available.

`digits` is the UCI "Optical Recognition of Handwritten Digits" set that
scikit-learn bundles: 1,797 grey 8×8 images of the digits 0-9, each pixel a
count from 0 to 16 (the number of "on" pixels in a 4×4 block of the original
32×32 bitmap). It is MNIST in miniature: small enough that a whole training
run takes seconds on a CPU, which makes it the default for tests and first
lessons. It has no official test split, so the test split is carved out
here, stratified by class, with the request's data seed.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from deepnotes.data.base import DataBundle, DataRequest, image_bundle, split_indices
from deepnotes.registry import DATASETS

DIGIT_CLASSES = [str(d) for d in range(10)]


@DATASETS.register(
    "digits",
    kind="images",
    task="classification",
    input_size=(1, 8, 8),
    num_classes=10,
    source="UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998), "
    "bundled with scikit-learn",
    licence="CC BY 4.0",
    present=None,
)
def digits(request: DataRequest) -> DataBundle:
    """scikit-learn's 8×8 digits, pixels scaled from 0..16 to [0, 1]; val 20 %, test 20 %."""
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
