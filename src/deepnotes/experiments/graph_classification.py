"""Whole graphs (notes, week 8): a readout over message passing, and what a GNN can tell apart.

A GNN classifies a whole graph by pooling its node embeddings into one vector, the
readout h_G = READOUT({h_v : v ∈ G}), a sum, mean or max, and classifying h_G
(`graph.readout`, `models.graph_classifiers`; a batch of graphs is one disjoint union).

- Expressive power (Xu, Hu, Leskovec, Jegelka, "How powerful are graph neural
  networks?", ICLR 2019). A message-passing GNN tells two graphs apart at most when
  the 1-dimensional Weisfeiler–Lehman test does (each round recolours a node by its
  colour and the multiset of its neighbours' colours), and as often when its
  aggregation is injective on multisets: a sum followed by an MLP, GIN's
  h_v' = MLP((1 + ε) h_v + Σ_{j ∈ N(v)} h_j). A mean keeps only the multiset's
  distribution, a max only its set. On random d-regular graphs (d = 2, 3, 4, 12 nodes)
  with a constant feature, 1-WL separates the classes in one round, but every
  neighbourhood is d copies of one value: its mean and its max are that value
  whatever d, and GCN's Â = D̃^{−1/2}(A + I)D̃^{−1/2} averages too (Â_ij = 1/(d + 1)).
  Every node of every graph gets the same embedding, every graph the same readout
  and the same prediction, so the training accuracy cannot exceed the largest
  class's share: the ceiling. A sum sees d·h: GIN, and GraphSAGE with a sum, fit
  the set.
- The readout, by the same argument (Xu et al., Fig. 2): rings of k = 2, 3 or 4
  copies of one aryl unit (a benzene ring with functional groups, joined by ether
  oxygens), every unit built at all three sizes. Each atom of a k-ring sees the same
  neighbourhood whatever k, so the node embeddings are one unit's repeated k times:
  the sum readout is k times one unit's, the mean and the max do not change with k.
  With the same GIN, the sum readout counts the rings, also on units never seen; a
  mean or max readout gives the three rings of a unit one vector and one prediction,
  so at most one in three is right.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch
from torch import Tensor

from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle
from deepnotes.data.graph_sets import (
    ATOMS,
    DEGREES,
    RING_COUNTS,
    Unit,
    graph_set_bundle,
    macrocycles,
    regular_graphs,
)
from deepnotes.experiments.base import Context, Control
from deepnotes.models.graph_classifiers import GraphClassifier, graph_classifier
from deepnotes.registry import EXPERIMENTS, MODELS
from deepnotes.tasks.graphs import GraphClassificationTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import seed_everything

# Xu et al.'s comparison on the WL task: the same network, its layers' aggregation varied
LAYERS = {
    "GIN (sum)": {"conv": "gin"},
    "GraphSAGE, sum": {"conv": "sage", "aggr": "sum"},
    "GraphSAGE, mean": {"conv": "sage", "aggr": "mean"},
    "GraphSAGE, max": {"conv": "sage", "aggr": "max"},
    "GCN": {"conv": "gcn"},
}
AVERAGING = ("GraphSAGE, mean", "GraphSAGE, max", "GCN")  # what the theory caps
SAME = 1e-4  # relative spread of readouts that float32 rounding leaves of "equal" (~1e-7)


@EXPERIMENTS.register(
    "graph-classification",
    ExperimentCard(
        title="Whole graphs: readouts, and what sum, mean and max aggregation can tell apart",
        topic="9. Graph neural networks",
        concepts=[
            "readout",
            "graph classification",
            "Weisfeiler-Lehman test",
            "GIN",
            "expressive power",
        ],
        formulas=(
            r"h_G = \operatorname{READOUT}\left(\{h_v : v \in G\}\right)",
            r"h_v' = \operatorname{MLP}\left((1 + \epsilon) \, h_v + \sum_{j \in \mathcal{N}(v)} "
            r"h_j\right)",
        ),
        code=(
            "deepnotes.graph.message_passing.GINConv",
            "deepnotes.graph.message_passing.aggregate",
            "deepnotes.graph.readout.global_pool",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        227, "Graph neural networks (GNN): spectral and spatial domain methods, message passing"
    )
    weisfeiler_lehman(ctx)
    ctx.quote(
        228,
        "Applications of GNNs in computational social sciences, high-energy physics, and medicine",
    )
    ring_counting(ctx)
    ctx.note(
        "No medical (or chemical) data set ships with deepnotes — no MUTAG, Tox21 or "
        "patient graphs: the molecule-like rings here are generated, and show the readout "
        "at work on the kind of question such data asks (how many of a substructure)."
    )


def train(
    bundle: DataBundle, seed: int, epochs: int, batch_size: int, lr: float, **arguments: str
) -> tuple[GraphClassifier, list[float]]:
    """`graph_classifier(**arguments)` trained by the package's trainer (Adam); returns the
    model and its training accuracy per epoch."""
    seed_everything(seed)
    model = graph_classifier(bundle.num_classes, bundle.input_size, **arguments)
    task = GraphClassificationTask()
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    trainer, _ = fit_in_memory(model, task, bundle, **settings)
    return model, [row["train_acc"] for row in trainer.state.history]


def accuracy(model: GraphClassifier, bundle: DataBundle, split: str) -> float:
    """Correct predictions / graphs over a split, counted exactly (no float32 mean)."""
    model.eval()
    predicted, true = GraphClassificationTask().predict(model, whole_split(bundle, split))
    return int((predicted == true).sum()) / len(true)


def whole_split(bundle: DataBundle, split: str) -> list:
    """The split as one batch: [(x, edge_index, batch, y)]."""
    return list(bundle.loader(split, len(bundle.split(split))))


@torch.no_grad()
def graph_readouts(model: GraphClassifier, bundle: DataBundle, split: str) -> Tensor:
    """h_G of every graph of a split, in order: (B, hidden)."""
    model.eval()
    [(x, edge_index, batch, _)] = whole_split(bundle, split)
    return model.forward_features(x, edge_index, batch)


def relative_spread(readouts: Tensor) -> float:
    """max |h_G − h_G'| over the graphs of each group (B, …) / max |h|: 0 when every group's
    graphs are pooled to one vector. readouts: (groups, graphs per group, hidden)."""
    spread = (readouts - readouts[:, :1]).abs().amax()
    return float(spread / readouts.abs().amax().clamp(min=1e-12))


def weisfeiler_lehman(ctx: Context) -> None:
    counts = (24, 20, 16) if ctx.quick else (120, 100, 80)  # unequal: the ceiling is 24/60
    epochs = 150 if ctx.quick else 300
    rng = np.random.default_rng(ctx.seed)
    graphs, labels = regular_graphs(counts, rng)
    bundle = graph_set_bundle(
        "regular-graphs", {"train": (graphs, labels)}, list(map(str, DEGREES))
    )
    ceiling = max(counts) / sum(counts)
    ctx.derived(
        "wl-ceiling",
        "the most a network can get right when it gives every graph the same prediction: "
        "the largest class's share",
        ceiling,
        f"max(counts) / Σ counts = {max(counts)} / {sum(counts)}, for {counts[0]} 2-regular, "
        f"{counts[1]} 3-regular, {counts[2]} 4-regular graphs",
    )
    curves, accuracies, spreads = {}, {}, {}
    for name, arguments in LAYERS.items():
        model, curves[name] = train(bundle, ctx.seed, epochs, len(graphs), 0.01, **arguments)
        accuracies[name] = accuracy(model, bundle, "train")
        spreads[name] = relative_spread(graph_readouts(model, bundle, "train")[None])
    ctx.table(
        f"Random d-regular graphs, constant features ({sum(counts)} graphs of 12 nodes, "
        f"3 layers, sum readout, {epochs} full-batch steps)",
        ["layers", "training accuracy", "readouts' relative spread"],
        [[name, f"{accuracies[name]:.3f}", f"{spreads[name]:.1e}"] for name in LAYERS],
    )
    ctx.claim(
        "gin-sum-separates",
        "GIN, whose sum aggregation is injective on multisets, fits the graphs that 1-WL "
        "separates: 100% training accuracy on 2- vs 3- vs 4-regular graphs",
        accuracies["GIN (sum)"],
        ">=",
        1.0,
        control=Control("GraphSAGE with a mean aggregation", accuracies["GraphSAGE, mean"]),
    )
    averaging = max(accuracies[name] for name in AVERAGING)
    ctx.claim(
        "mean-and-max-stay-at-the-ceiling",
        "mean and max aggregation (GraphSAGE) and GCN cannot: their training accuracy stays "
        "at or below the largest class's share (the best of the three)",
        averaging,
        "<=",
        ceiling,
        control=Control("GraphSAGE with a sum, the one change", accuracies["GraphSAGE, sum"]),
    )
    ctx.claim(
        "one-readout-for-every-graph",
        "…because they give every graph the same readout vector (largest relative spread of "
        "h_G over the graphs, of the three; float32 leaves about 1e-7)",
        max(spreads[name] for name in AVERAGING),
        "<=",
        SAME,
        control=Control("GraphSAGE with a sum", spreads["GraphSAGE, sum"]),
    )
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), width_ratios=[1, 1, 1, 2.2])
    for ax, degree in zip(axes[:3], DEGREES, strict=True):
        example = graphs[int((labels == DEGREES.index(degree)).nonzero()[0])]
        drawn = nx.Graph(example.edge_index.T.tolist())
        nx.draw_circular(drawn, ax=ax, node_size=40, node_color="C7", width=0.8)
        ax.set_title(f"{degree}-regular, 12 nodes", fontsize=9)
    for name, curve in curves.items():
        axes[3].plot(range(1, epochs + 1), curve, label=name)
    axes[3].axhline(
        ceiling, color="k", linestyle="--", linewidth=0.8, label="ceiling (largest class)"
    )
    axes[3].set(xlabel="step (full batch)", ylabel="training accuracy", ylim=(0, 1.05))
    axes[3].legend(fontsize=7, loc="center right")
    fig.suptitle("Constant features: 1-WL separates the degrees, only a sum aggregation can")
    ctx.figure(
        fig,
        "wl-training.png",
        "Training accuracy per aggregation on random d-regular graphs: GIN and GraphSAGE "
        "with a sum fit them; mean, max and GCN stop at the largest class's share.",
    )


def ring_counting(ctx: Context) -> None:
    units = 40 if ctx.quick else 150
    settings = {**MODELS.card("gin_graph").train_defaults, "seed": ctx.seed}  # 150 epochs of 30
    rng = np.random.default_rng(ctx.seed)
    splits = {
        split: macrocycles([Unit.random(rng) for _ in range(units)]) for split in ("train", "test")
    }
    bundle = graph_set_bundle("macrocycles", splits, [f"{k} rings" for k in RING_COUNTS])
    results = {}
    for pooling in ("sum", "mean", "max"):
        model, _ = train(bundle, **settings, conv="gin", pooling=pooling)
        readouts = graph_readouts(model, bundle, "train")  # (3 · units, hidden)
        results[pooling] = {
            "train": accuracy(model, bundle, "train"),
            "test": accuracy(model, bundle, "test"),
            "spread": relative_spread(readouts.view(units, len(RING_COUNTS), -1)),
        }
    ctx.table(
        f"Rings of 2, 3 or 4 aryl units ({units} units for training, {units} others for "
        f"testing, each at every size; 3 GIN layers, {settings['epochs']} epochs)",
        ["readout", "training accuracy", "test accuracy", "readouts' spread within a unit"],
        [
            [pooling, f"{r['train']:.3f}", f"{r['test']:.3f}", f"{r['spread']:.1e}"]
            for pooling, r in results.items()
        ],
    )
    ctx.claim(
        "sum-readout-counts-rings",
        "the sum readout counts the rings: accuracy on units never seen in training",
        results["sum"]["test"],
        ">=",
        0.95,
        control=Control("the same GIN with a mean readout", results["mean"]["test"]),
    )
    third = 1 / len(RING_COUNTS)
    ctx.derived(
        "ring-ceiling",
        "the most a readout that pools a unit's 2-, 3- and 4-rings to one vector gets right",
        third,
        "one prediction for three graphs of different classes: at most 1 of 3",
    )
    ctx.claim(
        "mean-and-max-readouts-cannot-count",
        "a mean or max readout cannot: training accuracy at most one in three (the better of "
        "the two)",
        max(results["mean"]["train"], results["max"]["train"]),
        "<=",
        third,
        control=Control("the sum readout", results["sum"]["train"]),
    )
    ctx.claim(
        "mean-and-max-readouts-repeat",
        "…because a unit's three rings pool to the same vector under a mean or a max "
        "(largest relative spread within a unit, of the two)",
        max(results["mean"]["spread"], results["max"]["spread"]),
        "<=",
        SAME,
        control=Control("the sum readout, which grows with k", results["sum"]["spread"]),
    )
    draw_rings(ctx, splits["train"][0][:2], results)


def draw_rings(ctx: Context, examples: list, results: dict[str, dict[str, float]]) -> None:
    """Two rings of one unit (atoms coloured C, N, O), and accuracy by readout."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), width_ratios=[1, 1, 1.3])
    colours = np.array(["0.35", "C0", "C3"])  # C grey, N blue, O red
    for ax, graph, rings in zip(axes[:2], examples, RING_COUNTS, strict=False):
        drawn = nx.Graph(graph.edge_index.T.tolist())
        kinds = graph.x.argmax(1).numpy()
        nx.draw_kamada_kawai(
            drawn, ax=ax, node_size=35, node_color=colours[kinds[list(drawn)]], width=0.8
        )
        ax.set_title(f"{rings} rings of the same unit ({graph.num_nodes} atoms)", fontsize=9)
    for ax_colour, atom in zip(colours, ATOMS, strict=True):
        axes[0].scatter([], [], color=ax_colour, label=atom, s=20)
    axes[0].legend(fontsize=8, loc="upper left")
    poolings = list(results)
    place = np.arange(len(poolings))
    for offset, split in ((-0.2, "train"), (0.2, "test")):
        axes[2].bar(place + offset, [results[p][split] for p in poolings], 0.4, label=split)
    axes[2].axhline(1 / len(RING_COUNTS), color="k", linestyle="--", linewidth=0.8, label="1 in 3")
    axes[2].set(
        xticks=place,
        xticklabels=[f"{p} readout" for p in poolings],
        ylabel="accuracy",
        ylim=(0, 1.05),
        title="How many rings? The same GIN, three readouts",
    )
    axes[2].legend(fontsize=8)
    ctx.figure(
        fig,
        "ring-readouts.png",
        "A unit as a ring of two and of three; a sum readout counts the rings, a mean or a "
        "max sees the same atoms in the same proportions whatever their number.",
    )
