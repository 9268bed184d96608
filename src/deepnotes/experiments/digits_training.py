"""Small training loops on scikit-learn's digits, shared by the experiments that train MLPs.

Full control in a few lines (no trainer, no data loader): the experiments vary
one thing — batch size, normalisation, learning rate — and read every step's loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

Split = tuple[Tensor, Tensor]


def digits_splits(seed: int) -> tuple[Split, Split]:
    """Standardised digits: (train x, y), (test x, y), 70% / 30%, stratified."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=seed, stratify=y
    )
    scaler = StandardScaler().fit(x_train)

    def tensors(x, y) -> Split:
        return torch.tensor(scaler.transform(x), dtype=torch.float32), torch.tensor(y)

    return tensors(x_train, y_train), tensors(x_test, y_test)


def train(
    model: nn.Module,
    data: Split,
    batch_size: int,
    epochs: int,
    lr: float,
    seed: int,
    momentum: float = 0.9,
) -> list[float]:
    """Mini-batch SGD on cross-entropy, batches shuffled by `seed`; the loss of every step.

    A batch size of len(data) is full-batch gradient descent, one step per epoch.
    """
    x, y = data
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x) - batch_size + 1, batch_size):  # full batches only
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, data: Split) -> float:
    model.eval()
    x, y = data
    return float((model(x).argmax(1) == y).float().mean())
