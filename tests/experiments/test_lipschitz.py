"""The Lipschitz experiment's helpers: the chain-rule Jacobian against autograd's, Spearman's ρ
against SciPy's."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import spearmanr

from deepnotes.experiments.lipschitz import input_jacobians, spearman, tanh_mlp


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_the_chain_rule_jacobian_is_autograds(spectral_norm):
    model = tanh_mlp(0, spectral_norm, hidden=16).eval()
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    ours = input_jacobians(model, x)  # (3, 10, 64)
    for row, jacobian in zip(x, ours, strict=True):
        expected = torch.autograd.functional.jacobian(model, row)  # (10, 64)
        torch.testing.assert_close(jacobian.float(), expected, rtol=1e-5, atol=1e-6)


def test_spearman_is_scipys():
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        a, b = torch.randn(2, 7, generator=generator).tolist()
        assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
