"""Character language models: the text data, the task, GPT's causality, sampling, the CLI."""

from __future__ import annotations

import json
import shutil
from urllib.error import URLError

import pytest
import torch
import torch.nn.functional as F

from deepnotes.cli import main
from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.text import SHAKESPEARE_FILE, TextBlocks, Vocabulary
from deepnotes.errors import UserError
from deepnotes.nn import linear as dn_linear
from deepnotes.registry import MODELS
from deepnotes.tasks.language import LanguageModelTask


def test_vocabulary_round_trip_and_unknown_characters():
    vocabulary = Vocabulary("hello world")
    assert vocabulary.characters == " dehlorw" and len(vocabulary) == 8
    assert vocabulary.decode(vocabulary.encode("low rod")) == "low rod"
    with pytest.raises(UserError, match="not in the vocabulary: 'xz'"):
        vocabulary.encode("zex")


def test_random_blocks_are_windows_and_their_next_characters():
    tokens = torch.arange(1000)
    blocks = TextBlocks(tokens, 16, 4, True, torch.Generator().manual_seed(0))
    batches = list(blocks)
    assert len(batches) == len(blocks) == 999 // 64
    for x, y in batches:
        assert x.shape == y.shape == (4, 16)
        assert torch.equal(x[:, 1:] - x[:, :1], torch.arange(1, 16).expand(4, -1))  # contiguous
        assert torch.equal(y, x + 1)  # the next character of every position


@pytest.mark.parametrize(("length", "block", "batch"), [(100, 16, 4), (97, 8, 3), (17, 16, 2)])
def test_evaluation_blocks_predict_every_character_once(length, block, batch):
    tokens = torch.randint(0, 50, (length,), generator=torch.Generator().manual_seed(length))
    targets = torch.cat([y.flatten() for _, y in TextBlocks(tokens, block, batch, False, None)])
    assert torch.equal(targets, tokens[1:])


def test_a_split_shorter_than_a_block_is_refused():
    with pytest.raises(UserError, match="too short"):
        TextBlocks(torch.arange(10), 16, 2, True, None)


def test_tinyshakespeare_is_found_checked_and_split(shared_data, tmp_path):
    bundle = load_data("tinyshakespeare", DataRequest(roots=(shared_data,), block_size=32))
    assert bundle.num_classes == 65 and bundle.info["characters"] == 1_115_394
    assert len(bundle.tokens["train"]) == int(0.9 * 1_115_394)
    assert bundle.vocabulary.decode(bundle.tokens["train"][:14]) == "First Citizen:"
    assert bundle.block_size == 32 and next(iter(bundle.loader("train", 2)))[0].shape == (2, 32)
    corrupted = tmp_path / SHAKESPEARE_FILE
    corrupted.parent.mkdir(parents=True)
    shutil.copy(shared_data / SHAKESPEARE_FILE, corrupted)
    corrupted.write_text(corrupted.read_text().replace("Citizen", "Citizan", 1))
    with pytest.raises(UserError, match="does not match its SHA-256"):
        load_data("tinyshakespeare", DataRequest(roots=(tmp_path,)))


def test_a_failed_download_is_one_clear_line(tmp_path, monkeypatch):
    import torchvision.datasets.utils

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    with pytest.raises(UserError, match="could not download 'tinyshakespeare'") as error:
        load_data("tinyshakespeare", DataRequest(roots=(tmp_path,), download=True))
    assert "\n" not in str(error.value)


def test_the_embedded_text_is_always_there():
    bundle = load_data("pydoc-topics", DataRequest())
    assert bundle.info["characters"] > 400_000 and set(bundle.tokens) == {"train", "val"}
    assert "def" in bundle.vocabulary.decode(bundle.tokens["train"][:20_000])


def test_the_task_is_cross_entropy_per_character_and_decays_matrices_only():
    torch.manual_seed(0)
    model = MODELS.create("gpt_char", num_classes=11, input_size=(8,), n_layer=1, n_embd=16)
    x, y = torch.randint(0, 11, (3, 8)), torch.randint(0, 11, (3, 8))
    task = LanguageModelTask()
    loss, _ = task.loss(model, [x, y])
    logits = model(x)
    expected = -torch.log_softmax(logits, -1).gather(2, y.unsqueeze(2)).mean()
    torch.testing.assert_close(loss, expected)
    assert task.batch_size([x, y]) == 24
    matrices, others = task.optimizers(model)["model"]
    assert all(p.dim() >= 2 for p in matrices["params"]) and others["weight_decay"] == 0.0
    assert all(p.dim() < 2 for p in others["params"])
    assert len(matrices["params"]) + len(others["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize(("impl", "fused"), [("torch", True), ("deepnotes", False)])
def test_gpt_never_looks_at_later_characters(impl, fused):
    torch.manual_seed(0)
    model = MODELS.create(
        "gpt_char", num_classes=13, input_size=(10,), n_layer=2, n_embd=16, impl=impl
    )
    model.eval()
    # the layers really are the library asked for (one is not a subclass of the other), and
    # the attention torch's kernel or the readable formula
    linear = torch.nn.Linear if impl == "torch" else dn_linear.Linear
    assert all(type(block.self_attn.qkv) is linear for block in model.blocks)
    assert all(block.self_attn.attend.fused is fused for block in model.blocks)
    x = torch.randint(0, 13, (1, 10))
    changed = x.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % 13
    torch.testing.assert_close(model(x)[:, :6], model(changed)[:, :6])
    assert not torch.allclose(model(x)[:, 6:], model(changed)[:, 6:])


def test_both_layer_libraries_build_the_same_language_models():
    for name in ("gpt_char", "char_lstm", "char_gru", "char_rnn"):
        torch.manual_seed(0)
        a = MODELS.create(name, num_classes=9, input_size=(12,))
        b = MODELS.create(name, num_classes=9, input_size=(12,), impl="deepnotes")
        b.load_state_dict(a.state_dict())
        a.eval(), b.eval()
        x = torch.randint(0, 9, (2, 12))
        torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-4)


def test_sampling_top_1_is_greedy_and_temperature_must_be_positive():
    torch.manual_seed(0)
    model = MODELS.create("char_gru", num_classes=7, input_size=(5,))
    prompt = torch.tensor([1, 2])
    sampled = model.generate(prompt, 12, top_k=1, generator=torch.Generator().manual_seed(3))
    ids = prompt.unsqueeze(0)
    for _ in range(12):  # greedy decoding by hand, over the last block_size characters
        ids = torch.cat([ids, model(ids[:, -5:])[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(sampled, ids[0]) and len(sampled) == 14
    with pytest.raises(UserError, match="temperature"):
        model.generate(prompt, 3, temperature=0.0)
    probabilities = F.softmax(model(prompt.unsqueeze(0))[0, -1], -1)
    draws = torch.stack(
        [
            model.generate(prompt, 1, generator=torch.Generator().manual_seed(s))[-1]
            for s in range(300)
        ]
    )
    frequency = torch.bincount(draws, minlength=7).float() / 300
    assert (frequency - probabilities).abs().max() < 0.1  # plain sampling follows the softmax


def test_train_and_sample_through_the_command_line(tmp_path, capsys):
    run = tmp_path / "lm"
    argv = ["train", "gpt_char", "--data", "pydoc-topics", "--max-steps", "4", "--block-size", "16"]
    argv += ["--model-arg", "n_layer=1", "--model-arg", "n_embd=32", "--out", str(run)]
    assert main([*argv, "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["texts"] == ["sample.txt"] and summary["input_size"] == [16]
    assert summary["metrics"]["val_loss"] > 0 and (run / "sample.txt").stat().st_size > 400
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "def ", "--n", "30", "--top-k", "5"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("def ") and len(text.rstrip("\n")) >= 34
    assert main(["sample", str(run), "--prompt", "€"]) == 2
    assert "not in the vocabulary" in capsys.readouterr().err


@pytest.mark.slow
def test_gpt_char_is_ahead_of_nanogpt_on_tinyshakespeare(shared_data, tmp_path):
    """Issue 25's bar: nanoGPT's CPU configuration (4 layers, width 128, context 64, batch
    12, 2,000 steps) with the package's defaults, validation ≤ 1.80 nats/char over the whole
    validation split on seed 0, where nanoGPT's recipe at lr 2e-3 scores 1.817 and the package's
    defaults before issue 25 1.824 (benchmarks/CHARLM.md)."""
    run = tmp_path / "gpt"
    argv = ["train", "gpt_char", "--data", "tinyshakespeare", "--data-dir", str(shared_data)]
    assert main([*argv, "--out", str(run), "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["max_steps"] == 2000 and summary["config"]["batch_size"] == 12
    assert summary["metrics"]["val_loss"] <= 1.80
