"""Graph neural networks that classify whole graphs: message passing, a readout, a head.

    gin_graph   the graph isomorphism network (Xu, Hu, Leskovec, Jegelka, ICLR 2019):
                3 GIN layers, each a 2-layer MLP of 32, then a sum readout and a 2-layer
                MLP head

    h_v^(l) = ReLU(conv_l(h^(l−1), A))_v          l = 1 … L, message passing
    h_G     = READOUT({h_v^(L) : v ∈ G})           sum, mean or max (graph.readout)
    logits  = W₂ ReLU(W₁ h_G + b₁) + b₂

`graph_classifier` builds the same network on other layers — GCN, or GraphSAGE with
a sum, mean or max aggregation — for Xu et al.'s comparison of aggregations. (Xu et
al. read out every layer and concatenate; one readout of the last layer is enough
for what the course measures.)

Builders take the zoo's arguments: `num_classes`, and `input_size` = (node features,).
Shape: forward(x (N, F), edge_index (2, E), batch (N,)) → (B, classes) logits, B the
number of graphs in the batch (graph.readout.batch_graphs).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch.nn.functional as F
from torch import Tensor, nn

from deepnotes.cards import ModelCard, ParameterCount

# the readout is called through its module: a fault planted there counts
from deepnotes.graph import GCNConv, GINConv, SAGEConv, readout
from deepnotes.models.common import register_model

CONVS = ("gin", "gcn", "sage")
MACROCYCLE_ATOMS, MACROCYCLE_CLASSES = 3, 3  # the reference count's setting


def conv_layer(conv: str, n_in: int, n_out: int, aggr: str = "sum") -> nn.Module:
    """One message-passing layer: GIN (its MLP Linear → ReLU → Linear; a sum, always),
    GCN, or GraphSAGE with `aggr` (sum, mean or max)."""
    if conv == "gin":
        return GINConv(nn.Sequential(nn.Linear(n_in, n_out), nn.ReLU(), nn.Linear(n_out, n_out)))
    if conv == "gcn":
        return GCNConv(n_in, n_out)
    if conv == "sage":
        return SAGEConv(n_in, n_out, aggr=aggr)
    raise ValueError(f"unknown layer {conv!r}; choose one of {', '.join(CONVS)}")


class GraphClassifier(nn.Module):
    """Message-passing layers (each followed by a ReLU), a readout, an MLP head.

    `pooling` is the readout: "sum", "mean" or "max" over each graph's nodes.
    """

    def __init__(
        self, convs: Sequence[nn.Module], hidden: int, num_classes: int, pooling: str = "sum"
    ) -> None:
        super().__init__()
        if pooling not in readout.READOUTS:
            raise ValueError(f"unknown readout {pooling!r}; choose sum, mean or max")
        self.convs = nn.ModuleList(convs)
        self.pooling = pooling
        self.hidden = nn.Linear(hidden, hidden)
        self.fc = nn.Linear(hidden, num_classes)

    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Every node's embedding after the last layer: (N, hidden)."""
        for conv in self.convs:
            x = F.relu(conv(x, edge_index))
        return x

    def forward_features(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        """The readout h_G of each graph: (B, hidden)."""
        return readout.global_pool(self.embed(x, edge_index), batch, how=self.pooling)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        h = F.relu(self.hidden(features))
        return h if pre_logits else self.fc(h)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x, edge_index, batch))


def graph_classifier(
    num_classes: int,
    input_size: Sequence[int],
    conv: str = "gin",
    aggr: str = "sum",
    pooling: str = "sum",
    hidden: int = 32,
    layers: int = 3,
) -> GraphClassifier:
    """`layers` layers of kind `conv` (GraphSAGE's aggregation `aggr`), `hidden` wide, and
    the readout `pooling`."""
    widths = [input_size[0]] + [hidden] * layers
    convs = [conv_layer(conv, n_in, n_out, aggr) for n_in, n_out in pairwise(widths)]
    return GraphClassifier(convs, hidden, num_classes, pooling)


def gin_parameters(features: int, classes: int, hidden: int = 32, layers: int = 3) -> int:
    """GIN layers' MLPs (in → h → h, with biases), the head h → h → classes."""
    first = (features + 1) * hidden + (hidden + 1) * hidden
    return first + (layers - 1) * 2 * (hidden + 1) * hidden + (hidden + 1) * (hidden + classes)


@register_model(
    "gin_graph",
    ModelCard(
        task="graph",
        family="gnn",
        input_size=None,
        num_classes=MACROCYCLE_CLASSES,
        paper="Xu, Hu, Leskovec, Jegelka, How powerful are graph neural networks?, ICLR 2019",
        reference=ParameterCount(
            gin_parameters(MACROCYCLE_ATOMS, MACROCYCLE_CLASSES),
            (MACROCYCLE_ATOMS,),
            MACROCYCLE_CLASSES,
            "the layer formulas at the macrocycles' 3 atom kinds and 3 classes",
        ),
        train_defaults={"epochs": 150, "batch_size": 30, "lr": 0.005},
        concepts=("readout", "Weisfeiler-Lehman", "sum aggregation", "graph classification"),
    ),
)
def gin_graph(
    num_classes: int = MACROCYCLE_CLASSES,
    input_size: Sequence[int] = (MACROCYCLE_ATOMS,),
    hidden: int = 32,
    layers: int = 3,
    pooling: str = "sum",
) -> GraphClassifier:
    return graph_classifier(num_classes, input_size, "gin", "sum", pooling, hidden, layers)
