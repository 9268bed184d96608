"""Sets of small graphs with one label each: what a GNN classifies whole.

    regular-graphs  random d-regular graphs on 12 nodes, the class d = 2, 3 or 4, every
                    node's feature the constant 1. The 1-WL test tells them apart (the
                    degrees differ) and a sum aggregation can; a mean or a max cannot, for
                    every neighbourhood holds d copies of the same value (Xu et al. 2019)
    macrocycles     molecule-like rings: k = 2, 3 or 4 copies of one aryl unit (a benzene
                    ring with random functional groups: hydroxyl, amine, methyl, carboxyl)
                    joined head to tail by ether oxygens into one large ring; the class is
                    k, the number of rings; atoms one-hot (C, N, O). Each unit is built at
                    all three sizes, so only a readout that counts (a sum) can tell them
                    apart: every atom of a k-ring sees the same neighbourhood for every k,
                    and a mean or a max over atoms does not change with k

An example is (Graph, label); a batch is the disjoint union of its graphs
(`graph.readout.batch_graphs`): (x (N, F), edge_index (2, E), batch (N,), y (B,)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from deepnotes.cards import DataCard
from deepnotes.data.base import DataBundle, DataRequest
from deepnotes.data.graphs import undirected
from deepnotes.graph import Graph, batch_graphs
from deepnotes.registry import DATASETS

DEGREES = (2, 3, 4)
REGULAR_NODES = 12  # every d in DEGREES has a d-regular graph on 12 nodes (12·d even)
RING_COUNTS = (2, 3, 4)
ATOMS = ("C", "N", "O")
RING_SIZE = 6
# each group's atoms; the first bonds to the ring, the others to the first
FUNCTIONAL_GROUPS = {"hydroxyl": "O", "amine": "N", "methyl": "C", "carboxyl": "COO"}
SUBSTITUTED = (1, 2, 4, 5)  # ring positions that may carry a group: 0 and 3 join the units
SPLIT_SIZES = (("train", 100), ("val", 50), ("test", 50))  # per class (graphs or units)


class GraphSet(Dataset):
    """Graphs with one class each: example i is (graphs[i], labels[i])."""

    def __init__(self, graphs: Sequence[Graph], labels: Tensor) -> None:
        self.graphs, self.labels = list(graphs), labels

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> tuple[Graph, Tensor]:
        return self.graphs[index], self.labels[index]


def collate_graphs(examples: Sequence[tuple[Graph, Tensor]]) -> tuple[Tensor, ...]:
    """A list of (graph, label) as one batch: (x (N, F), edge_index (2, E), batch (N,),
    y (B,)), the graphs joined into one disjoint union."""
    union = batch_graphs([graph for graph, _ in examples])
    labels = torch.stack([label for _, label in examples])
    return union.x, union.edge_index, union.batch, labels


def graph_set_bundle(
    name: str, splits: dict[str, tuple[list[Graph], Tensor]], classes: list[str]
) -> DataBundle:
    """A bundle of graph sets by split, batched as disjoint unions (`collate_graphs`)."""
    graphs, _ = splits["train"]
    return DataBundle(
        name=name,
        kind="graph",
        splits={split: GraphSet(*pair) for split, pair in splits.items()},
        input_size=(graphs[0].x.shape[1],),
        num_classes=len(classes),
        classes=classes,
        info={"graphs": {split: len(pair[0]) for split, pair in splits.items()}},
        collate_fn=collate_graphs,
    )


def regular_graphs(
    counts: Sequence[int], rng: np.random.Generator, nodes: int = REGULAR_NODES
) -> tuple[list[Graph], Tensor]:
    """counts[c] random DEGREES[c]-regular graphs on `nodes` nodes (networkx's generator),
    labelled c, every node's feature 1: (graphs, labels (Σ counts,))."""
    graphs, labels = [], []
    for label, (degree, count) in enumerate(zip(DEGREES, counts, strict=True)):
        for _ in range(count):
            regular = nx.random_regular_graph(degree, nodes, seed=int(rng.integers(2**31)))
            edge_index = undirected(np.array(regular.edges()))
            graphs.append(Graph(edge_index, nodes, x=torch.ones(nodes, 1)))
            labels.append(label)
    return graphs, torch.tensor(labels)


@dataclass(frozen=True)
class Unit:
    """An aryl unit: a benzene ring with a functional group (or none) at each position of
    SUBSTITUTED, and an ether oxygen on position 0 that bonds to the next unit's position 3."""

    groups: tuple[str | None, ...]

    @classmethod
    def random(cls, rng: np.random.Generator) -> Unit:
        """Each substitutable position bare with probability ½, else a group drawn uniformly."""
        names = list(FUNCTIONAL_GROUPS)
        return cls(
            tuple(
                None if rng.random() < 0.5 else names[rng.integers(len(names))] for _ in SUBSTITUTED
            )
        )

    def atoms_and_bonds(self) -> tuple[list[str], list[tuple[int, int]]]:
        """The unit's atoms (ring 0–5, the ether O 6, then the groups') and its bonds."""
        atoms = ["C"] * RING_SIZE + ["O"]
        bonds = [(i, (i + 1) % RING_SIZE) for i in range(RING_SIZE)] + [(0, RING_SIZE)]
        for position, group in zip(SUBSTITUTED, self.groups, strict=True):
            if group is None:
                continue
            first = len(atoms)
            letters = FUNCTIONAL_GROUPS[group]
            atoms.extend(letters)
            bonds.append((position, first))
            bonds.extend((first, first + k) for k in range(1, len(letters)))
        return atoms, bonds


def macrocycle(unit: Unit, rings: int) -> Graph:
    """`rings` copies of `unit`, the ether oxygen of copy u bonded to position 3 of copy
    u + 1 (mod rings): one large ring; features one-hot over ATOMS, (N, 3)."""
    atoms, bonds = unit.atoms_and_bonds()
    size = len(atoms)
    edges = [(u * size + a, u * size + b) for u in range(rings) for a, b in bonds]  # copies
    edges += [(u * size + RING_SIZE, ((u + 1) % rings) * size + 3) for u in range(rings)]
    kinds = torch.tensor([ATOMS.index(atom) for atom in atoms * rings])
    x = F.one_hot(kinds, len(ATOMS)).float()
    return Graph(undirected(np.array(edges)), size * rings, x=x)


def macrocycles(units: Sequence[Unit]) -> tuple[list[Graph], Tensor]:
    """Every unit at every size of RING_COUNTS: (graphs, labels), label c for
    RING_COUNTS[c] rings."""
    graphs, labels = [], []
    for unit in units:
        for label, rings in enumerate(RING_COUNTS):
            graphs.append(macrocycle(unit, rings))
            labels.append(label)
    return graphs, torch.tensor(labels)


@DATASETS.register(
    "regular-graphs",
    DataCard(
        kind="graph",
        task="graph",
        input_size=(1,),
        num_classes=len(DEGREES),
        source="generated: random 2-, 3- and 4-regular graphs on 12 nodes (networkx), "
        "constant node features",
        licence="MIT (generated by deepnotes)",
    ),
)
def regular_graph_set(request: DataRequest) -> DataBundle:
    """100 training, 50 validation and 50 test graphs of each degree."""
    rng = np.random.default_rng(request.seed)
    splits = {split: regular_graphs([n] * len(DEGREES), rng) for split, n in SPLIT_SIZES}
    return graph_set_bundle("regular-graphs", splits, [f"{d}-regular" for d in DEGREES])


@DATASETS.register(
    "macrocycles",
    DataCard(
        kind="graph",
        task="graph",
        input_size=(len(ATOMS),),
        num_classes=len(RING_COUNTS),
        source="generated: rings of 2, 3 or 4 aryl units with random functional groups, "
        "joined by ether oxygens",
        licence="MIT (generated by deepnotes)",
    ),
)
def macrocycle_set(request: DataRequest) -> DataBundle:
    """100 training, 50 validation and 50 test units, each at every number of rings, every
    unit drawn afresh."""
    rng = np.random.default_rng(request.seed)
    splits = {split: macrocycles([Unit.random(rng) for _ in range(n)]) for split, n in SPLIT_SIZES}
    return graph_set_bundle("macrocycles", splits, [f"{k} rings" for k in RING_COUNTS])
