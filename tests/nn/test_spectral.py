"""Power iteration against the SVD (torch.linalg.matrix_norm(W, 2)), and spectral
normalisation against torch.nn.utils.parametrizations.spectral_norm: the same u, v draws,
rounds, normalised weights, gradients and state-dict keys."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import deepnotes.nn as dn
from deepnotes.nn import spectral
from reference import assert_close


@pytest.mark.parametrize("shape", [(10, 64), (64, 64), (32, 3, 3, 3)])
def test_power_iteration_finds_the_largest_singular_value(shape):
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(shape, generator=generator, dtype=torch.float64)
    expected = torch.linalg.matrix_norm(weight.flatten(1), 2)
    estimate = spectral.spectral_norm_estimate(weight, generator=generator)
    assert estimate == pytest.approx(float(expected), rel=1e-8)


def test_power_iteration_approaches_sigma_from_below():
    weight = torch.randn(20, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    start = torch.nn.functional.normalize(torch.ones(30, dtype=torch.float64), dim=0)
    estimates = []
    for rounds in (1, 2, 5, 50):
        u, v = spectral.power_iteration(weight, start, rounds)
        estimates.append(float(u @ weight @ v))
    assert estimates == sorted(estimates)
    assert estimates[-1] <= float(torch.linalg.matrix_norm(weight, 2)) + 1e-12


def paired_layers(seed: int, ours: nn.Module, theirs: nn.Module, **kwargs):
    torch.manual_seed(seed)
    ours = spectral.spectral_norm(ours(), **kwargs)
    torch.manual_seed(seed)
    theirs = nn.utils.parametrizations.spectral_norm(theirs(), **kwargs)
    return ours, theirs


@pytest.mark.parametrize(
    ("ours", "theirs", "x_shape"),
    [
        (lambda: dn.Linear(12, 7), lambda: nn.Linear(12, 7), (5, 12)),
        (lambda: dn.Conv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3), (2, 3, 6, 6)),
        (
            lambda: dn.ConvTranspose2d(3, 4, 3),
            lambda: nn.ConvTranspose2d(3, 4, 3),
            (2, 3, 5, 5),
        ),
    ],
)
def test_spectral_norm_takes_torchs_steps(ours, theirs, x_shape):
    ours, theirs = paired_layers(0, ours, theirs, n_power_iterations=2)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):  # training-mode forwards, W changed between them as a step would
        x = torch.randn(x_shape, generator=generator)
        out_ours, out_theirs = ours(x), theirs(x)
        assert_close(out_ours, out_theirs, torch.float32)
        out_ours.square().sum().backward()
        out_theirs.square().sum().backward()
        grad_ours = ours.parametrizations.weight.original.grad
        grad_theirs = theirs.parametrizations.weight.original.grad
        assert_close(grad_ours, grad_theirs, torch.float32, "gradient")
        with torch.no_grad():
            change = 0.1 * torch.randn(grad_ours.shape, generator=generator)
            ours.parametrizations.weight.original.add_(change)
            theirs.parametrizations.weight.original.add_(change)
        ours.zero_grad()
        theirs.zero_grad()
    for name, buffer in theirs.state_dict().items():
        assert_close(ours.state_dict()[name], buffer, torch.float32, name)


def test_spectral_norm_leaves_u_and_v_alone_in_evaluation():
    layer = spectral.spectral_norm(dn.Linear(6, 4)).eval()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(3)
    layer(torch.randn(2, 6))
    assert all(
        torch.equal(before[k], layer.state_dict()[k])
        for k in ("parametrizations.weight.0._u", "parametrizations.weight.0._v")
    )


def test_converged_spectral_norm_makes_the_layer_one_lipschitz():
    layer = spectral.spectral_norm(dn.Linear(40, 30), n_power_iterations=200)
    layer(torch.randn(1, 40))  # training mode: 200 more rounds
    assert float(torch.linalg.matrix_norm(layer.weight.detach(), 2)) == pytest.approx(1, abs=1e-5)
