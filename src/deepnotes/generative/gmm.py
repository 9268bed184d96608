"""A Gaussian mixture fitted by expectation-maximisation (notes, week 7).

    p(x) = Σ_k π_k N(x; μ_k, Σ_k)

EM alternates two steps, each of which can only raise the log-likelihood
(Dempster, Laird, Rubin, 1977; Bishop, PRML §9.2):

- E-step: the responsibilities r_nk = π_k N(x_n; μ_k, Σ_k) / Σ_j π_j N(x_n; μ_j, Σ_j),
  the posterior of component k for point n, computed in log space.
- M-step: with N_k = Σ_n r_nk, π_k = N_k / N, μ_k = Σ_n r_nk x_n / N_k,
  Σ_k = Σ_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ / N_k + εI (ε = reg_covar keeps Σ_k
  invertible when a component collapses onto few points).

Initialisation by k-means++ (Arthur & Vassilvitskii, 2007): the first centre is
a random point, each next one a point drawn with probability proportional to
its squared distance to the nearest centre so far; the points are then assigned
to their nearest centre and one M-step turns the assignment into parameters.

Same arguments and attribute names as scikit-learn's `GaussianMixture`
(`weights_`, `means_`, `covariances_`, `score`), which the tests compare with.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from deepnotes.errors import UserError

COVARIANCE_TYPES = ("full", "diag")


def log_responsibilities(log_joint: Tensor) -> Tensor:
    """log r_nk = log π_k N(x_n; μ_k, Σ_k) − log Σ_j π_j N(x_n; μ_j, Σ_j), from (N, K) log
    joints: each point's joint divided by its sum over the components, so r_n· sums to 1."""
    return log_joint - torch.logsumexp(log_joint, dim=1, keepdim=True)


class GaussianMixture:
    """Gaussian mixture by EM, with full or diagonal covariances.

    Args:
        n_components: K.
        covariance_type: "full" (one d×d matrix each) or "diag" (one variance per
            dimension each). Default: "full".
        tol: stop when the average log-likelihood rises by less. Default: 1e-3.
        reg_covar: ε added to every variance. Default: 1e-6.
        max_iter: the most EM iterations. Default: 100.
        init: "kmeans++" or "random" (K random points as means). Default: "kmeans++".
        seed: for the initialisation. Default: 0.

    After `fit`: `weights_` (K,), `means_` (K, d), `covariances_` (K, d, d) or (K, d),
    `log_likelihoods_` (the average log-likelihood before each M-step, never
    decreasing), `n_iter_`, `converged_`.
    """

    def __init__(
        self,
        n_components: int,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        init: str = "kmeans++",
        seed: int = 0,
    ) -> None:
        if covariance_type not in COVARIANCE_TYPES:
            raise UserError(
                f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}, "
                f"got {covariance_type!r}"
            )
        if init not in ("kmeans++", "random"):
            raise UserError(f"init must be 'kmeans++' or 'random', got {init!r}")
        self.n_components, self.covariance_type = n_components, covariance_type
        self.tol, self.reg_covar, self.max_iter = tol, reg_covar, max_iter
        self.init, self.seed = init, seed

    # --- the two steps -------------------------------------------------------------------

    def log_joint(self, x: Tensor) -> Tensor:
        """log π_k + log N(x_n; μ_k, Σ_k) for every point and component: (N, K)."""
        d = x.shape[1]
        diff = x[:, None, :] - self.means_[None]  # (N, K, d)
        if self.covariance_type == "full":
            chol = torch.linalg.cholesky(self.covariances_)  # (K, d, d)
            # solve L y = (x − μ): ‖y‖² is the Mahalanobis distance
            solved = torch.linalg.solve_triangular(
                chol[None], diff.unsqueeze(-1), upper=False
            ).squeeze(-1)  # (N, K, d)
            mahalanobis = solved.pow(2).sum(-1)
            log_det = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,)
        else:
            mahalanobis = (diff.pow(2) / self.covariances_[None]).sum(-1)
            log_det = self.covariances_.log().sum(-1)
        log_gauss = -0.5 * (d * math.log(2 * math.pi) + log_det[None] + mahalanobis)
        return self.weights_.log()[None] + log_gauss

    def e_step(self, x: Tensor) -> tuple[Tensor, float]:
        """Log-responsibilities (N, K) and the average log-likelihood of x."""
        log_joint = self.log_joint(x)
        log_px = torch.logsumexp(log_joint, dim=1)  # log p(x_n) = log Σ_k π_k N(x_n; μ_k, Σ_k)
        return log_responsibilities(log_joint), float(log_px.mean())

    def m_step(self, x: Tensor, responsibilities: Tensor) -> None:
        """π, μ, Σ from the responsibilities r (N, K)."""
        counts = responsibilities.sum(0) + 10 * torch.finfo(x.dtype).eps  # N_k, (K,)
        self.weights_ = counts / len(x)
        self.means_ = responsibilities.T @ x / counts[:, None]  # (K, d)
        diff = x[:, None, :] - self.means_[None]  # (N, K, d)
        weighted = responsibilities[:, :, None] * diff  # r_nk (x_n − μ_k)
        if self.covariance_type == "full":
            covariances = torch.einsum("nki,nkj->kij", weighted, diff) / counts[:, None, None]
            eye = torch.eye(x.shape[1], dtype=x.dtype)
            self.covariances_ = covariances + self.reg_covar * eye
        else:
            self.covariances_ = (weighted * diff).sum(0) / counts[:, None] + self.reg_covar

    # --- initialisation and the loop -----------------------------------------------------

    def initial_means(self, x: Tensor) -> Tensor:
        """K starting centres: k-means++ seeding, or K distinct random points."""
        generator = torch.Generator().manual_seed(self.seed)
        if self.init == "random":
            return x[torch.randperm(len(x), generator=generator)[: self.n_components]]
        centres = [x[torch.randint(len(x), (1,), generator=generator)].squeeze(0)]
        for _ in range(1, self.n_components):
            nearest = torch.cdist(x, torch.stack(centres)).min(dim=1).values  # (N,)
            chosen = torch.multinomial(nearest.pow(2), 1, generator=generator)
            centres.append(x[chosen].squeeze(0))
        return torch.stack(centres)

    def initialize(self, x: Tensor, means: Tensor | None = None) -> GaussianMixture:
        """Starting parameters: each point assigned to its nearest centre (given, or from
        `init`), then one M-step."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if len(x) < self.n_components:
            raise UserError(f"{len(x)} points cannot fit {self.n_components} components")
        centres = self.initial_means(x) if means is None else torch.as_tensor(means).to(x.dtype)
        nearest = torch.cdist(x, centres).argmin(dim=1)  # hard assignment
        self.m_step(x, torch.nn.functional.one_hot(nearest, self.n_components).to(x.dtype))
        return self

    def fit(
        self,
        x: Tensor,
        means_init: Tensor | None = None,
        weights_init: Tensor | None = None,
        covariances_init: Tensor | None = None,
    ) -> GaussianMixture:
        """Run EM on (N, d) data, from given parameters or from `init`'s centres."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if means_init is not None and weights_init is not None and covariances_init is not None:
            self.means_ = torch.as_tensor(means_init, dtype=torch.float64)
            self.weights_ = torch.as_tensor(weights_init, dtype=torch.float64)
            self.covariances_ = torch.as_tensor(covariances_init, dtype=torch.float64)
        else:
            self.initialize(x, means_init)
        self.log_likelihoods_: list[float] = []
        self.converged_ = False
        for iteration in range(1, self.max_iter + 1):
            self.n_iter_ = iteration
            log_resp, average = self.e_step(x)
            self.m_step(x, log_resp.exp())
            change = average - self.log_likelihoods_[-1] if self.log_likelihoods_ else math.inf
            self.log_likelihoods_.append(average)
            if abs(change) < self.tol:
                self.converged_ = True
                break
        return self

    # --- using the fitted mixture --------------------------------------------------------

    def score(self, x: Tensor) -> float:
        """Average log-likelihood (nats per point) of (N, d) data under the mixture."""
        return self.e_step(torch.as_tensor(x, dtype=torch.float64))[1]

    def predict(self, x: Tensor) -> Tensor:
        """The most responsible component of each point."""
        return self.log_joint(torch.as_tensor(x, dtype=torch.float64)).argmax(dim=1)
