"""Models and data fitted to each other, trained models read back, and what a task may ask.

    data_request(card, task, config)    what to ask of a data set so it fits a model
    check_compatible(...)               one clear error when model and data do not fit
    read_summary, load_trained, evaluate_run    a run folder written by `deepnotes train`
    feature_classifier(bundle)          a classifier trained on a data set, for FID
    RUNS                                the `deepnotes.tasks.base.Runs` every task is given

Tasks live below this layer (docs/ARCHITECTURE.md): a GAN's task that starts its
generator from a VAE's run, or scores samples in a trained classifier's features,
asks `RUNS`, which this module answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from deepnotes.cards import ModelCard
from deepnotes.data.base import DataBundle, DataRequest, data_roots, load_data
from deepnotes.errors import UserError
from deepnotes.generative.fid import FeatureExtractor
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
    path = Path(run_dir) / "summary.json"
    try:
        return json.loads(path.read_text())
    except OSError:
        raise UserError(f"{run_dir} is not a run directory: {path} is missing") from None
    except ValueError:
        raise UserError(f"{path} is not valid JSON") from None


def load_trained(
    run_dir: str | Path, data: str | None = None, data_dir: str | None = None
) -> tuple[torch.nn.Module, Task, DataBundle, torch.device]:
    """The trained model of `run_dir` in eval mode, with its task and a data set prepared as for
    training (`data` names another compatible data set, e.g. new recordings)."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    if "seeds" in summary:
        raise UserError(f"{run_dir} holds several seeds; use one of its seed-K directories")
    trained = summary["config"]
    data_dir = data_dir or trained["data_dir"]  # else where the run found its data
    config = TrainConfig(**{**trained, "data": data or trained["data"], "data_dir": data_dir})
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
    model = MODELS.create(config.model, **summary["model_kwargs"])
    model.load_state_dict(checkpoint.load_weights(run_dir / "model.safetensors"))
    device = resolve_device(config.device)
    return model.to(device).eval(), task, bundle, device


def evaluate_run(
    run_dir: str | Path, data: str, data_dir: str | None = None, split: str = "test"
) -> dict[str, Any]:
    """Evaluate the trained model of `run_dir` on a split of any compatible data set."""
    model, task, bundle, device = load_trained(run_dir, data, data_dir)
    batch_size = read_summary(Path(run_dir))["config"]["eval_batch_size"]
    metrics = task.evaluate(model, eval_batches(bundle, split, batch_size, device))
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
