"""Graphs and graph neural networks (the course's topic 9), in plain PyTorch.

graph.py            the Graph type: edge index, weights, features; dense and SciPy forms
spectral.py         the normalised Laplacian, the graph Fourier transform, Chebyshev filters
message_passing.py  message → aggregate → update, and GCNConv, SAGEConv, GATConv, GINConv
readout.py          a batch of graphs as one disjoint union; sum, mean and max readouts
"""

from deepnotes.graph.graph import Graph
from deepnotes.graph.message_passing import (
    GATConv,
    GCNConv,
    GINConv,
    MessagePassing,
    SAGEConv,
    aggregate,
    gcn_dense,
    gcn_sparse,
)
from deepnotes.graph.readout import GraphBatch, batch_graphs, global_pool

__all__ = [
    "GATConv",
    "GCNConv",
    "GINConv",
    "Graph",
    "GraphBatch",
    "MessagePassing",
    "SAGEConv",
    "aggregate",
    "batch_graphs",
    "gcn_dense",
    "gcn_sparse",
    "global_pool",
]
