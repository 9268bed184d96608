"""Santurkar et al.'s internal covariate shift: layer k's gradient before and after the
layers below it take their step, the rest of the network unchanged."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

import deepnotes.nn as dn
from deepnotes.experiments.batchnorm import (
    ChannelNoise,
    internal_covariate_shift,
    noisy_batchnorm,
    parameters,
)


def toy_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        dn.Linear(3, 5), dn.BatchNorm1d(5), dn.ReLU(), dn.Linear(5, 4), dn.ReLU(), dn.Linear(4, 2)
    )


def stepped(model: nn.Sequential, layers: set[int]) -> dict[str, torch.Tensor]:
    """The model's parameters with those of the modules at `layers` moved at random."""
    return {
        name: t + 0.3 * torch.randn_like(t) if int(name.split(".")[0]) in layers else t
        for name, t in parameters(model).items()
    }


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(16, 3, generator=generator), torch.randint(0, 2, (16,), generator=generator)


def test_no_shift_when_only_the_layer_itself_and_those_above_step() -> None:
    model = toy_net()
    before = parameters(model)
    after = stepped(model, {3, 5})  # the second and the last Linear
    # layer 2 (module 3) sees nothing below it move; layer 3 (module 5) sees layer 2 move
    (l2_second, cos_second), (l2_last, _) = internal_covariate_shift(model, before, after, *batch())
    assert l2_second == 0 and abs(cos_second - 1) < 1e-6
    assert l2_last > 0
    # nothing below moves at all: no shift anywhere
    only_last = stepped(model, {5})
    assert all(l2 == 0 for l2, _ in internal_covariate_shift(model, before, only_last, *batch()))


def test_g_prime_is_the_gradient_with_the_layers_below_stepped() -> None:
    model = toy_net()
    before = parameters(model)
    after = stepped(model, {0, 1, 3, 5})  # everything moves, BatchNorm's γ and β too
    x, y = batch()
    shifts = internal_covariate_shift(model, before, after, x, y)
    for (l2, cosine), (index, below) in zip(shifts, [(3, {0, 1}), (5, {0, 1, 3})], strict=True):
        expected = []
        for theta in (
            before,
            {n: after[n] if int(n.split(".")[0]) in below else before[n] for n in before},
        ):
            net = copy.deepcopy(model)
            net.load_state_dict(theta, strict=False)
            F.cross_entropy(net(x), y).backward()
            expected.append(net[index].weight.grad)
        g, g_prime = expected
        torch.testing.assert_close(torch.tensor(l2), (g - g_prime).norm())
        torch.testing.assert_close(
            torch.tensor(cosine), F.cosine_similarity(g.flatten(), g_prime.flatten(), dim=0)
        )


def test_the_running_statistics_stay_and_the_noise_is_the_same_for_both() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(dn.Linear(3, 5), noisy_batchnorm(5), dn.ReLU(), dn.Linear(5, 2))
    assert isinstance(model[1][1], ChannelNoise)
    running = [b.clone() for b in model.buffers()]
    before = parameters(model)
    random_state = torch.get_rng_state()
    # no step: G and G′ differ only if the noise were drawn afresh between them
    shifts = internal_covariate_shift(model, before, before, *batch())
    assert shifts[0][0] == 0
    assert torch.equal(torch.get_rng_state(), random_state)  # training draws as if unmeasured
    for now, then in zip(model.buffers(), running, strict=True):
        torch.testing.assert_close(now, then)
