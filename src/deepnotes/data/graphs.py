"""Graphs to classify nodes on: Zachary's karate club, a stochastic block model, Planetoid.

A graph data set is one graph, trained on full-batch: every "batch" is the whole
graph, (x, edge_index, y, mask), the mask picking the split's nodes.

    karate    Zachary's karate club (networkx): 34 members, 78 friendships, the two
              factions after the split as classes; one-hot features (no attributes)
    sbm       a stochastic block model: 4 communities of 50, edges inside with
              probability 0.1, across with 0.01; noisy one-hot community features
    cora, citeseer, pubmed
              Planetoid citation graphs (Yang et al. 2016), bag-of-words features
              (row-normalised, as Kipf & Welling) as a sparse tensor, the public
              split of 20 labelled nodes per class, 500 validation and 1,000 test nodes

The Planetoid files are Python pickles, and a pickle can run any code when
loaded. They are read with `RestrictedUnpickler`, which admits only the NumPy
and SciPy types these files hold and refuses anything else before it is built;
Cora's files must also match the SHA-256 sums of the shared data's README.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse
import torch

from deepnotes.cards import DataCard
from deepnotes.data.base import Batching, DataBundle, DataRequest
from deepnotes.errors import UserError
from deepnotes.registry import DATASETS

PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")
CORA_SHA256 = {
    "allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
    "ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
    "graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
    "test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    "tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
    "ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
    "x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
    "y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
}


@dataclass
class GraphBundle(DataBundle):
    """One graph with node features, labels and a boolean node mask per split."""

    joins_splits: ClassVar[bool] = False  # a split's batches are made from it alone

    x: torch.Tensor | None = None  # (N, F), dense or sparse COO
    edge_index: torch.Tensor | None = None  # (2, E)
    y: torch.Tensor | None = None  # (N,)
    masks: dict[str, torch.Tensor] | None = None  # split → (N,) bool

    def batches(self, split: str, how: Batching) -> list:
        """The whole graph as the only batch, with the split's mask (full batch: `how` is
        not used)."""
        return [(self.x, self.edge_index, self.y, self.masks[split])]


def graph_bundle(
    name: str,
    x: torch.Tensor,
    edge_index: torch.Tensor,
    y: torch.Tensor,
    masks: dict[str, torch.Tensor],
    classes: list[str],
) -> GraphBundle:
    return GraphBundle(
        name=name,
        kind="graph",
        splits={s: torch.nonzero(m).flatten() for s, m in masks.items()},  # node indices
        input_size=(x.shape[1],),
        num_classes=len(classes),
        classes=classes,
        info={"nodes": len(x), "edges": edge_index.shape[1]},
        x=x,
        edge_index=edge_index,
        y=y,
        masks=masks,
    )


def undirected(edges: np.ndarray) -> torch.Tensor:
    """Both directions of every edge, duplicates and self-loops removed: (2, E)."""
    both = np.concatenate([edges, edges[:, ::-1]])
    both = both[both[:, 0] != both[:, 1]]
    unique = np.unique(both, axis=0)
    return torch.as_tensor(unique.T.copy(), dtype=torch.long)


def random_masks(
    num_nodes: int, fractions: tuple[float, float], seed: int
) -> dict[str, torch.Tensor]:
    """Train / val / test node masks drawn with the data seed; fractions are (train, val)."""
    order = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(seed))
    cut1, cut2 = (round(f * num_nodes) for f in (fractions[0], fractions[0] + fractions[1]))
    masks = {}
    for split, nodes in (
        ("train", order[:cut1]),
        ("val", order[cut1:cut2]),
        ("test", order[cut2:]),
    ):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[nodes] = True
        masks[split] = mask
    return masks


@DATASETS.register(
    "karate",
    DataCard(
        kind="graph",
        task="node",
        input_size=(34,),
        num_classes=2,
        source="Zachary (1977), through networkx.karate_club_graph",
        licence="public data (networkx, BSD)",
        present=None,
    ),
)
def karate(request: DataRequest) -> GraphBundle:
    """34 members, one-hot features; classes: the two clubs after the split."""
    import networkx as nx

    club = nx.karate_club_graph()
    edges = np.array(club.edges())
    y = torch.tensor([club.nodes[n]["club"] != "Mr. Hi" for n in club.nodes], dtype=torch.long)
    masks = random_masks(34, (0.3, 0.2), request.seed)
    return graph_bundle("karate", torch.eye(34), undirected(edges), y, masks, ["Mr. Hi", "Officer"])


@DATASETS.register(
    "sbm",
    DataCard(
        kind="graph",
        task="node",
        input_size=(4,),
        num_classes=4,
        source="generated: a stochastic block model, 4 blocks of 50, p_in 0.1, p_out 0.01",
        licence="MIT (generated by deepnotes)",
        present=None,
    ),
)
def sbm(request: DataRequest) -> GraphBundle:
    """Communities as classes; features are the one-hot community, 60% of them replaced by noise."""
    rng = np.random.default_rng(request.seed)
    blocks, size = 4, 50
    community = np.repeat(np.arange(blocks), size)
    same = community[:, None] == community[None, :]
    probability = np.where(same, 0.1, 0.01)
    upper = np.triu(rng.random((blocks * size, blocks * size)) < probability, k=1)
    edges = np.argwhere(upper)
    x = np.eye(blocks)[community]
    noisy = rng.random(blocks * size) < 0.6
    x[noisy] = rng.dirichlet(np.ones(blocks), noisy.sum())
    masks = random_masks(blocks * size, (0.2, 0.2), request.seed)
    classes = [f"community {k}" for k in range(blocks)]
    return graph_bundle(
        "sbm",
        torch.as_tensor(x, dtype=torch.float32),
        undirected(edges),
        torch.as_tensor(community),
        masks,
        classes,
    )


class RestrictedUnpickler(pickle.Unpickler):
    """Loads only the NumPy arrays, SciPy CSR matrices and dicts of lists of Planetoid files;
    any other global a pickle asks for (os.system, builtins.eval, …) is refused unbuilt."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
            ("scipy.sparse.csr", "csr_matrix"): scipy.sparse.csr_matrix,
            ("collections", "defaultdict"): __import__("collections").defaultdict,
            ("__builtin__", "list"): list,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: Planetoid files hold only NumPy arrays, "
                "SciPy matrices and lists"
            )
        return allowed[(module, name)]


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def read_pickle(path: Path) -> Any:
    """A Planetoid pickle through `RestrictedUnpickler`; a refusal is one clear error."""
    try:
        return RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise UserError(f"{path} is not a Planetoid file this reader accepts: {e}") from None


def check_sha256(folder: Path, name: str, expected: dict[str, str]) -> None:
    for part, digest in expected.items():
        path = folder / f"ind.{name}.{part}"
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise UserError(f"{path} does not match its SHA-256 checksum; get the file again")


def planetoid_present(name: str) -> Any:
    """Whether a data root holds every Planetoid file of `name` (existence only)."""

    def present(root: Path) -> bool:
        return all((root / "planetoid" / f"ind.{name}.{p}").is_file() for p in PLANETOID_PARTS)

    return present


def planetoid(name: str, request: DataRequest, checksums: dict[str, str] | None) -> GraphBundle:
    """Kipf & Welling's `load_data`: features and labels of the test nodes put in their order."""

    folder = request.find(name, planetoid_present(name)) / "planetoid"
    if checksums:
        check_sha256(folder, name, checksums)
    x, y, tx, ty, allx, ally, graph = (
        read_pickle(folder / f"ind.{name}.{p}") for p in PLANETOID_PARTS
    )
    test_order = np.loadtxt(folder / f"ind.{name}.test.index", dtype=np.int64)
    test_sorted = np.sort(test_order)
    if name == "citeseer":  # isolated test nodes have no rows: pad tx and ty with zeros
        full = np.arange(test_sorted.min(), test_sorted.max() + 1)
        tx_full = scipy.sparse.lil_matrix((len(full), x.shape[1]))
        tx_full[test_sorted - test_sorted.min(), :] = tx
        ty_full = np.zeros((len(full), y.shape[1]))
        ty_full[test_sorted - test_sorted.min(), :] = ty
        tx, ty = tx_full, ty_full
    features = scipy.sparse.vstack([allx, tx]).tolil()
    features[test_order, :] = features[test_sorted, :]
    labels = np.vstack([ally, ty])
    labels[test_order, :] = labels[test_sorted, :]
    num_nodes = features.shape[0]
    features = np.asarray(features.todense(), dtype=np.float32)
    features /= np.maximum(features.sum(1, keepdims=True), 1e-12)  # row-normalised
    edges = np.array([(u, v) for u, neighbours in graph.items() for v in neighbours])
    masks = {}
    for split, nodes in (
        ("train", np.arange(len(y))),
        ("val", np.arange(len(y), len(y) + 500)),
        ("test", test_sorted),
    ):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.as_tensor(nodes)] = True
        masks[split] = mask
    classes = [f"class {k}" for k in range(labels.shape[1])]
    return graph_bundle(
        name,
        torch.as_tensor(features).to_sparse(),  # Cora: 1.3% non-zero
        undirected(edges),
        torch.as_tensor(labels.argmax(1)),
        masks,
        classes,
    )


for _name, _classes, _features, _sums in (
    ("cora", 7, 1433, CORA_SHA256),
    ("citeseer", 6, 3703, None),
    ("pubmed", 3, 500, None),
):

    def _build(request: DataRequest, name: str = _name, sums: dict | None = _sums) -> GraphBundle:
        return planetoid(name, request, sums)

    _build.__doc__ = f"The Planetoid {_name} citation graph with its public split."
    DATASETS.register(
        _name,
        DataCard(
            kind="graph",
            task="node",
            input_size=(_features,),
            num_classes=_classes,
            source="Planetoid (Yang, Cohen, Salakhutdinov 2016), tkipf/gcn data files",
            licence="MIT (the repository)",
            present=planetoid_present(_name),
        ),
    )(_build)
