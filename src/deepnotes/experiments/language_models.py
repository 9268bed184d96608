"""Character language models on one budget (notes, week 8): RNN, LSTM, GRU, Transformer.

Each model reads blocks of 64 characters and predicts every next one; all four
train for the same number of steps on the same batches of 12 blocks, and are
scored by the validation loss over the whole validation split, in nats per
character (bits = nats / ln 2). The floor to beat is the unigram model — every
character drawn from the training text's character frequencies, no context:
its loss is the cross-entropy of the validation text under those frequencies.
The control for each model is the same network untrained: about ln(vocabulary)
nats, worse than the unigram model.

The text is tiny-shakespeare when a data root holds it (`../shared/datasets`
in the tests), else Python's own documentation topics, which ship with Python.
"""

from __future__ import annotations

import copy
import math
import time

import matplotlib.pyplot as plt
import torch

from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.text import TextBundle
from deepnotes.experiments.base import Context, Control
from deepnotes.io import data_roots
from deepnotes.registry import DATASETS, EXPERIMENTS, MODELS
from deepnotes.tasks.language import LanguageModelTask
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import eval_batches

MODEL_NAMES = ("char_rnn", "char_lstm", "char_gru", "gpt_char")


@EXPERIMENTS.register(
    "language-models",
    ExperimentCard(
        title="Character language models on one budget: RNN, LSTM, GRU and a Transformer",
        topic="8. Sequence models",
        concepts=["language model", "nats per character", "LSTM", "Transformer", "sampling"],
        formulas=(
            r"\mathcal{L} = -\frac{1}{T} \sum_{t=1}^{T} \log p_\theta\left(c_t \mid "
            r"c_{<t}\right), \quad \text{bits} = \frac{\text{nats}}{\ln 2}",
            r"\mathcal{L}_{\mathrm{unigram}} = -\frac{1}{T} \sum_{t=1}^{T} \log \hat p(c_t), "
            r"\quad \mathcal{L}_{\mathrm{untrained}} \approx \ln V",
        ),
        code=(
            "deepnotes.tasks.language.LanguageModelTask.loss",
            "deepnotes.experiments.language_models.unigram_loss",
            "deepnotes.models.charlm.CharRNN",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        193,
        "Week6 RNN, LSTM, Attention, Transformers",
    )
    bundle = text_data(ctx)
    steps = 250 if ctx.quick else 2000
    baseline = unigram_loss(bundle)
    rows, losses, samples, untrained = [], {}, {}, {}
    for name in MODEL_NAMES:
        ctx.stage(f"training {name}, {steps} steps")
        torch.manual_seed(ctx.seed)
        model = MODELS.create(name, num_classes=bundle.num_classes, input_size=(64,))
        untrained[name] = validation_loss(copy.deepcopy(model), bundle)
        defaults = MODELS.card(name).train_defaults
        settings = {k: v for k, v in defaults.items() if k not in ("max_steps", "block_size")}
        start = time.perf_counter()
        _, metrics = fit_in_memory(
            model, LanguageModelTask(), bundle, **{**settings, "max_steps": steps}, seed=ctx.seed
        )
        seconds = time.perf_counter() - start
        losses[name] = metrics["val_loss"]
        prompt = bundle.vocabulary.encode("\n")
        text = model.generate(
            prompt, 160, temperature=0.8, generator=torch.Generator().manual_seed(0)
        )
        samples[name] = bundle.vocabulary.decode(text).strip()
        params = sum(p.numel() for p in model.parameters())
        rows.append(
            [
                name,
                f"{params:,}",
                f"{losses[name]:.3f}",
                f"{losses[name] / math.log(2):.3f}",
                f"{seconds:.0f} s",
            ]
        )
    rows.append(
        ["unigram frequencies", "—", f"{baseline:.3f}", f"{baseline / math.log(2):.3f}", "—"]
    )
    ctx.table(
        f"{bundle.name}, {steps} steps of 12 blocks of 64 characters each: validation loss "
        "over the whole validation split",
        ["model", "parameters", "nats / char", "bits / char", "training time"],
        rows,
    )
    ctx.table(
        "Samples (temperature 0.8), 160 characters after a newline",
        ["model", "sample"],
        [[name, text.replace("\n", " ⏎ ")] for name, text in samples.items()],
    )
    for name in MODEL_NAMES:
        ctx.claim(
            f"{name}-beats-unigram",
            f"{name}'s validation loss is below the unigram model's (nats per character)",
            measured=losses[name],
            op="<",
            target=baseline,
            control=Control(f"{name} untrained", untrained[name]),
        )
    best = min(losses, key=losses.get)
    ctx.claim(
        "context-helps",
        "the best model's loss is at least 25% below the unigram model's (ratio)",
        measured=losses[best] / baseline,
        op="<=",
        target=0.75,
        control=Control(f"{best} untrained", untrained[best] / baseline),
    )
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.bar(range(len(losses)), list(losses.values()), color="C0")
    ax.axhline(baseline, color="C3", label="unigram frequencies")
    ax.set_xticks(range(len(losses)), list(losses))
    ax.set(ylabel="validation nats / character", title=f"{steps} steps each")
    ax.legend()
    ctx.figure(fig, "validation-loss.png", "Validation loss of each model on the same budget")


def text_data(ctx: Context) -> TextBundle:
    """tiny-shakespeare from a data root if there, else the embedded documentation text."""
    roots = data_roots(ctx.data_dir)
    if DATASETS.card("tinyshakespeare").first_root(roots) is not None:
        return load_data("tinyshakespeare", DataRequest(roots=roots, block_size=64))
    ctx.note("tiny-shakespeare not found under the data roots: Python's documentation text used")
    return load_data("pydoc-topics", DataRequest(block_size=64))


def validation_loss(model: torch.nn.Module, bundle: TextBundle) -> float:
    """Mean cross-entropy per character over the whole validation split (nats)."""
    batches = eval_batches(bundle, "val", 64, torch.device("cpu"))
    return LanguageModelTask().evaluate(model.eval(), batches)["loss"]


def unigram_loss(bundle: TextBundle) -> float:
    """Cross-entropy of the validation characters under the training characters' frequencies
    (add-one smoothing, so a character unseen in training costs a finite amount)."""
    counts = torch.bincount(bundle.tokens["train"], minlength=bundle.num_classes).double() + 1
    log_p = (counts / counts.sum()).log()
    return float(-log_p[bundle.tokens["val"]].mean())
