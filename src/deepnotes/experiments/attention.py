"""Attention (notes, week 8): the readable formula against torch's kernel, the causal mask,
and what a translator attends to.

- softmax(QKᵀ/√d + M)V written out equals torch's fused
  `F.scaled_dot_product_attention`, with and without a causal mask;
- a GPT with a causal mask cannot see the future: changing later characters
  leaves every earlier prediction exactly as it was;
- the encoder–decoder translating numbers from English words to French words
  learns where to look: as it writes "sept" or "quarante" its attention is on
  "seven" or "forty", and it translates unseen numbers exactly.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.translation import strip
from deepnotes.experiments.base import Context, Control
from deepnotes.models.seq2seq import Seq2Seq
from deepnotes.nn.attention import attention_weights
from deepnotes.registry import EXPERIMENTS, MODELS
from deepnotes.tasks.language import TranslationTask, attention_maps
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import eval_batches


@EXPERIMENTS.register(
    "attention",
    ExperimentCard(
        title="Attention: the formula against torch's kernel, the causal mask, a translator's maps",
        topic="8. Sequence models",
        concepts=["scaled dot-product attention", "causal mask", "encoder-decoder", "alignment"],
        formulas=(
            r"\operatorname{Attention}(Q, K, V) = "
            r"\operatorname{softmax}\left(\frac{Q K^\top}{\sqrt{d}} + M\right) V",
            r"M_{ij} = 0 \text{ for } j \le i, \quad M_{ij} = -\infty \text{ for } j > i",
        ),
        code=(
            "deepnotes.nn.attention.attention_weights",
            "deepnotes.nn.attention.scaled_dot_product_attention",
            "deepnotes.nn.attention.causal_mask",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        188,
        "attention is essentially a mechanism where, rather than taking averages over a bunch of "
        "vectors, we're using a separate function to gate how that average should be computed",
    )
    formula_and_mask(ctx)
    translator(ctx)


def formula_and_mask(ctx: Context) -> None:
    g = torch.Generator().manual_seed(ctx.seed)
    q, k, v = (torch.randn(2, 4, 12, 16, generator=g, dtype=torch.float64) for _ in range(3))
    errors = []
    for causal in (False, True):
        ours = dn.scaled_dot_product_attention(q, k, v, is_causal=causal)
        theirs = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        errors.append(float((ours - theirs).norm() / theirs.norm()))
    ctx.claim(
        "readable-attention-equals-torch",
        "softmax(QKᵀ/√d + M)V written out equals F.scaled_dot_product_attention "
        "(largest relative error, float64, with and without the causal mask)",
        measured=max(errors),
        op="<=",
        target=1e-12,
    )
    torch.manual_seed(ctx.seed)
    # the readable attention, whose causal mask is the package's own (torch's kernel builds none)
    gpt = MODELS.create(
        "gpt_char", num_classes=20, input_size=(16,), n_layer=2, impl="deepnotes"
    ).eval()
    text = torch.randint(0, 20, (1, 16), generator=g)
    changed = text.clone()
    changed[0, 10:] = (changed[0, 10:] + 7) % 20  # rewrite the future from position 10 on
    with torch.no_grad():
        before, after = gpt(text), gpt(changed)
    ctx.claim(
        "causal-mask-hides-the-future",
        "changing characters 10–15 changes no prediction at positions 0–9 (largest |Δ logit|)",
        measured=float((before[0, :10] - after[0, :10]).abs().max()),
        op="==",
        target=0.0,
    )
    ctx.claim(
        "later-predictions-do-change",
        "…while the predictions from position 10 on do change (largest |Δ logit|)",
        measured=float((before[0, 10:] - after[0, 10:]).abs().max()),
        op=">",
        target=0.0,
        control=Control(
            "positions 0–9, which the mask hides the change from",
            float((before[0, :10] - after[0, :10]).abs().max()),
        ),
    )
    weights = attention_weights(q[0, 0], k[0, 0], is_causal=True).numpy()
    fig, ax = plt.subplots(figsize=(4, 3.6))
    image = ax.imshow(weights, cmap="viridis")
    fig.colorbar(image, ax=ax)
    ax.set(xlabel="key position", ylabel="query position", title="Causal attention weights")
    ctx.figure(fig, "causal-weights.png", "Weights above the diagonal are exactly 0")


def translator(ctx: Context) -> None:
    bundle = load_data("numbers-en-fr", DataRequest(seed=ctx.seed))
    torch.manual_seed(ctx.seed)
    task = TranslationTask()
    model = Seq2Seq(len(bundle.target_vocabulary), bundle.input_size, hidden_size=64)
    test_batches = eval_batches(bundle, "test", 500, torch.device("cpu"))
    untrained_exact = task.evaluate(copy.deepcopy(model).eval(), test_batches)["exact_match"]
    steps = 400 if ctx.quick else 3000
    _, metrics = fit_in_memory(
        model, task, bundle, max_steps=steps, batch_size=64, lr=3e-3, grad_clip=1.0, seed=ctx.seed
    )
    ctx.figure(
        attention_maps(model, bundle),
        "translator-attention.png",
        "The translator's attention, one row per French word it wrote, over the English words",
    )
    counterparts, mille = alignment(model, bundle)
    chance, _ = alignment(model, bundle, focus=random_focus(ctx.seed))
    ctx.table(
        f"The translator after {steps} steps of 64 sentences (hidden 64), on 2,000 unseen numbers",
        [
            "exact match",
            "BLEU-4",
            "number words attending to their English",
            "'mille' on 'thousand'",
        ],
        [
            [
                f"{metrics['test_exact_match']:.4f}",
                f"{metrics['test_bleu']:.4f}",
                f"{counterparts:.3f}",
                f"{mille:.3f}",
            ]
        ],
    )
    ctx.claim(
        "translator-exact",
        "test numbers translated word for word exactly (share)",
        measured=metrics["test_exact_match"],
        op=">=",
        target=0.9,
        control=Control("the same translator untrained", untrained_exact),
    )
    ctx.claim(
        "attention-aligns-the-words",
        "as it writes cinq, sept, huit, neuf, trente, quarante or cinquante, the translator's "
        "strongest attention is on the English word it translates (share)",
        measured=counterparts,
        op=">=",
        target=0.8,
        control=Control("an English word drawn at random for each French word", chance),
    )
    ctx.note(
        "Words without a one-word counterpart look elsewhere: as it writes 'mille' the decoder "
        f"already knows it from its state, and only {100 * mille:.0f}% of its strongest "
        "attention is on 'thousand'; it is usually on the group that follows."
    )


COUNTERPARTS = {  # French number words and the English words they translate
    "cinq": {"five"},
    "sept": {"seven", "seventeen"},  # dix-sept = seventeen
    "huit": {"eight", "eighteen"},
    "neuf": {"nine", "nineteen"},
    "trente": {"thirty"},
    "quarante": {"forty"},
    "cinquante": {"fifty"},
}


Focus = Callable[[Tensor, int], int]


def strongest(weights: Tensor, length: int) -> int:
    """The source position a row of attention weights puts the most on."""
    return int(weights.argmax())


def random_focus(seed: int) -> Focus:
    """A focus that ignores the weights: a source word drawn uniformly — chance alignment."""
    generator = torch.Generator().manual_seed(seed)
    return lambda weights, length: int(torch.randint(length, (), generator=generator))


@torch.no_grad()
def alignment(model: Seq2Seq, bundle, focus: Focus = strongest) -> tuple[float, float]:
    """Where the strongest attention falls as the translator writes a word: the share of the
    French words of `COUNTERPARTS` looking at their English counterpart, and the share of
    "mille" looking at "thousand" (or the comma after it). `focus` picks the source position
    from a row of weights and the sentence's length."""
    model.eval()
    source_words, target_words = bundle.source_vocabulary.tokens, bundle.target_vocabulary.tokens
    hits = {"counterparts": [0, 0], "mille": [0, 0]}
    for source, lengths, _, _ in bundle.loader("test", 500):
        words, weights = model.greedy(source, lengths)
        for i in range(len(source)):
            for t, word in enumerate(strip(words[i])):
                french = target_words[word]
                english = source_words[int(source[i, focus(weights[i, t], int(lengths[i]))])]
                if french in COUNTERPARTS:
                    hits["counterparts"][0] += english in COUNTERPARTS[french]
                    hits["counterparts"][1] += 1
                elif french == "mille":
                    hits["mille"][0] += english in ("thousand", ",")
                    hits["mille"][1] += 1
    return tuple(found / max(total, 1) for found, total in hits.values())
