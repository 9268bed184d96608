"""One interface for every data set: splits, shapes, a loader, and where files live.

A registered data set is a function `build(request: DataRequest) -> DataBundle`.
The bundle holds the train/val/test splits as `torch.utils.data.Dataset`s plus
what a model needs to know (`input_size`, `num_classes`), and makes the
loaders; a data set whose batches are not "a stack of examples" (a graph
trained full-batch, a text cut into random blocks) subclasses `DataBundle`
and overrides `batches`.

Data roots (docs/ARCHITECTURE.md, "Contracts"): `--data-dir`, then `$DEEPNOTES_DATA`, then the user
cache directory. A root holds one folder per data set, laid out as
`../shared/datasets` is (`ROOT/tinyshakespeare/input.txt`, `ROOT/fsdd/...`),
and torchvision's own layout for its sets (`ROOT/MNIST/raw/...`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, TensorDataset

from deepnotes.errors import DataNotFoundError, UserError
from deepnotes.io import data_roots
from deepnotes.registry import DATASETS

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataRequest:
    """What the caller wants from a data set; every field has a default that just works.

    `image_size` and `channels` convert image data to a model's input (None keeps
    the data set's own); `normalize` standardises each channel with the training
    split's mean and std (generative models ask for raw [0, 1] pixels instead);
    `seed` fixes generated data and splits, and is not the training seed, so every
    training seed sees the same test set.
    """

    roots: tuple[Path, ...] = field(default_factory=data_roots)
    download: bool = False
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    normalize: bool = True
    seed: int = 0
    split: str | None = None  # a data set's own split scheme, e.g. "speaker:theo"
    block_size: int | None = None  # characters per block of a text set (the model's context)

    def find(self, dataset: str) -> Path:
        """The first root that holds the files of the registered data set `dataset` (its
        card's `files`), or one clear error naming every root tried."""
        root = DATASETS.card(dataset).first_root(self.roots)
        if root is not None:
            return root
        tried = ", ".join(str(r) for r in self.roots)
        raise DataNotFoundError(
            f"data set {dataset!r} not found under any data root (tried {tried}); "
            f"pass --data-dir ROOT, set DEEPNOTES_DATA=ROOT, or add --download"
        )

    @property
    def download_root(self) -> Path:
        """Where `--download` puts files: the first root in lookup order."""
        return self.roots[0]


@dataclass
class DataBundle:
    """A data set ready for training: splits plus what a model and a task need to know.

    Attributes:
        name: the registered name.
        kind: "images", "vectors", "text", "graph" or "audio"; a task says which it accepts.
        splits: "train", "val" and "test" (a split may be missing, e.g. no val).
        input_size: one example's shape, (C, H, W) for images, (F,) for vectors.
        num_classes: number of target classes, None where there are none.
        classes: class names, for figures and confusion matrices.
        info: anything else a task or figure needs (normalisation mean/std, vocabulary).
        collate_fn: how a list of examples becomes a batch, where torch's default stacking
            will not do (recordings of different lengths are padded).
    """

    name: str
    kind: str
    splits: dict[str, Dataset]
    input_size: tuple[int, ...]
    num_classes: int | None = None
    classes: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    collate_fn: Callable[[list[Any]], Any] | None = None

    joins_splits: ClassVar[bool] = True  # "all" concatenates the splits' examples

    def split(self, name: str) -> Dataset:
        """One split by name; "all" concatenates every split (for evaluation), where the
        examples are independent (not a graph's nodes or a text's blocks)."""
        if name == "all" and self.joins_splits:
            return ConcatDataset([self.splits[s] for s in SPLITS if s in self.splits])
        if name not in self.splits:
            names = [*self.splits, *(["all"] if self.joins_splits else [])]
            raise UserError(
                f"data set {self.name!r} has no {name!r} split (it has {', '.join(names)})"
            )
        return self.splits[name]

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """Images of this bundle as [0, 1] pixels: each channel's standardisation undone."""
        if not self.info.get("normalized"):
            return images
        mean, std = (torch.tensor(self.info[k])[:, None, None] for k in ("mean", "std"))
        return images * std + mean

    def loader(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        drop_last: bool = False,
    ) -> Iterable[Any]:
        """The batches of one split; `generator` fixes the shuffling order; `drop_last`
        leaves out a last, smaller batch; `num_workers` and `pin_memory` go to a torch
        `DataLoader`. A split the bundle lacks is one clear error."""
        self.split(split)
        options = Batching(batch_size, shuffle, generator, num_workers, pin_memory, drop_last)
        return self.batches(split, options)

    def batches(self, split: str, how: Batching) -> Iterable[Any]:
        """The batches of a split that exists, as `how` says.

        A split held in memory as tensors (a `TensorDataset`) is cut into batches by
        indexing (`TensorBatches`) when no worker processes are asked for; anything
        else goes through a torch `DataLoader`. A data set whose batches are not "a
        stack of examples" (a graph trained full-batch, a text cut into random
        blocks) overrides this.
        """
        dataset = self.split(split)
        if isinstance(dataset, TensorDataset) and how.num_workers == 0:
            return TensorBatches(
                dataset.tensors, how.batch_size, how.shuffle, how.generator, how.drop_last
            )
        return DataLoader(
            dataset,
            batch_size=how.batch_size,
            shuffle=how.shuffle,
            generator=how.generator,
            num_workers=how.num_workers,
            pin_memory=how.pin_memory,
            drop_last=how.drop_last,
            collate_fn=self.collate_fn,
        )


@dataclass(frozen=True)
class Batching:
    """How to cut a split into batches (the arguments of `DataBundle.loader`)."""

    batch_size: int
    shuffle: bool = False
    generator: torch.Generator | None = None
    num_workers: int = 0
    pin_memory: bool = False
    drop_last: bool = False


class TensorBatches:
    """Batches of in-memory tensors by indexing, the fast path of a `DataLoader` over a
    `TensorDataset` (which fetches every example alone and stacks them again).

    The batches and the random draws are the DataLoader's: one draw for its worker
    seed, then `torch.randperm(n, generator)`, so the two give the same batches and
    leave the random state alike (a test checks it). For a small model the
    DataLoader's per-example work was most of a training step.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        self.tensors, self.batch_size = tensors, batch_size
        self.shuffle, self.generator, self.drop_last = shuffle, generator, drop_last

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        order = loader_order(len(self.tensors[0]), self.shuffle, self.generator)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            yield [t[index] for t in self.tensors]


def loader_order(n: int, shuffle: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """The order in which a torch `DataLoader(shuffle=shuffle, generator=generator)` visits
    n examples, making its random draws in its order: a base seed for workers (drawn even
    with none), then, to shuffle, a seed for the sampler if no generator is given, then
    `torch.randperm(n)`. `TensorBatches` and the data-parallel sampler follow it."""
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    if not shuffle:
        return torch.arange(n)
    if generator is None:
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)


def split_indices(
    n: int, fractions: tuple[float, float], seed: int, labels: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Random train/val/test indices; `fractions` are (val, test), stratified by `labels`.

    Stratifying keeps every class in every split in proportion, which matters for
    small sets such as digits (about 180 images per class).
    """
    generator = torch.Generator().manual_seed(seed)
    groups = (
        [torch.arange(n)]
        if labels is None
        else [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    )
    parts: dict[str, list[torch.Tensor]] = {s: [] for s in SPLITS}
    for group in groups:
        order = group[torch.randperm(len(group), generator=generator)]
        n_val, n_test = (round(f * len(group)) for f in fractions)
        parts["val"].append(order[:n_val])
        parts["test"].append(order[n_val : n_val + n_test])
        parts["train"].append(order[n_val + n_test :])
    return {s: torch.sort(torch.cat(p)).values for s, p in parts.items()}


def fit_images(
    images: torch.Tensor, size: tuple[int, int] | None, channels: int | None
) -> torch.Tensor:
    """Resize (antialiased bilinear) and convert channels of a float image batch (N, C, H, W)."""
    from torchvision.transforms.v2 import functional as TF  # on use: docs/ARCHITECTURE.md

    if size is not None and tuple(images.shape[-2:]) != tuple(size):
        images = TF.resize(images, list(size), antialias=True)
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if channels == 1 and c == 3:
        return TF.rgb_to_grayscale(images)
    if c == 1:
        return images.expand(-1, channels, -1, -1).contiguous()  # grey → every channel
    raise UserError(f"cannot convert {c}-channel images to {channels} channels")


def image_bundle(
    name: str,
    images: dict[str, torch.Tensor],
    labels: dict[str, torch.Tensor],
    request: DataRequest,
    classes: list[str],
) -> DataBundle:
    """A bundle of in-memory float images in [0, 1], fitted to the request.

    `images[split]` is (N, C, H, W). With `request.normalize`, each channel is
    standardised by the training split's mean and std, which are kept in `info`
    so that figures can undo it.
    """
    fitted = {
        s: fit_images(x.float(), request.image_size, request.channels) for s, x in images.items()
    }
    train = fitted["train"]
    mean = train.mean(dim=(0, 2, 3))  # (C,)
    std = train.std(dim=(0, 2, 3)).clamp_min(1e-6)  # (C,)
    if request.normalize:
        fitted = {s: (x - mean[:, None, None]) / std[:, None, None] for s, x in fitted.items()}
    return DataBundle(
        name=name,
        kind="images",
        splits={s: TensorDataset(fitted[s], labels[s].long()) for s in fitted},
        input_size=tuple(train.shape[1:]),
        num_classes=len(classes),
        classes=classes,
        info={"mean": mean.tolist(), "std": std.tolist(), "normalized": request.normalize},
    )


def tensor_bundle(
    name: str,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    kind: str = "vectors",
    classes: list[str] | None = None,
) -> DataBundle:
    """A bundle of in-memory (inputs, targets) pairs by split, for data an experiment makes:
    `splits["train"]` is (x (N, *input_size), y (N, ...)); `classes` for class targets."""
    x, _ = splits["train"]
    return DataBundle(
        name=name,
        kind=kind,
        splits={split: TensorDataset(*pair) for split, pair in splits.items()},
        input_size=tuple(x.shape[1:]),
        num_classes=len(classes) if classes is not None else None,
        classes=classes,
    )


def load_data(name: str, request: DataRequest | None = None) -> DataBundle:
    """Build the registered data set `name` as `request` asks (default: as it is)."""
    return DATASETS.get(name).builder(request or DataRequest())
