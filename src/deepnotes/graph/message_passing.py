"""Message passing (Gilmer et al., ICML 2017), the core of every spatial graph layer.

A layer updates each node from its neighbours in three steps, written out here
as the notes name them, no code generation:

    message     m_ij = φ(x_i, x_j, e_ij)          for every edge j → i
    aggregate   a_i  = ⊕_{j ∈ N(i)} m_ij           ⊕ = sum, mean or max (permutation invariant)
    update      x_i' = γ(x_i, a_i)

Aggregation is the only place where nodes meet, and a sum, mean or max does
not care about the order of the neighbours, so every layer built on it is
permutation equivariant: renumber the nodes and the outputs are renumbered
alike. The sums use `index_add_`, the maxima `scatter_reduce`.

When a message is just the neighbour's features (SAGE, GIN) and ⊕ is a sum
or mean, the aggregation is one sparse product A X with A[i, j] = 1 for each
edge j → i (divided by i's in-degree for a mean): the same numbers without
copying x_j onto every edge, which on Cora's 1,433 features is most of an
epoch. `propagate` takes that path; `tests/test_graph.py` checks it against
the three steps.

On it, with PyTorch Geometric's names, arguments and weights:

    GCNConv   x_i' = Σ_{j ∈ N(i) ∪ {i}} x_j W / √(d̃_i d̃_j) + b   (Kipf & Welling, ICLR 2017)
    SAGEConv  x_i' = W_l · mean_{j ∈ N(i)} x_j + W_r x_i        (Hamilton et al., NeurIPS 2017)
    GATConv   x_i' = Σ_j α_ij W x_j, α_ij = softmax_j LeakyReLU(aᵀ[W x_i ‖ W x_j])
                                                                (Veličković et al., ICLR 2018)
    GINConv   x_i' = MLP((1 + ε) x_i + Σ_{j ∈ N(i)} x_j)         (Xu et al., ICLR 2019)
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepnotes.graph.graph import Graph

AGGREGATIONS = ("sum", "mean", "max")


def aggregate(messages: Tensor, target: Tensor, num_nodes: int, how: str = "sum") -> Tensor:
    """⊕ of the messages (E, …) arriving at each node: (N, …); a node with none gets 0."""
    shape = (num_nodes, *messages.shape[1:])
    if how in ("sum", "mean"):
        total = messages.new_zeros(shape).index_add_(0, target, messages)
        if how == "sum":
            return total
        count = torch.zeros(num_nodes, dtype=messages.dtype, device=messages.device)
        count.index_add_(0, target, torch.ones_like(target, dtype=messages.dtype))
        return total / count.clamp(min=1).view(-1, *([1] * (messages.dim() - 1)))
    if how == "max":
        index = target.view(-1, *([1] * (messages.dim() - 1))).expand_as(messages)
        empty = messages.new_full(shape, float("-inf"))
        largest = empty.scatter_reduce(0, index, messages, "amax", include_self=True)
        return largest.masked_fill(largest == float("-inf"), 0.0)
    raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")


def neighbour_softmax(scores: Tensor, target: Tensor, num_nodes: int) -> Tensor:
    """softmax of edge scores (E, H) over the edges arriving at each node."""
    index = target.view(-1, 1).expand_as(scores)
    largest = scores.new_full((num_nodes, scores.shape[1]), float("-inf"))
    largest = largest.scatter_reduce(0, index, scores, "amax", include_self=True)
    exp = (scores - largest[target]).exp()  # shifted by each node's max: no overflow
    return exp / aggregate(exp, target, num_nodes)[target]


def aggregate_by_product(x: Tensor, edge_index: Tensor, num_nodes: int, how: str = "sum") -> Tensor:
    """Σ (or mean) of x_j over each node's incoming edges j → i as A X: (N, F), sparse when
    x is.

    A is the sparse (N, N) matrix with A[i, j] = number of edges j → i (for a
    mean, divided by i's in-degree), so (A X)_i = Σ_j A_ij x_j is exactly
    `aggregate(x[source], target, num_nodes, how)` without the (E, F) copy.
    """
    if how not in ("sum", "mean"):
        raise ValueError(f"a product aggregates by sum or mean, not {how!r}")
    source, target = edge_index
    weight = torch.ones(source.shape[0], dtype=x.dtype, device=x.device)
    if how == "mean":
        in_degree = weight.new_zeros(num_nodes).index_add_(0, target, weight)
        weight = weight / in_degree.clamp(min=1)[target]
    adjacency = torch.sparse_coo_tensor(
        torch.stack([target, source]), weight, (num_nodes, num_nodes), check_invariants=True
    )
    with warnings.catch_warnings():  # torch's "CSR support is in beta", from sparse × sparse
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return torch.sparse.mm(adjacency, x)


class MessagePassing(nn.Module):
    """propagate = message → aggregate → update; subclasses say what a message is.

    `by_product` (default on) lets a layer whose message is x_j itself aggregate a
    sum or mean of 2-D features as one sparse product (`aggregate_by_product`);
    off, every layer takes the three steps as written. Sparse features (Cora's
    bag of words) always take the product, and stay sparse through it.
    """

    aggregation = "sum"
    by_product = True

    def propagate(self, edge_index: Tensor, x: Tensor, num_nodes: int, **edge_data) -> Tensor:
        summed = self.aggregation in ("sum", "mean")
        if (self.by_product or x.is_sparse) and self.sends_features() and summed and x.dim() == 2:
            aggregated = aggregate_by_product(x, edge_index, num_nodes, self.aggregation)
            return self.update(aggregated, x)
        if x.is_sparse:
            raise ValueError(
                "sparse node features can only be summed or averaged as they are "
                f"(SAGE mean/sum, GIN); give {type(self).__name__} dense features"
            )
        source, target = edge_index
        messages = self.message(x[source], x[target], **edge_data)  # (E, …): x_j, x_i
        aggregated = aggregate(messages, target, num_nodes, self.aggregation)
        return self.update(aggregated, x)

    def sends_features(self) -> bool:
        """Whether a message is the neighbour's features unchanged (message not overridden)."""
        return type(self).message is MessagePassing.message

    def message(self, x_j: Tensor, x_i: Tensor, **edge_data) -> Tensor:
        return x_j

    def update(self, aggregated: Tensor, x: Tensor) -> Tensor:
        return aggregated


def glorot_(weight: Tensor) -> None:
    """U(−a, a), a = √(6 / (fan_in + fan_out)) (Glorot & Bengio 2010), PyG's GCN default."""
    bound = math.sqrt(6.0 / (weight.shape[-2] + weight.shape[-1]))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


def gcn_normalized(graph: Graph, add_self_loops: bool = True) -> Graph:
    """Â = D̃^{−1/2}(A + I)D̃^{−1/2} as edge weights: the renormalisation trick, the self-loops
    (+ I) first, then the symmetric normalisation."""
    graph = graph.with_self_loops() if add_self_loops else graph
    return symmetric_normalization(graph)


def symmetric_normalization(graph: Graph) -> Graph:
    """D^{−1/2} A D^{−1/2} as edge weights: w_ij / √(d_i d_j), d_i = Σ_j A_ij (in-degree)."""
    degree = graph.in_degree()  # d̃_i = Σ_j (A + I)_ij once the self-loops are in
    inverse_root = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
    source, target = graph.edge_index
    weight = inverse_root[source] * graph.weights() * inverse_root[target]
    return Graph(graph.edge_index, graph.num_nodes, weight, graph.x)


class GCNConv(MessagePassing):
    """Kipf & Welling's graph convolution: a first-order spectral filter, as message passing.

    x' = Â X W + b, Â = D̃^{−1/2}(A + I)D̃^{−1/2}; each message is x_j W scaled by Â_ij.
    Weights: `lin.weight` (out, in), `bias` (out,), as in PyG.
    """

    def __init__(
        self, in_channels: int, out_channels: int, add_self_loops: bool = True, bias: bool = True
    ) -> None:
        super().__init__()
        self.add_self_loops = add_self_loops
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        glorot_(self.lin.weight)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        graph = Graph(edge_index, len(x), edge_weight, x)  # weights in x's dtype
        normalized = gcn_normalized(graph, self.add_self_loops)
        out = self.propagate(
            normalized.edge_index, self.lin(x), len(x), norm=normalized.edge_weight
        )
        return out if self.bias is None else out + self.bias

    def message(self, x_j: Tensor, x_i: Tensor, norm: Tensor) -> Tensor:
        return norm.unsqueeze(1) * x_j


class SAGEConv(MessagePassing):
    """GraphSAGE: x' = W_l · ⊕_{j ∈ N(i)} x_j + W_r x_i, ⊕ = mean or max (no self-loops).

    Weights: `lin_l` (with bias), `lin_r` (without), as in PyG.
    """

    def __init__(self, in_channels: int, out_channels: int, aggr: str = "mean") -> None:
        super().__init__()
        if aggr not in ("mean", "max", "sum"):
            raise ValueError(f"unknown aggregation {aggr!r}; choose mean, max or sum")
        self.aggregation = aggr
        self.lin_l = nn.Linear(in_channels, out_channels)
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.propagate(edge_index, x, len(x))

    def update(self, aggregated: Tensor, x: Tensor) -> Tensor:
        return self.lin_l(aggregated) + self.lin_r(x)


class GINConv(MessagePassing):
    """The graph isomorphism network's layer: x' = MLP((1 + ε) x_i + Σ_j x_j).

    A sum (not a mean) keeps neighbourhood multisets apart, as powerful as the
    Weisfeiler–Lehman test (Xu et al.). `eps` is a buffer, or a parameter with
    train_eps=True, as in PyG.
    """

    def __init__(self, nn_: nn.Module, eps: float = 0.0, train_eps: bool = False) -> None:
        super().__init__()
        self.nn = nn_
        if train_eps:
            self.eps = nn.Parameter(torch.tensor([eps]))
        else:
            self.register_buffer("eps", torch.tensor([eps]))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.propagate(edge_index, x, len(x))

    def update(self, aggregated: Tensor, x: Tensor) -> Tensor:
        return self.nn((1 + self.eps) * x + aggregated)


class GATConv(MessagePassing):
    """Graph attention: each node weighs its neighbours (itself included) by learned scores.

        h = x W (per head),  e_ij = LeakyReLU(a_srcᵀ h_j + a_dstᵀ h_i),  α_ij = softmax_j e_ij,
        x_i' = ‖_heads Σ_j α_ij h_j  (or their mean, concat=False) + b

    Dropout acts on the α in training. Weights: `lin.weight` (H·C, in), `att_src`,
    `att_dst` (1, H, C), `bias`, as in PyG.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.heads, self.out_channels, self.concat = heads, out_channels, concat
        self.negative_slope, self.dropout, self.add_self_loops = (
            negative_slope,
            dropout,
            add_self_loops,
        )
        self.lin = nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        width = heads * out_channels if concat else out_channels
        self.bias = nn.Parameter(torch.zeros(width)) if bias else None
        for weight in (self.lin.weight, self.att_src, self.att_dst):
            glorot_(weight)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        n = len(x)
        if self.add_self_loops:
            edge_index = Graph(edge_index, n).with_self_loops().edge_index
        h = self.lin(x).view(n, self.heads, self.out_channels)  # (N, H, C)
        score_src = (h * self.att_src).sum(-1)  # (N, H): a_srcᵀ h_j
        score_dst = (h * self.att_dst).sum(-1)
        source, target = edge_index
        scores = F.leaky_relu(score_src[source] + score_dst[target], self.negative_slope)  # (E, H)
        alpha = neighbour_softmax(scores, target, n)
        alpha = F.dropout(alpha, self.dropout, self.training)
        out = self.propagate(edge_index, h, n, alpha=alpha)  # (N, H, C)
        out = out.reshape(n, -1) if self.concat else out.mean(dim=1)
        return out if self.bias is None else out + self.bias

    def message(self, x_j: Tensor, x_i: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j  # (E, H, C)


def gcn_dense(x: Tensor, adjacency: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """The spectral formula itself: D̃^{−1/2}(A + I)D̃^{−1/2} X Wᵀ (+ b), with dense matrices."""
    a_tilde = adjacency + torch.eye(len(adjacency), dtype=adjacency.dtype)
    inverse_root = a_tilde.sum(1).pow(-0.5)  # rows: each node's incoming weights
    normalized = inverse_root.unsqueeze(1) * a_tilde * inverse_root.unsqueeze(0)
    out = normalized @ x @ weight.T
    return out if bias is None else out + bias


def gcn_sparse(x: Tensor, graph: Graph, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """The same product with Â as a torch sparse matrix: Â (X Wᵀ) (+ b)."""
    normalized = gcn_normalized(graph)
    source, target = normalized.edge_index
    a_hat = torch.sparse_coo_tensor(
        torch.stack([target, source]),
        normalized.edge_weight,
        (graph.num_nodes, graph.num_nodes),
        check_invariants=True,
    )
    out = torch.sparse.mm(a_hat, x @ weight.T)
    return out if bias is None else out + bias
