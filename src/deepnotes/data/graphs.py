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
each file must also match its published SHA-256 (`PLANETOID_SHA256`). What the
pickles hold is checked before use (types, shapes, node numbers), so that a
malformed file ends in one error naming it.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import reprlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse
import torch

from deepnotes.cards import DataCard
from deepnotes.data.base import Batching, DataBundle, DataRequest
from deepnotes.errors import UserError
from deepnotes.io import one_line
from deepnotes.registry import DATASETS

PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
VALIDATION_NODES = 500  # the public split's, after the training nodes
# SHA-256 of kimiyoung/planetoid's data/ind.NAME.PART (commit af6abf4), the files tkipf/gcn
# and PyG read. Cora's are also those of the shared data's SHA256SUMS; CiteSeer's and
# PubMed's as skygazer42/sky-vgl records them to verify its downloads from that commit
# (vgl/data/public.py, `_PLANETOID_RAW_SHA256`, at its commit 7cbb28d).
PLANETOID_SHA256 = {
    "cora": {
        "allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
        "graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
        "tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
        "x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    },
    "citeseer": {
        "allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
        "ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
        "graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
        "test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
        "tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
        "ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
        "x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
        "y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
    },
    "pubmed": {
        "allx": "508e538e2abdccdd54c4d3e9f49d638b4af7107d85845f66ddea5a5152658b7e",
        "ally": "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e",
        "graph": "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9",
        "test.index": "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5",
        "tx": "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d",
        "ty": "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd",
        "x": "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33",
        "y": "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3",
    },
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


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or one_line(e)}") from None


def read_pickle(path: Path) -> Any:
    """A Planetoid pickle through `RestrictedUnpickler`; a refusal is one clear error."""
    data = read_bytes(path)
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as e:  # a refused global, a truncated file, or what an allowed class
        # raises on the file's arguments (list(5): TypeError): the only code a pickle runs here
        raise UserError(
            f"{path} is not a Planetoid file this reader accepts: {one_line(e)}"
        ) from None


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.ndim}-D array of {value.dtype}"
    return f"a {type(value).__name__}"


def read_features(path: Path) -> scipy.sparse.csr_matrix:
    """x, tx or allx: a SciPy CSR matrix of finite numbers, one row per node (float32)."""
    matrix = read_pickle(path)
    if not isinstance(matrix, scipy.sparse.csr_matrix):
        raise UserError(f"{path} holds {_kind(matrix)}, not the SciPy CSR matrix of features")
    try:  # unpickled without its constructor: the arrays may not describe a matrix
        matrix.check_format(full_check=True)
        numeric = matrix.dtype.kind in "biuf"
    except Exception as e:
        raise UserError(f"{path} holds a malformed sparse matrix: {one_line(e)}") from None
    if not numeric or not np.isfinite(matrix.data).all():
        raise UserError(f"{path} holds features that are not finite numbers")
    return matrix.astype(np.float32)


def read_labels(path: Path) -> np.ndarray:
    """y, ty or ally: a 2-D array of finite numbers, a one-hot row per node."""
    labels = read_pickle(path)
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.shape[1] == 0:
        raise UserError(f"{path} holds {_kind(labels)}, not the 2-D array of one-hot labels")
    if labels.dtype.kind not in "biuf" or not np.isfinite(labels).all():
        raise UserError(f"{path} holds labels that are not finite numbers")
    return labels


def read_graph(path: Path) -> dict:
    graph = read_pickle(path)
    if not isinstance(graph, dict):
        raise UserError(f"{path} holds {_kind(graph)}, not a dict of neighbour lists")
    return graph


def read_test_index(path: Path) -> list[int]:
    """The test nodes, one number a line, in the order of the rows of tx and ty."""
    words = read_bytes(path).split()
    bad = [w for w in words if not w.isdigit()]
    if bad:
        word = bad[0].decode("ascii", "replace")
        raise UserError(f"{path} must hold one node number a line, not {reprlib.repr(word)}")
    if not words:
        raise UserError(f"{path} lists no test nodes")
    return [int(w) for w in words]


def graph_edges(graph: dict, path: Path, num_nodes: int) -> np.ndarray:
    """The edges u → v of a dict of neighbour lists, (E, 2); every node a number below
    num_nodes."""

    def is_node(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < num_nodes

    edges = []
    for u, neighbours in graph.items():
        if not (is_node(u) and isinstance(neighbours, list) and all(map(is_node, neighbours))):
            raise UserError(
                f"{path} maps {reprlib.repr(u)} to {reprlib.repr(neighbours)}; its entries must "
                f"be nodes 0–{num_nodes - 1}, each with a list of neighbours among them"
            )
        edges.extend((u, v) for v in neighbours)
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def check_sha256(folder: Path, name: str, expected: dict[str, str]) -> None:
    for part, digest in expected.items():
        path = folder / f"ind.{name}.{part}"
        if hashlib.sha256(read_bytes(path)).hexdigest() != digest:
            raise UserError(f"{path} does not match its SHA-256 checksum; get the file again")


def read_planetoid(folder: Path, name: str) -> GraphBundle:
    """The graph of `folder`/ind.`name`.* as Kipf & Welling's `load_data` and PyG's
    `read_planetoid_data` build it, each file checked first (one clear error, naming it).

    allx (and ally) hold the first nodes, the labelled x (y) at their start: the
    public split trains on those len(y) nodes and validates on the 500 after them.
    tx and ty hold the test nodes, row k for node test.index[k]; the test nodes
    follow allx's. CiteSeer's test.index skips 15 isolated nodes, which have no
    row: they get zero features, label 0 (class 0) and no split, as in both readers.
    """

    def file(part: str) -> Path:
        return folder / f"ind.{name}.{part}"

    x, tx, allx = (read_features(file(p)) for p in ("x", "tx", "allx"))
    y, ty, ally = (read_labels(file(p)) for p in ("y", "ty", "ally"))
    graph = read_graph(file("graph"))
    order = read_test_index(file("test.index"))
    for (f, features), (lab, labels) in zip(
        (("x", x), ("tx", tx), ("allx", allx)), (("y", y), ("ty", ty), ("ally", ally)), strict=True
    ):
        if features.shape[0] != len(labels):
            raise UserError(
                f"{file(lab)} labels {len(labels)} nodes, {file(f)} has {features.shape[0]} rows"
            )
        if features.shape[1] != x.shape[1] or labels.shape[1] != y.shape[1]:
            raise UserError(
                f"{file(f)} and {file(lab)} have {features.shape[1]} feature and "
                f"{labels.shape[1]} class columns, {file('x')} and {file('y')} "
                f"{x.shape[1]} and {y.shape[1]}: they must agree"
            )
    first_test = allx.shape[0]  # the test nodes follow allx's
    if len(y) == 0 or len(y) + VALIDATION_NODES > first_test:
        raise UserError(
            f"{file('allx')} has {first_test} nodes, too few for the public split: the "
            f"{len(y)} training nodes of {file('y')} (at least one) and {VALIDATION_NODES} "
            "validation nodes after them"
        )
    test = file("test.index")
    if len(order) != tx.shape[0]:
        raise UserError(f"{test} lists {len(order)} test nodes, {file('tx')} has {tx.shape[0]}")
    if len(set(order)) != len(order):
        twice = next(n for n, count in Counter(order).items() if count > 1)
        raise UserError(f"{test} lists node {twice} twice")
    if min(order) != first_test:
        raise UserError(
            f"{test} starts at node {min(order)}; the test nodes follow the {first_test} of "
            f"{file('allx')}"
        )
    if max(order) >= len(graph):
        raise UserError(
            f"{test} names node {max(order)}, beyond the {len(graph)} nodes of {file('graph')}"
        )
    num_nodes = max(order) + 1
    edges = graph_edges(graph, file("graph"), num_nodes)
    rows = np.array(order) - first_test  # where each row of tx and ty goes, after allx
    place = scipy.sparse.csr_matrix(
        (np.ones(len(order)), (rows, np.arange(len(order)))), (num_nodes - first_test, len(order))
    )
    features = scipy.sparse.vstack([allx, place @ tx], format="csr", dtype=np.float32)
    features.sum_duplicates()
    sums = np.maximum(np.asarray(features.sum(1)).ravel(), np.float32(1e-12))
    features.data /= np.repeat(sums, np.diff(features.indptr))  # row-normalised
    features.eliminate_zeros()
    labels = np.vstack([ally, place @ ty])
    masks = {}
    for split, nodes in (
        ("train", np.arange(len(y))),
        ("val", np.arange(len(y), len(y) + VALIDATION_NODES)),
        ("test", np.array(order)),
    ):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.as_tensor(nodes)] = True
        masks[split] = mask
    classes = [f"class {k}" for k in range(labels.shape[1])]
    return graph_bundle(
        name,
        sparse_tensor(features),  # Cora: 1.3% non-zero
        undirected(edges),
        torch.as_tensor(labels.argmax(1)),
        masks,
        classes,
    )


def sparse_tensor(matrix: scipy.sparse.csr_matrix) -> torch.Tensor:
    """A SciPy matrix as a coalesced torch sparse COO tensor."""
    coo = matrix.tocoo()
    indices = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    values = torch.as_tensor(coo.data)
    return torch.sparse_coo_tensor(indices, values, coo.shape, check_invariants=True).coalesce()


def planetoid(name: str, request: DataRequest) -> GraphBundle:
    """The registered cora, citeseer and pubmed: the files found, their checksums checked."""
    folder = request.find(name) / "planetoid"
    check_sha256(folder, name, PLANETOID_SHA256[name])
    return read_planetoid(folder, name)


for _name, _classes, _features in (("cora", 7, 1433), ("citeseer", 6, 3703), ("pubmed", 3, 500)):

    def _build(request: DataRequest, name: str = _name) -> GraphBundle:
        return planetoid(name, request)

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
            files=tuple(f"planetoid/ind.{_name}.{part}" for part in PLANETOID_PARTS),
        ),
    )(_build)
