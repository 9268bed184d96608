"""Character-level text: a vocabulary, a train/val split, and batches of random blocks.

A character language model reads a text as a sequence of integer ids, one per
character, and learns to predict each next character. Training batches are
random contiguous blocks (nanoGPT's habit): B offsets drawn at random, inputs
x = text[i : i + T] and targets y = text[i + 1 : i + T + 1], so every epoch
sees new windows. Evaluation walks the split in consecutive blocks, so the
loss is measured over every character of it once.

    tinyshakespeare   ROOT/tinyshakespeare/input.txt (1,115,394 characters; its SHA-256
                      is checked); the first 90% train, the last 10% val, as char-rnn did
    pydoc-topics      the English text of Python's own documentation topics, which ships
                      with every CPython (`pydoc_data.topics`): a text set that is always there

The vocabulary is every distinct character of the whole text, sorted (so ids
are stable), as char-rnn and nanoGPT build it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from deepnotes.cards import DataCard
from deepnotes.data.base import Batching, DataBundle, DataRequest
from deepnotes.errors import UserError
from deepnotes.io import one_line
from deepnotes.registry import DATASETS

TRAIN_SHARE = 0.9
SHAKESPEARE_FILE = Path("tinyshakespeare") / "input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
DEFAULT_BLOCK = 64


class Vocabulary:
    """Characters ↔ ids: `encode("hi")` → [ids], `decode(ids)` → "hi"."""

    def __init__(self, characters: str) -> None:
        self.characters = "".join(sorted(set(characters)))
        self.index = {c: i for i, c in enumerate(self.characters)}

    def __len__(self) -> int:
        return len(self.characters)

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise UserError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return "".join(self.characters[int(i)] for i in ids)


@dataclass
class TextBundle(DataBundle):
    """A text's splits as 1-D id tensors, cut into (inputs, targets) blocks of `block_size`."""

    joins_splits: ClassVar[bool] = False  # a split's batches are made from it alone

    vocabulary: Vocabulary | None = None
    tokens: dict[str, torch.Tensor] | None = None
    block_size: int = DEFAULT_BLOCK

    def batches(self, split: str, how: Batching) -> TextBlocks:
        """Random blocks to train on (`shuffle`), or every block of the split in order."""
        return TextBlocks(
            self.tokens[split], self.block_size, how.batch_size, how.shuffle, how.generator
        )


class TextBlocks:
    """Batches of (x, y) blocks, each (B, T), y being x shifted one character on.

    Random: as many batches as the split holds non-overlapping blocks of B·T
    characters (one "epoch"), each of B windows at random offsets. In order: the
    split cut into consecutive windows, the last one shorter, so every character
    but the first is a target exactly once.
    """

    def __init__(
        self,
        tokens: torch.Tensor,
        block_size: int,
        batch_size: int,
        random: bool,
        generator: torch.Generator | None,
    ) -> None:
        if len(tokens) <= block_size:
            raise UserError(
                f"a text split of {len(tokens)} characters is too short for blocks of {block_size}"
            )
        self.tokens, self.block, self.batch_size = tokens, block_size, batch_size
        self.random, self.generator = random, generator

    def __len__(self) -> int:
        if self.random:
            return max(1, (len(self.tokens) - 1) // (self.block * self.batch_size))
        return -(-self.windows() // self.batch_size)

    def windows(self) -> int:
        return -(-(len(self.tokens) - 1) // self.block)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        if self.random:
            for _ in range(len(self)):
                starts = torch.randint(
                    len(self.tokens) - self.block, (self.batch_size,), generator=self.generator
                )
                yield self.blocks(starts, self.block)
            return
        starts = torch.arange(0, len(self.tokens) - 1, self.block)  # (windows,)
        full = starts[starts + self.block < len(self.tokens)]
        for i in range(0, len(full), self.batch_size):
            yield self.blocks(full[i : i + self.batch_size], self.block)
        if len(full) < len(starts):  # the last, shorter window
            last = int(starts[-1])
            yield self.blocks(torch.tensor([last]), len(self.tokens) - 1 - last)

    def blocks(self, starts: torch.Tensor, length: int) -> list[torch.Tensor]:
        offsets = starts.unsqueeze(1) + torch.arange(length)  # (B, T)
        return [self.tokens[offsets], self.tokens[offsets + 1]]


def text_bundle(name: str, text: str, request: DataRequest) -> TextBundle:
    """The first 90% of the text to train on, the last 10% to validate on."""
    vocabulary = Vocabulary(text)
    ids = vocabulary.encode(text)  # (N,)
    cut = int(TRAIN_SHARE * len(ids))
    tokens = {"train": ids[:cut], "val": ids[cut:]}
    return TextBundle(
        name=name,
        kind="text",
        splits={s: torch.utils.data.TensorDataset(t) for s, t in tokens.items()},
        input_size=(request.block_size or DEFAULT_BLOCK,),
        num_classes=len(vocabulary),
        classes=list(vocabulary.characters),
        info={"characters": len(ids), "vocabulary": vocabulary.characters},
        vocabulary=vocabulary,
        tokens=tokens,
        block_size=request.block_size or DEFAULT_BLOCK,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@DATASETS.register(
    "tinyshakespeare",
    DataCard(
        kind="text",
        task="language-model",
        input_size=(DEFAULT_BLOCK,),  # one example: a block of characters (--block-size)
        num_classes=65,
        source="karpathy/char-rnn data/tinyshakespeare/input.txt",
        licence="public domain (Shakespeare's plays)",
        files=(SHAKESPEARE_FILE.as_posix(),),
    ),
)
def tinyshakespeare(request: DataRequest) -> TextBundle:
    """40,000 lines of Shakespeare, 1,115,394 characters, 65 distinct; checksum verified."""

    card = DATASETS.card("tinyshakespeare")
    if request.download and card.first_root(request.roots) is None:
        download_shakespeare(request.download_root)
    root = request.find("tinyshakespeare")
    path = root / SHAKESPEARE_FILE
    if sha256(path) != SHAKESPEARE_SHA256:
        raise UserError(f"{path} does not match its SHA-256 checksum; download it again")
    return text_bundle("tinyshakespeare", path.read_text(encoding="utf-8"), request)


def download_shakespeare(root: Path) -> None:
    """Fetch input.txt into ROOT/tinyshakespeare/; its checksum is checked when it is read."""
    from torchvision.datasets.utils import download_url

    folder = root / SHAKESPEARE_FILE.parent
    try:
        download_url(SHAKESPEARE_URL, str(folder), SHAKESPEARE_FILE.name)
    except (OSError, RuntimeError) as error:  # urllib's URLError is an OSError
        raise UserError(
            f"could not download 'tinyshakespeare' into {root} ({one_line(error)}); "
            f"check the network, or copy input.txt to {folder} by hand"
        ) from None


@DATASETS.register(
    "pydoc-topics",
    DataCard(
        kind="text",
        task="language-model",
        input_size=(DEFAULT_BLOCK,),
        num_classes=None,  # the characters of Python's documentation: they vary by version
        source="Python's documentation topics, pydoc_data.topics (ships with CPython)",
        licence="PSF License",
    ),
)
def pydoc_topics(request: DataRequest) -> TextBundle:
    """About 465,000 characters of English and code from Python's own documentation."""
    from pydoc_data.topics import topics

    return text_bundle("pydoc-topics", "".join(topics[key] for key in sorted(topics)), request)
