"""Graph neural networks for node classification, as their papers set them up for Cora.

    gcn         2 GCN layers, 16 hidden, ReLU, dropout 0.5; weight decay 5e-4 on the first
                layer only; Adam lr 0.01, 200 epochs (Kipf & Welling, ICLR 2017)
    gat         8 heads × 8 features, ELU, then 1 head; dropout 0.6 on inputs and attention;
                Adam lr 0.005, weight decay 5e-4 (Veličković et al., ICLR 2018)
    sage        2 GraphSAGE layers (mean), 16 hidden (Hamilton et al., NeurIPS 2017)
    gin         2 GIN layers, each a 2-layer MLP, 16 hidden (Xu et al., ICLR 2019)
    graph_mlp   the features alone, no edges: the baseline every graph layer must beat

Builders take the zoo's arguments: `num_classes`, and `input_size` = (features,).
Shape: forward(x (N, F), edge_index (2, E)) → (N, classes) logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.graph import GATConv, GCNConv, GINConv, SAGEConv
from deepnotes.models.common import register_model

CORA_FEATURES, CORA_CLASSES = 1433, 7


def dropout_nonzero(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Dropout that draws a coin only for the non-zero entries of x (Kipf & Welling's sparse
    dropout of the input features); x may be a sparse COO tensor, and stays one.

    Dropout keeps each entry with probability 1 − p and scales it by 1/(1 − p); an entry
    that is 0 stays 0 either way, so drawing only for the others gives exactly the
    distribution of `F.dropout`. Cora's bag-of-words features are 1.3% non-zero: this
    draws 80 times fewer coins than `F.dropout` over all 3.9 million entries.
    """
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    sparse = (x if x.is_sparse else x.to_sparse()).coalesce()
    values = sparse.values()
    keep = torch.rand(values.shape, device=x.device) >= p
    dropped = torch.sparse_coo_tensor(
        sparse.indices(), values * keep / (1.0 - p), x.shape, check_invariants=True
    )
    return dropped if x.is_sparse else dropped.to_dense()


class TwoLayer(nn.Module):
    """dropout → layer 1 → activation → dropout → layer 2, the papers' node classifiers.

    The input's dropout draws only for its non-zero features (`dropout_nonzero`).
    """

    def __init__(
        self,
        in_features: int,
        first: nn.Module,
        second: nn.Module,
        dropout: float,
        activation: Any = F.relu,
        first_layer_decay: float | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.conv1, self.conv2 = first, second
        self.dropout, self.activation = dropout, activation
        self.first_layer_decay = first_layer_decay

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        x = self.embed(dropout_nonzero(x, self.dropout, self.training), edge_index)
        x = F.dropout(x, self.dropout, self.training)
        return self.layer(self.conv2, x, edge_index)

    def embed(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        """Every node's hidden representation, activation(layer 1(x)): (N, hidden)."""
        return self.activation(self.layer(self.conv1, x, edge_index))

    @staticmethod
    def layer(module: nn.Module, x: Tensor, edge_index: Tensor | None) -> Tensor:
        return module(x) if isinstance(module, nn.Linear) else module(x, edge_index)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Kipf & Welling decay only the first layer's weights; otherwise one group."""
        if self.first_layer_decay is None:
            return [{"params": list(self.parameters())}]
        return [
            {"params": list(self.conv1.parameters()), "weight_decay": self.first_layer_decay},
            {"params": list(self.conv2.parameters()), "weight_decay": 0.0},
        ]


F_, C_ = CORA_FEATURES, CORA_CLASSES


def node_card(
    paper: str, reference: int, defaults: dict[str, Any], concepts: tuple[str, ...]
) -> ModelCard:
    """The card every node model shares but for these: any number of features, counted at
    Cora's 1,433 features and 7 classes, trained full-batch."""
    return ModelCard(
        task="node",
        family="gnn",
        input_size=None,
        num_classes=CORA_CLASSES,
        paper=paper,
        reference=ParameterCount(
            reference,
            (CORA_FEATURES,),
            CORA_CLASSES,
            "the layer formulas at Cora's 1,433 features and 7 classes",
        ),
        train_defaults={"batch_size": 1, **defaults},
        concepts=concepts,
    )


@register_model(
    "gcn",
    node_card(
        "Kipf, Welling, Semi-supervised classification with graph convolutional networks, "
        "ICLR 2017",
        (F_ + 1) * 16 + 17 * C_,
        {"epochs": 200, "lr": 0.01},
        ("graph convolution", "renormalisation trick", "semi-supervised"),
    ),
)
def gcn(
    num_classes: int = CORA_CLASSES,
    input_size: Sequence[int] = (CORA_FEATURES,),
    hidden: int = 16,
    dropout: float = 0.5,
    weight_decay: float = 5e-4,
) -> TwoLayer:
    first, second = GCNConv(input_size[0], hidden), GCNConv(hidden, num_classes)
    return TwoLayer(input_size[0], first, second, dropout, F.relu, weight_decay)


@register_model(
    "gat",
    node_card(
        "Veličković et al., Graph attention networks, ICLR 2018",
        F_ * 64 + 3 * 64 + 64 * C_ + 3 * C_,
        {"epochs": 300, "lr": 0.005, "weight_decay": 5e-4},
        ("graph attention", "multi-head attention"),
    ),
)
def gat(
    num_classes: int = CORA_CLASSES,
    input_size: Sequence[int] = (CORA_FEATURES,),
    hidden: int = 8,
    heads: int = 8,
    dropout: float = 0.6,
) -> TwoLayer:
    first = GATConv(input_size[0], hidden, heads=heads, dropout=dropout)
    second = GATConv(hidden * heads, num_classes, heads=1, concat=False, dropout=dropout)
    return TwoLayer(input_size[0], first, second, dropout, F.elu)


@register_model(
    "sage",
    node_card(
        "Hamilton, Ying, Leskovec, Inductive representation learning on large graphs, NeurIPS 2017",
        (2 * F_ + 1) * 16 + (2 * 16 + 1) * C_,
        {"epochs": 200, "lr": 0.01, "weight_decay": 5e-4},
        ("neighbourhood aggregation", "inductive"),
    ),
)
def sage(
    num_classes: int = CORA_CLASSES,
    input_size: Sequence[int] = (CORA_FEATURES,),
    hidden: int = 16,
    dropout: float = 0.5,
    aggr: str = "mean",
) -> TwoLayer:
    first = SAGEConv(input_size[0], hidden, aggr=aggr)
    return TwoLayer(input_size[0], first, SAGEConv(hidden, num_classes, aggr=aggr), dropout)


@register_model(
    "gin",
    node_card(
        "Xu, Hu, Leskovec, Jegelka, How powerful are graph neural networks?, ICLR 2019",
        (F_ + 1) * 16 + 17 * 16 + 17 * 16 + 17 * C_,
        {"epochs": 200, "lr": 0.01, "weight_decay": 5e-4},
        ("Weisfeiler-Lehman", "sum aggregation"),
    ),
)
def gin(
    num_classes: int = CORA_CLASSES,
    input_size: Sequence[int] = (CORA_FEATURES,),
    hidden: int = 16,
    dropout: float = 0.5,
) -> TwoLayer:
    def mlp(n_in: int, n_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    first, second = GINConv(mlp(input_size[0], hidden)), GINConv(mlp(hidden, num_classes))
    return TwoLayer(input_size[0], first, second, dropout)


@register_model(
    "graph_mlp",
    node_card(
        "the features alone: the baseline of Kipf & Welling's Table 2",
        (F_ + 1) * 16 + 17 * C_,
        {"epochs": 200, "lr": 0.01},
        ("baseline", "no edges"),
    ),
)
def graph_mlp(
    num_classes: int = CORA_CLASSES,
    input_size: Sequence[int] = (CORA_FEATURES,),
    hidden: int = 16,
    dropout: float = 0.5,
    weight_decay: float = 5e-4,
) -> TwoLayer:
    first, second = nn.Linear(input_size[0], hidden), nn.Linear(hidden, num_classes)
    return TwoLayer(input_size[0], first, second, dropout, F.relu, weight_decay)
