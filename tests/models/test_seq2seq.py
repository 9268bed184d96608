"""The translator: the number data, BLEU and edit distance, attention masks, decoding, the CLI."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu
from num2words import num2words

from deepnotes.cli import main
from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.translation import (
    BOS,
    EOS,
    PAD,
    WordVocabulary,
    collate,
    detokenize,
    strip,
    tokenize,
)
from deepnotes.metrics import corpus_bleu, edit_distance
from deepnotes.models.seq2seq import Seq2Seq
from deepnotes.tasks.language import TranslationTask


@pytest.fixture(scope="module")
def numbers():
    return load_data("numbers-en-fr", DataRequest())


def test_the_number_pairs_are_num2words_and_the_splits_disjoint(numbers):
    assert {s: len(p) for s, p in numbers.pairs.items()} == {
        "train": 20_000,
        "val": 1_000,
        "test": 2_000,
    }
    english = {s: {e for e, _ in p} for s, p in numbers.pairs.items()}
    assert not english["train"] & english["val"] and not english["train"] & english["test"]
    assert not english["val"] & english["test"]
    drawn = np.random.default_rng(0).choice(1_000_000, size=23_000, replace=False)
    everything = numbers.pairs["train"] + numbers.pairs["val"] + numbers.pairs["test"]
    for i in random.Random(0).sample(range(23_000), 10):  # the seed's numbers, in words
        n = int(drawn[i])
        assert everything[i] == (num2words(n, lang="en"), num2words(n, lang="fr"))


@pytest.mark.parametrize("n", [0, 71, 80, 97, 312, 1081, 200_000, 999_999])
def test_tokens_join_back_to_the_text(n):
    for lang in ("en", "fr"):
        text = num2words(n, lang=lang)
        assert detokenize(tokenize(text)) == text
    assert tokenize("quatre-vingt-dix-sept") == ["quatre", "-", "vingt", "-", "dix", "-", "sept"]


def test_vocabulary_and_batches():
    vocabulary = WordVocabulary(["two hundred", "ninety-two"])
    assert vocabulary.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocabulary.decode([*vocabulary.encode("ninety-two"), EOS, 5]) == "ninety-two"
    assert vocabulary.encode("seven") == [3]  # unknown
    source, lengths, inputs, targets = collate([([5, 6, 7], [8, 9]), ([5], [8])])
    assert source.tolist() == [[5, 6, 7], [5, PAD, PAD]] and lengths.tolist() == [3, 1]
    assert inputs.tolist() == [[BOS, 8, 9], [BOS, 8, PAD]]
    assert targets.tolist() == [[8, 9, EOS], [8, EOS, PAD]]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            # candidates of 4 words or more: for shorter ones NLTK divides by max(1, n-grams),
            # not by the candidate's n-gram count as Papineni et al. (and we) do
            st.lists(st.integers(0, 5), min_size=4, max_size=12),
            st.lists(st.integers(0, 5), min_size=1, max_size=12),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_corpus_bleu_equals_nltk(pairs):
    candidates = [c for c, _ in pairs]
    references = [r for _, r in pairs]
    theirs = nltk_corpus_bleu([[r] for r in references], candidates)
    assert corpus_bleu(candidates, references) == pytest.approx(theirs, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.text("abc", max_size=8), st.text("abc", max_size=8))
def test_edit_distance_equals_the_recursive_definition(a, b):
    def slow(a, b):
        if not a or not b:
            return len(a) + len(b)
        return min(slow(a[1:], b) + 1, slow(a, b[1:]) + 1, slow(a[1:], b[1:]) + (a[0] != b[0]))

    assert edit_distance(a, b) == slow(a, b)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_padding_changes_nothing_and_gets_no_attention(cell, attention):
    """A sentence padded in a batch encodes, attends and decodes as it does alone."""
    torch.manual_seed(0)
    model = Seq2Seq(num_classes=12, input_size=(15,), cell=cell, attention=attention).eval()
    long, short = torch.randint(4, 15, (7,)), torch.randint(4, 15, (3,))
    batch = torch.stack([long, torch.cat([short, torch.zeros(4, dtype=torch.long)])])
    decoder_inputs = torch.randint(4, 12, (2, 5))
    together = model(batch, torch.tensor([7, 3]), decoder_inputs)
    alone = model(short.unsqueeze(0), torch.tensor([3]), decoder_inputs[1:])
    torch.testing.assert_close(together[1:], alone, atol=1e-5, rtol=1e-5)
    _, weights = model.greedy(batch, torch.tensor([7, 3]), max_length=4)
    assert torch.all(weights[1, :, 3:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))


SOURCE = torch.tensor([5, 9, 6, 7, 4])


def fitted_translator(targets: list[list[int]], steps: int) -> Seq2Seq:
    """A small translator fitted (by maximum likelihood, under a second on a CPU) to say
    `targets`, in their proportions, for the one sentence SOURCE."""
    torch.manual_seed(0)
    model = Seq2Seq(num_classes=9, input_size=(10,), hidden_size=16, embedding_dim=8)
    source, lengths, inputs, outputs = collate([(SOURCE.tolist(), t) for t in targets])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model(source, lengths, inputs).flatten(0, 1)
        F.cross_entropy(logits, outputs.flatten(), ignore_index=PAD).backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def log_probability(model: Seq2Seq, words: list[int]) -> float:
    """log p(words, <eos> | SOURCE) under teacher forcing."""
    logits = model(SOURCE.unsqueeze(0), torch.tensor([len(SOURCE)]), torch.tensor([[BOS, *words]]))
    log_probs = torch.log_softmax(logits[0], -1)
    return float(sum(log_probs[t, w] for t, w in enumerate([*words, EOS])))


def test_greedy_and_beam_search_stop_at_eos_on_the_sentence_they_learnt():
    target = [7, 4, 8, 5]
    model = fitted_translator([target], steps=150)
    assert log_probability(model, target) > -0.05  # learnt: p > 0.95, <eos> included
    greedy = model.greedy(SOURCE.unsqueeze(0), torch.tensor([len(SOURCE)]), max_length=12)
    assert greedy[0][0].tolist() == [*target, EOS]  # stopped at <eos>, not at the limit
    assert model.beam_search(SOURCE, len(SOURCE), beam=1, max_length=12) == target
    steps, step = [], model.step
    model.step = lambda *args: steps.append(1) or step(*args)  # counts the decoder's steps
    assert model.beam_search(SOURCE, len(SOURCE), beam=4, max_length=12) == target
    # it stopped once "… <eos>" beat every open hypothesis: at most 4 steps for each of the
    # 5 words (<eos> included), where running on to the limit takes 1 + 4·11
    assert len(steps) <= 4 * (len(target) + 1)


def test_beam_search_finds_the_likelier_sentence_greedy_misses():
    """Taught "4 x" (x one of 6, 7, 8) 60% of the time and "5" 40%: greedy takes the likelier
    first word 4 and ends with p("4 x <eos>") ≈ 0.2; a beam of 4 keeps "5 <eos>", p ≈ 0.4."""
    targets = [[4, x] for x in (6, 7, 8) for _ in range(4)] + [[5]] * 8
    model = fitted_translator(targets, steps=200)
    greedy = model.greedy(SOURCE.unsqueeze(0), torch.tensor([len(SOURCE)]), max_length=12)
    greedy = greedy[0][0].tolist()
    assert greedy[0] == 4 and greedy[1] in (6, 7, 8) and greedy[2:] == [EOS]
    assert model.beam_search(SOURCE, len(SOURCE), beam=1, max_length=12) == greedy[:2]
    beam = model.beam_search(SOURCE, len(SOURCE), beam=4, max_length=12)
    assert beam == [5]
    # the fitted model's ratio is about 2 (0.4 / 0.2); log 1.5 leaves room for a loose fit
    assert log_probability(model, beam) > log_probability(model, greedy[:2]) + math.log(1.5)


def test_a_beam_of_one_is_greedy_even_without_eos():
    """An untrained translator never says <eos> in 12 words; a beam of 1 still takes greedy's
    words, up to the same limit."""
    torch.manual_seed(1)
    model = Seq2Seq(num_classes=9, input_size=(10,), hidden_size=16, embedding_dim=8).eval()
    for seed in range(3):
        source = torch.randint(4, 10, (6,), generator=torch.Generator().manual_seed(seed))
        greedy = strip(model.greedy(source.unsqueeze(0), torch.tensor([6]), max_length=12)[0][0])
        assert model.beam_search(source, 6, beam=1, max_length=12) == greedy


def test_the_task_scores_exact_matches_and_bleu(numbers):
    class Perfect(torch.nn.Module):
        """Returns the targets as its 'translation': every metric must be perfect."""

        def forward(self, source, lengths, inputs):
            return torch.nn.functional.one_hot(self.targets, 40).float() * 50

        def greedy(self, source, lengths):
            return self.targets, None

    task, model = TranslationTask(), Perfect()
    batch = next(iter(numbers.loader("val", 100)))
    model.targets = batch[3]
    metrics = task.evaluate(model, [batch])
    assert metrics["exact_match"] == 1.0 and metrics["bleu"] == pytest.approx(1.0)
    assert metrics["word_acc"] == 1.0


def test_train_the_translator_through_the_command_line(tmp_path):
    run = tmp_path / "t"
    argv = ["train", "seq2seq", "--data", "numbers-en-fr", "--max-steps", "30"]
    argv += ["--model-arg", "hidden_size=32", "--out", str(run), "--no-progress"]
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert {"test_exact_match", "test_bleu", "test_loss"} <= set(summary["metrics"])
    assert summary["figures"] == ["attention.png"] and summary["texts"] == ["translations.txt"]
    assert "beam 5:" in (run / "translations.txt").read_text()


@pytest.mark.slow
def test_the_translator_reaches_95_percent_exact_match(tmp_path):
    run = tmp_path / "t"
    assert (
        main(["train", "seq2seq", "--data", "numbers-en-fr", "--out", str(run), "--no-progress"])
        == 0
    )
    assert json.loads((run / "summary.json").read_text())["metrics"]["test_exact_match"] >= 0.95
