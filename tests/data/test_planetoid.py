"""Planetoid files: read as PyTorch Geometric reads them, and malformed ones refused in one line.

The reader is compared with `torch_geometric.io.read_planetoid_data` on the
shared Cora files and on small CiteSeer-style files written here in the same
format: Python 2 protocol-2 pickles of SciPy CSR matrices, NumPy arrays and a
defaultdict of neighbour lists, and a test.index whose gaps are isolated nodes
(CiteSeer's 15), which both readers pad with empty rows.
"""

from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch
from torch_geometric.io import read_planetoid_data
from torch_geometric.utils import to_undirected

from deepnotes.cli import main
from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.graphs import read_planetoid
from deepnotes.errors import UserError
from reference import rel_error

TRAIN, ALLX, TEST, GAPS, FEATURES, CLASSES = 12, 530, 40, 5, 10, 6


class Python2Pickler(pickle.Pickler):
    """Protocol 2 as Python 2 wrote the Planetoid files: an array's buffer a (latin-1) string,
    not bytes (which Python 3 writes through `_codecs.encode`)."""

    def reducer_override(self, obj: object) -> object:
        if type(obj) is not np.ndarray:
            return NotImplemented
        reconstruct, (cls, shape, _), (version, dims, dtype, fortran, raw) = obj.__reduce__()
        return reconstruct, (cls, shape, "b"), (version, dims, dtype, fortran, raw.decode("latin1"))


def write_pickle(path: Path, obj: object) -> None:
    """`obj` pickled as the Planetoid files are, with the module names of their day."""
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue()
    data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    path.write_bytes(data.replace(b"cscipy.sparse._csr\n", b"cscipy.sparse.csr\n"))


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES, dtype=np.int32)[labels]


def citeseer_files(folder: Path, seed: int = 0) -> dict:
    """Writes ind.citeseer.* into `folder`: ALLX nodes, then TEST test nodes spread over
    TEST + GAPS numbers, the gaps isolated; a graph with one-way entries, a duplicate and a
    self-loop. Returns the parts written, for a test to spoil one."""
    rng = np.random.default_rng(seed)

    def features(rows: int) -> scipy.sparse.csr_matrix:
        values = rng.random((rows, FEATURES)) * (rng.random((rows, FEATURES)) < 0.3)
        values[rows // 2] = 0  # a node without words: its row stays zero, not divided by 0
        return scipy.sparse.csr_matrix(values.astype(np.float32))

    allx = features(ALLX)
    ally = one_hot(
        np.concatenate([np.arange(TRAIN) % CLASSES, rng.integers(CLASSES, size=ALLX - TRAIN)])
    )
    numbers = ALLX + np.arange(TEST + GAPS)
    gaps = rng.choice(numbers[1:-1], GAPS, replace=False)  # inside: the first and last test
    order = rng.permutation(np.setdiff1d(numbers, gaps))  # test.index: not sorted
    graph = collections.defaultdict(list)
    linked = np.setdiff1d(np.arange(ALLX + TEST + GAPS), gaps)
    for u, v in rng.choice(linked, (900, 2)):
        graph[int(u)].append(int(v))
        if rng.random() < 0.9:  # most entries both ways, as in the real files
            graph[int(v)].append(int(u))
    graph[3] += [3, 7, 7]  # a self-loop and a duplicate
    for node in range(ALLX + TEST + GAPS):
        graph.setdefault(node, [])  # every node a key, the gaps with no neighbours
    parts = {
        "x": allx[:TRAIN],
        "y": ally[:TRAIN],
        "tx": features(TEST),
        "ty": one_hot(rng.integers(CLASSES, size=TEST)),
        "allx": allx,
        "ally": ally,
        "graph": graph,
    }
    for part, obj in parts.items():
        write_pickle(folder / f"ind.citeseer.{part}", obj)
    write_test_index(folder, [int(n) for n in order])
    return {**parts, "test.index": [int(n) for n in order]}


def write_test_index(folder: Path, order: list[int]) -> None:
    (folder / "ind.citeseer.test.index").write_text("".join(f"{n}\n" for n in order))


def sorted_edges(edge_index: torch.Tensor) -> torch.Tensor:
    key = edge_index[0] * (edge_index.max() + 1) + edge_index[1]
    return edge_index[:, key.argsort()]


@pytest.fixture(params=["cora", "citeseer"])
def planetoid_folder(request, tmp_path) -> tuple[Path, str]:
    """The shared Cora files, or generated CiteSeer-style files with isolated test nodes."""
    if request.param == "cora":
        return request.getfixturevalue("shared_data") / "planetoid", "cora"
    citeseer_files(tmp_path)
    return tmp_path, "citeseer"


def test_the_graph_is_pytorch_geometrics(planetoid_folder):
    """Features (row-normalised, as Kipf & Welling), labels, edges (both directions, no
    self-loops or duplicates) and the public train / val / test masks, node for node."""
    folder, name = planetoid_folder
    ours = read_planetoid(folder, name)
    theirs = read_planetoid_data(str(folder), name)
    features = ours.x.to_dense()
    assert ours.x.is_sparse and torch.equal(features != 0, theirs.x != 0)
    normalised = theirs.x / theirs.x.sum(1, keepdim=True).clamp(min=1e-12)
    # float32 division of the same numbers, the row sums added in another order: 4e-8
    # measured on five seeds (0 on Cora, whose counts add exactly)
    assert rel_error(features, normalised) <= 1e-7
    assert torch.equal(ours.y, theirs.y)
    both_ways = to_undirected(theirs.edge_index, num_nodes=theirs.num_nodes)
    assert torch.equal(sorted_edges(ours.edge_index), sorted_edges(both_ways))
    for split in ("train", "val", "test"):
        assert torch.equal(ours.masks[split], theirs[f"{split}_mask"]), split
    assert ours.info == {"nodes": theirs.num_nodes, "edges": both_ways.shape[1]}


def spoil(part: str, change: Callable[[dict], object]) -> Callable[[Path, dict], Path]:
    """A case: `part` rewritten as `change(parts)` returns it (bytes as they are, a list as
    test.index lines, anything else pickled); returns the spoiled file."""

    def apply(folder: Path, parts: dict) -> Path:
        path = folder / f"ind.citeseer.{part}"
        new = change(parts)
        if isinstance(new, bytes):
            path.write_bytes(new)
        elif part == "test.index":
            write_test_index(folder, new)
        else:
            write_pickle(path, new)
        return path

    return apply


def unlinked(folder: Path, parts: dict) -> Path:
    path = folder / "ind.citeseer.test.index"
    path.unlink()
    return path


def too_few_for_validation(folder: Path, parts: dict) -> Path:
    """allx and ally of TRAIN + 499 nodes: one short of the 500 validation nodes."""
    write_pickle(folder / "ind.citeseer.ally", parts["ally"][: TRAIN + 499])
    spoil("allx", lambda p: p["allx"][: TRAIN + 499])(folder, parts)
    return folder / "ind.citeseer.allx"


def pickled(folder: Path, part: str) -> bytes:
    return (folder / f"ind.citeseer.{part}").read_bytes()


def with_entry(graph: dict, node: object, neighbours: object) -> dict:
    changed = dict(graph)
    changed[node] = neighbours
    return changed


def with_missing_index(matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    broken = matrix.copy()
    broken.indices = broken.indices[:-1]  # indptr now points past the end
    return broken


def with_nan(matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    broken = matrix.copy()
    broken.data[0] = np.nan
    return broken


def replaced(order: list[int], old: int, new: int) -> list[int]:
    return [new if n == old else n for n in order]


LIST_OF_5 = b"\x80\x02c__builtin__\nlist\nK\x05\x85R."  # list(5): a TypeError on loading
DEFAULTDICT_OF_5 = b"\x80\x02ccollections\ndefaultdict\nK\x05\x85R."  # 5 is no factory

MALFORMED = {
    "graph-list(5)": (spoil("graph", lambda p: LIST_OF_5), "accepts: 'int' object is not iter"),
    "graph-defaultdict(5)": (spoil("graph", lambda p: DEFAULTDICT_OF_5), "must be callable"),
    "x-a-list": (spoil("x", lambda p: [[1.0, 0.0]]), "holds a list, not the SciPy CSR"),
    "y-a-dict": (spoil("y", lambda p: {0: 1}), "holds a dict, not the 2-D array"),
    "ally-1-D": (spoil("ally", lambda p: p["ally"].argmax(1)), "holds a 1-D array of int"),
    "ty-strings": (spoil("ty", lambda p: p["ty"].astype(str)), "labels that are not finite"),
    "tx-nan": (spoil("tx", lambda p: with_nan(p["tx"])), "features that are not finite"),
    "tx-bad-csr": (spoil("tx", lambda p: with_missing_index(p["tx"])), "malformed sparse"),
    "graph-a-list": (spoil("graph", lambda p: [[1], [0]]), "holds a list, not a dict"),
    "graph-int-neighbours": (
        spoil("graph", lambda p: with_entry(p["graph"], 4, 7)),
        "maps 4 to 7; its entries must be nodes 0–574",
    ),
    "graph-string-node": (
        spoil("graph", lambda p: with_entry(p["graph"], "a", [1])),
        "maps 'a' to \\[1\\]",
    ),
    "graph-node-beyond": (
        spoil("graph", lambda p: with_entry(p["graph"], 4, [5, 10**6])),
        "maps 4 to \\[5, 1000000\\]",
    ),
    "allx-truncated": (
        spoil("allx", lambda p: p["allx_bytes"][: len(p["allx_bytes"]) // 2]),
        "is not a Planetoid file this reader accepts",
    ),
    "tx-empty": (spoil("tx", lambda p: b""), "accepts: Ran out of input"),
    "x-y-rows": (spoil("y", lambda p: p["y"][:-1]), "labels 11 nodes, .*ind.citeseer.x has 12"),
    "allx-ally-rows": (
        spoil("ally", lambda p: p["ally"][:-1]),
        "labels 529 nodes, .*ind.citeseer.allx has 530",
    ),
    "tx-columns": (
        spoil("tx", lambda p: scipy.sparse.hstack([p["tx"], p["tx"][:, :1]], format="csr")),
        "11 feature and 6 class columns, .* 10 and 6: they must agree",
    ),
    "too-few-for-validation": (too_few_for_validation, "has 511 nodes, too few for the public"),
    "test.index-words": (spoil("test.index", lambda p: b"541\nseven\n"), "line, not 'seven'"),
    "test.index-negative": (spoil("test.index", lambda p: b"-3\n"), "line, not '-3'"),
    "test.index-binary": (spoil("test.index", lambda p: b"\xff\xfe\x00"), "a line, not"),
    "test.index-missing": (unlinked, "cannot read .*: No such file or directory"),
    "test.index-empty": (spoil("test.index", lambda p: b"\n"), "lists no test nodes"),
    "test.index-short": (spoil("test.index", lambda p: p["test.index"][1:]), "lists 39 test"),
    "test.index-twice": (
        spoil(
            "test.index",
            lambda p: replaced(p["test.index"], p["test.index"][0], p["test.index"][1]),
        ),
        "lists node [0-9]+ twice",
    ),
    "test.index-inside-allx": (
        spoil("test.index", lambda p: replaced(p["test.index"], min(p["test.index"]), 5)),
        "starts at node 5; the test nodes follow the 530",
    ),
    "test.index-beyond-graph": (
        spoil("test.index", lambda p: replaced(p["test.index"], max(p["test.index"]), 10**9)),
        "names node 1000000000, beyond the 575 nodes of",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_file_is_one_error_naming_it(tmp_path, case):
    parts = citeseer_files(tmp_path)
    parts["allx_bytes"] = pickled(tmp_path, "allx")
    read_planetoid(tmp_path, "citeseer")  # whole, the files are read
    spoiler, reason = MALFORMED[case]
    path = spoiler(tmp_path, parts)
    with pytest.raises(UserError, match=reason) as refusal:
        read_planetoid(tmp_path, "citeseer")
    message = str(refusal.value)
    assert str(path) in message and "\n" not in message


def test_citeseer_and_pubmed_files_must_match_their_checksums(tmp_path, capsys):
    """The registered sets check every file's published SHA-256 first: files of the right
    form but other bytes end in one line before anything is unpickled."""
    (tmp_path / "planetoid").mkdir()
    citeseer_files(tmp_path / "planetoid")
    with pytest.raises(UserError, match=r"ind\.citeseer\.\w+ does not match its SHA-256"):
        load_data("citeseer", DataRequest(roots=(tmp_path,)))
    argv = ["train", "gcn", "--data", "citeseer", "--data-dir", str(tmp_path), "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--no-progress"]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "SHA-256" in lines[0]
    for part in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"):
        (tmp_path / "planetoid" / f"ind.citeseer.{part}").rename(
            tmp_path / "planetoid" / f"ind.pubmed.{part}"
        )
    with pytest.raises(UserError, match=r"ind\.pubmed\.\w+ does not match its SHA-256"):
        load_data("pubmed", DataRequest(roots=(tmp_path,)))
