"""Probabilistic PCA (notes, week 7): a linear-Gaussian latent variable model.

Tipping & Bishop, "Probabilistic principal component analysis", JRSS B 1999:

    z ~ N(0, I_q),   x | z ~ N(W z + μ, σ² I_d),   so   x ~ N(μ, C),  C = W Wᵀ + σ² I.

Maximum likelihood has a closed form. With S the sample covariance (divided by
N) and λ₁ ≥ … ≥ λ_d its eigenvalues with eigenvectors U:

    μ = x̄,   σ² = (1/(d − q)) Σ_{j>q} λ_j,   W = U_q (Λ_q − σ² I)^{1/2}   (up to a rotation),

and the log-likelihood is −N/2 (d log 2π + log|C| + tr(C⁻¹S)). EM reaches the
same optimum without an eigendecomposition: with M = WᵀW + σ²I,

    W ← S W (σ² I + M⁻¹ Wᵀ S W)⁻¹,   σ² ← tr(S − S W M⁻¹ W_newᵀ) / d.

The posterior is Gaussian too, p(z | x) = N(M⁻¹Wᵀ(x − μ), σ² M⁻¹), which makes
PPCA the model where the ELBO's gap, log p(x) − ELBO(q) = KL(q ‖ p(z|x)), can be
computed exactly on both sides.

scikit-learn's PCA fits the same model but divides S by N − 1: its
`explained_variance_` and `noise_variance_` are N/(N − 1) times the maximum
likelihood λ_j and σ², and its `score` is the average log-likelihood under that
rescaled covariance (see `sklearn_covariance`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from deepnotes.errors import UserError


def gaussian_log_likelihood(x: Tensor, mean: Tensor, covariance: Tensor) -> Tensor:
    """log N(x_n; mean, covariance) for every row of (N, d) x: (N,)."""
    d = x.shape[1]
    chol = torch.linalg.cholesky(covariance)
    solved = torch.linalg.solve_triangular(chol, (x - mean).T, upper=False)  # (d, N)
    log_det = 2 * chol.diagonal().log().sum()
    return -0.5 * (d * math.log(2 * math.pi) + log_det + solved.pow(2).sum(0))


def sample_covariance(centred: Tensor) -> Tensor:
    """S = (1/N) Σ_n (x_n − x̄)(x_n − x̄)ᵀ of (N, d) centred data: the maximum-likelihood
    covariance, divided by N (not by N − 1, which makes it unbiased but no maximum)."""
    return centred.T @ centred / len(centred)


def unbiased_factor(n: int) -> float:
    """N/(N − 1): what turns a variance divided by N into one divided by N − 1 (Bessel)."""
    return n / (n - 1)


def expected_squared_error(residual: Tensor, W: Tensor, q_covariance: Tensor) -> Tensor:
    """E_q‖x − μ − Wz‖² for z ~ q = N(m, V): ‖x − μ − Wm‖² + tr(W V Wᵀ), the error at the
    mean plus the spread that q's uncertainty adds (`residual` is x − μ − Wm)."""
    return residual @ residual + torch.trace(W @ q_covariance @ W.T)


class PPCA:
    """Probabilistic PCA with q latent dimensions, fitted in closed form or by EM.

    After `fit`: `mean_` (d,), `W_` (d, q), `noise_variance_` σ², and
    `log_likelihoods_` (EM: the average log-likelihood after each iteration).
    """

    def __init__(self, n_components: int) -> None:
        self.n_components = n_components

    def _prepare(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(x, dtype=torch.float64)
        d = x.shape[1]
        if not 0 < self.n_components < d:
            raise UserError(f"n_components must lie in 1…{d - 1}, got {self.n_components}")
        self.mean_ = x.mean(0)
        return x, sample_covariance(x - self.mean_)

    def fit(self, x: Tensor) -> PPCA:
        """The closed-form maximum-likelihood solution."""
        _, covariance = self._prepare(x)
        eigenvalues, vectors = torch.linalg.eigh(covariance)  # ascending
        eigenvalues, vectors = eigenvalues.flip(0), vectors.flip(1)  # largest first
        q = self.n_components
        self.noise_variance_ = float(eigenvalues[q:].mean())
        self.W_ = vectors[:, :q] * (eigenvalues[:q] - self.noise_variance_).clamp(min=0).sqrt()
        return self

    def fit_em(self, x: Tensor, max_iter: int = 1000, tol: float = 1e-10, seed: int = 0) -> PPCA:
        """Maximum likelihood by EM from a random W and σ² = 1."""
        x, s = self._prepare(x)
        d, q = s.shape[0], self.n_components
        generator = torch.Generator().manual_seed(seed)
        w = torch.randn(d, q, generator=generator, dtype=torch.float64)
        variance = 1.0
        self.log_likelihoods_: list[float] = []
        for _ in range(max_iter):
            m = w.T @ w + variance * torch.eye(q, dtype=s.dtype)  # (q, q)
            sw = s @ w  # (d, q)
            inner = variance * torch.eye(q, dtype=s.dtype) + torch.linalg.solve(m, w.T @ sw)
            w_new = torch.linalg.solve(inner.T, sw.T).T  # S W (σ²I + M⁻¹WᵀSW)⁻¹
            variance = float(torch.trace(s - sw @ torch.linalg.solve(m, w_new.T)) / d)
            w = w_new
            self.W_, self.noise_variance_ = w, variance
            self.log_likelihoods_.append(self.score(x))
            if (
                len(self.log_likelihoods_) > 1
                and abs(self.log_likelihoods_[-1] - self.log_likelihoods_[-2]) < tol
            ):
                break
        return self

    def rotated(self, angle: float) -> PPCA:
        """The same model with W R(angle), R the rotation of its 2 latents by `angle`: W Wᵀ,
        so p(x), is unchanged, but the posterior covariance σ² (Wᵀ W + σ² I)⁻¹ turns, and
        orthogonal columns of W are no longer orthogonal."""
        if self.n_components != 2:
            raise UserError(f"rotated turns 2 latents, this model has {self.n_components}")
        c, s = math.cos(angle), math.sin(angle)
        rotation = torch.tensor([[c, -s], [s, c]], dtype=self.W_.dtype)
        turned = PPCA(self.n_components)
        turned.mean_, turned.noise_variance_ = self.mean_, self.noise_variance_
        turned.W_ = self.W_ @ rotation
        return turned

    def covariance(self) -> Tensor:
        """C = W Wᵀ + σ² I, the model's covariance of x."""
        d = self.W_.shape[0]
        return self.W_ @ self.W_.T + self.noise_variance_ * torch.eye(d, dtype=self.W_.dtype)

    def sklearn_covariance(self, n: int) -> Tensor:
        """The covariance scikit-learn's PCA uses for the same data: C · N/(N − 1).

        Its eigenvalues come from S divided by N − 1 rather than N, so every
        variance — the principal ones and the noise — is N/(N − 1) times larger.
        """
        return self.covariance() * unbiased_factor(n)

    def score(self, x: Tensor) -> float:
        """Average log-likelihood (nats per point) of (N, d) data under the model."""
        x = torch.as_tensor(x, dtype=torch.float64)
        return float(gaussian_log_likelihood(x, self.mean_, self.covariance()).mean())

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """p(z | x) = N(M⁻¹Wᵀ(x − μ), σ²M⁻¹): means (N, q) and the shared covariance (q, q)."""
        x = torch.as_tensor(x, dtype=torch.float64)
        q = self.n_components
        m = self.W_.T @ self.W_ + self.noise_variance_ * torch.eye(q, dtype=x.dtype)
        means = torch.linalg.solve(m, self.W_.T @ (x - self.mean_).T).T
        return means, self.noise_variance_ * torch.linalg.inv(m)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log N(x; W z + μ, σ² I) + log N(z; 0, I) for one (d,) point x and
        latents z (..., q): (...). What a Monte-Carlo ELBO averages over draws of q."""
        x = torch.as_tensor(x, dtype=torch.float64)
        d, q = self.W_.shape
        residual = x - self.mean_ - z @ self.W_.T  # (..., d)
        likelihood = -0.5 * d * math.log(2 * math.pi * self.noise_variance_) - residual.pow(2).sum(
            -1
        ) / (2 * self.noise_variance_)
        return likelihood - 0.5 * (q * math.log(2 * math.pi) + z.pow(2).sum(-1))

    def elbo(self, x: Tensor, q_mean: Tensor, q_covariance: Tensor) -> Tensor:
        """ELBO(q) = E_q[log p(x | z)] + E_q[log p(z)] + H(q), exactly, for q(z) = N(m, V).

        For one (d,) point x and a Gaussian q over the (q,) latent:
            E_q[log p(x|z)] = −d/2 log 2πσ² − (‖x − μ − W m‖² + tr(W V Wᵀ)) / 2σ²,
            E_q[log p(z)]   = −q/2 log 2π − (‖m‖² + tr V) / 2,
            H(q)            = q/2 (1 + log 2π) + ½ log|V|.
        It equals log p(x) − KL(q ‖ p(z|x)), so it is largest, = log p(x), at the posterior.
        """
        x = torch.as_tensor(x, dtype=torch.float64)
        d, q = self.W_.shape
        variance = self.noise_variance_
        residual = x - self.mean_ - self.W_ @ q_mean
        reconstruction = -0.5 * d * math.log(2 * math.pi * variance) - expected_squared_error(
            residual, self.W_, q_covariance
        ) / (2 * variance)
        prior = -0.5 * q * math.log(2 * math.pi) - 0.5 * (
            q_mean @ q_mean + torch.trace(q_covariance)
        )
        entropy = 0.5 * q * (1 + math.log(2 * math.pi)) + 0.5 * torch.logdet(q_covariance)
        return reconstruction + prior + entropy
