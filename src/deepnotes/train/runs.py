"""Models and data fitted to each other, trained models read back, and what a task may ask.

    data_request(card, task, config)    what to ask of a data set so it fits a model
    check_compatible(...)               one clear error when model and data do not fit
    read_summary, read_run, load_trained, evaluate_run    a run folder written by `deepnotes train`
    feature_classifier(bundle)          a classifier trained on a data set, for FID
    RUNS                                the `deepnotes.tasks.base.Runs` every task is given

Tasks live below this layer (docs/ARCHITECTURE.md): a GAN's task that starts its
generator from a VAE's run, or scores samples in a trained classifier's features,
asks `RUNS`, which this module answers.

A run folder is read as untrusted input: a summary.json that is not JSON, lacks a
field, holds one of the wrong type or names a model that does not exist is refused
in one line, and the weights are loaded only if their SHA-256 is the one the
summary recorded when they were written (`checkpoint.load_weights`), so weights
changed or corrupted since training are never evaluated or sampled.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from deepnotes.cards import ModelCard
from deepnotes.data.base import DataBundle, DataRequest, load_data
from deepnotes.errors import UserError
from deepnotes.generative.fid import FeatureExtractor
from deepnotes.io import data_roots, one_line
from deepnotes.registry import DATASETS, MODELS, TASKS
from deepnotes.tasks.base import Task
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train import checkpoint
from deepnotes.train.config import TrainConfig
from deepnotes.train.trainer import Trainer, eval_batches, resolve_device


def data_request(
    card: ModelCard, task: Task, config: TrainConfig, data_seed: int = 0
) -> DataRequest:
    """What to ask of the data set so it fits the model.

    Images are resized and converted to the model's registered input size
    (digits 8×8 → 28×28 for LeNet); `--image-size` overrides height and width.
    """
    input_size = card.input_size
    wants_images = input_size is not None and len(input_size) == 3
    image_size = None
    if config.image_size is not None:
        image_size = (config.image_size, config.image_size)
    elif wants_images:
        image_size = tuple(input_size[1:])
    return DataRequest(
        roots=data_roots(config.data_dir),
        download=config.download,
        image_size=image_size,
        channels=input_size[0] if wants_images else None,
        seed=data_seed,
        split=config.split,
        block_size=config.block_size,
        **task.data_options,
    )


def check_compatible(name: str, card: ModelCard, task: Task, bundle: DataBundle) -> None:
    """One clear error when a model's task cannot train on a data set."""
    data_task = DATASETS.card(bundle.name).task
    if task.data_tasks is not None and data_task not in task.data_tasks:
        raise UserError(
            f"model {name} ({task.name}) cannot train on data set {bundle.name}, "
            f"which is made for {data_task}"
        )
    if bundle.kind not in task.data_kinds:
        raise UserError(
            f"model {name} ({task.name}) cannot train on data set {bundle.name} ({bundle.kind}); "
            f"it needs {' or '.join(task.data_kinds)}"
        )
    input_size = card.input_size
    if input_size is not None and len(input_size) == 3 and bundle.kind != "images":
        raise UserError(f"model {name} needs images; data set {bundle.name} holds {bundle.kind}")


def task_data(config: TrainConfig) -> tuple[ModelCard, Task, DataBundle]:
    """The model's card, its task set up with the data, and the data fitted to the model."""
    card = MODELS.card(config.model)
    task = TASKS.create(card.task)
    bundle = load_data(config.data, data_request(card, task, config))
    check_compatible(config.model, card, task, bundle)
    task.setup(bundle, RUNS)
    return card, task, bundle


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The JSON object in `RUN_DIR/summary.json`, or one line saying why there is none."""
    path = Path(run_dir) / "summary.json"
    try:
        summary = json.loads(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"{run_dir} is not a run directory: {path} is missing") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    except ValueError:  # not JSON, or not UTF-8
        raise UserError(f"{path} is not valid JSON") from None
    if not isinstance(summary, dict):
        raise UserError(f"{path} is not a run summary: it holds no JSON object")
    return summary


# What loading a trained model reads from its summary, and the type each must have.
SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "config": (dict,),
    "model_kwargs": (dict,),
    "input_size": (list,),
    "num_classes": (int, type(None)),
}


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], TrainConfig]:
    """The summary of a one-seed run folder and the config it was trained with, checked: a
    field missing or of the wrong type, a config that is not valid, or a model or data set
    that does not exist is refused in one line that names summary.json."""
    path = Path(run_dir) / "summary.json"
    summary = read_summary(run_dir)
    if "seeds" in summary:
        raise UserError(f"{run_dir} holds several seeds; use one of its seed-K directories")
    for key, types in SUMMARY_FIELDS.items():
        value = summary.get(key)
        if key not in summary or isinstance(value, bool) or not isinstance(value, types):
            kind = types[0].__name__
            raise UserError(f"{path} is not a run summary: {key!r} is missing or not a {kind}")
    if "weights_sha256" in summary and not isinstance(summary["weights_sha256"], str):
        raise UserError(f"{path} is not a run summary: 'weights_sha256' is not a str")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in summary["input_size"]):
        raise UserError(f"{path} is not a run summary: 'input_size' is not a list of integers")
    try:
        config = TrainConfig(**summary["config"])
        config.validate()
    except (TypeError, UserError) as e:  # a setting missing, unknown, or out of range
        raise UserError(f"{path} holds no valid training config: {e}") from None
    for name in ("model", "data", "device"):
        if not isinstance(getattr(config, name), str):
            raise UserError(f"{path} holds no valid training config: {name} is not a name")
    MODELS.card(config.model)  # an unknown model: one line, with the closest names
    return summary, config


def load_trained(
    run_dir: str | Path, data: str | None = None, data_dir: str | None = None
) -> tuple[torch.nn.Module, Task, DataBundle, torch.device]:
    """The trained model of `run_dir` in eval mode, with its task and a data set prepared as for
    training (`data` names another compatible data set, e.g. new recordings).

    The weights are checked against the SHA-256 in summary.json before anything is built;
    a run written before runs recorded it loads unchecked, with a warning that says so.
    """
    run_dir = Path(run_dir)
    summary, trained = read_run(run_dir)
    weights_file = run_dir / "model.safetensors"
    if "weights_sha256" in summary:
        weights = checkpoint.load_weights(
            weights_file, summary["weights_sha256"], run_dir / "summary.json"
        )
    else:
        print(
            f"warning: {run_dir / 'summary.json'} records no SHA-256 of its weights (a run "
            "from an older deepnotes): they are loaded unchecked",
            file=sys.stderr,
        )
        weights = checkpoint.load_weights(weights_file)
    data_dir = data_dir or trained.data_dir  # else where the run found its data
    config = dataclasses.replace(trained, data=data or trained.data, data_dir=data_dir)
    _, task, bundle = task_data(config)
    if (
        list(bundle.input_size) != summary["input_size"]
        or bundle.num_classes != summary["num_classes"]
    ):
        raise UserError(
            f"data set {config.data} gives inputs {list(bundle.input_size)} with "
            f"{bundle.num_classes} classes; the model was trained on {summary['input_size']} "
            f"with {summary['num_classes']}"
        )
    try:
        model = MODELS.create(config.model, **summary["model_kwargs"])
        model.load_state_dict(weights)
    except (TypeError, ValueError, RuntimeError) as e:  # arguments and weights that do not fit
        raise UserError(
            f"the model that {run_dir / 'summary.json'} describes ({config.model} with "
            f"{summary['model_kwargs']}) cannot take the weights in {run_dir}: {one_line(e)}"
        ) from None
    device = resolve_device(config.device)
    return model.to(device).eval(), task, bundle, device


def evaluate_run(
    run_dir: str | Path, data: str | None = None, data_dir: str | None = None, split: str = "test"
) -> dict[str, Any]:
    """Evaluate the trained model of `run_dir` on a split of any compatible data set (by
    default the one it was trained on, split as it was).

    Every metric is a finite number (so that `--json` prints valid JSON): a NaN or an
    infinity, from weights or data that hold them, is refused in one line.
    """
    model, task, bundle, device = load_trained(run_dir, data, data_dir)
    trained = read_run(run_dir)[1]
    data = data or trained.data
    batch_size = trained.eval_batch_size
    metrics = task.evaluate(model, eval_batches(bundle, split, batch_size, device))
    bad = [f"{split}_{k}={v}" for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise UserError(
            f"evaluating {run_dir} on {data} ({split}) gave {', '.join(bad)}: "
            "the data or the model hold values that are not finite numbers"
        )
    return {
        "run": str(run_dir),
        "data": data,
        "split": split,
        "examples": len(bundle.split(split)),
        "metrics": {f"{split}_{k}": v for k, v in metrics.items()},
    }


# ------------------------------------------------------------------ what a task may ask

FEATURE_CLASSIFIER = "mlp"
FEATURE_HIDDEN = (256, 128)  # the embedding is the 128 ReLU features before the last layer
FEATURE_EPOCHS = 30
_FEATURE_CLASSIFIERS: dict[tuple, FeatureExtractor] = {}  # by (data set, input size, seed)


def feature_classifier(bundle: DataBundle, seed: int = 0) -> FeatureExtractor:
    """An MLP classifier trained on the bundle's training split with the package's trainer,
    as a feature extractor (for FID); trained once per (data set, input size, seed) in a
    process, with its own seed, so every model scored on that data set meets the same one."""
    key = (bundle.name, tuple(bundle.input_size), seed)
    if key not in _FEATURE_CLASSIFIERS:
        # its own random stream, and gradients on even when asked for inside an evaluation
        with torch.random.fork_rng(), torch.enable_grad():
            torch.manual_seed(seed)
            model = MODELS.create(
                FEATURE_CLASSIFIER,
                num_classes=bundle.num_classes,
                input_size=bundle.input_size,
                hidden=FEATURE_HIDDEN,
            )
            config = TrainConfig(
                model=FEATURE_CLASSIFIER,
                data=bundle.name,
                epochs=FEATURE_EPOCHS,
                batch_size=64,
                lr=1e-3,
                scheduler="cosine",
                seed=seed,
                progress=False,
            )
            metrics = Trainer(
                model, ClassificationTask(), bundle, config, torch.device("cpu")
            ).fit()
        accuracy = metrics.get("test_acc", metrics.get("val_acc", float("nan")))
        _FEATURE_CLASSIFIERS[key] = FeatureExtractor(model, accuracy)
    return _FEATURE_CLASSIFIERS[key]


class TrainedRuns:
    """The `Runs` a task is given: trained run folders and classifiers, from this layer."""

    def load(self, run_dir: str) -> torch.nn.Module:
        model, _, _, _ = load_trained(run_dir)
        return model.cpu()

    def feature_classifier(self, bundle: DataBundle) -> FeatureExtractor:
        return feature_classifier(bundle)


RUNS = TrainedRuns()
