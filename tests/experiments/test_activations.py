"""The activation experiments' helpers: the He-initialised stack, the per-element timer, the
shifted activation, R² and the geometric mean."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepnotes.experiments.activations import hidden_outputs, time_per_element
from deepnotes.experiments.activations_training import Shifted, explained, geometric_mean
from deepnotes.nn import activations


def test_the_stack_keeps_the_signal_at_hes_initialisation():
    x = torch.randn(512, 128, generator=torch.Generator().manual_seed(0))
    outputs = hidden_outputs(activations.ReLU(), x, depth=6, seed=0)
    assert [h.shape for h in outputs] == [x.shape] * 6
    # W ~ N(0, 2/n): E[ReLU(z)²] = Var(z)/2 = E[h²] in expectation, layer after layer (one
    # draw drifts a little; Glorot's N(0, 1/n) would halve it at every layer, to 1/64)
    for h in outputs:
        assert 0.5 < float(h.pow(2).mean()) / float(x.pow(2).mean()) < 2
    # a fresh draw per layer: the same seed gives the same stack, another seed another
    again = hidden_outputs(activations.ReLU(), x, depth=6, seed=0)
    other = hidden_outputs(activations.ReLU(), x, depth=6, seed=1)
    torch.testing.assert_close(again[-1], outputs[-1])
    assert not torch.equal(other[-1], outputs[-1])


def test_time_per_element_times_each_function_in_every_round():
    x = torch.randn(4096)
    times = time_per_element({"relu": torch.relu, "tanh": torch.tanh}, x, rounds=5, calls=3)
    assert list(times) == ["relu", "tanh"]
    assert all(t.shape == (5,) and (t >= 0).all() for t in times.values())
    # a function that does 20 times the work costs more per element
    times = time_per_element(
        {"once": torch.exp, "twenty times": lambda v: [torch.exp(v) for _ in range(20)]},
        x,
        rounds=5,
        calls=3,
    )
    # (medians: the first round pays the warm-up)
    assert np.median(times["twenty times"]) > 5 * np.median(times["once"])


def test_a_shifted_activation_keeps_its_slope():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    shifted = Shifted(activations.Tanh(), 1.0)
    (slope,) = torch.autograd.grad(shifted(x).sum(), x)
    (tanh_slope,) = torch.autograd.grad(torch.tanh(x).sum(), x)
    torch.testing.assert_close(shifted(x), torch.tanh(x) + 1)
    torch.testing.assert_close(slope, tanh_slope)


def test_explained_variance():
    targets = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert explained(0.0, targets) == 1.0  # a perfect fit
    # predicting the mean leaves the whole (population) variance unexplained
    mean_error = float((targets - targets.mean()).pow(2).mean())
    assert explained(mean_error, targets) == pytest.approx(0.0)


def test_geometric_mean():
    assert geometric_mean([1.0, 100.0]) == pytest.approx(10.0)
    assert geometric_mean([0.5, 0.0, 3.0]) == 0.0  # an underflowed gradient, not an error
    assert math.isclose(geometric_mean([2.0]), 2.0)
