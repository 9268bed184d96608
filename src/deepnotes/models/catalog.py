"""The zoo at a glance, as `deepnotes models` and `deepnotes summary` show it.

    model_rows()                    each model's card with its parameters and multiply-adds
    summarize_registered("lenet5")  per-layer shapes, parameters, multiply-adds of one model

A model is counted at its card's input size (or its reference count's, for a model
that takes any size), on an example its task makes (`Task.example_input`). `deepnotes
models` reads the rows from a catalog made by `model_rows` (`deepnotes.cli.catalog`).
"""

from __future__ import annotations

from typing import Any

from deepnotes.errors import UserError
from deepnotes.registry import MODELS, TASKS
from deepnotes.summary import Summary, summarize
from deepnotes.tasks.base import Examples


def summarize_registered(
    name: str, input_size: tuple[int, ...] | None = None, num_classes: int | None = None
) -> tuple[tuple[int, ...], Summary]:
    """The registered model `name` built for `input_size` and `num_classes` (default: its
    card's), run on one example of its task; its input size and its `Summary`."""
    card = MODELS.card(name)
    input_size = tuple(input_size or card.example_input_size)
    num_classes = num_classes or card.example_num_classes
    task = TASKS.create(card.task)
    try:
        model = MODELS.create(name, num_classes=num_classes, input_size=input_size)
        inputs = task.example_input(Examples(1, input_size, num_classes))
        return input_size, summarize(model, input_size, inputs)
    except (RuntimeError, ValueError, UserError) as e:
        raise UserError(
            f"{name} cannot take input {input_size}: {str(e).splitlines()[0]}"
        ) from None


def model_rows() -> list[dict[str, Any]]:
    """One row per registered model: name, task, family, what it is a variant of, input
    size, parameters, GMACs (at the input size) and paper."""
    rows = []
    for entry in MODELS:
        card = entry.card
        input_size, summary = summarize_registered(entry.name)
        rows.append(
            {
                "name": entry.name,
                "task": card.task,
                "family": card.family,
                "variant_of": card.variant_of,
                "input_size": list(input_size),
                "params": summary.total_params,
                "gmacs": summary.total_macs / 1e9,
                "paper": card.paper,
            }
        )
    return rows
