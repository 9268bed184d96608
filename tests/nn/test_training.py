"""A network built from `deepnotes.nn`, trained with `deepnotes.optim.SGD` on digits, takes the
same steps as the same network built from `torch.nn` and trained with `torch.optim.SGD`."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import deepnotes.nn as dn
import deepnotes.optim as doptim
from reference import assert_close


def lenet_like(layers) -> nn.Sequential:
    """Conv → BatchNorm → ReLU → MaxPool → Conv → AvgPool → Flatten → Linear → Dropout-free head."""
    return nn.Sequential(
        layers.Conv2d(1, 6, 3, padding=1),
        layers.BatchNorm2d(6),
        layers.ReLU(),
        layers.MaxPool2d(2),
        layers.Conv2d(6, 12, 3, padding=1, groups=3),
        layers.Tanh(),
        layers.AvgPool2d(2),
        layers.Flatten(),
        layers.Linear(12 * 2 * 2, 32),
        layers.LeakyReLU(0.1),
        layers.Linear(32, 10),
    )


@pytest.mark.parametrize(("dtype", "steps"), [(torch.float64, 100), (torch.float32, 40)])
def test_scratch_network_trains_step_for_step_like_torch(dtype, steps):
    """Parameters agree after every step. In float32 the two sides round differently at
    about 1e-7 per operation, and training amplifies that (chaotically) past 1e-5 after
    some 60 steps; float64 shows over a longer run that the computations are the same."""
    digits = load_digits()
    x = torch.tensor(digits.images / 16, dtype=dtype).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.tensor(digits.target)
    torch.manual_seed(0)
    theirs = lenet_like(nn).to(dtype)
    ours = lenet_like(dn).to(dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    settings = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    opt_theirs = torch.optim.SGD(theirs.parameters(), foreach=False, **settings)
    opt_ours = doptim.SGD(ours.parameters(), **settings)
    loss_theirs, loss_ours = nn.CrossEntropyLoss(), dn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        batch = torch.randint(0, len(y), (64,), generator=generator)
        for model, opt, loss_fn in ((theirs, opt_theirs, loss_theirs), (ours, opt_ours, loss_ours)):
            opt.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            opt.step()
        assert_close(list(ours.parameters()), list(theirs.parameters()), dtype, f"step {step}")
    assert_close(list(ours.buffers()), list(theirs.buffers()), dtype, "buffers")
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        accuracy = (ours(x).argmax(1) == y).double().mean().item()
        assert_close(ours(x), theirs(x), dtype, "eval outputs")
    assert accuracy > (0.8 if steps >= 100 else 0.5)  # it really learned (chance is 0.1)
