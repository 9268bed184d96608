"""Latent-variable models (notes, week 7): mixtures, probabilistic PCA, KL, Jensen and the ELBO.

Each piece of theory checked numerically against an independent computation:
- a Gaussian mixture fitted by our EM reaches scikit-learn's log-likelihood
  from the same start, and EM's log-likelihood never decreases;
- probabilistic PCA's closed form equals scikit-learn's PCA model (once its
  N − 1 normalisation is converted), and EM climbs to the same likelihood;
- the closed-form KL between Gaussians agrees with a Monte-Carlo estimate;
- Jensen's inequality, E[log X] ≤ log E[X], with the gap σ²/2 for a log-normal X;
- the ELBO: for any q, log p(x) = ELBO(q) + KL(q ‖ p(z|x)), checked exactly on
  PPCA, where the posterior is known.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from torch.distributions import MultivariateNormal

from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Context, Control
from deepnotes.generative import PPCA, GaussianMixture, divergences, kl_monte_carlo, ppca
from deepnotes.registry import EXPERIMENTS


def mixture_data(rng: np.random.Generator, n: int) -> np.ndarray:
    """Three elongated 2-D Gaussian clusters."""
    centres = np.array([[0.0, 0.0], [5.0, 3.0], [0.0, 6.0]])
    shapes = [np.array([[1.5, 0.8], [0.0, 0.5]]), np.eye(2) * 0.7, np.array([[0.4, 0], [1, 1.2]])]
    labels = rng.integers(0, 3, n)
    noise = rng.normal(size=(n, 2))
    return np.stack([centres[c] + shapes[c] @ e for c, e in zip(labels, noise, strict=True)])


@EXPERIMENTS.register(
    "latent-variable-models",
    ExperimentCard(
        title="Latent-variable models: GMM and PPCA against scikit-learn, KL, Jensen, the ELBO gap",
        topic="7. Generative models",
        concepts=["Gaussian mixture", "EM", "probabilistic PCA", "KL divergence", "ELBO"],
    ),
)
def run(ctx: Context) -> None:
    rng = np.random.default_rng(ctx.seed)
    gaussian_mixture(ctx, rng)
    probabilistic_pca(ctx, rng)
    kl_and_jensen(ctx, rng)


def gaussian_mixture(ctx: Context, rng: np.random.Generator) -> None:
    x = mixture_data(rng, 600 if ctx.quick else 3000)
    ours = GaussianMixture(3, tol=1e-10, max_iter=500, seed=ctx.seed)
    try:
        ours.fit(x)
    except torch.linalg.LinAlgError as error:  # EM gone wrong: a covariance no longer invertible
        ctx.note(f"Our EM broke down, so its claims fail: {error}")
        ours = None
    start = GaussianMixture(3, seed=ctx.seed).initialize(x)  # the k-means++ start only
    theirs = SkGaussianMixture(
        3,
        tol=1e-10,
        max_iter=500,
        weights_init=start.weights_.numpy(),
        means_init=start.means_.numpy(),
        precisions_init=np.linalg.inv(start.covariances_.numpy()),
    ).fit(x)
    ctx.claim(
        "gmm-equals-scikit-learn",
        "Our EM and scikit-learn's GaussianMixture, from the same k-means++ start, reach the "
        "same average log-likelihood (|difference| in nats per point)",
        abs(ours.score(x) - theirs.score(x)) if ours is not None else math.nan,
        "<",
        1e-4,
    )
    ctx.claim(
        "em-never-decreases",
        "EM never lowers the log-likelihood (iterations where it fell)",
        int((np.diff(ours.log_likelihoods_) < -1e-9).sum()) if ours is not None else math.nan,
        "==",
        0,
    )
    if ours is not None:
        mixture_figure(ctx, x, ours, theirs.score(x))


def mixture_figure(ctx: Context, x: np.ndarray, ours: GaussianMixture, theirs: float) -> None:
    """The clusters with their ellipses, and EM's log-likelihood against scikit-learn's."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.scatter(x[:, 0], x[:, 1], s=4, c=ours.predict(x).numpy(), cmap="tab10", alpha=0.6)
    angles = np.linspace(0, 2 * np.pi, 100)
    circle = np.stack([np.cos(angles), np.sin(angles)])  # (2, 100)
    for mean, cov in zip(ours.means_.numpy(), ours.covariances_.numpy(), strict=True):
        root = np.linalg.cholesky(cov)
        for radius in (1, 2):
            ellipse = mean[:, None] + radius * root @ circle
            left.plot(*ellipse, "k", lw=0.8)
    left.set(title="GMM by EM: 1σ and 2σ ellipses", xlabel="x₁", ylabel="x₂")
    left.set_aspect("equal")
    right.plot(range(1, len(ours.log_likelihoods_) + 1), ours.log_likelihoods_, "o-", ms=3)
    right.axhline(theirs, color="grey", ls=":", label="scikit-learn's final")
    right.set(xscale="log", xlabel="EM iteration", ylabel="average log-likelihood")
    right.set_title("EM climbs and never falls")
    right.legend()
    right.grid(alpha=0.3)
    ctx.figure(
        fig,
        "gmm.png",
        "A three-component Gaussian mixture fitted by EM from k-means++ seeds: the clusters "
        "and covariance ellipses, and the log-likelihood after each E-step.",
    )


def probabilistic_pca(ctx: Context, rng: np.random.Generator) -> None:
    n, d, q = 500, 8, 2
    w = rng.normal(size=(d, q)) * 2
    x = rng.normal(size=(n, q)) @ w.T + 0.6 * rng.normal(size=(n, d)) + rng.normal(size=d)
    closed = PPCA(q).fit(x)
    em = PPCA(q).fit_em(x, seed=ctx.seed)
    sklearn = PCA(q).fit(x)
    theirs = torch.as_tensor(sklearn.get_covariance())
    ctx.claim(
        "ppca-equals-sklearn-pca",
        "PPCA's closed form is scikit-learn's PCA model once its N − 1 normalisation is "
        "converted: C · N/(N − 1) is PCA's get_covariance() (relative difference, Frobenius)",
        float((closed.sklearn_covariance(n) - theirs).norm() / theirs.norm()),
        "<",
        1e-6,
    )
    ctx.claim(
        "ppca-noise-variance",
        "…and σ² · N/(N − 1) is scikit-learn's noise_variance_ (relative difference)",
        abs(closed.noise_variance_ * ppca.unbiased_factor(n) - sklearn.noise_variance_)
        / sklearn.noise_variance_,
        "<",
        1e-6,
    )
    x64 = torch.tensor(x)
    converted, unconverted = (
        float(ppca.gaussian_log_likelihood(x64, closed.mean_, c).mean())
        for c in (closed.sklearn_covariance(n), closed.covariance())
    )
    ctx.note(
        "Why the covariances are compared, not the likelihoods: at the maximum the average "
        "log-likelihood is flat in the covariance's scale, so scaling it by N/(N − 1) moves "
        f"it by {abs(converted - unconverted):.1e} nats per point only (scikit-learn's score "
        f"{sklearn.score(x):.6f}, ours converted {converted:.6f}, unconverted "
        f"{unconverted:.6f}): the likelihood cannot tell N from N − 1, the covariance can."
    )
    ctx.claim(
        "ppca-em-reaches-closed-form",
        "EM reaches the closed form's log-likelihood (|difference| in nats per point)",
        abs(em.score(x) - closed.score(x)),
        "<",
        1e-4,
        control=Control(
            "EM after its first iteration", abs(em.log_likelihoods_[0] - closed.score(x))
        ),
    )

    # the ELBO gap on PPCA: q moves from the prior N(0, I) to the exact posterior
    point = torch.tensor(x[0])
    post_mean, post_cov = closed.posterior(point[None])
    post_mean = post_mean[0]
    log_px = closed.score(point[None])
    eye = torch.eye(q, dtype=torch.float64)
    steps = np.linspace(0, 1, 11)
    gaps, kls = [], []
    for t in steps:
        q_mean = t * post_mean
        q_cov = (1 - t) * eye + t * post_cov
        gaps.append(log_px - float(closed.elbo(point, q_mean, q_cov)))
        kls.append(float(divergences.kl_gaussians(q_mean, q_cov, post_mean, post_cov)))
    ctx.claim(
        "elbo-gap-is-kl",
        "log p(x) − ELBO(q) = KL(q ‖ p(z|x)), exactly on PPCA (largest |gap − KL| over 11 q's "
        "from the prior to the posterior)",
        max(abs(g - k) for g, k in zip(gaps, kls, strict=True)),
        "<",
        1e-3,
    )
    ctx.claim(
        "elbo-below-log-likelihood",
        "The ELBO never exceeds log p(x) (smallest gap; 0 at the posterior)",
        min(gaps),
        ">=",
        -1e-9,
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(range(1, len(em.log_likelihoods_) + 1), em.log_likelihoods_, label="EM")
    left.axhline(closed.score(x), color="k", ls=":", label="closed form")
    left.set(xscale="log", xlabel="EM iteration", ylabel="average log-likelihood")
    left.set_title("PPCA: EM reaches the closed form")
    left.legend()
    right.plot(steps, gaps, "o", label="log p(x) − ELBO(q)")
    right.plot(steps, kls, "-", label="KL(q ‖ p(z|x))")
    right.set(xlabel="t: q = (1 − t)·prior + t·posterior", ylabel="nats")
    right.set_title("The ELBO's gap is the KL to the posterior")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "ppca-elbo.png",
        "Left: EM on PPCA converges to the eigendecomposition's likelihood. Right: for one "
        "point, the ELBO of a Gaussian q falls short of log p(x) by exactly KL(q ‖ p(z|x)), "
        "which closes as q reaches the posterior.",
    )


def kl_and_jensen(ctx: Context, rng: np.random.Generator) -> None:
    torch.manual_seed(ctx.seed)
    mean0, mean1 = torch.tensor([0.0, 0.0]), torch.tensor([1.0, -0.5])
    cov0 = torch.tensor([[1.0, 0.6], [0.6, 1.5]])
    cov1 = torch.tensor([[2.0, -0.3], [-0.3, 0.8]])
    p, q = MultivariateNormal(mean0, cov0), MultivariateNormal(mean1, cov1)
    exact = float(divergences.kl_gaussians(mean0, cov0, mean1, cov1))
    sizes = [100, 1_000, 10_000, 100_000]
    estimates = [kl_monte_carlo(p, q, n) for n in sizes]
    ctx.claim(
        "kl-monte-carlo-agrees",
        f"A Monte-Carlo estimate of KL(p‖q) from {sizes[-1]:,} samples lies within 3 standard "
        "errors of the closed form (|difference| / standard error)",
        abs(estimates[-1].mean - exact) / estimates[-1].standard_error,
        "<",
        3,
    )
    reverse = float(divergences.kl_gaussians(mean1, cov1, mean0, cov0))
    ctx.claim(
        "kl-not-symmetric",
        "KL is not symmetric (|KL(p‖q) − KL(q‖p)|, closed forms)",
        abs(exact - reverse),
        ">",
        0.1,
        control=Control(
            "two Gaussians with the same covariance, between which KL is symmetric",
            abs(
                float(divergences.kl_gaussians(mean0, cov0, mean1, cov0))
                - float(divergences.kl_gaussians(mean1, cov0, mean0, cov0))
            ),
        ),
    )
    sigma = 1.0
    samples = rng.lognormal(mean=0.0, sigma=sigma, size=200_000)
    jensen_gap = math.log(samples.mean()) - float(np.log(samples).mean())
    narrow = rng.lognormal(mean=0.0, sigma=sigma / 2, size=200_000)
    ctx.claim(
        "jensen-gap",
        "Jensen: log E[X] − E[log X] ≥ 0, and for log-normal X it is σ²/2 = 0.5 "
        "(|sampled gap − 0.5|)",
        abs(jensen_gap - sigma**2 / 2),
        "<",
        0.02,
        control=Control(
            "log-normal X with σ = ½, whose gap is ⅛, against the same 0.5",
            abs(math.log(narrow.mean()) - float(np.log(narrow).mean()) - sigma**2 / 2),
        ),
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    means = [e.mean for e in estimates]
    errors = [3 * e.standard_error for e in estimates]
    ax.errorbar(sizes, means, yerr=errors, fmt="o", capsize=4, label="Monte Carlo ± 3 SE")
    ax.axhline(exact, color="k", ls=":", label="closed form")
    ax.set(xscale="log", xlabel="samples", ylabel="KL(p‖q) (nats)")
    ax.set_title("KL between two 2-D Gaussians")
    ax.legend()
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "kl-monte-carlo.png",
        "The Monte-Carlo estimate of KL(p‖q) = E_p[log p − log q] closes in on the closed form "
        "as 1/√n.",
    )
