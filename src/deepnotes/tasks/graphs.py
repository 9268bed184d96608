"""Tasks on graphs.

node   one graph with split masks → cross-entropy over the split's labelled nodes
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Generator, Tensor, nn

from deepnotes.registry import TASKS
from deepnotes.tasks.base import Examples, Inputs, Shape, Task


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
