"""The activation experiments' helpers: the He-initialised stack, the hidden outputs of a
network, the per-element timer, the shifted activation and R²."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import deepnotes.experiments.activations as experiment
from deepnotes.experiments.activations import activation_outputs, hidden_outputs, time_per_element
from deepnotes.experiments.activations_training import Shifted, explained
from deepnotes.nn import activations
from deepnotes.nn.linear import Linear


def test_the_stack_keeps_the_signal_at_hes_initialisation():
    x = torch.randn(512, 128, generator=torch.Generator().manual_seed(0))
    outputs = hidden_outputs(activations.ReLU(), x, depth=6, seed=0)
    assert [h.shape for h in outputs] == [x.shape] * 6
    # W ~ N(0, 2/n): E[ReLU(z)²] = Var(z)/2 = E[h²] in expectation, layer after layer; the
    # first layer's 128 × 128 weights make it close, the next ones drift at random, so the
    # rest is read per layer on average (Glorot's N(0, 1/n) would halve it at every layer)
    power = [float(h.pow(2).mean()) for h in outputs]
    assert 0.9 < power[0] / float(x.pow(2).mean()) < 1.1
    assert 0.75 < (power[-1] / power[0]) ** (1 / 5) < 1.33
    # a fresh draw per layer: the same seed gives the same stack, another seed another
    again = hidden_outputs(activations.ReLU(), x, depth=6, seed=0)
    other = hidden_outputs(activations.ReLU(), x, depth=6, seed=1)
    torch.testing.assert_close(again[-1], outputs[-1])
    assert not torch.equal(other[-1], outputs[-1])


def test_activation_outputs_are_each_hidden_layers_after_its_activation():
    torch.manual_seed(0)
    model = nn.Sequential(
        Linear(3, 4), activations.ReLU(), Linear(4, 5), activations.Tanh(), Linear(5, 2)
    )
    x = torch.randn(7, 3)
    first, second = activation_outputs(model, x)
    torch.testing.assert_close(first, torch.relu(model[0](x)))
    torch.testing.assert_close(second, torch.tanh(model[2](first)))


def test_time_per_element_times_each_function_in_every_round(monkeypatch):
    """A clock that each function moves by a known amount: the timer's arithmetic, without
    the wall time of a machine that other tests share."""
    clock = [0]
    monkeypatch.setattr(experiment.time, "process_time_ns", lambda: clock[0])

    order = []

    def costing(name: str, ns: int):
        """A function that takes `ns` nanoseconds of the fake clock per call."""

        def f(x: torch.Tensor) -> None:
            order.append(name)
            clock[0] += ns

        return f

    x = torch.zeros(100)
    functions = {"cheap": costing("cheap", 200), "dear": costing("dear", 1_000)}
    times = time_per_element(functions, x, rounds=4, calls=3)
    assert list(times) == ["cheap", "dear"]
    # per element: the cost of one call over the 100 elements, in each of the 4 rounds
    assert times["cheap"].tolist() == [2.0] * 4
    assert times["dear"].tolist() == [10.0] * 4
    # the functions take turns within a round, `calls` calls each
    assert order == (["cheap"] * 3 + ["dear"] * 3) * 4


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
