"""The Lipschitz experiment's helpers: the chain-rule Jacobian against autograd's, Spearman's
critical values against the published table."""

from __future__ import annotations

import pytest
import torch

from deepnotes.experiments.lipschitz import input_jacobians, spearman_critical, tanh_mlp


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_the_chain_rule_jacobian_is_autograds(spectral_norm):
    model = tanh_mlp(0, spectral_norm, hidden=16).eval()
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    ours = input_jacobians(model, x)  # (3, 10, 64)
    for row, jacobian in zip(x, ours, strict=True):
        expected = torch.autograd.functional.jacobian(model, row)  # (10, 64)
        torch.testing.assert_close(jacobian.float(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("n", "table"), [(5, 0.900), (6, 0.829), (7, 0.714), (8, 0.643)])
def test_spearman_critical_values_are_the_tables(n, table):
    """One-sided α = 0.05 (Zar, "Significance testing of the Spearman rank correlation
    coefficient", JASA 1972, Table 1; three decimals)."""
    assert spearman_critical(n) == pytest.approx(table, abs=5e-4)
