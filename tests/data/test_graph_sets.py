"""Sets of small graphs: regular graphs, rings of aryl units, and their batches."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.graph_sets import (
    ATOMS,
    DEGREES,
    RING_COUNTS,
    Unit,
    collate_graphs,
    macrocycle,
    regular_graphs,
)
from deepnotes.graph import GINConv, global_pool

VALENCE = {"C": 4, "N": 3, "O": 2}


def test_regular_graphs_have_their_degree_everywhere():
    graphs, labels = regular_graphs([3, 3, 3], np.random.default_rng(0))
    for graph, label in zip(graphs, labels.tolist(), strict=True):
        assert graph.num_nodes == 12 and graph.x.shape == (12, 1)
        degree = torch.bincount(graph.edge_index[1], minlength=12)
        assert (degree == DEGREES[label]).all()
        assert {tuple(e) for e in graph.edge_index.T.tolist()} == {
            tuple(e) for e in graph.edge_index.flip(0).T.tolist()
        }  # undirected


def molecule(graph) -> nx.Graph:
    return nx.Graph(graph.edge_index.T.tolist())


@pytest.mark.parametrize("seed", range(5))
def test_a_ring_of_units_is_one_molecule_with_plausible_valences(seed):
    unit = Unit.random(np.random.default_rng(seed))
    for rings in RING_COUNTS:
        graph = macrocycle(unit, rings)
        drawn = molecule(graph)
        assert nx.is_connected(drawn) and len(drawn) == graph.num_nodes
        assert nx.number_of_edges(drawn) == graph.edge_index.shape[1] // 2
        for node, bonds in drawn.degree():
            assert bonds <= VALENCE[ATOMS[int(graph.x[node].argmax())]]
        benzenes = sum(len(c) == 6 for c in nx.minimum_cycle_basis(drawn))
        assert benzenes == rings  # beside them, the one large ring


@pytest.mark.parametrize("seed", range(5))
def test_every_atom_sees_the_same_neighbourhood_whatever_the_number_of_rings(seed):
    """Node embeddings of a k-ring are one unit's repeated k times: a mean or max readout
    of any GIN does not change with k, the sum grows as k."""
    torch.manual_seed(seed)
    unit = Unit.random(np.random.default_rng(seed))
    layers = [
        GINConv(torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.Tanh()))
        for n_in in (len(ATOMS), 8, 8)
    ]
    pooled = {}
    with torch.no_grad():
        for rings in RING_COUNTS:
            graph = macrocycle(unit, rings)
            h = graph.x
            for layer in layers:
                h = layer(h, graph.edge_index)
            batch = torch.zeros(graph.num_nodes, dtype=torch.long)
            pooled[rings] = {how: global_pool(h, batch, 1, how) for how in ("sum", "mean", "max")}
    two = pooled[RING_COUNTS[0]]
    for rings in RING_COUNTS[1:]:
        assert torch.allclose(pooled[rings]["mean"], two["mean"], atol=1e-5)
        assert torch.allclose(pooled[rings]["max"], two["max"], atol=1e-5)
        assert torch.allclose(pooled[rings]["sum"], rings / 2 * two["sum"], atol=1e-4)


def test_a_batch_is_the_disjoint_union_with_labels():
    graphs, labels = regular_graphs([1, 2, 1], np.random.default_rng(1))
    x, edge_index, batch, y = collate_graphs(list(zip(graphs, labels, strict=True)))
    assert x.shape == (48, 1) and torch.equal(y, labels)
    assert torch.equal(batch, torch.arange(4).repeat_interleave(12))
    assert (batch[edge_index[0]] == batch[edge_index[1]]).all()  # no edge joins two graphs


@pytest.mark.parametrize("name", ["regular-graphs", "macrocycles"])
def test_the_registered_sets_load_and_batch(name):
    bundle = load_data(name, DataRequest(seed=2))
    assert set(bundle.splits) == {"train", "val", "test"}
    x, edge_index, batch, y = next(iter(bundle.loader("train", 16, shuffle=True)))
    assert x.shape[1] == bundle.input_size[0] and len(y) == 16 and int(batch.max()) == 15
    assert int(edge_index.max()) < len(x)
    counts = torch.bincount(bundle.split("test").labels, minlength=bundle.num_classes)
    assert (counts == counts[0]).all()  # balanced
