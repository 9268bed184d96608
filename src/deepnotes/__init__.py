"""deepnotes: a deep-learning course as runnable, tested code.

Each concept of the course is written by hand as the lesson and checked
against the well-kept library that does the same job. Start with
`deepnotes tour`, or import a piece and read its source.

The Python API (the README's "Python API" shows each in use):

    run_experiment(name, out, quick=True, seed=0, fault=None)   run one experiment → Result
    train_model(model, data, out, **settings)     train as `deepnotes train` does → summary
    load_run(run_dir)                             a trained run: (model, task, data, device)
    evaluate_run(run_dir, data, split="test")     its metrics on a split of a data set
    show_source(dotted_name)                      a function's or class's source, file:line
    claims_table, derived_table, show_table       a Result's tables, drawn in Jupyter
    notebook(name, quick=True, seed=0)            the experiment's Jupyter notebook (JSON)

`import deepnotes` stays light (no torch), so that the command line answers at once: each
name is imported from its layer on first use (PEP 562's module `__getattr__`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Result",
    "claims_table",
    "derived_table",
    "evaluate_run",
    "load_run",
    "notebook",
    "run_experiment",
    "show_source",
    "show_table",
    "train_model",
]

if TYPE_CHECKING:
    from pathlib import Path


def train_model(model: str, data: str, out: str | Path, **settings: Any) -> dict[str, Any]:
    """Train `model` on `data` into the run folder `out`, as `deepnotes train MODEL --data DATA
    --out OUT` does: `settings` are its flags by their field names (`epochs=1`,
    `batch_size=32`, `model_args={"activation": "relu"}`), over the model's own defaults.
    Returns the run's summary (what `out/summary.json` holds)."""
    from deepnotes.registry import MODELS
    from deepnotes.train.config import TrainConfig
    from deepnotes.train.run import train

    config = TrainConfig.from_sources(
        {"model": model, "data": data, **settings},
        lambda name: dict(MODELS.card(name).train_defaults),
    )
    return train(config, out)


def __getattr__(name: str) -> Any:
    """The rest of the API, imported from its layer when first asked for."""
    if name in ("run_experiment", "Result"):
        from deepnotes.experiments import base

        return getattr(base, name)
    if name == "load_run":
        from deepnotes.train.runs import load_trained

        return load_trained
    if name == "evaluate_run":
        from deepnotes.train.runs import evaluate_run

        return evaluate_run
    if name in ("show_source", "claims_table", "derived_table", "show_table", "notebook"):
        from deepnotes import notebooks

        return getattr(notebooks, name)
    raise AttributeError(f"module 'deepnotes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
