"""The choice of q: Gaussian families fitted by the reparameterised ELBO, against the closed
forms (Bishop, PRML §10.1.2), torch.distributions and SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from deepnotes.errors import UserError
from deepnotes.generative import PPCA, variational
from deepnotes.generative.divergences import kl_gaussians


def correlated_target(seed: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A Gaussian N(μ, Σ) in k dimensions whose coordinates are correlated."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(k, k, generator=generator, dtype=torch.float64)
    return torch.randn(k, generator=generator, dtype=torch.float64), a @ a.T + 0.3 * torch.eye(
        k, dtype=torch.float64
    )


def rotated_ppca(seed: int) -> tuple[PPCA, torch.Tensor]:
    """PPCA fitted to data with principal variances 9 and 1, W turned by 45°; one point."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0]
    x = rng.normal(size=(400, 2)) @ (basis * [3.0, 1.0]).T + 0.5 * rng.normal(size=(400, 6))
    return PPCA(2).fit(x).rotated(math.pi / 4), torch.tensor(x[0])


def prior_start(k: int, points: int = 1) -> variational.GaussianQ:
    """N(0, I) for each of `points` points: mean (B, k), scale (B, k, k)."""
    return variational.GaussianQ(
        torch.zeros(points, k, dtype=torch.float64),
        torch.eye(k, dtype=torch.float64).expand(points, k, k),
    )


@pytest.mark.parametrize("k", [2, 3, 5])
def test_mean_field_gap_formula_is_the_kl_torch_distributions_computes(k):
    mean, covariance = correlated_target(k, k)
    precision = torch.linalg.inv(covariance)
    q = MultivariateNormal(mean, torch.diag(1 / precision.diagonal()))
    theirs = kl_divergence(q, MultivariateNormal(mean, covariance))
    # both are closed forms in float64: they agree to rounding
    torch.testing.assert_close(
        variational.mean_field_gap(covariance), theirs, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("k", [2, 4])
def test_mean_field_optimum_is_the_minimum_scipy_finds(k):
    """The closed form's variances 1/Λ_ii against a general minimiser of KL(q ‖ p) over
    diagonal Gaussians (log-variances, the KL by torch.distributions)."""
    mean, covariance = correlated_target(10 + k, k)
    target = MultivariateNormal(mean, covariance)

    def kl(log_variances: np.ndarray) -> float:
        variances = torch.tensor(log_variances).exp()
        return float(kl_divergence(MultivariateNormal(mean, torch.diag(variances)), target))

    found = minimize(kl, np.zeros(k), method="BFGS", options={"gtol": 1e-10}).x
    closed = variational.mean_field_optimum(mean, covariance).covariance.diagonal()
    # BFGS stops at gradient 1e-10: the variances agree far below 1e-5
    np.testing.assert_allclose(np.exp(found), closed.numpy(), rtol=1e-5)
    assert (closed < covariance.diagonal()).all()  # narrower than the marginals


@pytest.mark.parametrize("seed", [0, 1])
def test_optimised_mean_field_gap_equals_the_closed_form(seed):
    model, point = rotated_ppca(seed)
    _, posterior_cov = model.posterior(point[None])
    fit = variational.fit_gaussian_q(
        lambda z: model.log_joint(point, z), prior_start(2), "mean-field", 16_384, seed=seed
    )
    gap = model.score(point[None]) - float(model.elbo(point, fit.mean[0], fit.covariance[0]))
    closed = float(variational.mean_field_gap(posterior_cov))
    assert closed > 0.3  # the posterior is correlated
    # 16,384 common draws put the optimum ~1e-4 nats off (measured 1.0e-4 and 0.9e-4); 1e-3
    # allows 10×, and taking the marginals Σ_ii for the variances is off by ~0.5 nats
    assert abs(gap - closed) < 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_full_covariance_q_recovers_the_exact_posterior(seed):
    model, point = rotated_ppca(seed)
    posterior_mean, posterior_cov = model.posterior(point[None])
    fit = variational.fit_gaussian_q(
        lambda z: model.log_joint(point, z), prior_start(2), "full-covariance", 2**18, seed=seed
    )
    # the error of 2**18 common draws, measured: ≤ 4e-4 in the mean, ≤ 0.45% in the
    # covariance, KL ≤ 6e-6; the tolerances allow 3–5× that (the posterior's variances
    # are ~0.12, its covariance ~0.09, and mean field's is off by 100% in the covariance)
    torch.testing.assert_close(fit.mean[0], posterior_mean[0], rtol=0, atol=2e-3)
    torch.testing.assert_close(fit.covariance[0], posterior_cov, rtol=0.02, atol=0)
    kl = kl_gaussians(fit.mean[0], fit.covariance[0], posterior_mean[0], posterior_cov)
    assert float(kl) < 3e-5


@pytest.mark.parametrize("family", variational.FAMILIES)
def test_points_fitted_together_get_the_q_each_gets_alone(family):
    """B points in one fit: their ELBOs are summed, but no q reaches another point's terms,
    so each q is the one its point gets alone (up to the draws ε, which differ)."""
    model, _ = rotated_ppca(3)
    generator = torch.Generator().manual_seed(3)
    points = model.mean_ + 2 * torch.randn(3, 6, generator=generator, dtype=torch.float64)
    draws = 2**16
    together = variational.fit_gaussian_q(
        lambda z: model.log_joint(points, z), prior_start(2, 3), family, draws
    )  # log_joint: z (S, 3, 2) against points (3, 6) → (S, 3)
    for b, point in enumerate(points):
        alone = variational.fit_gaussian_q(
            lambda z, point=point: model.log_joint(point, z), prior_start(2), family, draws, seed=b
        )
        # two fits on 2**16 different draws each: measured ≤ 1.3e-3 apart in the means and
        # ≤ 2.2e-3 in the covariances; the tolerances allow ~2.5× that (the posterior means lie
        # 0.3–1.4 apart, its variances are ~0.12; an entropy summed over all 3 points where
        # each q should get its own makes every q's variance ~3× larger)
        torch.testing.assert_close(together.mean[b], alone.mean[0], rtol=0, atol=3e-3)
        torch.testing.assert_close(together.covariance[b], alone.covariance[0], rtol=0, atol=5e-3)


def test_gaussian_q_entropy_and_samples_against_torch_distributions():
    mean, covariance = correlated_target(3, 3)
    scale = torch.linalg.cholesky(covariance)
    q = variational.GaussianQ(mean, scale)
    theirs = MultivariateNormal(mean, scale_tril=scale)
    torch.testing.assert_close(q.entropy(), theirs.entropy())
    torch.testing.assert_close(q.covariance, theirs.covariance_matrix)
    epsilon = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(q.sample(epsilon), mean + epsilon @ scale.T)


def test_families_keep_or_drop_the_off_diagonal():
    raw = torch.randn(4, 3, 3, dtype=torch.float64)
    full = variational.scale_tril(raw, "full-covariance")
    diagonal = variational.scale_tril(raw, "mean-field")
    torch.testing.assert_close(full.tril(-1), raw.tril(-1))
    assert (full.triu(1) == 0).all()
    torch.testing.assert_close(diagonal, torch.diag_embed(full.diagonal(dim1=-2, dim2=-1)))
    torch.testing.assert_close(variational.unconstrained(full), raw.tril())
    with pytest.raises(UserError):
        variational.scale_tril(raw, "diagonal")


def test_ppca_log_joint_against_torch_distributions():
    model, point = rotated_ppca(2)
    z = torch.randn(7, 3, 2, dtype=torch.float64)
    likelihood = Normal(z @ model.W_.T + model.mean_, model.noise_variance_**0.5)
    theirs = likelihood.log_prob(point).sum(-1) + Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(model.log_joint(point, z), theirs)
