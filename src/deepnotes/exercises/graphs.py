"""Exercises on graph neural networks: one graph convolution (GCN) from an edge index."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from deepnotes.exercises.base import Case, Exercise, Mistake, gradients, randn, register
from deepnotes.graph import message_passing

GCN_STARTER = '''\
import torch
from torch import Tensor


def gcn_layer(
    x: Tensor,
    edge_index: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
) -> Tensor:
    """One graph convolution of Kipf & Welling ("Semi-supervised classification with
    graph convolutional networks", ICLR 2017), as PyTorch Geometric's GCNConv computes it.

        H' = D̃^{−1/2} (A + I) D̃^{−1/2} H Wᵀ + b,    D̃_ii = Σ_j (A + I)_ij

    i.e. x'_i = Σ_{j ∈ N(i) ∪ {i}} (W x_j) / √(d̃_i d̃_j) + b, with d̃_i = 1 + the number of
    i's neighbours. The self-loops (+ I) keep a node's own features; the symmetric
    normalisation keeps the scale of the features whatever the degrees (the first-order
    spectral filter of the graph with self-loops; notes line 227: spectral and spatial
    methods, message passing).

    Shapes: x (N, F) node features; edge_index (2, E) long, column e the edge
    edge_index[0, e] → edge_index[1, e] (an undirected graph: each edge listed in both
    directions, no self-loops, no edge twice; some nodes may have no edge at all);
    weight (F_out, F) as GCNConv's lin.weight; bias (F_out,) or None. Output (N, F_out).
    Gradients must flow to x, weight and bias.
    """
    # TODO: A + I, the degrees, the normalised matrix, then the product
    raise NotImplementedError("gcn_layer")
'''


def gcn_layer(x: Tensor, edge_index: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """The package's answer: `message_passing.GCNConv` run with the given weights."""
    layer = message_passing.GCNConv(x.shape[1], weight.shape[0], bias=bias is not None)
    parameters = {"lin.weight": weight} | ({} if bias is None else {"bias": bias})
    return torch.func.functional_call(layer, parameters, (x, edge_index))


def gcn_layer_without_self_loops_dividing_by_zero(
    x: Tensor, edge_index: Tensor, weight: Tensor, bias: Tensor | None = None
) -> Tensor:
    """D^{−1/2} A D^{−1/2} X Wᵀ + b, dense, A without + I: a node without neighbours has
    degree 0, and 0^{−1/2} = ∞ makes its row NaN."""
    nodes = len(x)
    adjacency = torch.zeros(nodes, nodes, dtype=x.dtype)
    adjacency[edge_index[1], edge_index[0]] = 1.0  # row = the target
    inverse_root = adjacency.sum(1).pow(-0.5)  # (N,), ∞ where the degree is 0
    out = inverse_root[:, None] * adjacency * inverse_root[None, :] @ x @ weight.T
    return out if bias is None else out + bias


def random_graph(rng: random.Random, nodes: int) -> Tensor:
    """An undirected simple graph's edge index (both directions): each pair joined with
    probability ½, some nodes left alone."""
    pairs = [(i, j) for i in range(nodes) for j in range(i + 1, nodes) if rng.random() < 0.5]
    edges = pairs + [(j, i) for i, j in pairs]
    rng.shuffle(edges)
    return torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous()  # (2, E)


def gcn_cases(rng: random.Random) -> list[Case]:
    """Graphs of 1 to 9 nodes (one without edges, isolated nodes), odd feature widths,
    with and without a bias."""
    cases = []
    for n in range(16):
        nodes = 1 + n // 2 if n < 12 else rng.randint(5, 9)
        features, out = rng.randint(1, 5), rng.randint(1, 4)
        bias = n % 3 != 2
        settings = {
            "x": randn(rng, nodes, features),
            "edge_index": random_graph(rng, nodes),
            "weight": randn(rng, out, features),
            "bias": randn(rng, out) if bias else None,
            "cotangent": randn(rng, nodes, out),
        }
        edges = settings["edge_index"].shape[1] // 2
        text = f"N={nodes}, {edges} undirected edges, F={features}, F_out={out}, bias={bias}"
        cases.append(Case(text, settings))
    return cases


def run_gcn(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    given = case.inputs
    grads = {
        k: t.detach().clone().requires_grad_(True)
        for k, t in given.items()
        if k in ("x", "weight", "bias") and t is not None
    }
    output = implementation(grads["x"], given["edge_index"], grads["weight"], grads.get("bias"))
    found = gradients([output], list(grads.values()), [given["cotangent"]])
    return {"output": output.detach()} | {
        f"d_{name}": grad for name, grad in zip(grads, found, strict=True)
    }


register(
    "gcn-layer",
    Exercise(
        title="A graph convolution (GCN) from an edge index",
        topic="9. Graph neural networks",
        entry="gcn_layer",
        starter=GCN_STARTER,
        reference=gcn_layer,
        cases=gcn_cases,
        run=run_gcn,
        solution=(
            "deepnotes.graph.message_passing.GCNConv",
            "deepnotes.graph.message_passing.gcn_normalized",
            "deepnotes.graph.message_passing.symmetric_normalization",
            "deepnotes.graph.message_passing.gcn_dense",
        ),
        hints=(
            "Build the dense adjacency: A = torch.zeros(N, N); A[edge_index[1], "
            "edge_index[0]] = 1 (row = the target, which sums its incoming neighbours).",
            "Add the self-loops first, Ã = A + I, and take the degrees from Ã: d̃ = Ã.sum(1), "
            "so no degree is 0.",
            "Â = d̃^{−1/2}[:, None] · Ã · d̃^{−1/2}[None, :]; the layer is Â @ x @ weight.T, "
            "plus the bias if there is one.",
        ),
        mistakes=(
            Mistake(
                "gcn-without-self-loops",
                "The self-loops are forgotten, Â = D^{−1/2} A D^{−1/2}: a node's own features "
                "never reach its output, and a node without neighbours outputs only the bias.",
                "Kipf & Welling (2017), eq. 2: the renormalisation trick uses Ã = A + I",
            ),
            Mistake(
                "gcn-without-self-loops-dividing-by-zero",
                "The self-loops are forgotten, Â = D^{−1/2} A D^{−1/2}, and a node without "
                "neighbours divides by its degree of 0: its output is NaN (and so are the "
                "gradients).",
                "Kipf & Welling (2017), eq. 2: Ã = A + I, so every degree d̃_i ≥ 1",
                wrong=gcn_layer_without_self_loops_dividing_by_zero,
            ),
            Mistake(
                "gcn-row-normalised",
                "A + I is normalised by rows, D̃^{−1}(A + I) (a mean of the neighbours), "
                "instead of symmetrically, D̃^{−1/2}(A + I)D̃^{−1/2}.",
                "Kipf & Welling (2017), eq. 2: D̃^{−1/2} Ã D̃^{−1/2}",
            ),
        ),
    ),
)
