"""The spectral norm of a weight by power iteration, and spectral normalisation.

A linear map stretches no vector by more than its largest singular value,

    σ(W) = max_{‖x‖=1} ‖Wx‖,   so   ‖Wx − Wx'‖ ≤ σ(W)·‖x − x'‖:

σ(W) is the map's Lipschitz constant in the Euclidean norm. A network that
alternates linear maps with 1-Lipschitz activations (ReLU, tanh: slopes in
[0, 1]) is Lipschitz with a constant at most the product σ(W₁)·σ(W₂)·…·σ(W_L).

Power iteration finds σ without an SVD. From a unit vector v, repeat

    u ← W v / ‖W v‖,    v ← Wᵀu / ‖Wᵀu‖;

each round multiplies v by WᵀW, so v turns towards the top right singular
vector at the rate (σ₂/σ₁)² per round, and σ ≈ uᵀ W v from below.

Spectral normalisation (Miyato et al., "Spectral normalization for generative
adversarial networks", ICLR 2018) trains W/σ(W) in place of W: every layer is
then 1-Lipschitz. It keeps u and v between steps and does one round per
training step, since W moves little per step. `spectral_norm(module)` registers
it as a parametrization with the name, arguments, state-dict keys
(`parametrizations.weight.original`, `….0._u`, `….0._v`) and random draws of
`torch.nn.utils.parametrizations.spectral_norm`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize


def power_iteration(
    matrix: Tensor, v: Tensor, iterations: int, eps: float = 1e-12
) -> tuple[Tensor, Tensor]:
    """(u, v) after `iterations` rounds of u ← Wv/‖Wv‖, v ← Wᵀu/‖Wᵀu‖ from the unit vector v:
    the top left and right singular vectors of W (h, w), approached from a start of shape (w,)."""
    if iterations < 1:
        raise ValueError(f"power iteration needs at least one round, got {iterations}")
    for _ in range(iterations):
        u = F.normalize(matrix @ v, dim=0, eps=eps)  # (h,)
        v = F.normalize(matrix.T @ u, dim=0, eps=eps)  # (w,)
    return u, v


def spectral_norm_estimate(
    matrix: Tensor,
    tol: float = 1e-12,
    max_iterations: int = 100_000,
    generator: torch.Generator | None = None,
) -> float:
    """σ(W) ≈ uᵀ W v by power iteration from a random unit vector, round by round until σ̂
    changes by less than tol·σ̂. The error shrinks by about (σ₂/σ₁)² a round, so a layer whose
    top two singular values nearly tie takes thousands of rounds."""
    with torch.no_grad():
        matrix = matrix.flatten(1)  # (out, in·k·k) for a convolution's kernel
        start = torch.randn(matrix.shape[1], generator=generator, dtype=matrix.dtype)
        v = F.normalize(start, dim=0)
        sigma = 0.0
        for _ in range(max_iterations):
            u, v = power_iteration(matrix, v, 1)
            previous, sigma = sigma, float(u @ matrix @ v)
            if abs(sigma - previous) <= tol * sigma:
                break
        return sigma


class SpectralNorm(nn.Module):
    """The parametrization W ↦ W / σ(W), σ(W) = uᵀWv by one round of power iteration per
    training step from the last step's (u, v) (kept as buffers `_u`, `_v`).

    σ is computed with u and v held constant, so the gradient flows through W alone
    (∂σ/∂W = u vᵀ, as in the paper). In evaluation the vectors are not updated.

    Args:
        weight: the weight to normalise (out, in, *kernel); `dim` indexes its outputs.
        n_power_iterations: rounds per training step. Default: 1.
        dim: the output dimension. Default: 0.
        eps: added to norms before dividing. Default: 1e-12.
    """

    def __init__(
        self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        super().__init__()
        if weight.ndim < 2:
            raise ValueError("spectral normalisation needs a weight of at least 2 dimensions")
        if n_power_iterations <= 0:
            raise ValueError(f"n_power_iterations must be positive, got {n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.dim = dim % weight.ndim
        self.eps = eps
        h, w = self.matrix(weight).shape
        u = F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps)
        v = F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps)
        self.register_buffer("_u", u)
        self.register_buffer("_v", v)
        self.update(weight, 15)  # a good start, as torch does

    def matrix(self, weight: Tensor) -> Tensor:
        """The weight as a matrix (outputs, everything else)."""
        return weight.movedim(self.dim, 0).flatten(1)  # (out, in·k·k)

    @torch.no_grad()
    def update(self, weight: Tensor, iterations: int) -> None:
        """`iterations` rounds of power iteration on `weight` from the stored v, stored in
        place."""
        u, v = power_iteration(self.matrix(weight), self._v, iterations, self.eps)
        self._u.copy_(u)
        self._v.copy_(v)

    def forward(self, weight: Tensor) -> Tensor:
        if self.training:
            self.update(weight, self.n_power_iterations)
        sigma = (
            self._u.clone() @ self.matrix(weight) @ self._v.clone()
        )  # u, v constants: ∂σ/∂W = u vᵀ
        return weight / sigma


def spectral_norm(
    module: nn.Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> nn.Module:
    """Register W ↦ W/σ(W) (`SpectralNorm`) on `module.name` and return the module; `dim`
    defaults to 0, 1 for a transposed convolution (whose kernel is (in, out, k, k))."""
    weight = getattr(module, name)
    if dim is None:
        dim = 1 if "Transpose" in type(module).__name__ else 0
    parametrize.register_parametrization(
        module, name, SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module
