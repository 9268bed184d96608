"""Graphs: the GCN formula three ways, permutation equivariance, PyG's layers, the readers."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import pytest
import torch
import torch.nn.functional as F
import torch_geometric.nn as pyg
from hypothesis import example, given, settings
from hypothesis import strategies as st

from deepnotes.cli import main
from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.graphs import read_pickle
from deepnotes.errors import UserError
from deepnotes.graph import GATConv, GCNConv, GINConv, Graph, SAGEConv, gcn_dense, gcn_sparse
from deepnotes.graph.spectral import (
    chebyshev_filter,
    chebyshev_response,
    fourier_basis,
    graph_fourier,
    inverse_graph_fourier,
    normalized_laplacian,
    spectral_filter,
)
from deepnotes.models.gnn import dropout_nonzero
from deepnotes.registry import MODELS
from reference import rel_error


def random_graph(nodes: int, edges: int, seed: int) -> torch.Tensor:
    """An undirected edge index without self-loops or duplicates: (2, E)."""
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, nodes, (2, edges), generator=g)
    both = torch.cat([pairs, pairs.flip(0)], dim=1)
    both = both[:, both[0] != both[1]]
    return torch.unique(both, dim=1)


def layers(features: int, out: int) -> dict[str, tuple[torch.nn.Module, torch.nn.Module]]:
    """Ours and PyG's, built from the same seed."""
    return {
        "gcn": (GCNConv(features, out), pyg.GCNConv(features, out)),
        "sage-mean": (SAGEConv(features, out), pyg.SAGEConv(features, out)),
        "sage-max": (SAGEConv(features, out, aggr="max"), pyg.SAGEConv(features, out, aggr="max")),
        "gat": (GATConv(features, out, heads=3), pyg.GATConv(features, out, heads=3)),
        "gat-mean": (
            GATConv(features, out, heads=2, concat=False),
            pyg.GATConv(features, out, heads=2, concat=False),
        ),
        "gin": (
            GINConv(torch.nn.Linear(features, out), eps=0.25),
            pyg.GINConv(torch.nn.Linear(features, out), eps=0.25),
        ),
        "gin-train-eps": (
            GINConv(torch.nn.Linear(features, out), eps=0.25, train_eps=True),
            pyg.GINConv(torch.nn.Linear(features, out), eps=0.25, train_eps=True),
        ),
    }


@settings(max_examples=30, deadline=None)
@given(nodes=st.integers(2, 30), edges=st.integers(0, 80), seed=st.integers(0, 1000))
def test_gcn_by_message_passing_equals_the_dense_and_sparse_formulas(nodes, edges, seed):
    torch.manual_seed(seed)
    layer = GCNConv(5, 4).double()
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(nodes, 5, dtype=torch.float64)
    edge_index = random_graph(nodes, edges, seed)
    graph = Graph(edge_index, nodes)
    passed = layer(x, edge_index)
    dense = gcn_dense(x, graph.to_dense().double(), layer.lin.weight, layer.bias)
    sparse = gcn_sparse(x, Graph(edge_index, nodes, x=x), layer.lin.weight, layer.bias)
    assert rel_error(passed, dense) <= 1e-10 and rel_error(sparse, dense) <= 1e-10


@settings(max_examples=20, deadline=None)
@given(nodes=st.integers(2, 25), edges=st.integers(1, 60), seed=st.integers(0, 1000))
def test_every_layer_is_permutation_equivariant(nodes, edges, seed):
    torch.manual_seed(seed)
    x = torch.randn(nodes, 6)
    graph = Graph(random_graph(nodes, edges, seed), nodes, x=x)
    order = torch.randperm(nodes, generator=torch.Generator().manual_seed(seed))
    permuted = graph.permute(order)
    for name, (layer, _) in layers(6, 3).items():
        layer.eval()
        out, out_permuted = layer(x, graph.edge_index), layer(permuted.x, permuted.edge_index)
        assert rel_error(out_permuted, out[order]) <= 1e-5, name


@settings(max_examples=20, deadline=None)
@given(nodes=st.integers(1, 25), edges=st.integers(0, 60), seed=st.integers(0, 1000))
def test_layers_equal_pytorch_geometric(nodes, edges, seed):
    """Ours and PyG's with the same weights, on the same loss (a random projection of the
    outputs): the same outputs, input gradients and gradient of every parameter (GAT's
    att_src, att_dst and lin.weight, SAGE's lin_l and lin_r, GIN's MLP and trained ε, GCN's
    weight and bias), in float64."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(nodes, 5, generator=g, dtype=torch.float64)
    edge_index = random_graph(nodes, edges, seed)
    torch.manual_seed(seed)
    for name, (ours, theirs) in layers(5, 4).items():
        ours, theirs = ours.double().eval(), theirs.double().eval()
        assert list(ours.state_dict()) == list(theirs.state_dict()), name
        ours.load_state_dict(theirs.state_dict())
        projection = torch.randn(nodes, theirs(x, edge_index).shape[1], generator=g).double()
        results = []
        for layer in (ours, theirs):
            x_in = x.clone().requires_grad_()
            out = layer(x_in, edge_index)
            (out * projection).sum().backward()
            grads = {k: p.grad for k, p in layer.named_parameters()}
            results.append((out.detach(), x_in.grad, grads))
        (out, x_grad, grads), (out_pyg, x_grad_pyg, grads_pyg) = results
        # ~1e-15 measured over 300 random graphs: 10× that. A parameter gradient is measured
        # against the layer's whole gradient, as att_dst's true gradient can be 0 (no node's
        # scores straddle LeakyReLU's kink) and PyG's then holds round-off (~1e-17).
        assert rel_error(out, out_pyg) <= 1e-14, name
        assert rel_error(x_grad, x_grad_pyg) <= 1e-14, name
        assert grads.keys() == grads_pyg.keys(), name
        assert all(p is not None for p in grads.values()), name  # each one reaches the loss
        scale = torch.linalg.vector_norm(torch.cat([p.flatten() for p in grads_pyg.values()]))
        for key, grad in grads.items():
            error = torch.linalg.vector_norm(grad - grads_pyg[key])
            assert error <= 1e-14 * scale, (name, key, float(error / scale))


@settings(max_examples=20, deadline=None)
@given(nodes=st.integers(1, 25), edges=st.integers(0, 60), seed=st.integers(0, 1000))
def test_aggregation_by_sparse_product_equals_the_three_steps(nodes, edges, seed):
    """SAGE and GIN aggregate by A X; the same layer taking message → aggregate → update
    gives the same outputs and gradients, with repeated edges and nodes without any."""
    g = torch.Generator().manual_seed(seed)
    repeated = torch.randint(0, nodes, (2, edges), generator=g)  # duplicates, self-loops kept
    x = torch.randn(nodes, 5, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    for layer in (
        SAGEConv(5, 4),
        SAGEConv(5, 4, aggr="sum"),
        GINConv(torch.nn.Linear(5, 4), eps=0.5),
    ):
        layer = layer.double()
        results = []
        for by_product in (True, False):
            layer.by_product = by_product
            x_in = x.clone().requires_grad_()
            out = layer(x_in, repeated)
            out.pow(2).sum().backward()
            grads = [p.grad.clone() for p in layer.parameters()]
            layer.zero_grad()
            results.append((out.detach(), x_in.grad, grads))
        (out, x_grad, grads), (out_steps, x_grad_steps, grads_steps) = results
        assert rel_error(out, out_steps) <= 1e-12
        assert rel_error(x_grad, x_grad_steps) <= 1e-12
        assert all(rel_error(a, b) <= 1e-12 for a, b in zip(grads, grads_steps, strict=True))


@settings(max_examples=10, deadline=None)
@given(nodes=st.integers(1, 25), edges=st.integers(0, 60), seed=st.integers(0, 1000))
@example(nodes=3, edges=1, seed=0)  # GAT's second attention gets a gradient of ~1e-7
def test_sparse_features_give_the_results_of_dense_ones(nodes, edges, seed):
    """Cora's bag of words is held sparse; every model gives what it gives on the dense matrix,
    outputs and parameter gradients."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(nodes, 12, generator=g) * (torch.rand(nodes, 12, generator=g) < 0.2)
    x = x.double()  # float64: on tiny graphs some true gradients are ~0, below float32's noise
    edge_index = random_graph(nodes, edges, seed)
    for name in ("gcn", "gat", "sage", "gin", "graph_mlp"):
        torch.manual_seed(seed)
        model = MODELS.create(name, num_classes=3, input_size=(12,)).double().eval()
        outputs = []
        for features in (x, x.to_sparse()):
            out = model(features, edge_index)
            out.pow(2).sum().backward()
            outputs.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
            model.zero_grad()
        (dense, dense_grads), (sparse, sparse_grads) = outputs
        assert rel_error(sparse, dense) <= 1e-10, name
        assert all(
            rel_error(a, b) <= 1e-10 for a, b in zip(sparse_grads, dense_grads, strict=True)
        ), name
    with pytest.raises(ValueError, match="sparse node features"):
        SAGEConv(12, 3, aggr="max")(x.to_sparse(), edge_index)


def test_dropout_of_the_nonzero_entries_has_the_distribution_of_dropout():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 300, generator=g) * (torch.rand(200, 300, generator=g) < 0.05)
    p, draws = 0.6, 100
    torch.manual_seed(0)
    sparse_dropout = lambda x, p, training: dropout_nonzero(x.to_sparse(), p, training).to_dense()  # noqa: E731
    for dropout in (dropout_nonzero, sparse_dropout, F.dropout):  # F.dropout: the reference
        outs = torch.stack([dropout(x, p, True) for _ in range(draws)])  # (draws, 200, 300)
        assert (outs[:, x == 0] == 0).all()
        kept = outs[:, x != 0] != 0  # (draws, non-zero entries)
        scaled = (x / (1 - p)).expand_as(outs)[outs != 0]
        assert torch.allclose(outs[outs != 0], scaled, rtol=1e-6, atol=0)
        rate, trials = kept.double().mean(), kept.numel()
        assert abs(rate - (1 - p)) <= 5 * ((p * (1 - p)) / trials) ** 0.5, dropout
        assert not (kept == kept[0]).all()  # a new mask on every call
    assert dropout_nonzero(x, p, training=False) is x and dropout_nonzero(x, 0.0) is x
    assert (dropout_nonzero(x, 1.0) == 0).all()


def test_graph_conversions_round_trip():
    edge_index = random_graph(9, 20, 0)
    graph = Graph(edge_index, 9)
    dense = graph.to_dense()
    assert torch.equal(Graph.from_dense(dense).to_dense(), dense)
    assert torch.equal(Graph.from_scipy(graph.to_scipy()).to_dense(), dense)
    looped = graph.with_self_loops()
    assert torch.equal(looped.to_dense(), dense + torch.eye(9))
    assert torch.equal(looped.in_degree(), dense.sum(1) + 1)
    order = torch.randperm(9)
    assert torch.equal(graph.permute(order).to_dense(), dense[order][:, order])


class RunsCode:
    """A pickle payload: loading it would call os.system to create a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "it-ran"
    path = tmp_path / "ind.cora.x"
    path.write_bytes(pickle.dumps(RunsCode(str(marker)), protocol=2))
    with pytest.raises(UserError, match=r"refused to load (posix|os|nt)\.system"):
        read_pickle(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps(eval, protocol=2))
    with pytest.raises(UserError, match=r"refused to load (__builtin__|builtins)\.eval"):
        read_pickle(path)


def test_cora_is_read_with_the_public_split(shared_data, tmp_path):
    cora = load_data("cora", DataRequest(roots=(shared_data,)))
    assert cora.x.shape == (2708, 1433) and cora.edge_index.shape == (2, 10556)
    assert {s: int(m.sum()) for s, m in cora.masks.items()} == {
        "train": 140,
        "val": 500,
        "test": 1000,
    }
    assert torch.bincount(cora.y[cora.masks["train"]]).tolist() == [20] * 7
    features = cora.x.to_dense()  # held sparse: 1.3% of the entries are words present
    assert cora.x.is_sparse and cora.x._nnz() == int((features != 0).sum()) == 49216
    assert torch.allclose(features.sum(1)[features.sum(1) > 0], torch.ones(1))  # row-normalised
    copy = tmp_path / "planetoid"
    shutil.copytree(shared_data / "planetoid", copy)
    with open(copy / "ind.cora.y", "ab") as f:
        f.write(b"\0")
    with pytest.raises(UserError, match="does not match its SHA-256"):
        load_data("cora", DataRequest(roots=(tmp_path,)))


def test_embedded_graphs():
    karate = load_data("karate", DataRequest())
    assert karate.x.shape == (34, 34) and karate.edge_index.shape == (2, 156)
    assert karate.y.sum() == 17  # 17 members followed the officer
    sbm = load_data("sbm", DataRequest())
    dense = Graph(sbm.edge_index, 200).to_dense()
    same = sbm.y[:, None] == sbm.y[None, :]
    assert dense[same].mean() > 5 * dense[~same].mean()  # communities are denser inside


def test_train_a_gnn_on_karate_over_seeds(tmp_path):
    run = tmp_path / "gcn"
    argv = ["train", "gcn", "--data", "karate", "--epochs", "30", "--seeds", "2"]
    assert main([*argv, "--out", str(run), "--no-progress"]) == 0
    metrics = json.loads((run / "summary.json").read_text())["metrics"]
    assert {"test_acc_mean", "test_acc_std"} <= set(metrics)
    # seeds 0–9 reach 0.94–1.0 in 30 epochs; an untrained GCN is near chance (0.5)
    assert metrics["test_acc_mean"] >= 0.85


@pytest.mark.slow
@pytest.mark.parametrize(("model", "bound"), [("gcn", 0.805), ("gat", 0.815)])
def test_cora_reproduces_the_papers(shared_data, tmp_path, model, bound):
    run = tmp_path / model
    argv = ["train", model, "--data", "cora", "--data-dir", str(shared_data), "--seeds", "10"]
    assert main([*argv, "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["metrics"]["test_acc_mean"] >= bound


def test_the_laplacian_spectrum_and_the_fourier_transform():
    karate = load_data("karate", DataRequest())
    adjacency = Graph(karate.edge_index, 34).to_dense().double()
    laplacian = normalized_laplacian(adjacency)
    eigenvalues, basis = fourier_basis(laplacian)
    assert eigenvalues[0] == pytest.approx(0, abs=1e-10) and eigenvalues[-1] <= 2 + 1e-10
    smooth = adjacency.sum(1).sqrt()
    assert abs(float(basis[:, 0] @ smooth / smooth.norm())) == pytest.approx(1, abs=1e-10)
    signal = torch.randn(34, 2, dtype=torch.float64)
    back = inverse_graph_fourier(graph_fourier(signal, basis), basis)
    torch.testing.assert_close(back, signal)


@pytest.mark.parametrize("coefficients", [[0.5], [0.2, -1.0], [1.0, 0.3, -0.7, 0.25]])
def test_chebyshev_filter_equals_its_spectral_response(coefficients):
    edge_index = random_graph(15, 40, 3)
    laplacian = normalized_laplacian(Graph(edge_index, 15).to_dense().double())
    signal = torch.randn(15, 3, dtype=torch.float64)
    by_recurrence = chebyshev_filter(signal, laplacian, coefficients)
    by_eigenvectors = spectral_filter(
        signal, laplacian, lambda lam: chebyshev_response(lam, coefficients)
    )
    torch.testing.assert_close(by_recurrence, by_eigenvectors)
