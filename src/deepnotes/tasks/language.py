"""Tasks on sequences of tokens.

language-model   (tokens, next tokens) → nats per character; samples text
translation      (source, lengths, decoder inputs, targets) → cross-entropy per word
                 with teacher forcing; greedy translations scored by exact match and BLEU
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Generator, Tensor, nn

from deepnotes.data.base import DataBundle
from deepnotes.data.translation import PAD, strip
from deepnotes.metrics import corpus_bleu
from deepnotes.registry import TASKS
from deepnotes.tasks.base import Examples, Inputs, SampleRequest, Samples, Shape, Task

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@TASKS.register("language-model")
class LanguageModelTask(Task):
    """Predict every next character: cross-entropy in nats per character.

    loss = −(1/(B·T)) Σ_{b,t} log p(x_{b,t+1} | x_{b,≤t})

    The model maps (B, T) character ids to (B, T, vocabulary) logits. Logs are
    weighted by the characters predicted, so a split's loss is its mean over every
    character. Weight decay, when asked for, reaches only the weight matrices and
    embeddings (biases and normalisation gains are left alone, as in GPT-2).
    Builders take the zoo's names: the classes are the characters, the input a
    block of them, (block size,).
    """

    name = "language-model"
    data_kinds = ("text",)
    data_tasks = ("language-model",)
    sample_length = 500
    betas = (0.9, 0.99)  # nanoGPT's for small character models: a shorter memory of g²

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        return {"num_classes": bundle.num_classes, "input_size": (bundle.block_size,)}

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """Blocks of random character ids: (batch, block size)."""
        shape = (examples.batch, *examples.input_size)
        return (torch.randint(examples.num_classes, shape, generator=generator),)

    def output_shape(self, examples: Examples) -> Shape:
        # the next character's logits at every position
        return (examples.batch, examples.input_size[0], examples.num_classes)

    def optimizers(self, model: nn.Module) -> dict[str, Iterable]:
        matrices = [p for p in model.parameters() if p.dim() >= 2]
        others = [p for p in model.parameters() if p.dim() < 2]
        betas = {"betas": self.betas}  # used by Adam and AdamW, carried along by the others
        return {
            "model": [
                {"params": matrices, **betas},
                {"params": others, "weight_decay": 0.0, **betas},
            ]
        }

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = batch  # (B, T) each
        logits = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        return loss, {"loss": loss.detach()}

    def batch_size(self, batch: Any) -> int:
        return batch[1].numel()  # characters predicted

    def texts(self, model: nn.Module, bundle: DataBundle) -> dict[str, str]:
        """`sample.txt`: 500 characters after a newline (a space where there is none)."""
        start = "\n" if "\n" in bundle.vocabulary.index else " "
        request = SampleRequest(n=self.sample_length, prompt=start)
        return {"sample.txt": self.sample(model, bundle, request).text + "\n"}

    def sample(self, model: nn.Module, bundle: DataBundle, request: SampleRequest) -> Samples:
        """`request.n` characters (default 500) after the prompt (default a newline)."""
        prompt = bundle.vocabulary.encode(request.prompt or "\n")
        n = self.sample_length if request.n is None else request.n
        generator = torch.Generator().manual_seed(request.seed)
        ids = model.generate(prompt, n, request.temperature, request.top_k, generator)
        return Samples(text=bundle.vocabulary.decode(ids), count=n)


@TASKS.register("translation")
class TranslationTask(Task):
    """Sequence to sequence: cross-entropy per target word with teacher forcing; evaluated by
    greedy translation, exact-match accuracy and corpus BLEU-4 (in [0, 1]).

    loss = −(1/#words) Σ_{b,t} log p(y_{b,t} | y_{b,<t}, x_b), padding left out

    Builders take the zoo's names: `num_classes` is the target vocabulary, `input_size`
    is (source vocabulary,).
    """

    name = "translation"
    data_kinds = ("translation",)
    data_tasks = ("translation",)

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        return {"num_classes": len(bundle.target_vocabulary), "input_size": bundle.input_size}

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """(source ids (batch, 5), their lengths (5, 3, 5, ...), decoder inputs (batch, 6)):
        words drawn above the special tokens (<pad>, <bos>, <eos>, <unk>)."""
        batch = examples.batch
        source = torch.randint(4, examples.input_size[0], (batch, 5), generator=generator)
        lengths = torch.tensor([5 - 2 * (i % 2) for i in range(batch)])
        decoder_inputs = torch.randint(4, examples.num_classes, (batch, 6), generator=generator)
        return source, lengths, decoder_inputs

    def output_shape(self, examples: Examples) -> Shape:
        return (examples.batch, 6, examples.num_classes)  # next-word logits at each input

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        source, lengths, decoder_inputs, targets = batch
        logits = model(source, lengths, decoder_inputs)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD)
        real = targets != PAD
        correct = (logits.argmax(-1) == targets) & real
        return loss, {"loss": loss.detach(), "word_acc": correct.sum() / real.sum()}

    def batch_size(self, batch: Any) -> int:
        return int((batch[3] != PAD).sum())  # target words

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Teacher-forced loss per word, then greedy translations: exact match and BLEU."""
        batches = list(batches)
        metrics = super().evaluate(model, batches)
        candidates, references = [], []
        for source, lengths, _, targets in batches:
            words, _ = model.greedy(source, lengths)
            candidates += [strip(row) for row in words.tolist()]
            references += [strip(row) for row in targets.tolist()]
        exact = sum(c == r for c, r in zip(candidates, references, strict=True))
        metrics["exact_match"] = exact / len(references)
        metrics["bleu"] = corpus_bleu(candidates, references)
        return metrics

    def texts(self, model: nn.Module, bundle: DataBundle) -> dict[str, str]:
        """Ten test sentences, the reference and the greedy and beam translations."""
        model.eval()
        source, lengths, _, targets = next(iter(bundle.loader("test", 10)))
        words, _ = model.greedy(source, lengths)
        lines = []
        for i in range(len(source)):
            beam = model.beam_search(source[i], int(lengths[i]))
            lines += [
                f"source:    {bundle.source_vocabulary.decode(source[i].tolist())}",
                f"reference: {bundle.target_vocabulary.decode(targets[i].tolist())}",
                f"greedy:    {bundle.target_vocabulary.decode(words[i].tolist())}",
                f"beam 5:    {bundle.target_vocabulary.decode(beam)}",
                "",
            ]
        return {"translations.txt": "\n".join(lines)}

    def figures(self, model: nn.Module, bundle: DataBundle) -> dict[str, Figure]:
        return {"attention.png": attention_maps(model, bundle)}


def attention_maps(model: nn.Module, bundle: DataBundle, count: int = 4) -> Figure:
    """Heat maps of α for the first test sentences: output words down, source words across."""
    from matplotlib.figure import Figure

    model.eval()
    source, lengths, _, _ = next(iter(bundle.loader("test", count)))
    words, weights = model.greedy(source, lengths)
    figure = Figure(figsize=(5 * count / 2, 9), layout="constrained")
    axes = figure.subplots(2, -(-count // 2)).flat
    for i, ax in zip(range(count), axes, strict=False):
        source_words = [bundle.source_vocabulary.tokens[t] for t in source[i, : lengths[i]]]
        output = [bundle.target_vocabulary.tokens[t] for t in strip(words[i])] + ["<eos>"]
        ax.imshow(weights[i, : len(output), : len(source_words)].numpy(), cmap="viridis")
        ax.set_xticks(range(len(source_words)), source_words, rotation=90, fontsize=7)
        ax.set_yticks(range(len(output)), output, fontsize=7)
    figure.suptitle("Attention of the translator: each French word (row) over the English")
    return figure
