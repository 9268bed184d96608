"""Tasks: how one batch becomes losses and metrics, so the trainer knows no model.

The trainer runs the same loop for every model: for each batch it calls
`task.training_step(model, batch, update)`, and at the end of an epoch
`task.evaluate(model, loader)`. A task is the only place that knows what a
batch holds and what the loss is:

    classification   (x, y) or (x, lengths, y) → cross-entropy, accuracy   (this file)
    segmentation     (x, mask) → per-pixel cross-entropy, mean IoU
    language model   (tokens, next tokens) → nats per character
    node             one graph with split masks → masked cross-entropy
    vae / gan / ctc  live beside their models, where the lesson is

`update(loss, name="model")` is the trainer's optimiser step (zero_grad,
backward, clip, step, with a NaN check first). A task with several
optimisers — a GAN's discriminator and generator — names them in
`optimizers()` and calls `update` once per player, in its own order; so a new
task adds a class, never a change to the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from deepnotes.data.base import DataBundle
from deepnotes.registry import TASKS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Update = Callable[..., None]  # update(loss: Tensor, name: str = "model") -> None


class Task:
    """Base class: one model, one optimiser, a loss computed by `loss()`.

    Subclasses set `data_kinds` (the `DataBundle.kind`s they accept) and implement
    `loss` and `evaluate`; tasks with several optimisers override `optimizers`
    and `training_step`.
    """

    name = "task"
    data_kinds: tuple[str, ...] = ()
    data_tasks: tuple[str, ...] | None = None  # the data sets' registered tasks it accepts (any)
    data_options: ClassVar[dict[str, Any]] = {}  # extra DataRequest fields, e.g. normalize=False
    drop_last = False  # train on full batches only (a GAN: a batch of 3 is a noisy game step)
    # trains on several processes: its loss goes through model(...) (where
    # DistributedDataParallel hooks in) on batches of a map-style data set it can shard
    distributable = False

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        """Constructor arguments the data decides (classes, input size, vocabulary)."""
        return {}

    def setup(self, bundle: DataBundle) -> None:
        """Called once with the run's data, before training or evaluating: a task whose metrics
        need more than the batches (a GAN's FID classifier, known modes) keeps it here."""

    def initialize(self, model: nn.Module) -> None:
        """Called once on a new model before training: weights from elsewhere (a GAN's
        generator from a trained VAE) go in here. Nothing by default."""

    def optimizers(self, model: nn.Module) -> dict[str, Iterable]:
        """Parameters by optimiser name; the trainer builds one optimiser for each name.

        A value may also be a list of torch param-group dicts, which can carry their own
        settings, e.g. a discriminator's larger learning rate (TTUR):
        `{"discriminator": [{"params": D.parameters(), "lr": 4e-4}], "generator": ...}`.
        """
        return {"model": model.parameters()}

    def training_step(
        self, model: nn.Module, batch: Any, update: Update
    ) -> dict[str, torch.Tensor]:
        """One optimisation step on `batch`; returns per-batch logs (means over the batch)."""
        loss, logs = self.loss(model, batch)
        update(loss)
        return logs

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def batch_size(self, batch: Any) -> int:
        """Examples in a batch, the weight of its logs in an epoch's mean (override for masks)."""
        first = batch[0] if isinstance(batch, (list, tuple)) else batch
        return len(first)

    def evaluate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Metrics over a whole split: each batch's logs weighted by its size."""
        totals, count = self.evaluation_totals(model, batches)
        return {key: total / count for key, total in totals.items()}

    @torch.no_grad()
    def evaluation_totals(
        self, model: nn.Module, batches: Iterable[Any]
    ) -> tuple[dict[str, float], int]:
        """Σ over examples of each logged metric, and the number of examples."""
        totals: dict[str, float] = {}
        count = 0
        for batch in batches:
            _, logs = self.loss(model, batch)
            n = self.batch_size(batch)
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + float(value) * n
            count += n
        return totals, count

    def metrics_are_means(self) -> bool:
        """Whether every metric is a mean over examples (`evaluate` not overridden), so
        shares of a split can be evaluated apart and their totals summed."""
        return type(self).evaluate is Task.evaluate

    def epoch_figures(self, model: nn.Module, epoch: int) -> dict[str, Figure]:
        """Figures to keep after every epoch, by name (a GAN's samples from fixed noise)."""
        return {}

    def figures(self, model: nn.Module, bundle: DataBundle) -> dict[str, Figure]:
        """Figures of the trained model by file name, saved beside the run's summary.

        None here; a segmentation task draws its predictions, a generative one its samples.
        """
        return {}

    def texts(self, model: nn.Module, bundle: DataBundle) -> dict[str, str]:
        """Text outputs of the trained model by file name (a language model's sample), saved
        beside the summary and printed by `deepnotes train`. None here."""
        return {}


@TASKS.register("classification")
class ClassificationTask(Task):
    """Predict one class per example: cross-entropy loss, accuracy.

    loss = −(1/B) Σ_b log softmax(f(x_b))[y_b]
    """

    name = "classification"
    data_kinds = ("images", "vectors", "audio")
    data_tasks = ("classification",)
    distributable = True

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        return {"num_classes": bundle.num_classes, "input_size": bundle.input_size}

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        *inputs, y = batch  # (x, y), or (frames, lengths, y) for recordings of any length
        logits = model(*inputs)  # (B, num_classes)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        return loss, {"loss": loss.detach(), "acc": acc}

    def batch_size(self, batch: Any) -> int:
        return len(batch[-1])

    @torch.no_grad()
    def predict(
        self, model: nn.Module, batches: Iterable[Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted classes, true classes) over a split, for confusion matrices."""
        predicted, true = [], []
        for *inputs, y in batches:
            predicted.append(model(*inputs).argmax(dim=1).cpu())
            true.append(y.cpu())
        return torch.cat(predicted), torch.cat(true)


@TASKS.register("segmentation")
class SegmentationTask(Task):
    """Predict one class per pixel: per-pixel cross-entropy, pixel accuracy, mean IoU.

    loss = −(1/(B·H·W)) Σ_{b,i,j} log softmax(f(x_b)[:, i, j])[y_{b,i,j}]

    The model maps (B, C, H, W) images to (B, K, H, W) class scores; masks are
    (B, H, W) class indices. `evaluate` adds one confusion matrix up over the
    whole split and computes the metrics from it at the end: IoU is a ratio of
    pixel counts, and a mean of per-batch IoUs would weigh a batch where a class
    has 3 pixels like one where it has 3,000.
    """

    name = "segmentation"
    data_kinds = ("images",)
    data_tasks = ("segmentation",)
    distributable = True

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        return {"num_classes": bundle.num_classes, "input_size": bundle.input_size}

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, masks = batch  # (B, C, H, W), (B, H, W)
        logits = model(x)  # (B, K, H, W)
        loss = F.cross_entropy(logits, masks)  # mean over every pixel of every image
        pixel_acc = (logits.argmax(dim=1) == masks).float().mean()
        return loss, {"loss": loss.detach(), "pixel_acc": pixel_acc}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Loss and pixel accuracy over every pixel of the split, and the mean IoU."""
        confusion = None
        loss_sum = 0.0
        for x, masks in batches:
            logits = model(x)  # (B, K, H, W)
            loss_sum += float(F.cross_entropy(logits, masks, reduction="sum"))
            counts = confusion_matrix(logits.argmax(dim=1), masks, logits.shape[1])
            confusion = counts if confusion is None else confusion + counts
        pixels = float(confusion.sum())
        return {
            "loss": loss_sum / pixels,
            "pixel_acc": float(confusion.trace()) / pixels,
            "miou": mean_iou(confusion),
        }

    def figures(self, model: nn.Module, bundle: DataBundle) -> dict[str, Figure]:
        """The test images with their true and predicted masks over them."""
        from deepnotes.data.segmentation import prediction_overlays

        return {"predictions.png": prediction_overlays(model, bundle)}


def confusion_matrix(predicted: torch.Tensor, true: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts: entry [t, p] is the number of pixels of true class t predicted as p."""
    pairs = true.flatten() * num_classes + predicted.flatten()  # one bin per (t, p)
    counts = torch.bincount(pairs, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu()


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean intersection over union over the classes, from a (K, K) confusion matrix C.

        IoU_c = |pred_c ∩ true_c| / |pred_c ∪ true_c| = C_cc / (Σ_p C_cp + Σ_t C_tc − C_cc)

    averaged over every class, background included, that appears in the truth
    or the prediction; a class absent from both has 0/0 and is skipped (as
    scikit-learn's `jaccard_score(average="macro")` does with its default labels).
    """
    confusion = confusion.double()
    intersection = confusion.diagonal()  # (K,)
    union = confusion.sum(dim=1) + confusion.sum(dim=0) - intersection  # (K,)
    present = union > 0
    return float((intersection[present] / union[present]).mean())


@TASKS.register("language-model")
class LanguageModelTask(Task):
    """Predict every next character: cross-entropy in nats per character.

    loss = −(1/(B·T)) Σ_{b,t} log p(x_{b,t+1} | x_{b,≤t})

    The model maps (B, T) character ids to (B, T, vocabulary) logits. Logs are
    weighted by the characters predicted, so a split's loss is its mean over every
    character. Weight decay, when asked for, reaches only the weight matrices and
    embeddings (biases and normalisation gains are left alone, as in GPT-2).
    """

    name = "language-model"
    data_kinds = ("text",)
    data_tasks = ("language-model",)
    sample_length = 500
    betas = (0.9, 0.99)  # nanoGPT's for small character models: a shorter memory of g²

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        # the zoo's names: the classes are the characters, the input a block of them
        return {"num_classes": bundle.num_classes, "input_size": (bundle.block_size,)}

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

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, y = batch  # (B, T) each
        logits = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        return loss, {"loss": loss.detach()}

    def batch_size(self, batch: Any) -> int:
        return batch[1].numel()  # characters predicted

    def texts(self, model: nn.Module, bundle: DataBundle) -> dict[str, str]:
        prompt = bundle.vocabulary.encode("\n" if "\n" in bundle.vocabulary.index else " ")
        generator = torch.Generator().manual_seed(0)
        ids = model.generate(prompt, self.sample_length, generator=generator)
        return {"sample.txt": bundle.vocabulary.decode(ids) + "\n"}


@TASKS.register("node")
class NodeClassificationTask(Task):
    """Classify the nodes of one graph, trained full-batch: cross-entropy over the split's
    nodes only, all nodes' features and edges seen (semi-supervised, Kipf & Welling).

    loss = −(1/|S|) Σ_{i ∈ S} log softmax(f(X, A)_i)[y_i],   S the split's labelled nodes

    A model may name its own parameter groups (`parameter_groups()`), e.g. GCN's weight
    decay on the first layer only.
    """

    name = "node"
    data_kinds = ("graph",)
    data_tasks = ("node",)

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        return {"num_classes": bundle.num_classes, "input_size": bundle.input_size}

    def optimizers(self, model: nn.Module) -> dict[str, Iterable]:
        if hasattr(model, "parameter_groups"):
            return {"model": model.parameter_groups()}
        return super().optimizers(model)

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, edge_index, y, mask = batch
        logits = model(x, edge_index)[mask]  # (|S|, classes)
        loss = F.cross_entropy(logits, y[mask])
        acc = (logits.argmax(dim=1) == y[mask]).float().mean()
        return loss, {"loss": loss.detach(), "acc": acc}

    def batch_size(self, batch: Any) -> int:
        return int(batch[3].sum())  # labelled nodes of the split
