"""Training in memory, with no run folder: the one way an experiment trains a model.

    fit_in_memory(model, task, bundle, epochs=..., lr=...)   the package's trainer, quietly
    fit_registered("gcn", bundle, seed)                      as `deepnotes train gcn` would

Both run the same `Trainer` as `deepnotes train` (same batches, schedule, checks),
so what an experiment measures is what a user's run does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from deepnotes.data.base import DataBundle
from deepnotes.registry import MODELS, TASKS
from deepnotes.tasks.base import Task
from deepnotes.train.config import TrainConfig
from deepnotes.train.runs import RUNS
from deepnotes.train.trainer import Callback, Trainer, seed_everything


def fit_in_memory(
    model: torch.nn.Module,
    task: Task,
    bundle: DataBundle,
    callbacks: Sequence[Callback] = (),
    **settings: Any,
) -> tuple[Trainer, dict[str, float]]:
    """Train with the package's trainer and no run folder, quietly: what experiments use.

    The task is set up with the data and initialises the model, as for `deepnotes train`;
    `settings` are `TrainConfig` fields (epochs, batch_size, lr, seed, ...); the model
    trains on the CPU; `callbacks` see its events (every step's loss, ...). Returns the
    trainer (its `state.history` holds every epoch's metrics) and the final metrics, test
    split included.
    """
    settings = {"progress": False, **settings}
    config = TrainConfig(model=type(model).__name__, data=bundle.name, **settings)
    config.validate()
    task.setup(bundle, RUNS)
    task.initialize(model)
    trainer = Trainer(model, task, bundle, config, torch.device("cpu"), list(callbacks))
    return trainer, trainer.fit()


def fit_registered(
    name: str,
    bundle: DataBundle,
    seed: int = 0,
    model_args: dict[str, Any] | None = None,
    **settings: Any,
) -> tuple[torch.nn.Module, Task, dict[str, float]]:
    """A registered model built and trained in memory as `deepnotes train NAME` would: its
    task, its `train_defaults` with `settings` over them, `model_args` for its builder.
    Returns (trained model, task, final metrics)."""
    model, task = build_registered(name, bundle, seed, model_args)
    settings = {**MODELS.card(name).train_defaults, **settings}
    _, metrics = fit_in_memory(model, task, bundle, seed=seed, **settings)
    return model, task, metrics


def build_registered(
    name: str, bundle: DataBundle, seed: int = 0, model_args: dict[str, Any] | None = None
) -> tuple[torch.nn.Module, Task]:
    """Registered model `name` for `bundle`, built after seeding with `seed`, and its task:
    what `fit_registered` trains, and the untrained control an experiment compares with."""
    task = TASKS.create(MODELS.card(name).task)
    seed_everything(seed)
    return MODELS.create(name, **task.model_kwargs(bundle), **(model_args or {})), task
