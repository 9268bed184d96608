"""Data sets: the registry's contract, seeded splits, conversions, and finding files on disk.

Embedded and generated sets are built for real. The torchvision sets are read
by torchvision's own loaders from tiny files written here in its exact on-disk
format (idx files for MNIST, MD5-checked pickles for CIFAR-10), so the test
needs no network and no large download.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets.utils
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets
from torchvision.transforms.v2 import functional as TF

from deepnotes.data.base import DataBundle, DataRequest, TensorBatches, split_indices
from deepnotes.data.synthetic import NUM_IMAGES, NUM_POINTS, SHAPES, draw_shape, shape_mask
from deepnotes.data.torchvision_sets import CIFAR10, FASHION_MNIST, MNIST, VAL_FRACTION
from deepnotes.errors import DataNotFoundError, UserError
from deepnotes.io import data_roots
from deepnotes.registry import DATASETS, TASKS

CLASSIFICATION = [n for n in DATASETS.names() if DATASETS.card(n).task == "classification"]
GENERATED = [n for n in CLASSIFICATION if not DATASETS.card(n).files]
ON_DISK = [n for n in DATASETS.names() if DATASETS.card(n).files]
# the tasks data sets are made for: every one has a registered task that trains on it
TASKS_OF_DATA = {t.data_tasks[0] for t in map(TASKS.create, TASKS.names()) if t.data_tasks}
TORCHVISION_SETS = ["mnist", "fashion-mnist", "cifar10"]


def build(name: str, **request: object) -> DataBundle:
    return DATASETS.get(name).builder(DataRequest(**request))


def tensors(bundle: DataBundle, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The (inputs, labels) tensors behind one split."""
    return bundle.splits[split].tensors


# --- the registry's contract -------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_data_set_declares_its_card(name: str) -> None:
    card = DATASETS.card(name)
    assert card.kind in {"images", "vectors", "text", "graph", "audio", "translation"}
    assert card.task in TASKS_OF_DATA and isinstance(card.input_size, tuple)
    assert card.num_classes is None or card.num_classes >= 2
    if card.kind in {"images", "vectors"}:
        assert len(card.input_size) == (3 if card.kind == "images" else 1)
    assert card.source and card.licence
    assert isinstance(card.files, tuple) and all(isinstance(f, str) for f in card.files)


def test_the_expected_sets_are_registered() -> None:
    assert {"digits", "blobs", "moons", "shapes"} <= set(GENERATED)
    assert set(TORCHVISION_SETS) <= set(ON_DISK)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_set_matches_its_card(name: str) -> None:
    card = DATASETS.card(name)
    bundle = build(name, roots=())
    assert bundle.name == name and bundle.kind == card.kind
    assert bundle.input_size == card.input_size
    assert bundle.num_classes == card.num_classes == len(bundle.classes)
    assert set(bundle.splits) == {"train", "val", "test"}
    rows = {}
    for split in bundle.splits:
        x, y = tensors(bundle, split)
        assert x.dtype == torch.float32 and y.dtype == torch.long
        assert tuple(x.shape[1:]) == card.input_size
        assert len(x) == len(y) > 0
        assert y.min() >= 0 and y.max() < card.num_classes
        assert set(y.tolist()) == set(range(card.num_classes))  # stratified: all classes
        rows[split] = {row.numpy().tobytes() for row in x}
        assert len(rows[split]) == len(x)  # no example twice within a split
    assert not rows["train"] & rows["val"]
    assert not rows["train"] & rows["test"]
    assert not rows["val"] & rows["test"]


@pytest.mark.parametrize(
    ("name", "total"),
    [
        ("digits", len(load_digits().target)),
        ("blobs", NUM_POINTS),
        ("moons", NUM_POINTS),
        ("shapes", NUM_IMAGES),
    ],
)
def test_split_sizes_add_up(name: str, total: int) -> None:
    sizes = {s: len(d) for s, d in build(name, roots=()).splits.items()}
    assert sum(sizes.values()) == total
    assert sizes["val"] == pytest.approx(0.2 * total, abs=10)  # 20 % per class, rounded
    assert sizes["test"] == pytest.approx(0.2 * total, abs=10)


@pytest.mark.parametrize("name", GENERATED)
def test_the_data_seed_fixes_data_and_splits(name: str) -> None:
    first, again, other = (build(name, roots=(), seed=s) for s in (0, 0, 1))
    for split in first.splits:
        for a, b in zip(tensors(first, split), tensors(again, split), strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(tensors(first, "test")[0], tensors(other, "test")[0])


# --- conversions and normalisation -------------------------------------------------------


def test_digits_resized_and_given_three_channels() -> None:
    bundle = build("digits", roots=(), image_size=(28, 28), channels=3, normalize=False)
    x, _ = tensors(bundle, "train")
    assert bundle.input_size == (3, 28, 28) and x.shape[1:] == (3, 28, 28)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])  # grey in every channel
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_raw_digits_are_scaled_to_unit_range() -> None:
    x, _ = tensors(build("digits", roots=(), normalize=False), "train")
    assert x.min() == 0.0 and x.max() == 1.0  # 0..16 divided by 16


@pytest.mark.parametrize(("name", "channels"), [("digits", None), ("shapes", 3)])
def test_images_normalised_by_training_statistics(name: str, channels: int | None) -> None:
    bundle = build(name, roots=(), channels=channels)
    x, _ = tensors(bundle, "train")
    mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-4)
    assert torch.allclose(std, torch.ones_like(std), atol=1e-4)
    assert bundle.info["normalized"] and len(bundle.info["mean"]) == x.shape[1]


@pytest.mark.parametrize("name", ["blobs", "moons"])
def test_vectors_standardised_by_training_statistics(name: str) -> None:
    bundle = build(name, roots=())
    x, _ = tensors(bundle, "train")
    assert torch.allclose(x.mean(dim=0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x.std(dim=0), torch.ones(2), atol=1e-5)
    raw, _ = tensors(build(name, roots=(), normalize=False), "train")
    assert torch.allclose(raw.mean(dim=0), torch.tensor(bundle.info["mean"]))


# --- drawing shapes ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_draw_shape_returns_the_image_and_its_mask(shape: str) -> None:
    image, mask = draw_shape(shape, np.random.default_rng(0))
    assert image.shape == mask.shape == (28, 28)
    assert image.dtype == np.float32 and mask.dtype == bool
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert 0 < mask.sum() < mask.size
    assert image[mask].mean() > image[~mask].mean() + 0.2  # the shape is brighter


def test_shape_masks_are_the_expected_geometry() -> None:
    centre, r = (50.0, 50.0), 40.0  # large, so pixel counts approximate areas closely
    masks = {s: shape_mask(s, (100, 100), centre, r) for s in SHAPES}
    half_width = r / 4
    half_length = math.sqrt(r**2 - half_width**2)
    areas = {
        "circle": math.pi * r**2,
        "square": 2 * r**2,  # inscribed in the circle: side r√2
        "triangle": 3 * math.sqrt(3) / 4 * r**2,  # equilateral, inscribed
        "cross": 8 * half_width * half_length - 4 * half_width**2,  # two bars minus their overlap
    }
    for shape, mask in masks.items():
        assert mask[50, 50]  # every shape covers its centre
        assert mask.sum() == pytest.approx(areas[shape], rel=0.03), shape
    assert masks["triangle"][12, 50] and not masks["triangle"][12, 40]  # apex at the top
    assert masks["triangle"][65, 50] and not masks["triangle"][75, 50]  # base at y = 50 + r/2
    assert masks["cross"][50, 12] and not masks["cross"][20, 20]  # arms, but no corners
    with pytest.raises(ValueError, match="unknown shape"):
        shape_mask("star", (100, 100), centre, r)


# --- torchvision's on-disk formats, written tiny -----------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed idx file: magic (0x08 = uint8, then the number of dims), sizes, bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    magic = 0x0800 + array.ndim  # 2051 for images (N, H, W), 2049 for labels (N,)
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)  # big-endian
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, fill: int | None = None) -> dict[str, np.ndarray]:
    """Tiny MNIST-style files under `root/folder/raw`: 100 train and 10 test images."""
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", 100), ("t10k", 10)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        if fill is not None:
            images[:] = fill  # marks which root was read
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[f"{prefix}-images"], arrays[f"{prefix}-labels"] = images, labels
    return arrays


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root: Path) -> dict[str, np.ndarray]:
    """Tiny CIFAR-10 batches, pickled as the originals (Python 2 str keys read back as str).

    Each row of "data" is 3,072 bytes: the 32×32 red plane, then green, then blue.
    """
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    arrays: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    batches = [("train", f"data_batch_{i}") for i in range(1, 6)] + [("test", "test_batch")]
    for split, name in batches:
        n = 20 if split == "train" else 10  # 10 train images per class, so val gets 1 each
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [i % 10 for i in range(n)]
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
        arrays[split].append(data)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [*names, "truck"]}))
    return {s: np.concatenate(a).reshape(-1, 3, 32, 32) for s, a in arrays.items()}


def trust_cifar_files(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Point torchvision's published CIFAR-10 MD5s at our files, so its verifying loader runs."""
    folder = root / "cifar-10-batches-py"
    cifar = datasets.CIFAR10
    checked = [[name, md5(folder / name)] for name, _ in cifar.train_list + cifar.test_list]
    monkeypatch.setattr(cifar, "train_list", checked[:5])
    monkeypatch.setattr(cifar, "test_list", checked[5:])
    monkeypatch.setattr(cifar, "meta", {**cifar.meta, "md5": md5(folder / "batches.meta")})


def write_torchvision_set(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "cifar10":
        write_cifar(root)
        trust_cifar_files(monkeypatch, root)
    else:
        write_mnist(root, {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name])


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every torchvision download fails as it does without a network."""

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", no_network)


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_mnist_files_are_read_by_torchvision(name: str, folder: str, tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, folder)
    assert DATASETS.card(name).present(tmp_path)
    bundle = build(name, roots=(tmp_path,), normalize=False)
    assert bundle.input_size == DATASETS.card(name).input_size == (1, 28, 28)

    train_images = torch.from_numpy(arrays["train-images"]).unsqueeze(1).float() / 255
    train_labels = torch.from_numpy(arrays["train-labels"]).long()
    parts = split_indices(100, (VAL_FRACTION, 0.0), seed=0, labels=train_labels)
    for split in ("train", "val"):
        x, y = tensors(bundle, split)
        assert torch.equal(x, train_images[parts[split]])
        assert torch.equal(y, train_labels[parts[split]])
    x, y = tensors(bundle, "test")
    assert torch.equal(x, torch.from_numpy(arrays["t10k-images"]).unsqueeze(1).float() / 255)
    assert torch.equal(y, torch.from_numpy(arrays["t10k-labels"]).long())
    assert {s: len(d) for s, d in bundle.splits.items()} == {"train": 90, "val": 10, "test": 10}


def test_the_files_named_are_those_torchvision_reads() -> None:
    """The three sets name their files without importing torchvision (a second and a half
    of every listing); the names are torchvision's own, and its classes are theirs."""
    for tv_set in (MNIST, FASHION_MNIST):
        loader = tv_set.dataset_class()
        assert tv_set.files == tuple(Path(archive).stem for archive, _ in loader.resources)
        assert tv_set.folder == f"{loader.__name__}/raw"
    assert FASHION_MNIST.classes == tuple(datasets.FashionMNIST.classes)
    cifar = datasets.CIFAR10
    assert CIFAR10.folder == cifar.base_folder
    assert CIFAR10.files == (
        *(f for f, _ in cifar.train_list + cifar.test_list),
        cifar.meta["filename"],
    )
    assert DATASETS.card("cifar10").files == tuple(
        f"{cifar.base_folder}/{f}" for f in CIFAR10.files
    )


def test_mnist_files_with_fewer_labels_than_images_are_refused(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, "MNIST")  # 100 training images
    labels = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    write_idx(labels, arrays["train-labels"][:99])
    with pytest.raises(UserError) as error:
        build("mnist", roots=(tmp_path,))
    message = str(error.value)
    assert "100 images but 99 labels" in message and str(labels) in message
    assert "\n" not in message


def test_cifar_batches_are_verified_and_read_by_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = write_cifar(tmp_path)
    trust_cifar_files(monkeypatch, tmp_path)
    bundle = build("cifar10", roots=(tmp_path,), normalize=False)
    assert bundle.input_size == DATASETS.card("cifar10").input_size == (3, 32, 32)
    assert bundle.classes[0] == "airplane" and bundle.classes[-1] == "truck"

    x, y = tensors(bundle, "test")
    assert torch.equal(x, torch.from_numpy(pixels["test"]).float() / 255)
    assert torch.equal(y, torch.arange(10))
    train_labels = torch.arange(100) % 10
    parts = split_indices(100, (VAL_FRACTION, 0.0), seed=0, labels=train_labels)
    train_images = torch.from_numpy(pixels["train"]).float() / 255
    for split in ("train", "val"):
        x, y = tensors(bundle, split)
        assert torch.equal(x, train_images[parts[split]])
        assert torch.equal(y, train_labels[parts[split]])
    assert {s: len(d) for s, d in bundle.splits.items()} == {"train": 90, "val": 10, "test": 10}

    grey = build("cifar10", roots=(tmp_path,), normalize=False, channels=1)
    assert grey.input_size == (1, 32, 32)
    expected = TF.rgb_to_grayscale(torch.from_numpy(pixels["test"]).float() / 255)
    assert torch.allclose(tensors(grey, "test")[0], expected)


def test_cifar_files_that_fail_their_checksum_are_never_unpickled(tmp_path: Path) -> None:
    write_cifar(tmp_path)  # torchvision's published MD5s do not match these files
    with pytest.raises(UserError, match="incomplete or corrupted") as error:
        build("cifar10", roots=(tmp_path,))
    assert "\n" not in str(error.value)


def test_lookup_order_is_data_dir_then_environment_then_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, env, cache = tmp_path / "data-dir", tmp_path / "env", tmp_path / "xdg"
    monkeypatch.setenv("DEEPNOTES_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    roots = data_roots(data_dir)
    assert roots == (data_dir, env, cache / "deepnotes")

    def pixel_read() -> float:  # each root's images hold their own constant value
        x, _ = tensors(build("mnist", roots=roots, normalize=False), "test")
        return round(float(x[0, 0, 0, 0]) * 255)

    write_mnist(cache / "deepnotes", "MNIST", fill=3)
    assert pixel_read() == 3
    write_mnist(env, "MNIST", fill=2)
    assert pixel_read() == 2
    write_mnist(data_dir, "MNIST", fill=1)
    assert pixel_read() == 1


@pytest.mark.parametrize("name", ON_DISK)
def test_missing_data_names_every_root_tried_and_the_fix(name: str, tmp_path: Path) -> None:
    roots = (tmp_path / "a", tmp_path / "b", tmp_path / "c")
    assert not any(DATASETS.card(name).present(r) for r in roots)
    with pytest.raises(DataNotFoundError) as error:
        build(name, roots=roots)
    message = str(error.value)
    assert "\n" not in message
    assert all(str(r) in message for r in roots)
    assert "--data-dir" in message and "DEEPNOTES_DATA" in message and "--download" in message


@pytest.mark.parametrize("name", TORCHVISION_SETS)
@pytest.mark.usefixtures("offline")
def test_download_without_network_is_one_clear_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="could not download") as error:
        build(name, roots=(tmp_path / "new", tmp_path / "other"), download=True)
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "new") in message


@pytest.mark.parametrize("name", TORCHVISION_SETS)
@pytest.mark.usefixtures("offline")
def test_download_skipped_when_any_root_has_the_files(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_torchvision_set(name, tmp_path / "env", monkeypatch)
    bundle = build(name, roots=(tmp_path / "data-dir", tmp_path / "env"), download=True)
    assert len(bundle.splits["test"]) == 10
    assert not (tmp_path / "data-dir").exists()


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("seeded", [True, False])
def test_tensor_batches_equal_the_dataloader(shuffle, drop_last, seeded):
    """Same batches in the same order, and the same random state afterwards."""
    x, y = torch.randn(103, 3), torch.arange(103)

    def batches(make):
        torch.manual_seed(7)
        generator = torch.Generator().manual_seed(5) if seeded else None
        out = [[t.clone() for t in batch] for batch in make(generator)]
        return out, torch.rand(1)

    theirs, after_theirs = batches(
        lambda g: DataLoader(
            TensorDataset(x, y), 10, shuffle=shuffle, generator=g, drop_last=drop_last
        )
    )
    ours, after_ours = batches(lambda g: TensorBatches((x, y), 10, shuffle, g, drop_last))
    assert len(ours) == len(theirs) == len(TensorBatches((x, y), 10, shuffle, None, drop_last))
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(after_ours, after_theirs)


@pytest.mark.parametrize(
    ("name", "joins"),
    [("digits", True), ("pydoc-topics", False), ("numbers-en-fr", False), ("karate", False)],
)
def test_a_split_it_lacks_is_one_message_for_every_kind_of_bundle(name: str, joins: bool) -> None:
    """Stacked examples, text blocks, sentence pairs and a graph refuse alike; "all" joins
    independent examples only (a graph's nodes or a text's blocks cannot be joined)."""
    bundle = build(name, roots=())
    splits = ", ".join([*bundle.splits, *(["all"] if joins else [])])
    for split in ("nonsense", *([] if joins else ["all"])):
        with pytest.raises(UserError) as error:
            bundle.loader(split, 4)
        assert str(error.value) == f"data set {name!r} has no {split!r} split (it has {splits})"
    if joins:
        assert len(bundle.split("all")) == sum(len(s) for s in bundle.splits.values())
