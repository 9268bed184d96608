"""Faults in graph networks: GCN's self-loops and normalisation, the Laplacian, the transform."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.graph import message_passing, spectral
from deepnotes.graph.graph import Graph
from deepnotes.registry import FAULTS

GCN_CLAIMS = (
    "graph-networks/gcn-is-a-spectral-filter",
    "graph-networks/gcn-equals-the-dense-formula",
)


def gcn_normalized_without_self_loops(graph: Graph, add_self_loops: bool = True) -> Graph:
    """D^{−1/2} A D^{−1/2}: the symmetric normalisation of A itself, the + I forgotten."""
    return message_passing.symmetric_normalization(graph)


@FAULTS.register(
    "gcn-without-self-loops",
    FaultCard(
        mistake="GCN propagates with Â = D^{−1/2} A D^{−1/2}, the self-loops (A + I) forgotten",
        consequence="a node's own features no longer reach its output, only its neighbours' "
        "do, and the layer is no longer the filter 1 − λ of the graph with self-loops: a "
        "node without neighbours outputs nothing but the bias, and stacking layers mixes "
        "each node's features away",
        replaces="deepnotes.graph.message_passing.gcn_normalized",
        targets=GCN_CLAIMS,
    ),
)
def gcn_without_self_loops() -> AbstractContextManager[None]:
    return replaced(message_passing, "gcn_normalized", gcn_normalized_without_self_loops)


def row_normalization(graph: Graph) -> Graph:
    """D^{−1} A as edge weights: w_ij / d_i, each row divided by its sum (a mean of the
    neighbours), where GCN divides by √(d_i d_j)."""
    degree = graph.in_degree()
    target = graph.edge_index[1]
    weight = graph.weights() / degree.clamp(min=1)[target]
    return Graph(graph.edge_index, graph.num_nodes, weight, graph.x)


@FAULTS.register(
    "gcn-row-normalised",
    FaultCard(
        mistake="GCN normalises A + I by rows, D̃^{−1}(A + I), instead of symmetrically, "
        "D̃^{−1/2}(A + I)D̃^{−1/2}",
        consequence="the matrix is no longer symmetric, so it is no longer a filter g(λ) of the "
        "Laplacian's eigenvalues: a high-degree neighbour counts as much as a low-degree one, "
        "and the layer's output differs from Kipf and Welling's formula",
        replaces="deepnotes.graph.message_passing.symmetric_normalization",
        targets=GCN_CLAIMS,
    ),
)
def gcn_row_normalised() -> AbstractContextManager[None]:
    return replaced(message_passing, "symmetric_normalization", row_normalization)


def unnormalized_laplacian(adjacency: Tensor) -> Tensor:
    """L = D − A: the combinatorial Laplacian where the normalised one belongs."""
    return torch.diag(adjacency.sum(1)) - adjacency


@FAULTS.register(
    "laplacian-unnormalised",
    FaultCard(
        mistake="The graph Laplacian is taken as L = D − A where I − D^{−1/2} A D^{−1/2} belongs",
        consequence="its eigenvalues scale with the degrees instead of lying in [0, 2]: a "
        "ring's are 2 − 2cos(2πk/N), twice the Fourier modes' 1 − cos, a grid's reach nearly "
        "8, so a Chebyshev filter scaled for λ_max = 2 leaves its range, and GCN is no longer "
        "the filter 1 − λ on it",
        replaces="deepnotes.graph.spectral.normalized_laplacian",
        targets=(
            "graph-networks/ring-modes-are-fourier",
            "graph-networks/bipartite-reaches-two",
            "graph-networks/chebyshev-equals-its-response",
            "graph-networks/gcn-is-a-spectral-filter",
        ),
    ),
)
def laplacian_unnormalised() -> AbstractContextManager[None]:
    return replaced(spectral, "normalized_laplacian", unnormalized_laplacian)


def graph_fourier_without_transpose(signal: Tensor, basis: Tensor) -> Tensor:
    """x̂ = U x: the modes multiplied as rows, Uᵀ forgotten."""
    return basis @ signal


@FAULTS.register(
    "graph-fourier-without-transpose",
    FaultCard(
        mistake="The graph Fourier transform is computed as U x instead of Uᵀ x",
        consequence="the coefficients are no longer the signal's projections on the modes, so "
        "U x̂ does not give x back and every spectral filter scales the wrong components: a "
        "low-pass filter adds noise instead of removing it",
        replaces="deepnotes.graph.spectral.graph_fourier",
        targets=(
            "graph-networks/fourier-transform-inverts",
            "graph-networks/low-pass-denoises",
            "graph-networks/chebyshev-equals-its-response",
            "graph-networks/gcn-is-a-spectral-filter",
        ),
    ),
)
def graph_fourier_transpose() -> AbstractContextManager[None]:
    return replaced(spectral, "graph_fourier", graph_fourier_without_transpose)
