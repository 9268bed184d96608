"""A training run end to end: config → data, model, task → trainer → `OUT/summary.json`.

This is what `deepnotes train` calls (experiments train in memory: `fit.py`). A run
directory holds

    config.json         the settings, written when the run starts (and on each resume)
    summary.json        final metrics, timing, config, versions, parameter count, and
                        `weights_sha256`, which every load of the weights checks
    metrics.csv         one row per epoch
    model.safetensors   the final weights (for `deepnotes eval` and `sample`)
    checkpoints/        the last checkpoints, for --resume
    epochs/             figures the task draws after each epoch (a GAN's samples), if any

With `seeds > 1` the run repeats for seeds seed, seed+1, … in `OUT/seed-K/`, and
the top summary holds each metric's mean and (sample) standard deviation as
`NAME_mean` and `NAME_std`.

Where a run may go (`check_out_dir`): a new or empty folder, or what a run left
when it stopped before its first checkpoint (which it starts over). A folder that
holds a run is refused unless resuming it; a folder that holds anything else, the
user's own files, is refused untouched.

Resuming (`check_resume`): the run continues with the settings in its config.json.
A resume may change only what leaves the steps the run takes as they were
(`RESUME_MAY_CHANGE`): `progress` and `tensorboard` (what is printed and logged),
`eval_batch_size` (how a split
is cut for evaluation), `num_workers` (who loads the batches, not which),
`data_dir` and `download` (where the same data set is found), and `device` (a run
moved to a GPU goes on; its numbers may differ in the last bits). It may also run
longer, `epochs` and `max_steps`, when no learning-rate schedule is laid out over
the run's length (`scheduler = "none"`), and never shorter than the steps already
taken. Everything else, the model, its arguments, the data, the optimiser and its
settings, the batch, the seed, the schedule, and the speed switches that change the
arithmetic or the batches (`amp`, `devices`, `compile`, `channels_last`), is
refused in one line that names each setting that differs. config.json and
summary.json then record the settings the run ended with.

A write that fails (a full disk, a read-only folder) ends in one line, and the folder
is left resumable, or, if no checkpoint was written yet, ready to start over.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save

import deepnotes
from deepnotes.data.base import DataBundle
from deepnotes.errors import UserError, WriteError
from deepnotes.io import write_atomic, write_json
from deepnotes.registry import MODELS, TASKS
from deepnotes.tasks.base import Task
from deepnotes.train import checkpoint, distributed
from deepnotes.train.config import TrainConfig
from deepnotes.train.runs import task_data
from deepnotes.train.trainer import (
    Checkpointer,
    CSVLogger,
    Curves,
    EpochFigures,
    EpochPrinter,
    TensorBoardLogger,
    Trainer,
    TrainingWarnings,
    resolve_device,
    seed_everything,
    writing,
)

# What a resume may change (the module's docstring says why each is safe).
RESUME_MAY_CHANGE = (
    "progress",
    "tensorboard",
    "device",
    "num_workers",
    "eval_batch_size",
    "data_dir",
    "download",
)
# The length may change too when no schedule depends on it (`scheduler = "none"`).
RESUME_LENGTH = ("epochs", "max_steps")
# What a run writes before its first checkpoint, besides config.json: a stopped run's remains.
BEFORE_FIRST_CHECKPOINT = ("metrics.csv", "curves.png", "checkpoints", "epochs", "tensorboard")
TEMPORARY = re.compile(r"\..+\.tmp")  # what an interrupted atomic write leaves
SEED_DIR = re.compile(r"seed-\d+")


def versions() -> dict[str, str]:
    return {
        "deepnotes": deepnotes.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": importlib.metadata.version("torchvision"),  # without its slow import
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def prepare(config: TrainConfig) -> tuple[torch.nn.Module, Task, DataBundle, dict[str, Any]]:
    """Data, task and model for a config; checks that they fit together."""
    _, task, bundle = task_data(config)
    model_kwargs = {**task.model_kwargs(bundle), **config.model_args}
    try:
        model = MODELS.create(config.model, **model_kwargs)
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        if not config.model_args:
            raise  # the model's own defaults failed: a bug to report, with its traceback
        # a --model-arg the constructor does not take, or a value it cannot build with
        raise UserError(f"cannot build {config.model} with {model_kwargs}: {e}") from None
    task.initialize(model)
    return model, task, bundle, model_kwargs


def prepare_out_dir(out: Path, resume: bool) -> None:
    """Refuse what `check_out_dir` refuses; create the folder."""
    check_out_dir(out, resume)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)


def check_out_dir(out: Path, resume: bool) -> None:
    """Refuse to overwrite an earlier run unless resuming it, to resume where there is no
    checkpoint, and to write into a folder that holds anything but a run's remains."""
    try:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} is a file, not a folder")
        if resume:
            if not resumable(out):
                raise UserError(f"nothing to resume in {out}: it holds no checkpoint")
        elif out.exists():
            check_fresh_out_dir(out)
    except OSError as e:  # a name too long, a folder that cannot be read
        raise UserError(f"cannot use {out} as the run folder: {e.strerror}") from None


def resumable(out: Path) -> bool:
    """Whether `out` holds a checkpoint to resume from, in itself or in a `seed-K` folder."""
    if not out.is_dir():
        return False
    runs = [out, *(p for p in out.iterdir() if SEED_DIR.fullmatch(p.name))]
    return any(checkpoint.has_checkpoint(d / "checkpoints") for d in runs)


def check_fresh_out_dir(out: Path) -> None:
    """A fresh run may go to an empty folder, or to the remains of a run that stopped before
    its first checkpoint (its own config.json, metrics.csv, an empty checkpoints/), in
    `out` or in its `seed-K` folders; anything else is refused."""
    if (out / "summary.json").exists() or checkpoint.has_checkpoint(out / "checkpoints"):
        raise UserError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    ours = is_run_config(out / "config.json")
    foreign = []
    for entry in sorted(out.iterdir()):
        if SEED_DIR.fullmatch(entry.name) and entry.is_dir():
            check_fresh_out_dir(entry)
        elif not (
            TEMPORARY.fullmatch(entry.name)
            or (ours and entry.name in ("config.json", *BEFORE_FIRST_CHECKPOINT))
        ):
            foreign.append(entry.name)
    if foreign:
        raise UserError(
            f"{out} already holds files that are not a run's ({', '.join(foreign[:3])}"
            f"{', …' if len(foreign) > 3 else ''}); choose a new or empty folder for --out"
        )


def is_run_config(path: Path) -> bool:
    """Whether `path` is a config.json that a run wrote: every setting of `TrainConfig` and
    nothing else (a user's own config.json is left alone)."""
    try:
        settings = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(settings, dict) and set(settings) == TrainConfig.field_names()


def check_resume(config: TrainConfig, out: Path) -> None:
    """Refuse, in one line naming every setting, to resume the run in `out` with settings
    that differ from those in its config.json, except those a resume may change
    (`RESUME_MAY_CHANGE`, and the length without a schedule: the module's docstring)."""
    path = out / "config.json"
    try:
        stored = json.loads(path.read_bytes())
    except OSError as e:
        raise UserError(f"cannot resume {out}: {path} cannot be read ({e.strerror})") from None
    except ValueError:
        raise UserError(f"cannot resume {out}: {path} is not valid JSON") from None
    if not isinstance(stored, dict):
        raise UserError(f"cannot resume {out}: {path} does not hold the run's settings")
    may_change = set(RESUME_MAY_CHANGE)
    if config.scheduler == "none" == stored.get("scheduler"):
        may_change.update(RESUME_LENGTH)
    before, after = ({k: as_json(v) for k, v in d.items()} for d in (stored, config.to_dict()))
    changed = [
        f"{name} {before.get(name, '(absent)')} → {after.get(name, '(absent)')}"
        for name in sorted(before.keys() | after.keys())
        if name not in may_change
        and as_number(stored.get(name, before.get(name)))
        != as_number(config.to_dict().get(name, after.get(name)))
    ]
    if changed:
        raise UserError(
            f"cannot resume {out} with other settings than it was trained with: "
            f"{', '.join(changed)}; resume with the settings in {path}, or train a new run"
        )


def as_json(value: Any) -> str:
    """A setting as JSON text, the form config.json holds it in (a tuple as a list)."""
    return json.dumps(value, sort_keys=True)


def as_number(value: Any) -> Any:
    """A setting as resume compares it: numbers by value, so that a TOML's `weight_decay = 0`
    equals the flag's 0.0 (True is no number); anything else as its JSON text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return as_json(value)


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
    check_out_dir(out, resume)
    if resume and config.seeds == 1:
        check_resume(config, out)
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        # every process must write to (and rank 0 into) the same folder
        argv = [*argv, "--out", str(out)]
    return distributed.launch(config.devices, argv)


def train(config: TrainConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Run training as `config` says (over `config.seeds` seeds); return the summary.

    Under torchrun every process calls this; rank 0 alone writes the run folder. A file
    that cannot be written ends in one `WriteError` line that says how to go on: with
    --resume once a checkpoint is on disk, else the same command again.
    """
    out = Path(out)
    made_here = first_missing(out)
    job = distributed.initialize(resolve_device(config.device))
    try:
        return train_seeds(config, out, resume, job)
    except WriteError as e:
        fix = "free space" if getattr(e.__cause__, "errno", None) == errno.ENOSPC else "fix that"
        again = "run again with --resume" if resumable(out) else "run the same command again"
        raise WriteError(f"{e}; {fix} and {again}") from None
    except UserError:
        if made_here is not None and job.is_main:
            with contextlib.suppress(OSError):  # the error to report is the one above
                remove_empty_folders(made_here)  # a refused run leaves nothing behind
        raise
    finally:
        distributed.shutdown()


def first_missing(out: Path) -> Path | None:
    """The outermost folder of `out` that does not exist yet (`out` itself, or a parent that
    `mkdir(parents=True)` would make), None if `out` exists or cannot be looked at."""
    try:
        if out.exists():
            return None
        missing = out
        while missing.parent != missing and not missing.parent.exists():
            missing = missing.parent
        return missing
    except OSError:  # a name the file system refuses: check_out_dir says so in one line
        return None


def remove_empty_folders(top: Path) -> None:
    """Remove `top` and the folders under it that hold no file, deepest first; a file
    anywhere keeps it and the folders above it."""
    if not top.is_dir():
        return
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(top.iterdir()):
        top.rmdir()


def train_seeds(
    config: TrainConfig, out: Path, resume: bool, job: distributed.Distributed
) -> dict[str, Any]:
    if config.seeds == 1:
        return train_one(config, out, resume, job)
    if job.is_main:
        prepare_out_dir(out, resume)
    runs = []
    for seed in range(config.seed, config.seed + config.seeds):
        one = TrainConfig(**{**config.to_dict(), "seed": seed, "seeds": 1})
        seed_dir = out / f"seed-{seed}"
        started = checkpoint.has_checkpoint(seed_dir / "checkpoints")
        runs.append(train_one(one, seed_dir, resume and started, job))
    summary = {
        **{
            k: v
            for k, v in runs[0].items()
            if k not in ("metrics", "timing", "out", "weights_sha256")  # each seed's own
        },
        "config": config.to_dict(),
        "metrics": mean_std([r["metrics"] for r in runs]),
        "seeds": [{"seed": r["config"]["seed"], "metrics": r["metrics"]} for r in runs],
        "timing": {"total_s": sum(r["timing"]["total_s"] for r in runs)},
        "out": str(out),
    }
    if job.is_main:
        with writing(out / "summary.json"):
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
    if resume:  # in every process, so that all refuse alike
        check_out_dir(out, resume=True)
        check_resume(config, out)
    elif job.is_main:
        prepare_out_dir(out, resume=False)
    seed_everything(config.seed)  # every process builds the same model
    model, task, bundle, model_kwargs = prepare(config)
    device = job.device(resolve_device(config.device))
    warnings = TrainingWarnings(print_warning)
    callbacks = [
        warnings,
        CSVLogger(out / "metrics.csv"),
        Curves(out / "curves.png"),
        Checkpointer(out / "checkpoints"),
        EpochFigures(out / "epochs"),
        *([EpochPrinter()] if config.progress else []),
        *([TensorBoardLogger(out / "tensorboard")] if config.tensorboard else []),
    ]
    trainer = Trainer(
        model, task, bundle, config, device, callbacks if job.is_main else [], job=job
    )
    if resume:
        warn = print_warning if job.is_main else ignore_warning
        trainer.load_state_dict(*checkpoint.load_checkpoint(out / "checkpoints", warn))
        if trainer.state.step > trainer.total_steps:
            raise UserError(
                f"cannot resume {out} for {trainer.total_steps} steps in all: it has taken "
                f"{trainer.state.step} already; ask for at least as many epochs or steps"
            )
    if job.is_main:
        with writing(out / "config.json"):
            write_json(out / "config.json", config.to_dict())
    metrics = trainer.fit()
    figures: dict[str, Any] = {}
    texts: dict[str, str] = {}
    weights = safetensors_bytes(trainer.model)
    if job.is_main:
        with writing(out / "model.safetensors"):
            write_atomic(out / "model.safetensors", weights)
        figures = task.figures(trainer.model, bundle)
        for filename, figure in figures.items():
            with writing(out / filename):
                figure.savefig(out / filename, dpi=110, bbox_inches="tight")
        texts = task.texts(trainer.model, bundle)
        for filename, text in texts.items():
            with writing(out / filename):
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
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "warnings": warnings.messages,
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
        with writing(out / "summary.json"):
            write_json(out / "summary.json", summary)
    return summary


def print_warning(message: str) -> None:
    """One line on stderr (a checkpoint fell back to an earlier one)."""
    print(f"warning: {message}", file=sys.stderr)


def ignore_warning(message: str) -> None:
    """What the other processes of a job say: nothing, rank 0 has said it."""


def safetensors_bytes(model: torch.nn.Module) -> bytes:
    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
