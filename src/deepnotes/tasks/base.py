"""The `Task`: how one batch becomes losses and metrics, so the trainer knows no model.

The trainer (`deepnotes.train`) runs the same loop for every model: for each
batch it calls `task.training_step(model, batch, update)`, and at the end of an
epoch `task.evaluate(model, batches)`. A task is the only place that knows what
a batch holds, what the model takes and gives, what the loss is, how the trained
model is judged, drawn and sampled:

    loss(model, batch)                 the objective (required)
    output_shape(examples)             what the model gives for a batch (required)
    example_input(examples)            random inputs of the right kind (tests, summaries)
    outputs(model, inputs)             the model's scores on inputs
    training_step(model, batch, update), optimizers(model)   one step, one or more players
    evaluate(model, batches)           metrics over a split
    figures / epoch_figures / texts    what a run folder keeps
    sample(model, bundle, request)     what `deepnotes sample` draws

`update(loss, name="model")` is the trainer's optimiser step (zero_grad,
backward, clip, step, with a NaN check first). A task with several optimisers —
a GAN's discriminator and generator — names them in `optimizers()` and calls
`update` once per player, in its own order; so a new task adds a class, never a
change to the loop.

Tasks sit below the models and the trainer (docs/ARCHITECTURE.md): a task calls
its model's methods without importing the model's module, and what a task needs
that only the layer preparing runs can make — a model trained in another run, a
classifier trained for FID features — it asks of the `Runs` it is given in `setup`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import Generator, Tensor, nn

from deepnotes.data.base import DataBundle
from deepnotes.errors import UserError
from deepnotes.generative.fid import FeatureExtractor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Update = Callable[..., None]  # update(loss: Tensor, name: str = "model") -> None
Shape = tuple[int | None, ...]  # an expected shape; None where any size fits
Inputs = tuple[Any, ...]  # a model's positional arguments


@dataclass(frozen=True)
class Examples:
    """Which examples to make up: `batch` of them, each of `input_size`, for a model with
    `num_classes` outputs (the vocabulary of a language model; None without classes)."""

    batch: int
    input_size: tuple[int, ...]
    num_classes: int | None = None


class Runs(Protocol):
    """What a task may ask of the layer that prepares runs (`deepnotes.train.runs.RUNS`)."""

    def load(self, run_dir: str) -> nn.Module:
        """The trained model of a run folder, on the CPU, in eval mode."""
        ...

    def feature_classifier(self, bundle: DataBundle) -> FeatureExtractor:
        """A classifier trained on the bundle's training split, as a feature extractor: its
        penultimate layer, with its test `accuracy` (for FID in the data's own features)."""
        ...


@dataclass(frozen=True)
class SampleRequest:
    """What `deepnotes sample` asks for: how many, from which seed, and for text the prompt,
    the temperature and top-k. `n` None means the task's own default."""

    n: int | None = None
    seed: int = 0
    prompt: str | None = None
    temperature: float = 1.0
    top_k: int | None = None


@dataclass
class Samples:
    """What a trained model draws: text to print, or a figure of images or points."""

    text: str | None = None
    figure: Figure | None = None
    count: int = 0


class Task(abc.ABC):
    """Base class: one model, one optimiser, a loss computed by `loss()`.

    Subclasses set `data_kinds` (the `DataBundle.kind`s they accept) and implement
    `loss` and `output_shape`; tasks with several optimisers override `optimizers`
    and `training_step`.
    """

    name = "task"
    data_kinds: tuple[str, ...] = ()
    data_tasks: tuple[str, ...] | None = None  # the data sets' registered tasks it accepts (any)
    data_options: ClassVar[dict[str, Any]] = {}  # extra DataRequest fields, e.g. normalize=False
    has_classes = True  # its models predict classes (a generative model has none)
    drop_last = False  # train on full batches only (a GAN: a batch of 3 is a noisy game step)
    # trains on several processes: its loss goes through model(...) (where
    # DistributedDataParallel hooks in) on batches of a map-style data set it can shard
    distributable = False

    # ------------------------------------------------------------------ building the model

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        """Constructor arguments the data decides: its classes and one example's shape."""
        return {"num_classes": bundle.num_classes, "input_size": bundle.input_size}

    def setup(self, bundle: DataBundle, runs: Runs) -> None:  # noqa: B027 (a hook: no-op)
        """Called once with the run's data before training or evaluating: a task whose metrics
        need more than the batches (a GAN's FID classifier, known modes) keeps it here."""

    def initialize(self, model: nn.Module) -> None:  # noqa: B027 (a hook: no-op)
        """Called once on a new model before training: weights from elsewhere (a GAN's
        generator from a trained VAE) go in here. Nothing by default."""

    # ------------------------------------------------------------------ what the model takes

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """Random inputs of the kind the task's models take: by default one tensor
        (batch, *input_size) of N(0, 1) values."""
        return (torch.randn(examples.batch, *examples.input_size, generator=generator),)

    def outputs(self, model: nn.Module, inputs: Sequence[Any]) -> Tensor:
        """The model's scores on inputs (the tensor `output_shape` describes)."""
        return model(*inputs)

    @abc.abstractmethod
    def output_shape(self, examples: Examples) -> Shape:
        """The shape of `outputs` for `example_input(examples)`."""

    # ------------------------------------------------------------------ training

    def optimizers(self, model: nn.Module) -> dict[str, Iterable]:
        """Parameters by optimiser name; the trainer builds one optimiser for each name.

        A value may also be a list of torch param-group dicts, which can carry their own
        settings, e.g. a discriminator's larger learning rate (TTUR):
        `{"discriminator": [{"params": D.parameters(), "lr": 4e-4}], "generator": ...}`.
        """
        return {"model": model.parameters()}

    def training_step(self, model: nn.Module, batch: Any, update: Update) -> dict[str, Tensor]:
        """One optimisation step on `batch`; returns per-batch logs (means over the batch)."""
        loss, logs = self.loss(model, batch)
        update(loss)
        return logs

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """The objective on one batch, and the logs to average (means over the batch)."""

    def batch_size(self, batch: Any) -> int:
        """Examples in a batch, the weight of its logs in an epoch's mean (override for masks)."""
        first = batch[0] if isinstance(batch, (list, tuple)) else batch
        return len(first)

    # ------------------------------------------------------------------ judging

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

    # ------------------------------------------------------------------ what a run keeps

    def epoch_figures(self, model: nn.Module, epoch: int) -> dict[str, Figure]:
        """Figures to keep after every epoch, by name (a GAN's samples from fixed noise)."""
        return {}

    def figures(self, model: nn.Module, bundle: DataBundle) -> dict[str, Figure]:
        """Figures of the trained model by file name, saved beside the run's summary.

        None here; a segmentation task draws its predictions, a generative one its samples.
        """
        return {}

    def warnings(self, row: dict[str, float]) -> dict[str, str]:
        """What looks wrong in an epoch's row of metrics that training will not fix by
        itself (a VAE whose KL has collapsed), by kind, each a sentence with its usual
        remedies; the run says each kind once. None here."""
        return {}

    def texts(self, model: nn.Module, bundle: DataBundle) -> dict[str, str]:
        """Text outputs of the trained model by file name (a language model's sample), saved
        beside the summary and printed by `deepnotes train`. None here."""
        return {}

    def sample(self, model: nn.Module, bundle: DataBundle, request: SampleRequest) -> Samples:
        """What `deepnotes sample` draws from a trained model: nothing, for most tasks."""
        raise UserError(
            f"this run holds a {type(model).__name__} trained for {self.name}, "
            "which draws no samples"
        )
