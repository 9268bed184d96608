"""A graph as PyTorch holds it: an edge index, optional edge weights, node features.

    edge_index  (2, E) long: column e is the edge source[e] → target[e]; an undirected
                graph lists both directions
    edge_weight (E,) or None (every edge weighs 1)
    x           (N, F) node features, or None

The dense adjacency matrix has A[target, source] = weight, so A @ X sums each
node's incoming neighbours' features: the same convention as the message
passing layers, where a message goes from edge_index[0] to edge_index[1].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse
import torch
from torch import Tensor


@dataclass
class Graph:
    edge_index: Tensor
    num_nodes: int
    edge_weight: Tensor | None = None
    x: Tensor | None = None

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def weights(self) -> Tensor:
        """Each edge's weight, ones when none are given: (E,)."""
        if self.edge_weight is not None:
            return self.edge_weight
        dtype = self.x.dtype if self.x is not None else torch.float32
        return torch.ones(self.num_edges, dtype=dtype, device=self.edge_index.device)

    def to_dense(self) -> Tensor:
        """A (N, N) with A[target, source] = the edge's weight (summed over repeated edges)."""
        adjacency = torch.zeros(self.num_nodes, self.num_nodes, dtype=self.weights().dtype)
        source, target = self.edge_index
        return adjacency.index_put_((target, source), self.weights(), accumulate=True)

    @classmethod
    def from_dense(cls, adjacency: Tensor, x: Tensor | None = None) -> Graph:
        """The edges of the nonzero entries of A[target, source]."""
        target, source = adjacency.nonzero(as_tuple=True)
        weight = adjacency[target, source]
        unweighted = bool((weight == 1).all())
        return cls(torch.stack([source, target]), len(adjacency), None if unweighted else weight, x)

    def to_scipy(self) -> scipy.sparse.coo_matrix:
        source, target = self.edge_index.numpy()
        shape = (self.num_nodes, self.num_nodes)
        return scipy.sparse.coo_matrix((self.weights().numpy(), (target, source)), shape=shape)

    @classmethod
    def from_scipy(cls, matrix: scipy.sparse.spmatrix, x: Tensor | None = None) -> Graph:
        coo = matrix.tocoo()
        index = torch.as_tensor(np.stack([coo.col, coo.row]), dtype=torch.long)  # source, target
        weight = torch.as_tensor(coo.data, dtype=torch.float32)
        return cls(index, matrix.shape[0], None if bool((weight == 1).all()) else weight, x)

    def with_self_loops(self, fill: float = 1.0) -> Graph:
        """Every node given an edge to itself (weight `fill`); existing self-loops removed first."""
        source, target = self.edge_index
        keep = source != target
        loops = torch.arange(self.num_nodes, device=self.edge_index.device)
        index = torch.cat([self.edge_index[:, keep], torch.stack([loops, loops])], dim=1)
        weight = None
        if self.edge_weight is not None or fill != 1.0:
            ones = torch.full((self.num_nodes,), fill, dtype=self.weights().dtype)
            weight = torch.cat([self.weights()[keep], ones])
        return replace(self, edge_index=index, edge_weight=weight)

    def in_degree(self) -> Tensor:
        """Σ of incoming edge weights per node: (N,)."""
        degree = torch.zeros(self.num_nodes, dtype=self.weights().dtype)
        return degree.index_add_(0, self.edge_index[1], self.weights())

    def permute(self, order: Tensor) -> Graph:
        """The same graph with node order[k] renamed k (features reordered alike)."""
        new_name = torch.empty_like(order)
        new_name[order] = torch.arange(len(order))
        x = None if self.x is None else self.x[order]
        return replace(self, edge_index=new_name[self.edge_index], x=x)
