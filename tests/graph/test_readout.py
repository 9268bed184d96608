"""Whole graphs: the disjoint union and the readouts against PyTorch Geometric's."""

from __future__ import annotations

import pytest
import torch
import torch_geometric.nn as pyg
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

from deepnotes.graph import GINConv, Graph, batch_graphs, global_pool

POOLS = {"sum": pyg.global_add_pool, "mean": pyg.global_mean_pool, "max": pyg.global_max_pool}


def random_graphs(count: int, seed: int, features: int = 3) -> list[Graph]:
    """`count` graphs of 1–9 nodes with random directed edges and features."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(count):
        nodes = int(torch.randint(1, 10, (1,), generator=g))
        edges = int(torch.randint(0, 3 * nodes, (1,), generator=g))
        edge_index = torch.randint(0, nodes, (2, edges), generator=g)
        graphs.append(Graph(edge_index, nodes, x=torch.randn(nodes, features, generator=g)))
    return graphs


def pyg_batch(graphs: list[Graph]) -> Batch:
    return Batch.from_data_list(
        [Data(x=g.x, edge_index=g.edge_index, num_nodes=g.num_nodes) for g in graphs]
    )


@settings(max_examples=25, deadline=None)
@given(count=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_the_disjoint_union_is_pytorch_geometrics_batch(count, seed):
    graphs = random_graphs(count, seed)
    ours, theirs = batch_graphs(graphs), pyg_batch(graphs)
    assert torch.equal(ours.x, theirs.x)
    assert torch.equal(ours.edge_index, theirs.edge_index)
    assert torch.equal(ours.batch, theirs.batch)
    assert torch.equal(ours.ptr, theirs.ptr)
    assert ours.num_graphs == theirs.num_graphs == count


@pytest.mark.parametrize("how", list(POOLS))
@settings(max_examples=25, deadline=None)
@given(count=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_readouts_equal_pytorch_geometrics(how, count, seed):
    graphs = random_graphs(count, seed, features=4)
    union = batch_graphs(graphs)
    expected = POOLS[how](union.x, union.batch)
    assert torch.allclose(global_pool(union.x, union.batch, how=how), expected, atol=1e-6)
    given_count = global_pool(union.x, union.batch, union.num_graphs, how)
    assert torch.allclose(given_count, POOLS[how](union.x, union.batch, count), atol=1e-6)


def test_a_layer_on_the_union_is_the_layer_on_each_graph():
    """No edge joins two graphs of a batch: message passing on the union gives each graph's
    own outputs."""
    torch.manual_seed(0)
    layer = GINConv(torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU()))
    graphs = random_graphs(6, seed=7)
    union = batch_graphs(graphs)
    with torch.no_grad():
        together = layer(union.x, union.edge_index)
        alone = torch.cat([layer(g.x, g.edge_index) for g in graphs])
    assert torch.allclose(together, alone, atol=1e-6)


def test_sum_counts_where_mean_and_max_cannot():
    """A graph and two copies of it: the sum doubles, the mean and the max do not move."""
    graph = random_graphs(1, seed=3)[0]
    copies = batch_graphs([graph, graph])  # two disconnected copies, as one graph
    union = batch_graphs([graph, Graph(copies.edge_index, 2 * graph.num_nodes, x=copies.x)])
    pooled = {how: global_pool(union.x, union.batch, 2, how) for how in POOLS}
    assert torch.allclose(pooled["sum"][1], 2 * pooled["sum"][0], atol=1e-6)
    assert torch.allclose(pooled["mean"][1], pooled["mean"][0], atol=1e-6)
    assert torch.equal(pooled["max"][1], pooled["max"][0])
