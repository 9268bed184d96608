"""The classic image benchmarks, read from disk by torchvision's own loaders.

MNIST (handwritten digits), Fashion-MNIST (its drop-in replacement of
clothing, harder because a linear model no longer does well) and CIFAR-10
(small colour photographs) are the data sets every course trains on. They are
too big to ship, so they live under a data root (docs/ARCHITECTURE.md, "Contracts") in
torchvision's own on-disk layout, which lets torchvision's loaders read them
and `--download` fill them:

    ROOT/MNIST/raw/train-images-idx3-ubyte        (and the other three idx files)
    ROOT/FashionMNIST/raw/train-images-idx3-ubyte (same names)
    ROOT/cifar-10-batches-py/data_batch_1 … data_batch_5, test_batch, batches.meta

The three differ only in the torchvision class, that folder and the class
names, so one `TorchvisionSet` describes each. Every one has an official test
split; the validation split is a seeded, stratified 10 % of the training split.
CIFAR-10's batches are pickles: torchvision checks each file's MD5 against
the published one before unpickling it, and this code keeps that check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.cards import DataCard
from deepnotes.data.base import DataBundle, DataRequest, image_bundle, split_indices
from deepnotes.errors import UserError
from deepnotes.io import one_line
from deepnotes.registry import DATASETS

VAL_FRACTION = 0.1  # of the official training split


def as_images(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (N, C, H, W) as float in [0, 1]."""
    return pixels.float() / 255


@dataclass(frozen=True)
class TorchvisionSet:
    """One torchvision data set: its loader class, the files it needs and its classes.

    torchvision is imported when a set is read, not when this module is: its import
    (which brings in torch._dynamo) would add a second and a half to every command that
    only lists the data sets or samples a trained model.

    Attributes:
        name: the registered name.
        loader: the name of the torchvision class in `torchvision.datasets`, called as
            `loader(root=ROOT, train=..., download=...)`.
        folder: where the files live under a data root.
        files: the files torchvision checks for, inside `folder` (a test holds them to
            torchvision's own lists).
        classes: class names, in label order.
        split_prefixes: how the names of the training split's files and of the test
            split's files begin, so an error can name the files of one split.
    """

    name: str
    loader: str
    folder: str
    files: tuple[str, ...]
    classes: tuple[str, ...]
    split_prefixes: tuple[str, str]

    @property
    def paths(self) -> tuple[str, ...]:
        """The files under a data root (the data card's `files`)."""
        return tuple(f"{self.folder}/{f}" for f in self.files)

    def dataset_class(self) -> type:
        """The torchvision class that reads the files."""
        from torchvision import datasets

        return getattr(datasets, self.loader)

    def locate(self, request: DataRequest) -> Path:
        """The first data root holding the files, downloading them first if asked and absent."""
        card = DATASETS.card(self.name)
        if request.download and card.first_root(request.roots) is None:
            self.download(request.download_root)
        return request.find(self.name)

    def download(self, root: Path) -> None:
        """Fetch the files into `root` with torchvision; any failure becomes one clear line."""
        try:
            self.dataset_class()(root=str(root), train=True, download=True)
        except (OSError, RuntimeError) as error:  # urllib's URLError is an OSError
            raise UserError(
                f"could not download {self.name!r} into {root} ({one_line(error)}); "
                f"check the network, or copy the files to {root / self.folder} by hand"
            ) from None

    def load(self, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One official split as uint8 pixels (N, C, H, W) and labels (N,)."""
        try:
            dataset = self.dataset_class()(root=str(root), train=train)
        except RuntimeError as error:  # torchvision's "not found or corrupted"
            raise UserError(
                f"data set {self.name!r} under {root} is incomplete or corrupted "
                f"({one_line(error)}); delete {root / self.folder} and add --download"
            ) from None
        pixels = torch.as_tensor(dataset.data)  # MNIST: (N, H, W); CIFAR: (N, H, W, C)
        pixels = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
        labels = torch.as_tensor(dataset.targets, dtype=torch.long)
        if len(pixels) != len(labels):  # torchvision reads the two without comparing them
            files = ", ".join(str(path) for path in self.split_files(root, train))
            raise UserError(
                f"data set {self.name!r} has {len(pixels)} images but {len(labels)} labels "
                f"in {files}; delete {root / self.folder} and add --download"
            )
        return pixels, labels

    def split_files(self, root: Path, train: bool) -> list[Path]:
        """The files under `root` that hold the training split, or the test split."""
        prefix = self.split_prefixes[0 if train else 1]
        return [Path(root, self.folder, f) for f in self.files if f.startswith(prefix)]

    def build(self, request: DataRequest) -> DataBundle:
        """Train/val/test bundle: official test split, val carved from train with the data seed."""
        root = self.locate(request)
        train_x, train_y = self.load(root, train=True)
        test_x, test_y = self.load(root, train=False)
        parts = split_indices(len(train_y), (VAL_FRACTION, 0.0), request.seed, labels=train_y)
        return image_bundle(
            self.name,
            images={
                "train": as_images(train_x[parts["train"]]),
                "val": as_images(train_x[parts["val"]]),
                "test": as_images(test_x),
            },
            labels={"train": train_y[parts["train"]], "val": train_y[parts["val"]], "test": test_y},
            request=request,
            classes=list(self.classes),
        )


# the uncompressed idx files an MNIST-style class checks for (its downloads minus .gz)
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST = TorchvisionSet(
    name="mnist",
    loader="MNIST",
    folder="MNIST/raw",
    files=IDX_FILES,
    classes=tuple(str(d) for d in range(10)),
    split_prefixes=("train", "t10k"),
)
FASHION_MNIST = TorchvisionSet(
    name="fashion-mnist",
    loader="FashionMNIST",
    folder="FashionMNIST/raw",
    files=IDX_FILES,
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    split_prefixes=("train", "t10k"),
)
CIFAR10 = TorchvisionSet(
    name="cifar10",
    loader="CIFAR10",
    folder="cifar-10-batches-py",
    files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
    classes=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    split_prefixes=("data_batch", "test_batch"),
)


@DATASETS.register(
    "mnist",
    DataCard(
        kind="images",
        task="classification",
        input_size=(1, 28, 28),
        num_classes=10,
        source="http://yann.lecun.com/exdb/mnist/ (LeCun et al. 1998), via torchvision",
        licence="CC BY-SA 3.0",
        files=MNIST.paths,
    ),
)
def mnist(request: DataRequest) -> DataBundle:
    """70,000 grey 28×28 handwritten digits: 60,000 train (6,000 of them val), 10,000 test."""
    return MNIST.build(request)


@DATASETS.register(
    "fashion-mnist",
    DataCard(
        kind="images",
        task="classification",
        input_size=(1, 28, 28),
        num_classes=10,
        source="https://github.com/zalandoresearch/fashion-mnist (Xiao et al. 2017), "
        "via torchvision",
        licence="MIT",
        files=FASHION_MNIST.paths,
    ),
)
def fashion_mnist(request: DataRequest) -> DataBundle:
    """70,000 grey 28×28 Zalando product images in 10 classes, split as MNIST."""
    return FASHION_MNIST.build(request)


@DATASETS.register(
    "cifar10",
    DataCard(
        kind="images",
        task="classification",
        input_size=(3, 32, 32),
        num_classes=10,
        source="https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky 2009), via torchvision",
        licence="no licence stated; free for research, citing Krizhevsky 2009",
        files=CIFAR10.paths,
    ),
)
def cifar10(request: DataRequest) -> DataBundle:
    """60,000 colour 32×32 photographs in 10 classes: 50,000 train (5,000 val), 10,000 test."""
    return CIFAR10.build(request)
