"""A training run end to end: config → data, model, task → trainer → `OUT/summary.json`.

This is what `deepnotes train` and the experiments call. A run directory holds

    summary.json        final metrics, timing, config, versions, parameter count
    metrics.csv         one row per epoch
    model.safetensors   the final weights (for `deepnotes eval` and `sample`)
    checkpoints/        the last checkpoints, for --resume
    epochs/             figures the task draws after each epoch (a GAN's samples), if any

With `seeds > 1` the run repeats for seeds seed, seed+1, … in `OUT/seed-K/`, and
the top summary holds each metric's mean and (sample) standard deviation as
`NAME_mean` and `NAME_std`.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from safetensors.torch import save

import deepnotes
from deepnotes.data.base import DataBundle, DataRequest, data_roots, load_data
from deepnotes.errors import UserError
from deepnotes.registry import DATASETS, MODELS, TASKS
from deepnotes.train import checkpoint, distributed
from deepnotes.train.config import TrainConfig
from deepnotes.train.tasks import Task
from deepnotes.train.trainer import (
    Checkpointer,
    CSVLogger,
    EpochFigures,
    EpochPrinter,
    Trainer,
    eval_batches,
    resolve_device,
    seed_everything,
)


def versions() -> dict[str, str]:
    return {
        "deepnotes": deepnotes.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def write_json(path: Path, obj: Any) -> None:
    checkpoint.write_atomic(Path(path), (json.dumps(obj, indent=2) + "\n").encode())


def data_request(
    model_meta: dict[str, Any], task: Task, config: TrainConfig, data_seed: int = 0
) -> DataRequest:
    """What to ask of the data set so it fits the model.

    Images are resized and converted to the model's registered input size
    (digits 8×8 → 28×28 for LeNet); `--image-size` overrides height and width.
    """
    input_size = model_meta.get("input_size")
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


def prepare(config: TrainConfig) -> tuple[torch.nn.Module, Task, DataBundle, dict[str, Any]]:
    """Data, task and model for a config; checks that they fit together."""
    meta = MODELS.meta(config.model)
    task = TASKS.create(meta["task"])
    bundle = load_data(config.data, data_request(meta, task, config))
    check_compatible(config.model, meta, task, bundle)
    task.setup(bundle)
    model_kwargs = {**task.model_kwargs(bundle), **config.model_args}
    try:
        model = MODELS.create(config.model, **model_kwargs)
    except TypeError as e:  # a --model-arg the constructor does not take
        raise UserError(f"cannot build {config.model} with {model_kwargs}: {e}") from None
    task.initialize(model)
    return model, task, bundle, model_kwargs


def check_compatible(name: str, meta: dict[str, Any], task: Task, bundle: DataBundle) -> None:
    data_task = DATASETS.meta(bundle.name).get("task")
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
    input_size = meta.get("input_size")
    if input_size is not None and len(input_size) == 3 and bundle.kind != "images":
        raise UserError(f"model {name} needs images; data set {bundle.name} holds {bundle.kind}")


def prepare_out_dir(out: Path, resume: bool) -> None:
    """Refuse to overwrite an earlier run unless resuming it; create the folder."""
    check_out_dir(out, resume)
    out.mkdir(parents=True, exist_ok=True)


def check_out_dir(out: Path, resume: bool) -> None:
    """Refuse to overwrite an earlier run unless resuming it."""
    if resume:
        if not (out / "checkpoints" / checkpoint.LATEST).exists():
            raise UserError(f"nothing to resume in {out}: it holds no checkpoint")
    elif (out / "summary.json").exists() or (out / "checkpoints").exists():
        raise UserError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )


def train(config: TrainConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Run training as `config` says (over `config.seeds` seeds); return the summary.

    Under torchrun every process calls this; rank 0 alone writes the run folder.
    """
    out = Path(out)
    job = distributed.initialize(resolve_device(config.device))
    try:
        return train_seeds(config, out, resume, job)
    finally:
        distributed.shutdown()


def train_seeds(
    config: TrainConfig, out: Path, resume: bool, job: distributed.Distributed
) -> dict[str, Any]:
    if config.seeds == 1:
        return train_one(config, out, resume, job)
    if resume:
        out.mkdir(parents=True, exist_ok=True)
    elif job.is_main:
        prepare_out_dir(out, resume=False)
    runs = []
    for seed in range(config.seed, config.seed + config.seeds):
        one = TrainConfig(**{**config.to_dict(), "seed": seed, "seeds": 1})
        seed_dir = out / f"seed-{seed}"
        runs.append(train_one(one, seed_dir, resume and (seed_dir / "checkpoints").exists(), job))
    summary = {
        **{k: v for k, v in runs[0].items() if k not in ("metrics", "timing", "out")},
        "config": config.to_dict(),
        "metrics": mean_std([r["metrics"] for r in runs]),
        "seeds": [{"seed": r["config"]["seed"], "metrics": r["metrics"]} for r in runs],
        "timing": {"total_s": sum(r["timing"]["total_s"] for r in runs)},
        "out": str(out),
    }
    if job.is_main:
        write_json(out / "summary.json", summary)
    return summary


def mean_std(per_seed: list[dict[str, float]]) -> dict[str, float]:
    """`NAME_mean` and `NAME_std` (sample standard deviation, ddof=1) of each metric."""
    result = {}
    for key in per_seed[0]:
        values = np.array([m[key] for m in per_seed], dtype=float)
        result[f"{key}_mean"] = float(values.mean())
        result[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return result


def train_one(
    config: TrainConfig,
    out: Path,
    resume: bool = False,
    job: distributed.Distributed = distributed.SINGLE_PROCESS,
) -> dict[str, Any]:
    """One seed: build, train (or resume), evaluate, write the run directory (rank 0)."""
    start = time.perf_counter()
    if job.is_main:
        prepare_out_dir(out, resume)
    seed_everything(config.seed)  # every process builds the same model
    model, task, bundle, model_kwargs = prepare(config)
    device = job.device(resolve_device(config.device))
    callbacks = [
        CSVLogger(out / "metrics.csv"),
        Checkpointer(out / "checkpoints"),
        EpochFigures(out / "epochs"),
        *([EpochPrinter()] if config.progress else []),
    ]
    trainer = Trainer(
        model, task, bundle, config, device, callbacks if job.is_main else [], job=job
    )
    if resume:
        trainer.load_state_dict(*checkpoint.load_checkpoint(out / "checkpoints"))
    if job.is_main:
        write_json(out / "config.json", config.to_dict())
    metrics = trainer.fit()
    figures: dict[str, Any] = {}
    texts: dict[str, str] = {}
    if job.is_main:
        checkpoint.write_atomic(out / "model.safetensors", safetensors_bytes(trainer.model))
        figures = task.figures(trainer.model, bundle)
        for filename, figure in figures.items():
            figure.savefig(out / filename, dpi=110, bbox_inches="tight")
        texts = task.texts(trainer.model, bundle)
        for filename, text in texts.items():
            checkpoint.write_atomic(out / filename, text.encode())
    summary = {
        "model": config.model,
        "data": config.data,
        "task": task.name,
        "metrics": metrics,
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "model_kwargs": model_kwargs,
        "input_size": list(bundle.input_size),
        "num_classes": bundle.num_classes,
        "device": str(device),
        "speed": {  # the speed switches as they were applied
            "amp": str(trainer.amp).removeprefix("torch.") if trainer.amp else "none",
            "channels_last": config.channels_last,
            "compile": config.compile,
            "num_workers": config.num_workers,
            "pin_memory": device.type == "cuda",
            "processes": job.world_size,
            "backend": job.backend,
            "batch_per_process": trainer.batch_size,
        },
        "timing": {
            "train_s": trainer.state.train_seconds,
            "total_s": time.perf_counter() - start,
            "epochs": trainer.state.epoch,
            "steps": trainer.state.step,
        },
        "figures": sorted(figures),
        "texts": sorted(texts),
        "config": config.to_dict(),
        "versions": versions(),
        "out": str(out),
    }
    if job.is_main:
        write_json(out / "summary.json", summary)
    return summary


def fit_in_memory(
    model: torch.nn.Module, task: Task, bundle: DataBundle, **settings: Any
) -> tuple[Trainer, dict[str, float]]:
    """Train with the package's trainer and no run folder, quietly: what experiments use.

    `settings` are `TrainConfig` fields (epochs, batch_size, lr, seed, ...); the
    model trains on the CPU. Returns the trainer (its `state.history` holds every
    epoch's metrics) and the final metrics, test split included.
    """
    settings = {"progress": False, **settings}
    config = TrainConfig(model=type(model).__name__, data=bundle.name, **settings)
    config.validate()
    task.setup(bundle)
    trainer = Trainer(model, task, bundle, config, torch.device("cpu"))
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
    meta = MODELS.meta(name)
    task = TASKS.create(meta["task"])
    task.setup(bundle)
    seed_everything(seed)
    model = MODELS.create(name, **task.model_kwargs(bundle), **(model_args or {}))
    task.initialize(model)
    settings = {**meta["train_defaults"], **settings}
    _, metrics = fit_in_memory(model, task, bundle, seed=seed, **settings)
    return model, task, metrics


def safetensors_bytes(model: torch.nn.Module) -> bytes:
    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def read_summary(run_dir: Path) -> dict[str, Any]:
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
    meta = MODELS.meta(config.model)
    task = TASKS.create(meta["task"])
    bundle = load_data(config.data, data_request(meta, task, config))
    check_compatible(config.model, meta, task, bundle)
    task.setup(bundle)
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
