"""Latent-variable models against scikit-learn and SciPy; KL and Fréchet against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from torch.distributions import MultivariateNormal, Normal, StudentT

from deepnotes.data.synthetic import RING_MODES, RING_RADIUS, RING_STD, ring_centres
from deepnotes.errors import UserError
from deepnotes.generative import (
    PPCA,
    GaussianMixture,
    frechet_distance,
    gaussian_statistics,
    kl_gaussians,
    kl_monte_carlo,
    mode_coverage,
)
from deepnotes.generative.ppca import gaussian_log_likelihood


def blobs(seed: int, n: int = 600, d: int = 3, k: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(k, d))
    scales = [rng.normal(size=(d, d)) * 0.7 for _ in range(k)]
    labels = rng.integers(0, k, n)
    return np.stack([centres[c] + scales[c] @ rng.normal(size=d) for c in labels])


def random_covariance(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


# --- Gaussian mixture --------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gmm_matches_scikit_learn_from_the_same_start(seed, covariance_type):
    x = blobs(seed)
    rng = np.random.default_rng(seed + 100)
    k, d = 3, x.shape[1]
    means = x[rng.choice(len(x), k, replace=False)]
    weights = np.full(k, 1 / k)
    if covariance_type == "full":
        covariances = np.stack([np.cov(x.T)] * k)
        precisions = np.linalg.inv(covariances)
    else:
        covariances = np.stack([x.var(0)] * k)
        precisions = 1 / covariances
    theirs = SkGaussianMixture(
        k,
        covariance_type=covariance_type,
        tol=1e-10,
        max_iter=1000,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    ).fit(x)
    ours = GaussianMixture(k, covariance_type=covariance_type, tol=1e-10, max_iter=1000)
    ours.fit(x, means_init=means, weights_init=weights, covariances_init=covariances)
    # Both run the same EM in float64 from the same start, so they differ by round-off alone:
    # measured over these six cases, at most 6e-15 in the score, 7e-15 in a mean, 7e-16 in a
    # weight and 6e-14 in a covariance entry (entries up to ~4, so ~1.5e-14 relative), after
    # the same number of iterations. Each tolerance is ~100x that; a real difference in the
    # algorithm (reg_covar alone is 1e-6) would be far above it.
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.score(x) == pytest.approx(theirs.score(x), rel=0, abs=1e-12)
    order = np.argsort(theirs.means_[:, 0])
    ours_order = np.argsort(ours.means_[:, 0].numpy())
    np.testing.assert_allclose(
        ours.means_.numpy()[ours_order], theirs.means_[order], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        ours.weights_.numpy()[ours_order], theirs.weights_[order], rtol=0, atol=1e-13
    )
    np.testing.assert_allclose(
        ours.covariances_.numpy()[ours_order], theirs.covariances_[order], rtol=0, atol=5e-12
    )
    assert d == ours.means_.shape[1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gmm_log_likelihood_never_decreases(seed):
    x = blobs(seed, k=4)
    gmm = GaussianMixture(4, seed=seed, tol=1e-8, max_iter=300).fit(x)
    steps = np.diff(gmm.log_likelihoods_)
    assert (steps >= -1e-9).all()
    assert gmm.converged_


def test_gmm_kmeans_plus_plus_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20]])
    x = np.concatenate([c + rng.normal(size=(100, 2)) for c in centres])
    gmm = GaussianMixture(4, seed=3).fit(x)
    found = np.sort(np.round(gmm.means_.numpy()).astype(int), axis=0)
    assert np.abs(found - np.sort(centres, axis=0)).max() <= 1
    labels = gmm.predict(x).numpy()
    assert len(set(labels[:100])) == 1 and len(set(labels)) == 4


def test_gmm_refuses_bad_settings():
    with pytest.raises(UserError, match="covariance_type"):
        GaussianMixture(2, covariance_type="spherical")
    with pytest.raises(UserError, match="cannot fit"):
        GaussianMixture(5).fit(np.zeros((3, 2)))


# --- Probabilistic PCA -------------------------------------------------------------------


def low_rank_data(seed: int, n: int = 400, d: int = 6, q: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, q)) * 2
    return rng.normal(size=(n, q)) @ w.T + 0.5 * rng.normal(size=(n, d)) + rng.normal(size=d)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("q", [1, 2, 3])
def test_ppca_equals_scikit_learns_pca_once_n_minus_1_is_accounted_for(seed, q):
    x = low_rank_data(seed)
    n = len(x)
    ours = PPCA(q).fit(x)
    theirs = PCA(q).fit(x)
    # scikit-learn divides the scatter by N − 1, maximum likelihood by N
    assert ours.noise_variance_ * n / (n - 1) == pytest.approx(theirs.noise_variance_, rel=1e-6)
    their_covariance = torch.tensor(theirs.get_covariance())
    torch.testing.assert_close(ours.sklearn_covariance(n), their_covariance, rtol=1e-6, atol=1e-9)
    rescaled = gaussian_log_likelihood(
        torch.tensor(x), ours.mean_, ours.sklearn_covariance(n)
    ).mean()
    assert float(rescaled) == pytest.approx(theirs.score(x), rel=1e-6)
    # and the maximum-likelihood covariance scores higher than the rescaled one
    assert ours.score(x) > float(rescaled)


@pytest.mark.parametrize("seed", [0, 1])
def test_ppca_em_reaches_the_closed_form(seed):
    x = low_rank_data(seed)
    closed = PPCA(2).fit(x)
    em = PPCA(2).fit_em(x, seed=seed)
    assert em.score(x) == pytest.approx(closed.score(x), abs=1e-4)
    assert em.noise_variance_ == pytest.approx(closed.noise_variance_, rel=1e-3)
    torch.testing.assert_close(em.covariance(), closed.covariance(), rtol=1e-3, atol=1e-4)
    assert (np.diff(em.log_likelihoods_) >= -1e-9).all()


def test_ppca_closed_form_is_the_maximum():
    """Perturbing W or σ² away from the closed form lowers the likelihood."""
    x = low_rank_data(4)
    model = PPCA(2).fit(x)
    best = model.score(x)
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        model_w = model.W_
        model.W_ = model_w + 0.05 * torch.randn(
            model_w.shape, generator=generator, dtype=torch.float64
        )
        assert model.score(x) < best
        model.W_ = model_w
    model.noise_variance_ *= 1.1
    assert model.score(x) < best


def test_ppca_posterior_is_bayes_rule():
    """p(z|x) ∝ p(x|z) p(z): the posterior's log-density differs from the joint's by a constant."""
    data = torch.tensor(low_rank_data(5))
    model = PPCA(2).fit(data)
    x = data[:3]
    means, covariance = model.posterior(x)
    z = torch.randn(4, 2, dtype=torch.float64)
    for n in range(len(x)):
        prior = MultivariateNormal(
            torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
        )
        likelihood = MultivariateNormal(
            z @ model.W_.T + model.mean_, model.noise_variance_ * torch.eye(6, dtype=torch.float64)
        )
        joint = prior.log_prob(z) + likelihood.log_prob(x[n])
        posterior = MultivariateNormal(means[n], covariance).log_prob(z)
        gaps = joint - posterior  # log p(x_n), the same for every z
        torch.testing.assert_close(gaps, gaps[:1].expand(4), rtol=0, atol=1e-9)
        assert float(gaps[0]) == pytest.approx(model.score(x[n : n + 1]), abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_ppca_elbo_gap_is_the_kl_to_the_posterior(seed):
    """log p(x) − ELBO(q) = KL(q ‖ p(z|x)) for any Gaussian q; 0 at the posterior."""
    data = torch.tensor(low_rank_data(seed))
    model = PPCA(2).fit(data)
    x = data[seed]
    post_mean, post_cov = model.posterior(x[None])
    log_px = model.score(x[None])
    rng = np.random.default_rng(seed)
    q_mean = torch.tensor(rng.normal(size=2))
    q_cov = torch.tensor(random_covariance(rng, 2))
    gap = log_px - float(model.elbo(x, q_mean, q_cov))
    assert gap == pytest.approx(
        float(kl_gaussians(q_mean, q_cov, post_mean[0], post_cov)), rel=1e-9
    )
    assert float(model.elbo(x, post_mean[0], post_cov)) == pytest.approx(log_px, abs=1e-9)


def test_ppca_elbo_equals_its_monte_carlo_estimate():
    data = torch.tensor(low_rank_data(7))
    model = PPCA(2).fit(data)
    x = data[0]
    q = MultivariateNormal(
        torch.tensor([0.3, -0.2], dtype=torch.float64), 0.5 * torch.eye(2, dtype=torch.float64)
    )
    z = q.sample((200_000,))
    eye = torch.eye(6, dtype=torch.float64)
    log_joint = MultivariateNormal(
        z @ model.W_.T + model.mean_, model.noise_variance_ * eye
    ).log_prob(x)
    log_joint = log_joint + MultivariateNormal(
        torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    ).log_prob(z)
    samples = log_joint - q.log_prob(z)
    standard_error = float(samples.std() / len(samples) ** 0.5)
    assert (
        abs(float(samples.mean()) - float(model.elbo(x, q.mean, q.covariance_matrix)))
        < 3 * standard_error
    )


def test_ppca_refuses_too_many_components():
    with pytest.raises(UserError, match="n_components"):
        PPCA(6).fit(np.zeros((10, 6)))


# --- KL and Fréchet ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_kl_closed_form_equals_torch_distributions(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 5))
    m0, m1 = (torch.tensor(rng.normal(size=d)) for _ in range(2))
    c0, c1 = (torch.tensor(random_covariance(rng, d)) for _ in range(2))
    ours = kl_gaussians(m0, c0, m1, c1)
    theirs = torch.distributions.kl_divergence(
        MultivariateNormal(m0, c0), MultivariateNormal(m1, c1)
    )
    assert float(ours) == pytest.approx(float(theirs), rel=1e-10)
    assert float(kl_gaussians(m0, c0, m0, c0)) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_kl_monte_carlo_within_three_standard_errors(seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    m0, m1 = (torch.tensor(rng.normal(size=2)) for _ in range(2))
    c0, c1 = (torch.tensor(random_covariance(rng, 2)) for _ in range(2))
    estimate = kl_monte_carlo(MultivariateNormal(m0, c0), MultivariateNormal(m1, c1), 20_000)
    exact = float(kl_gaussians(m0, c0, m1, c1))
    assert abs(estimate.mean - exact) < 3 * estimate.standard_error
    assert estimate.standard_error > 0


def test_kl_monte_carlo_works_without_a_closed_form():
    """Student-t against a normal: no closed form, but KL ≥ 0 and it shrinks as ν grows."""
    torch.manual_seed(0)
    normal = Normal(0.0, 1.0)
    heavy = kl_monte_carlo(StudentT(2.0), normal, 50_000)
    light = kl_monte_carlo(StudentT(30.0), normal, 50_000)
    assert heavy.mean > light.mean > -3 * light.standard_error


@pytest.mark.parametrize("seed", range(4))
def test_frechet_distance_equals_scipy_sqrtm_formula(seed):
    rng = np.random.default_rng(seed)
    d = 5
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    c1, c2 = random_covariance(rng, d), random_covariance(rng, d)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    reference = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * root)
    ours = frechet_distance(*(torch.tensor(a) for a in (m1, c1, m2, c2)))
    assert float(ours) == pytest.approx(reference, rel=1e-8)


def test_frechet_distance_in_one_dimension_and_to_itself():
    """In 1-D it is (μ₁ − μ₂)² + (σ₁ − σ₂)²; from a distribution to itself, 0."""
    d = frechet_distance(
        torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([3.0]), torch.tensor([[9.0]])
    )
    assert float(d) == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)
    features = torch.randn(500, 4, dtype=torch.float64)
    mean, cov = gaussian_statistics(features)
    torch.testing.assert_close(cov, torch.tensor(np.cov(features.numpy().T)))
    assert float(frechet_distance(mean, cov, mean, cov)) == pytest.approx(0, abs=1e-9)
    assert math.isfinite(float(frechet_distance(mean, cov, mean + 1, 2 * cov)))


# --- Mode coverage on the ring of 8 Gaussians ---------------------------------------------


def ring_samples(seed: int, n: int = 2500, modes: list[int] | None = None) -> torch.Tensor:
    """n points of the ring8 distribution itself, or of only some of its modes."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(modes if modes is not None else range(RING_MODES), n)
    return torch.tensor(ring_centres()[chosen] + RING_STD * rng.standard_normal((n, 2)))


@pytest.mark.parametrize("seed", range(3))
def test_the_true_distribution_covers_every_mode(seed):
    score = mode_coverage(ring_samples(seed), torch.tensor(ring_centres()), RING_STD)
    assert score.modes_covered == 8
    # P(‖e‖ ≤ 3σ) for a 2-D Gaussian is 1 − e^{−9/2} ≈ 0.989
    assert score.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert sum(score.shares) == pytest.approx(score.high_quality)


def test_a_collapsed_generator_covers_few_modes():
    collapsed = ring_samples(0, modes=[2, 5])
    score = mode_coverage(collapsed, torch.tensor(ring_centres()), RING_STD)
    assert score.modes_covered == 2
    assert score.high_quality > 0.97
    blurred = ring_samples(1) * 1.1  # every point pushed outwards by 10% of the radius
    assert mode_coverage(blurred, torch.tensor(ring_centres()), RING_STD).high_quality < 0.01


def test_a_mode_needs_one_percent_of_the_samples():
    rng = np.random.default_rng(0)
    points = ring_samples(0, n=990, modes=[0])
    few = torch.tensor(ring_centres()[[1] * 10] + RING_STD * rng.standard_normal((10, 2)) * 0.1)
    score = mode_coverage(torch.cat([points, few]), torch.tensor(ring_centres()), RING_STD)
    assert score.shares[1] == pytest.approx(0.01)
    assert score.modes_covered == 2
    fewer = mode_coverage(torch.cat([points, few[:9]]), torch.tensor(ring_centres()), RING_STD)
    assert fewer.modes_covered == 1


def test_ring8_data_set_is_the_ring():
    from deepnotes.data.base import DataRequest
    from deepnotes.registry import DATASETS

    bundle = DATASETS.get("ring8").builder(DataRequest(roots=(), normalize=False))
    x, y = bundle.splits["train"].tensors
    distances = (x - torch.tensor(ring_centres(), dtype=x.dtype)[y]).norm(dim=1)
    assert float(distances.max()) < 6 * RING_STD
    assert torch.bincount(y).min() > 0 and bundle.num_classes == 8
    assert float(x.norm(dim=1).mean()) == pytest.approx(RING_RADIUS, abs=0.01)
