"""The choice of q (notes, week 5): Gaussian variational families fitted by the ELBO.

For a model p(x, z) and any q(z), log p(x) = ELBO(q) + KL(q ‖ p(z | x)), with

    ELBO(q) = E_q[log p(x, z)] + H(q),

so the family q is drawn from sets how close the bound can come: the gap
log p(x) − ELBO is the KL from the best member of the family to the posterior.
Two Gaussian families, q(z) = N(m, L Lᵀ) over a k-dimensional z:

    full covariance   L lower-triangular with a positive diagonal (k + k(k+1)/2 numbers)
    mean field        L diagonal: q(z) = Π_i q_i(z_i), the latents independent (2k numbers)

H(q) = k/2 (1 + log 2π) + Σ_i log L_ii. The expectation is estimated by the
reparameterisation z = m + L ε, ε ~ N(0, I) (Kingma & Welling, ICLR 2014;
Titsias & Lázaro-Gredilla, "Doubly stochastic variational Bayes", ICML 2014),
which lets the gradient reach m and L.

For a Gaussian posterior N(μ, Λ⁻¹) the best mean-field q is known in closed form
(Bishop, PRML §10.1.2, eqs. 10.12–10.13): its mean is μ and its precisions are the
diagonal of Λ, q_i = N(μ_i, 1/Λ_ii), with the gap

    KL(q ‖ p) = ½ (Σ_i log Λ_ii − log det Λ)   (0 only when Λ is diagonal),

too narrow along a correlation: 1/Λ_ii ≤ Σ_ii, the marginal variance that the
other KL, KL(p ‖ q), would match. A full-covariance q contains the posterior
itself, and closes the gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from deepnotes.errors import UserError

FAMILIES = ("mean-field", "full-covariance")


class GaussianQ(NamedTuple):
    """q(z) = N(mean, scale_tril scale_trilᵀ): mean (..., k), scale_tril (..., k, k)."""

    mean: Tensor
    scale_tril: Tensor

    @property
    def covariance(self) -> Tensor:
        return self.scale_tril @ self.scale_tril.mT  # (..., k, k)

    def entropy(self) -> Tensor:
        """H(q) = k/2 (1 + log 2π) + Σ_i log |L_ii|: (...)."""
        k = self.mean.shape[-1]
        log_diagonal = self.scale_tril.diagonal(dim1=-2, dim2=-1).abs().log().sum(-1)
        return 0.5 * k * (1 + math.log(2 * math.pi)) + log_diagonal

    def sample(self, epsilon: Tensor) -> Tensor:
        """z = m + L ε for ε (S, ..., k) of standard normals: (S, ..., k)."""
        return self.mean + (self.scale_tril @ epsilon.unsqueeze(-1)).squeeze(-1)


def full_covariance_scale(raw: Tensor) -> Tensor:
    """L of the full-covariance family from unconstrained (..., k, k) numbers: the strict
    lower triangle as it is, the diagonal through exp (so that it stays positive)."""
    return raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())


def mean_field_scale(raw: Tensor) -> Tensor:
    """L of the mean-field family: the exp of the diagonal only, every off-diagonal 0."""
    return torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())


def scale_tril(raw: Tensor, family: str) -> Tensor:
    """The Cholesky factor of a member of `family` from unconstrained (..., k, k) numbers."""
    if family == "full-covariance":
        return full_covariance_scale(raw)
    if family == "mean-field":
        return mean_field_scale(raw)
    raise UserError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")


def unconstrained(scale: Tensor) -> Tensor:
    """The inverse of `full_covariance_scale`: (..., k, k) numbers for a factor L."""
    return scale.tril(-1) + torch.diag_embed(scale.diagonal(dim1=-2, dim2=-1).log())


def fit_gaussian_q(
    log_joint: Callable[[Tensor], Tensor],
    start: GaussianQ,
    family: str,
    samples: int = 256,
    max_iter: int = 200,
    seed: int = 0,
) -> GaussianQ:
    """The member of `family` with the largest reparameterised ELBO, from `start`.

    `log_joint` maps z (S, B, k) to log p(x_b, z) (S, B) for B independent points (each
    with its own q). The ELBO is estimated with one fixed set of S draws ε (common random
    numbers: the estimate is then a smooth function of m and L) and maximised by L-BFGS,
    summed over the B points, whose q's do not interact. The draws are made on the CPU from
    `seed` and moved to `start`'s device; L-BFGS stops at a gradient of √eps and a change of
    100 eps, eps the dtype's precision (float64: 1.5e-8 and 2.2e-14; float32: 3.5e-4 and
    1.2e-5), where rounding would stall a fixed tolerance.
    """
    generator = torch.Generator().manual_seed(seed)
    mean = start.mean.detach().clone().requires_grad_(True)  # (B, k)
    raw = unconstrained(start.scale_tril.detach()).requires_grad_(True)  # (B, k, k)
    epsilon = torch.randn((samples, *mean.shape), generator=generator, dtype=mean.dtype).to(
        mean.device
    )  # (S, B, k)
    eps = torch.finfo(mean.dtype).eps
    optimizer = torch.optim.LBFGS(
        [mean, raw],
        max_iter=max_iter,
        tolerance_grad=eps**0.5,
        tolerance_change=100 * eps,
        line_search_fn="strong_wolfe",
    )

    def negative_elbo() -> Tensor:
        optimizer.zero_grad()
        q = GaussianQ(mean, scale_tril(raw, family))
        loss = -(log_joint(q.sample(epsilon)).mean(0) + q.entropy()).sum()
        loss.backward()
        return loss

    optimizer.step(negative_elbo)
    with torch.no_grad():
        return GaussianQ(mean.detach(), scale_tril(raw, family).detach())


def mean_field_optimum(mean: Tensor, covariance: Tensor) -> GaussianQ:
    """The mean-field q closest to N(mean, covariance) in KL(q ‖ p): N(μ_i, 1/Λ_ii), Λ = Σ⁻¹
    (Bishop, PRML eq. 10.12–10.13); mean (k,), covariance (k, k)."""
    precision_diagonal = torch.linalg.inv(covariance).diagonal()  # (k,)
    return GaussianQ(mean, torch.diag(precision_diagonal.rsqrt()))


def mean_field_gap(covariance: Tensor) -> Tensor:
    """KL from the best mean-field q to N(μ, covariance): ½ (Σ_i log Λ_ii − log det Λ)."""
    precision = torch.linalg.inv(covariance)  # (k, k)
    return 0.5 * (precision.diagonal().log().sum() - torch.logdet(precision))
