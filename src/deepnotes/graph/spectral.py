"""Spectral graph theory (notes, week 9): the Laplacian, graph Fourier modes, filters.

The normalised Laplacian of an undirected graph with adjacency A and degrees D,

    L = I − D^{−1/2} A D^{−1/2} = U Λ Uᵀ,   0 = λ₁ ≤ … ≤ λ_N ≤ 2,

plays the part of −∇² on a grid: its eigenvectors U are the graph's Fourier
modes, ordered from smooth (small λ) to rough (large λ); for a connected graph
λ₁ = 0 with u₁ ∝ √d. The graph Fourier transform of a signal x on the nodes is
x̂ = Uᵀx, and a spectral filter scales each mode: y = U g(Λ) Uᵀ x.

Computing U costs O(N³); Chebyshev polynomials (Defferrard et al., NeurIPS
2016) give a K-localised filter without it: with L̃ = 2L/λ_max − I,

    y = Σ_{k<K} θ_k T_k(L̃) x,   T₀ = I, T₁ = L̃, T_k = 2 L̃ T_{k−1} − T_{k−2},

and GCN is its first-order case with the renormalisation trick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor


def normalized_laplacian(adjacency: Tensor) -> Tensor:
    """I − D^{−1/2} A D^{−1/2} of a symmetric (N, N) adjacency (an isolated node: 1, alone)."""
    degree = adjacency.sum(1)
    inverse_root = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
    identity = torch.eye(len(adjacency), dtype=adjacency.dtype)
    return identity - inverse_root.unsqueeze(1) * adjacency * inverse_root.unsqueeze(0)


def fourier_basis(laplacian: Tensor) -> tuple[Tensor, Tensor]:
    """(λ ascending, U with the modes as columns) of a symmetric Laplacian."""
    return torch.linalg.eigh(laplacian)


def graph_fourier(signal: Tensor, basis: Tensor) -> Tensor:
    """x̂ = Uᵀ x: the signal's coefficient on each mode."""
    return basis.T @ signal


def inverse_graph_fourier(coefficients: Tensor, basis: Tensor) -> Tensor:
    """x = U x̂: the signal back from its coefficients (Uᵀ = U⁻¹, U being orthogonal)."""
    return basis @ coefficients


def spectral_filter(
    signal: Tensor, laplacian: Tensor, response: Callable[[Tensor], Tensor]
) -> Tensor:
    """y = U g(Λ) Uᵀ x for a frequency response g."""
    eigenvalues, basis = fourier_basis(laplacian)
    scaled = response(eigenvalues).unsqueeze(-1) * graph_fourier(signal, basis)
    return inverse_graph_fourier(scaled, basis)


def chebyshev_filter(
    signal: Tensor, laplacian: Tensor, coefficients: Sequence[float], largest: float = 2.0
) -> Tensor:
    """Σ_k θ_k T_k(L̃) x with L̃ = 2L/λ_max − I, by the three-term recurrence (no eigenvectors)."""
    scaled = 2 * laplacian / largest - torch.eye(len(laplacian), dtype=laplacian.dtype)
    previous, current = signal, scaled @ signal  # T₀ x, T₁ x
    out = coefficients[0] * previous
    if len(coefficients) > 1:
        out = out + coefficients[1] * current
    for theta in coefficients[2:]:
        previous, current = current, 2 * scaled @ current - previous
        out = out + theta * current
    return out


def chebyshev_response(
    eigenvalues: Tensor, coefficients: Sequence[float], largest: float = 2.0
) -> Tensor:
    """The same filter's frequency response Σ_k θ_k T_k(2λ/λ_max − 1), for checking."""
    x = 2 * eigenvalues / largest - 1
    return sum(
        theta * torch.cos(k * torch.arccos(x.clamp(-1, 1))) for k, theta in enumerate(coefficients)
    )
