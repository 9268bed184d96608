"""Tasks on recordings.

ctc   frames of a spoken digit string → the CTC loss; label error rate of greedy decoding
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Generator, Tensor, nn

from deepnotes.metrics import edit_distance
from deepnotes.nn.ctc import CTCLoss, decode
from deepnotes.registry import TASKS
from deepnotes.tasks.base import Examples, Inputs, Shape, Task


@TASKS.register("ctc")
class CTCTask(Task):
    """Read a digit string from frames: the CTC loss (`deepnotes.nn.CTCLoss`, blank = 0), and
    the label error rate of greedy decoding, edit distance / reference length (Σ over the
    split), with the share of strings read exactly."""

    name = "ctc"
    data_kinds = ("audio",)
    data_tasks = ("ctc",)
    distributable = True

    def __init__(self) -> None:
        self.criterion = CTCLoss(blank=0, zero_infinity=True)

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """Strings of 100 frames, every second one 57 frames long (padded)."""
        lengths = torch.tensor([100 - 43 * (i % 2) for i in range(examples.batch)])
        frames = torch.randn(examples.batch, 100, *examples.input_size, generator=generator)
        return frames, lengths

    def outputs(self, model: nn.Module, inputs: Sequence[Any]) -> Tensor:
        log_probs, _ = model(*inputs)  # (T', B, C) and the frames kept of each string (B,)
        return log_probs

    def output_shape(self, examples: Examples) -> Shape:
        # T' frames after the model's subsampling
        return (None, examples.batch, examples.num_classes)

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        x, lengths, targets, target_lengths = batch
        log_probs, steps = model(x, lengths)  # (T', B, C), (B,)
        loss = self.criterion(log_probs, targets, steps, target_lengths)
        return loss, {"loss": loss.detach()}

    def batch_size(self, batch: Any) -> int:
        return len(batch[1])

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        loss_sum = errors = reference = exact = strings = 0.0
        for x, lengths, targets, target_lengths in batches:
            log_probs, steps = model(x, lengths)
            loss_sum += float(self.criterion(log_probs, targets, steps, target_lengths)) * len(x)
            for i, decoded in enumerate(decode(log_probs, steps)):
                truth = targets[i, : int(target_lengths[i])].tolist()
                errors += edit_distance(decoded, truth)
                reference += len(truth)
                exact += decoded == truth
            strings += len(x)
        return {
            "loss": loss_sum / strings,
            "label_error_rate": errors / max(reference, 1),
            "exact": exact / strings,
        }
