"""Graphs and graph neural networks (the course's topic 9), in plain PyTorch.

graph.py            the Graph type: edge index, weights, features; dense and SciPy forms
spectral.py         the normalised Laplacian, the graph Fourier transform, Chebyshev filters
message_passing.py  message → aggregate → update, and GCNConv, SAGEConv, GATConv, GINConv
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

__all__ = [
    "GATConv",
    "GCNConv",
    "GINConv",
    "Graph",
    "MessagePassing",
    "SAGEConv",
    "aggregate",
    "gcn_dense",
    "gcn_sparse",
]
