"""A training run end to end: config → data, model, task → trainer → `OUT/summary.json`.

This is what `deepnotes train` calls (experiments train in memory: `fit.py`). A run
directory holds

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

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from safetensors.torch import save

import deepnotes
from deepnotes.data.base import DataBundle
from deepnotes.errors import UserError
from deepnotes.io import write_atomic, write_json
from deepnotes.registry import MODELS, TASKS
from deepnotes.tasks.base import Task
from deepnotes.train import checkpoint, distributed
from deepnotes.train.config import TrainConfig
from deepnotes.train.runs import task_data
from deepnotes.train.trainer import (
    Checkpointer,
    CSVLogger,
    EpochFigures,
    EpochPrinter,
    Trainer,
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


def prepare(config: TrainConfig) -> tuple[torch.nn.Module, Task, DataBundle, dict[str, Any]]:
    """Data, task and model for a config; checks that they fit together."""
    _, task, bundle = task_data(config)
    model_kwargs = {**task.model_kwargs(bundle), **config.model_args}
    try:
        model = MODELS.create(config.model, **model_kwargs)
    except TypeError as e:  # a --model-arg the constructor does not take
        raise UserError(f"cannot build {config.model} with {model_kwargs}: {e}") from None
    task.initialize(model)
    return model, task, bundle, model_kwargs


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


def default_out(config: TrainConfig) -> Path:
    """`runs/MODEL-DATA-TIME`: where a run goes when no --out is given."""
    return Path(f"runs/{config.model}-{config.data}-{time.strftime('%Y%m%d-%H%M%S')}")


def needs_launch(config: TrainConfig) -> bool:
    """Whether `--devices N` asks for processes that torchrun has not started yet."""
    return config.devices > 1 and not distributed.from_environment().enabled


def launch(config: TrainConfig, out: Path, resume: bool, argv: list[str]) -> int:
    """Train on `config.devices` processes of this machine: refuse what cannot work before any
    process starts (a task that cannot be sharded, a batch that does not divide, an earlier
    run in `out`), then run `deepnotes ARGV --out OUT` in each through torchrun."""
    distributed.check_task(TASKS.create(MODELS.card(config.model).task))
    distributed.Distributed(world_size=config.devices).per_process_batch(config.batch_size)
    if not resume:
        check_out_dir(out, resume=False)
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        # every process must write to (and rank 0 into) the same folder
        argv = [*argv, "--out", str(out)]
    return distributed.launch(config.devices, argv)


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
        write_atomic(out / "model.safetensors", safetensors_bytes(trainer.model))
        figures = task.figures(trainer.model, bundle)
        for filename, figure in figures.items():
            figure.savefig(out / filename, dpi=110, bbox_inches="tight")
        texts = task.texts(trainer.model, bundle)
        for filename, text in texts.items():
            write_atomic(out / filename, text.encode())
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


def safetensors_bytes(model: torch.nn.Module) -> bytes:
    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
