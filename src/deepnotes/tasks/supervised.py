"""Supervised tasks with one label per example or per pixel.

classification         (x, y) → cross-entropy, accuracy
audio-classification   (frames, lengths, y): recordings of any length
segmentation           (x, mask) → per-pixel cross-entropy, pixel accuracy, mean IoU
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Generator, Tensor, nn

from deepnotes.data.base import DataBundle
from deepnotes.figures import mask_overlays
from deepnotes.metrics import confusion_matrix, mean_iou
from deepnotes.registry import TASKS
from deepnotes.tasks.base import Examples, Inputs, Shape, Task, Update

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@TASKS.register("classification")
class ClassificationTask(Task):
    """Predict one class per example: cross-entropy loss, accuracy.

    loss = −(1/B) Σ_b log softmax(f(x_b))[y_b]

    Shape: the model maps (B, *input_size) to (B, num_classes) logits.
    """

    name = "classification"
    data_kinds: tuple[str, ...] = ("images", "vectors")
    data_tasks = ("classification",)
    distributable = True

    def __init__(
        self, augment: Callable[[Tensor], Tensor] | None = None, drop_last: bool = False
    ) -> None:
        self.augment = augment  # applied afresh to each training batch's inputs, if given
        self.drop_last = drop_last  # full batches only (BatchNorm cannot normalise one example)

    def training_step(self, model: nn.Module, batch: Any, update: Update) -> dict[str, Tensor]:
        """One step, on the batch's inputs transformed by `augment` (data augmentation)."""
        if self.augment is not None:
            x, *rest = batch
            batch = (self.augment(x), *rest)
        return super().training_step(model, batch, update)

    def output_shape(self, examples: Examples) -> Shape:
        return (examples.batch, examples.num_classes)

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        *inputs, y = batch  # (x, y), or (frames, lengths, y) for recordings of any length
        logits = model(*inputs)  # (B, num_classes)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        return loss, {"loss": loss.detach(), "acc": acc}

    def batch_size(self, batch: Any) -> int:
        return len(batch[-1])

    @torch.no_grad()
    def predict(self, model: nn.Module, batches: Iterable[Any]) -> tuple[Tensor, Tensor]:
        """(predicted classes, true classes) over a split, for confusion matrices."""
        predicted, true = [], []
        for *inputs, y in batches:
            predicted.append(model(*inputs).argmax(dim=1).cpu())
            true.append(y.cpu())
        return torch.cat(predicted), torch.cat(true)


@TASKS.register("audio-classification")
class AudioClassificationTask(ClassificationTask):
    """Classification of recordings of any length: a batch is (frames, lengths, y), frames
    (B, T, bands) padded to the longest recording and `lengths` the frames of each."""

    name = "audio-classification"
    data_kinds = ("audio",)

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """Recordings of 50 frames, every second one 37 frames long (padded)."""
        lengths = torch.tensor([50 - 13 * (i % 2) for i in range(examples.batch)])
        frames = torch.randn(examples.batch, 50, *examples.input_size, generator=generator)
        return frames, lengths


@TASKS.register("segmentation")
class SegmentationTask(Task):
    """Predict one class per pixel: per-pixel cross-entropy, pixel accuracy, mean IoU.

    loss = −(1/(B·H·W)) Σ_{b,i,j} log softmax(f(x_b)[:, i, j])[y_{b,i,j}]

    The model maps (B, C, H, W) images to (B, K, H, W) class scores; masks are
    (B, H, W) class indices. `evaluate` adds one confusion matrix up over the
    whole split and computes the metrics from it at the end (`deepnotes.metrics`).
    """

    name = "segmentation"
    data_kinds = ("images",)
    data_tasks = ("segmentation",)
    distributable = True

    def output_shape(self, examples: Examples) -> Shape:
        # a valid U-Net's output is smaller than its input
        return (examples.batch, examples.num_classes, None, None)

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
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
        """The first test images with their true and predicted masks over them."""
        return {"predictions.png": self.prediction_overlays(model, bundle)}

    @torch.no_grad()
    def prediction_overlays(
        self, model: nn.Module, bundle: DataBundle, count: int = 6, split: str = "test"
    ) -> Figure:
        """The first `count` images of a split: each image, its true mask and the model's
        prediction (argmax over classes) over it."""
        images, masks = bundle.split(split)[:count]  # (n, C, H, W), (n, H, W)
        was_training = model.training
        model.eval()
        predicted = model(images.to(next(model.parameters()).device)).argmax(dim=1)  # (n, H, W)
        model.train(was_training)
        classes = bundle.classes or [str(c) for c in range(bundle.num_classes)]
        return mask_overlays(bundle.pixels(images), masks, predicted, classes)


@TASKS.register("regression")
class RegressionTask(Task):
    """Predict real-valued targets: the mean squared error.

    loss = (1/(B·D)) Σ_{b,d} (f(x_b)_d − y_{b,d})²

    Shape: the model maps (B, *input_size) to (B, D), the targets' shape.
    """

    name = "regression"
    data_kinds = ("vectors",)
    data_tasks = ("regression",)
    has_classes = False
    distributable = True

    def output_shape(self, examples: Examples) -> Shape:
        return (examples.batch, None)

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = batch
        loss = F.mse_loss(model(x), y)
        return loss, {"loss": loss.detach()}
