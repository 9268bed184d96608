"""Whole-graph classifiers: invariant to node numbering, batched graphs kept apart."""

from __future__ import annotations

import json

import pytest
import torch

from deepnotes.cli import main
from deepnotes.graph import Graph, batch_graphs
from deepnotes.models.graph_classifiers import graph_classifier

LAYERS = [("gin", "sum"), ("gcn", "sum"), ("sage", "sum"), ("sage", "mean"), ("sage", "max")]


def random_graphs(count: int, seed: int) -> list[Graph]:
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for nodes in torch.randint(2, 12, (count,), generator=g).tolist():
        pairs = torch.randint(0, nodes, (2, 2 * nodes), generator=g)
        edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)
        graphs.append(Graph(edge_index, nodes, x=torch.randn(nodes, 4, generator=g)))
    return graphs


def logits(model: torch.nn.Module, graphs: list[Graph]) -> torch.Tensor:
    union = batch_graphs(graphs)
    with torch.no_grad():
        return model(union.x, union.edge_index, union.batch)


@pytest.mark.parametrize(("conv", "aggr"), LAYERS)
@pytest.mark.parametrize("pooling", ["sum", "mean", "max"])
def test_a_graph_classifier_is_invariant_to_node_numbering(conv, aggr, pooling):
    torch.manual_seed(0)
    model = graph_classifier(3, (4,), conv, aggr, pooling, hidden=8, layers=2)
    graphs = random_graphs(5, seed=1)
    order = torch.Generator().manual_seed(2)
    renumbered = [g.permute(torch.randperm(g.num_nodes, generator=order)) for g in graphs]
    assert torch.allclose(logits(model, graphs), logits(model, renumbered), atol=1e-5)


@pytest.mark.parametrize(("conv", "aggr"), LAYERS)
def test_each_graph_of_a_batch_is_classified_alone(conv, aggr):
    torch.manual_seed(0)
    model = graph_classifier(3, (4,), conv, aggr, hidden=8, layers=2)
    graphs = random_graphs(6, seed=3)
    alone = torch.cat([logits(model, [g]) for g in graphs])
    assert torch.allclose(logits(model, graphs), alone, atol=1e-5)
    assert torch.allclose(logits(model, graphs[::-1]), alone.flip(0), atol=1e-5)


def test_deepnotes_train_resume_and_eval_classify_whole_graphs(tmp_path, capsys):
    """`deepnotes train gin_graph --data macrocycles` like every model: a run folder with
    checkpoints, `--resume` continuing it, `eval` on a split."""
    out = str(tmp_path / "run")
    train = ["train", "gin_graph", "--data", "macrocycles", "--out", out, "--no-progress"]
    assert main([*train, "--epochs", "1"]) == 0
    assert main([*train, "--epochs", "2", "--resume"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["epochs"] == 2
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3  # header, 2 epochs
    capsys.readouterr()
    assert main(["eval", out, "--data", "macrocycles", "--split", "all", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["examples"] == 600  # 200 units at 2, 3 and 4 rings
    assert 0.0 <= evaluated["metrics"]["all_acc"] <= 1.0
