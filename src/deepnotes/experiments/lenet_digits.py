"""LeNet on handwritten digits (notes, weeks 3–4): the first CNN, then its modern variant.

Trains LeCun's LeNet-5 (sigmoid, average pooling) and the variant with ReLU
and max pooling on scikit-learn's 8×8 digits, upsampled to LeNet's 28×28,
through the same trainer that `deepnotes train` uses. Claims: the ReLU LeNet
reaches 97% test accuracy, and it learns faster than the sigmoid one, as the
notes explain (sigmoid saturates, so its gradients vanish).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Context
from deepnotes.registry import EXPERIMENTS, MODELS
from deepnotes.train.config import TrainConfig
from deepnotes.train.run import train
from deepnotes.train.runs import load_trained
from deepnotes.train.trainer import eval_batches


@EXPERIMENTS.register(
    "lenet-digits",
    ExperimentCard(
        title="LeNet on digits: sigmoid and average pooling vs ReLU and max pooling",
        topic="4. Architectures",
        concepts=["LeNet", "sigmoid saturation", "ReLU", "learning curves"],
    ),
)
def run(ctx: Context) -> None:
    epochs = 15 if ctx.quick else 30
    runs = {}
    for model in ("lenet5_relu", "lenet5"):
        config = TrainConfig(
            **{
                **MODELS.card(model).train_defaults,
                "model": model,
                "data": "digits",
                "epochs": epochs,
                "seed": ctx.seed,
                "data_dir": ctx.data_dir,
                "progress": False,
            }
        )
        runs[model] = train(config, ctx.out_dir / model)
    histories = {m: read_history(ctx.out_dir / m / "metrics.csv") for m in runs}

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for model, history in histories.items():
        left.plot(history["epoch"], history["train_loss"], label=f"{model} train")
        left.plot(history["epoch"], history["val_loss"], "--", label=f"{model} val")
        right.plot(history["epoch"], history["val_acc"], label=model)
    left.set(xlabel="epoch", ylabel="cross-entropy (nats)", title="Loss", yscale="log")
    right.set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy", ylim=(0, 1))
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "learning-curves.png",
        "Learning curves on digits (8×8 upsampled to 28×28): "
        "the sigmoid LeNet sits on a plateau while the ReLU LeNet learns at once.",
    )

    relu = runs["lenet5_relu"]["metrics"]
    sigmoid = runs["lenet5"]["metrics"]
    ctx.table(
        "Test metrics",
        ["model", "test accuracy", "test loss", "parameters", "train s"],
        [
            [
                m,
                r["metrics"]["test_acc"],
                r["metrics"]["test_loss"],
                r["params"],
                r["timing"]["train_s"],
            ]
            for m, r in runs.items()
        ],
    )
    ctx.claim(
        "lenet-relu-97",
        "LeNet with ReLU and max pooling reaches 97% test accuracy on digits",
        relu["test_acc"],
        ">=",
        0.97,
    )
    early = min(3, epochs) - 1
    ctx.claim(
        "relu-learns-faster",
        f"Sigmoid saturates: after {early + 1} epochs the ReLU LeNet's validation loss is "
        "lower than the sigmoid LeNet's (ratio sigmoid / ReLU)",
        float(histories["lenet5"]["val_loss"][early] / histories["lenet5_relu"]["val_loss"][early]),
        ">",
        1.0,
    )
    ctx.claim(
        "sigmoid-lenet-learns",
        "The original sigmoid LeNet also learns digits, given time "
        "(test accuracy well above the 10% of chance)",
        sigmoid["test_acc"],
        ">=",
        0.5,
    )

    confusion = confusion_matrix(*predictions(runs["lenet5_relu"]))
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ConfusionMatrixDisplay(confusion, display_labels=list(range(10))).plot(ax=ax, colorbar=False)
    ax.set_title("LeNet (ReLU) on the digits test split")
    ctx.figure(
        fig,
        "confusion.png",
        "Confusion matrix of the ReLU LeNet on the test split: rows are "
        "true digits, columns predicted.",
    )


def read_history(path) -> dict[str, np.ndarray]:
    """Columns of a run's metrics.csv as arrays."""
    data = np.genfromtxt(path, delimiter=",", names=True)
    return {name: np.atleast_1d(data[name]) for name in data.dtype.names}


def predictions(summary: dict) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) test labels of a finished run, from its saved weights."""
    model, task, bundle, device = load_trained(summary["out"])
    predicted, true = task.predict(model, eval_batches(bundle, "test", 512, device))
    return true.numpy(), predicted.numpy()
