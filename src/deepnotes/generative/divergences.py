"""Divergences between distributions (notes, week 7): KL and the Fréchet distance.

KL divergence, KL(p‖q) = E_p[log p(x) − log q(x)] ≥ 0 (by Jensen's inequality,
since −log is convex: E_p[−log(q/p)] ≥ −log E_p[q/p] = −log 1 = 0), is zero
only when p = q and is not symmetric. Between Gaussians it has a closed form,

    KL(N(μ₀, Σ₀) ‖ N(μ₁, Σ₁)) = ½ [tr(Σ₁⁻¹Σ₀) + (μ₁ − μ₀)ᵀ Σ₁⁻¹ (μ₁ − μ₀) − k + ln(|Σ₁|/|Σ₀|)],

and for any pair that can be sampled and evaluated, a Monte-Carlo estimate
with its standard error.

The Fréchet (2-Wasserstein) distance between Gaussians, the formula behind FID
(Heusel et al., "GANs trained by a two time-scale update rule converge to a
local Nash equilibrium", NeurIPS 2017):

    d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.distributions import Distribution


def kl_gaussians(mean0: Tensor, cov0: Tensor, mean1: Tensor, cov1: Tensor) -> Tensor:
    """KL(N(mean0, cov0) ‖ N(mean1, cov1)) by the closed form; (k,) means, (k, k) covariances."""
    k = mean0.shape[-1]
    chol1 = torch.linalg.cholesky(cov1)
    diff = (mean1 - mean0).unsqueeze(-1)  # (k, 1)
    trace = torch.cholesky_solve(cov0, chol1).diagonal(dim1=-2, dim2=-1).sum(-1)  # tr(Σ₁⁻¹Σ₀)
    mahalanobis = (diff * torch.cholesky_solve(diff, chol1)).sum((-2, -1))
    log_det1 = 2 * chol1.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    log_det0 = torch.linalg.slogdet(cov0).logabsdet
    return 0.5 * (trace + mahalanobis - k + log_det1 - log_det0)


class MonteCarloEstimate(NamedTuple):
    """A Monte-Carlo mean and its standard error, std / √n."""

    mean: float
    standard_error: float


def kl_monte_carlo(p: Distribution, q: Distribution, samples: int) -> MonteCarloEstimate:
    """KL(p‖q) ≈ (1/n) Σ [log p(xᵢ) − log q(xᵢ)], xᵢ ~ p; any two torch distributions."""
    x = p.sample((samples,))
    log_ratio = p.log_prob(x) - q.log_prob(x)  # (n,)
    return MonteCarloEstimate(
        float(log_ratio.mean()), float(log_ratio.std(unbiased=True) / samples**0.5)
    )


def symmetric_sqrt(matrix: Tensor) -> Tensor:
    """The symmetric positive semi-definite square root, by eigendecomposition."""
    eigenvalues, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag_embed(eigenvalues.clamp(min=0).sqrt()) @ vectors.mT


def frechet_distance(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> Tensor:
    """Squared Fréchet (2-Wasserstein) distance between N(mean1, cov1) and N(mean2, cov2).

    tr((Σ₁Σ₂)^{1/2}) is computed as tr((Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}): the same
    eigenvalues, but of a symmetric matrix, so no complex square roots appear.
    """
    root1 = symmetric_sqrt(cov1)
    cross = symmetric_sqrt(root1 @ cov2 @ root1)
    return (mean1 - mean2).pow(2).sum() + torch.trace(cov1 + cov2 - 2 * cross)


def gaussian_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and covariance (n − 1 normalisation, as FID uses) of (n, k) features."""
    return features.mean(0), torch.cov(features.T)
