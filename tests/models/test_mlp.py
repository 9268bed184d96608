"""The MLP's building blocks: the dense stack's initialisers."""

from __future__ import annotations

import torch
from torch import nn

import deepnotes.nn as dn
from deepnotes.models.mlp import dense_stack, glorot, he, initialize_linears


def test_initialize_linears_draws_every_linear_and_zeroes_its_bias() -> None:
    torch.manual_seed(0)
    # deepnotes.nn's and torch's Linear, one nested a level down (as after a BatchNorm block)
    model = nn.Sequential(dn.Linear(300, 200), nn.Sequential(nn.Linear(200, 100), nn.ReLU()))
    assert initialize_linears(model, he) is model
    first, second = model[0], model[1][0]
    for layer, fan_in in ((first, 300), (second, 200)):
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
        # N(0, 2/fan_in): the sample variance of 20,000-60,000 draws within 5%
        assert abs(float(layer.weight.detach().var()) * fan_in / 2 - 1) < 0.05


def test_the_draws_follow_the_layers_order() -> None:
    """The same seed gives the weights a loop over the layers in order would give."""
    torch.manual_seed(0)
    model = initialize_linears(dense_stack([8, 6, 4], nn.Tanh, dn), glorot)
    torch.manual_seed(0)
    expected = dense_stack([8, 6, 4], nn.Tanh, dn)
    for layer in (expected[0], expected[2]):
        nn.init.xavier_normal_(layer.weight)
    torch.testing.assert_close(model[0].weight, expected[0].weight)
    torch.testing.assert_close(model[2].weight, expected[2].weight)
