"""A translation task made in the package: numbers in English words → French words.

Integers from 0 to 999,999 written out by the well-kept `num2words`:

    312    "three hundred and twelve"            → "trois cent douze"
    97     "ninety-seven"                        → "quatre-vingt-dix-sept"
    71     "seventy-one"                         → "soixante et onze"

French reorders and fuses (quatre-vingt-dix-sept is 4·20 + 10 + 7), so a word
for word copy fails and the decoder must learn where to look: a small, exact
test bed for attention. 20,000 training numbers and disjoint validation and
test numbers are drawn with the data seed.

Words are the tokens; a hyphen and a comma are tokens of their own, so
"ninety-seven" is `ninety - seven` and text joins back exactly. Each side has
its own vocabulary, after four specials: <pad> 0, <bos> 1, <eos> 2, <unk> 3.
A batch is (source ids (B, S), source lengths (B,), decoder inputs (B, T) =
<bos> y, targets (B, T) = y <eos>), padded with <pad>.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from deepnotes.cards import DataCard
from deepnotes.data.base import Batching, DataBundle, DataRequest
from deepnotes.io import cache_root
from deepnotes.registry import DATASETS

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
SPLIT_SIZES = {"train": 20_000, "val": 1_000, "test": 2_000}
LARGEST = 999_999
TOKEN = re.compile(r"[^\s,-]+|[-,]")


def tokenize(text: str) -> list[str]:
    """Words, hyphens and commas: "ninety-seven" → ["ninety", "-", "seven"]."""
    return TOKEN.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """The inverse of `tokenize` for num2words' text: no space around a hyphen or before a comma."""
    return " ".join(tokens).replace(" - ", "-").replace(" ,", ",")


class WordVocabulary:
    """Tokens ↔ ids, the four specials first, then the words sorted."""

    def __init__(self, texts: Sequence[str]) -> None:
        words = sorted({token for text in texts for token in tokenize(text)})
        self.tokens = list(SPECIALS) + words
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(token, UNK) for token in tokenize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text up to the first <eos>, specials left out."""
        words = []
        for i in ids:
            if int(i) == EOS:
                break
            if int(i) >= len(SPECIALS):
                words.append(self.tokens[int(i)])
        return detokenize(words)


@dataclass
class TranslationBundle(DataBundle):
    """Sentence pairs per split, with the two vocabularies; batches padded per batch."""

    joins_splits: ClassVar[bool] = False  # a split's batches are made from it alone

    source_vocabulary: WordVocabulary | None = None
    target_vocabulary: WordVocabulary | None = None
    pairs: dict[str, list[tuple[str, str]]] | None = None

    def batches(self, split: str, how: Batching) -> PairBatches:
        """Sentence pairs encoded, in batches padded to their longest sentences."""
        encoded = [
            (self.source_vocabulary.encode(s), self.target_vocabulary.encode(t))
            for s, t in self.pairs[split]
        ]
        return PairBatches(encoded, how.batch_size, how.shuffle, how.generator, how.drop_last)


class PairBatches:
    """(source, source lengths, decoder inputs, targets) batches, padded with <pad>."""

    def __init__(
        self,
        pairs: list[tuple[list[int], list[int]]],
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
        drop_last: bool = False,
    ) -> None:
        self.pairs, self.batch_size = pairs, batch_size
        self.shuffle, self.generator, self.drop_last = shuffle, generator, drop_last

    def __len__(self) -> int:
        n = len(self.pairs)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        n = len(self.pairs)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            chosen = [self.pairs[int(i)] for i in order[start : start + self.batch_size]]
            yield collate(chosen)


def pad(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """(B, longest) ids, <pad> after each sequence."""
    longest = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [PAD] * (longest - len(s)) for s in sequences])


def collate(pairs: Sequence[tuple[list[int], list[int]]]) -> list[torch.Tensor]:
    sources = [s for s, _ in pairs]
    lengths = torch.tensor([len(s) for s in sources])
    decoder_inputs = pad([[BOS, *t] for _, t in pairs])  # (B, T)
    targets = pad([[*t, EOS] for _, t in pairs])  # (B, T): the next token of each input
    return [pad(sources), lengths, decoder_inputs, targets]


def number_pairs(numbers: Sequence[int]) -> list[tuple[str, str]]:
    from num2words import num2words

    return [(num2words(n, lang="en"), num2words(n, lang="fr")) for n in numbers]


def drawn_numbers(seed: int) -> np.ndarray:
    """The seed's distinct numbers, train's first, then val's and test's."""
    rng = np.random.default_rng(seed)
    return rng.choice(LARGEST + 1, size=sum(SPLIT_SIZES.values()), replace=False)


@functools.lru_cache(maxsize=2)
def generated_splits(seed: int) -> dict[str, list[tuple[str, str]]]:
    """The seed's numbers per split, in words. num2words takes about 10 s for all of them,
    so the result is kept: in this process, and as JSON in the user cache directory
    (checked against num2words on a sample when read back)."""
    path = cache_root() / "numbers-en-fr" / f"seed-{seed}.json"
    if path.is_file():
        try:
            splits = {
                s: [tuple(p) for p in pairs] for s, pairs in json.loads(path.read_text()).items()
            }
            if verified(splits, seed):
                return splits
        except (ValueError, TypeError, AttributeError):
            pass  # unreadable: made again below
    drawn = drawn_numbers(seed)
    splits, start = {}, 0
    for split, size in SPLIT_SIZES.items():
        splits[split] = number_pairs(drawn[start : start + size].tolist())
        start += size
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(splits))
        os.replace(temporary, path)  # whole or not at all
    except OSError:
        pass  # a read-only cache only costs the time again
    return splits


def verified(splits: dict[str, list[tuple[str, str]]], seed: int) -> bool:
    """Sizes as expected, and a sample of pairs equal to num2words' text for their numbers."""
    if {s: len(p) for s, p in splits.items()} != SPLIT_SIZES:
        return False
    drawn = drawn_numbers(seed)
    everything = [pair for split in SPLIT_SIZES for pair in splits[split]]
    sample = np.random.default_rng(1).choice(len(everything), 20, replace=False)
    return all(tuple(everything[i]) == number_pairs([int(drawn[i])])[0] for i in sample)


@DATASETS.register(
    "numbers-en-fr",
    DataCard(
        kind="translation",
        task="translation",
        input_size=(36,),  # the English vocabulary, 4 specials included
        num_classes=31,  # the French one
        source="generated: integers 0–999,999 in English and French words by num2words",
        licence="MIT (generated by deepnotes; num2words is LGPL)",
    ),
)
def numbers_en_fr(request: DataRequest) -> TranslationBundle:
    """20,000 / 1,000 / 2,000 disjoint numbers, English words → French words."""
    splits = generated_splits(request.seed)
    source = WordVocabulary([s for s, _ in splits["train"]])  # words of the training set
    target = WordVocabulary([t for _, t in splits["train"]])
    return TranslationBundle(
        name="numbers-en-fr",
        kind="translation",
        splits={s: pairs for s, pairs in splits.items()},
        input_size=(len(source),),
        num_classes=len(target),
        classes=target.tokens,
        info={"numbers": {s: len(p) for s, p in splits.items()}},
        source_vocabulary=source,
        target_vocabulary=target,
        pairs=splits,
    )


def strip(ids: Iterable[int]) -> list[int]:
    """Words up to the first <eos>, without padding."""
    words = []
    for i in ids:
        if int(i) in (EOS, PAD):
            break
        words.append(int(i))
    return words
