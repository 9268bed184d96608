"""Whole graphs: a batch of graphs as one disjoint union, and the readout that pools it.

To classify a whole graph (a molecule, a particle jet), a GNN's node embeddings are
pooled into one vector per graph by a permutation-invariant readout (Gilmer et al.'s
R, Xu et al.'s READOUT, ICLR 2019, eq. 4.2):

    h_G = READOUT({h_v : v ∈ G}),     READOUT = sum, mean or max over the graph's nodes

A batch of B graphs is one graph of B disconnected pieces, as PyTorch Geometric's
`Batch` builds it: node features stacked, each graph's edges shifted by the number
of nodes before it, and a vector `batch` (N,) naming each node's graph. No edge
joins two pieces, so a message-passing layer run on the union is the layer run on
each graph alone; the readout is `aggregate` with each node's graph as its target:

    global_pool(x, batch, B, "sum")[g] = Σ_{v : batch[v] = g} x_v

The readout matters as the aggregation does (Xu et al., Fig. 2): a sum keeps the
multiset of node embeddings (it counts), a mean only their distribution (a graph and
two copies of it pool alike), a max only the set of values that occur.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from deepnotes.graph import message_passing
from deepnotes.graph.graph import Graph

READOUTS = message_passing.AGGREGATIONS  # sum, mean, max


@dataclass
class GraphBatch:
    """B graphs as one: x (N, F) stacked, edge_index (2, E) shifted, batch (N,) each node's
    graph, ptr (B + 1,) where each graph's nodes start (graph g is nodes ptr[g]:ptr[g + 1])."""

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    ptr: Tensor

    @property
    def num_graphs(self) -> int:
        return len(self.ptr) - 1


def batch_graphs(graphs: Sequence[Graph]) -> GraphBatch:
    """The disjoint union of `graphs` (each with features x; edge weights are not carried),
    node k of graph g renumbered ptr[g] + k."""
    if not graphs:
        raise ValueError("cannot batch an empty list of graphs")
    sizes = torch.tensor([graph.num_nodes for graph in graphs])  # (B,)
    ptr = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)])  # (B + 1,)
    x = torch.cat([graph.x for graph in graphs])  # (N, F)
    edge_index = torch.cat(
        [graph.edge_index + start for graph, start in zip(graphs, ptr.tolist(), strict=False)],
        dim=1,
    )  # (2, E)
    batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes)  # (N,)
    return GraphBatch(x, edge_index, batch, ptr)


def global_pool(
    x: Tensor, batch: Tensor, num_graphs: int | None = None, how: str = "sum"
) -> Tensor:
    """The readout: each graph's node embeddings x (N, F) pooled by `how` (sum, mean or
    max) into (B, F); B = num_graphs, or the largest graph number + 1 when not given."""
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return message_passing.aggregate(x, batch, num_graphs, how)
