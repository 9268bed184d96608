"""Tasks on graphs.

node   one graph with split masks → cross-entropy over the split's labelled nodes
graph  batches of whole graphs, one class each → cross-entropy over the graphs
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Generator, Tensor, nn

from deepnotes.graph import Graph, batch_graphs
from deepnotes.registry import TASKS
from deepnotes.tasks.base import Examples, Inputs, Shape, Task
from deepnotes.tasks.supervised import ClassificationTask


@TASKS.register("node")
class NodeClassificationTask(Task):
    """Classify the nodes of one graph, trained full-batch: cross-entropy over the split's
    nodes only, all nodes' features and edges seen (semi-supervised, Kipf & Welling).

    loss = −(1/|S|) Σ_{i ∈ S} log softmax(f(X, A)_i)[y_i],   S the split's labelled nodes

    A batch is the whole graph: (x (N, F), edge_index (2, E), y (N,), mask (N,)). Every
    node model names its parameter groups (`parameter_groups()`), e.g. GCN's weight decay
    on the first layer only.
    """

    name = "node"
    data_kinds = ("graph",)
    data_tasks = ("node",)
    example_nodes = 5

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """One graph, whatever the batch: a ring of 5 nodes (both directions of each edge)
        with random features, (x (5, F), edge_index (2, 10))."""
        ring = torch.arange(self.example_nodes)
        forward = torch.stack([ring, (ring + 1) % self.example_nodes])  # (2, 5): k → k + 1
        x = torch.randn(self.example_nodes, *examples.input_size, generator=generator)
        return x, torch.cat([forward, forward.flip(0)], dim=1)

    def output_shape(self, examples: Examples) -> Shape:
        return (self.example_nodes, examples.num_classes)  # class scores per node

    def optimizers(self, model: nn.Module) -> dict[str, Iterable]:
        return {"model": model.parameter_groups()}

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        x, edge_index, y, mask = batch
        logits = model(x, edge_index)[mask]  # (|S|, classes)
        loss = F.cross_entropy(logits, y[mask])
        acc = (logits.argmax(dim=1) == y[mask]).float().mean()
        return loss, {"loss": loss.detach(), "acc": acc}

    def batch_size(self, batch: Any) -> int:
        return int(batch[3].sum())  # labelled nodes of the split


@TASKS.register("graph")
class GraphClassificationTask(ClassificationTask):
    """Classify whole graphs (a molecule's property): cross-entropy over a batch of graphs.

    loss = −(1/B) Σ_g log softmax(f(G_g))[y_g]

    A batch is B graphs as one disjoint union (`graph.readout.batch_graphs`):
    (x (N, F), edge_index (2, E), batch (N,), y (B,)); the model maps (x, edge_index,
    batch) to (B, classes) logits through a readout over each graph's nodes.
    """

    name = "graph"
    data_kinds = ("graph",)
    data_tasks = ("graph",)

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """`examples.batch` rings of 5 and 3 nodes in turn with random features, as one
        batch: (x (N, F), edge_index (2, E), batch (N,))."""
        graphs = []
        for index in range(examples.batch):
            n = 5 if index % 2 == 0 else 3
            ring = torch.arange(n)
            forward = torch.stack([ring, (ring + 1) % n])  # (2, n): k → k + 1
            x = torch.randn(n, *examples.input_size, generator=generator)
            graphs.append(Graph(torch.cat([forward, forward.flip(0)], dim=1), n, x=x))
        union = batch_graphs(graphs)
        return union.x, union.edge_index, union.batch
