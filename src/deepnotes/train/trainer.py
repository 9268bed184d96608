"""The training loop: plain PyTorch, a few named events, nothing model-specific.

    for epoch in epochs:
        for batch in train loader:              # shuffled by a generator seeded (seed, epoch)
            logs = task.training_step(model, batch, update)
        row = train logs + task.evaluate(val)   # one row of metrics.csv
        events: on_epoch_end(trainer, row)      # CSV log, checkpoint, ...
    metrics = task.evaluate(test)

`update(loss, name)` is the one place where gradients are applied: it refuses a
NaN or infinite loss (raising `TrainingDivergedError`, so the last good checkpoint
is kept), then runs zero_grad → backward → optional clipping → step →
scheduler step for the optimiser called `name`. A step can still leave NaN in
the weights (a NaN momentum, an overflow in the last step) with no loss left to
show it, so at the end of each epoch, before anything is logged or saved, the
weights and the losses of the row are checked too (`check_finite`).

Files: the callbacks write the run folder's files through `writing(path)`, so a
full disk or a read-only folder ends in one line naming the file (`WriteError`).

Resuming is exact: the checkpoint holds weights, optimiser and scheduler
state, the RNG states and the epoch; the shuffling order of an epoch depends
only on (seed, epoch), so a run stopped and resumed sees the same batches in
the same order as one that never stopped.

Speed switches, each off by default: `amp` runs the forward passes under
`torch.autocast` (bfloat16, or float16 with a `GradScaler` that scales the loss
so small gradients do not underflow); `channels_last` stores images and conv
weights as NHWC; `compile` trains through `torch.compile`. On several processes
(`distributed.py`) the model trains wrapped in `DistributedDataParallel`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from deepnotes.data.base import DataBundle
from deepnotes.errors import TrainingDivergedError, UserError, WriteError
from deepnotes.figures import training_curves
from deepnotes.io import write_atomic
from deepnotes.tasks.base import Task
from deepnotes.train import checkpoint
from deepnotes.train.config import TrainConfig
from deepnotes.train.distributed import (
    SINGLE_PROCESS,
    Distributed,
    GlobalBatchSampler,
    check_task,
)
from deepnotes.train.optimizers import make_optimizer, make_scheduler


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU; asking for a missing one is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if name not in available:
        raise UserError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")
    if not available[name]:
        raise UserError(f"device {name!r} is not available on this machine; use --device cpu")
    return torch.device(name)


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move every tensor of a (nested) batch to `device`; with `channels_last`, images
    (floating 4-D tensors) are laid out NHWC."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


def eval_batches(
    bundle: DataBundle,
    split: str,
    batch_size: int,
    device: torch.device,
    channels_last: bool = False,
) -> Iterator[Any]:
    """The batches of one split in order, moved to `device`."""
    for batch in bundle.loader(split, batch_size, shuffle=False):
        yield to_device(batch, device, channels_last)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype `--amp` asks for: `auto` is bfloat16 on CPUs and on GPUs that
    support it, else float16; None without mixed precision."""
    if amp == "none":
        return None
    if amp == "auto":
        bf16 = device.type != "cuda" or torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG's state, in a form a checkpoint can store without pickle."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing `path` (a full disk, a read-only folder, a name too long)
    into a one-line `WriteError` that names the file; the OSError stays as its cause."""
    try:
        yield
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise WriteError(f"{reason[0].lower()}{reason[1:]} while writing {path}") from e


class Callback:
    """Events of a run; override the ones you need."""

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, logs: dict[str, torch.Tensor]) -> None: ...

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None: ...

    def on_fit_end(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...


class StepLosses(Callback):
    """Keeps every optimiser step's training loss (`losses`), for curves finer than epochs."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_step_end(self, trainer: Trainer, logs: dict[str, torch.Tensor]) -> None:
        self.losses.append(float(logs["loss"]))


class CSVLogger(Callback):
    """Appends each epoch's row to `metrics.csv` (rewritten whole and atomically, so a resumed
    run stays clean and a failed write leaves the previous file)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        rows = trainer.state.history
        columns = list(dict.fromkeys(key for r in rows for key in r))
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        with writing(self.path):
            write_atomic(self.path, text.getvalue().encode())


class TrainingWarnings(Callback):
    """Says each kind of the task's warnings once (`Task.warnings`: a VAE's KL collapsed),
    through `warn`, and keeps them (`messages`) for the run's summary."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.warn = warn
        self.messages: dict[str, str] = {}

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        for kind, message in trainer.task.warnings(row).items():
            if kind not in self.messages:
                self.messages[kind] = message
                self.warn(message)


class EpochPrinter(Callback):
    """One line per epoch on stderr: the row's losses and accuracies, and its time."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        shown = "  ".join(
            f"{k} {v:.4f}" for k, v in row.items() if k.startswith(("train_", "val_"))
        )
        tqdm.write(
            f"epoch {row['epoch']}/{trainer.epochs}  {shown}  ({row['time_s']:.1f} s)",
            file=sys.stderr,
        )


class Checkpointer(Callback):
    """Saves weights and run state atomically after every epoch."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        name = f"epoch-{trainer.state.epoch:04d}"
        with writing(self.directory / name):
            checkpoint.save_checkpoint(
                self.directory, name, trainer.model.state_dict(), trainer.state_dict()
            )


class TensorBoardLogger(Callback):
    """Logs every step's training loss and every epoch's metrics as TensorBoard scalars
    (torch.utils.tensorboard, which needs the `tensorboard` package: the `tensorboard`
    extra), for a student who watches a run live with `tensorboard --logdir OUT`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "--tensorboard needs the tensorboard package: pip install 'deepnotes[tensorboard]'"
            ) from None
        self.writer = SummaryWriter(str(self.directory))

    def on_step_end(self, trainer: Trainer, logs: dict[str, torch.Tensor]) -> None:
        if "loss" in logs:
            self.writer.add_scalar("step/train_loss", float(logs["loss"]), trainer.state.step)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        for key, value in row.items():
            if key not in ("epoch", "step"):
                self.writer.add_scalar(f"epoch/{key}", value, int(row["epoch"]))
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.writer.close()


class Curves(Callback):
    """Redraws the run's training curves (`figures.training_curves`: each metric, train and
    validation) into one file as epochs end, to watch while it trains: after an epoch when
    `every` seconds have passed since the last drawing (a drawing costs about 0.2 s, which
    a run of hundreds of short epochs should not pay each time), and after the last."""

    def __init__(self, path: Path, every: float = 10.0) -> None:
        self.path = Path(path)
        self.every = every
        self.drawn = -math.inf  # when it was last drawn (time.monotonic)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        if time.monotonic() - self.drawn >= self.every:
            self.draw(trainer)

    def on_fit_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.draw(trainer)

    def draw(self, trainer: Trainer) -> None:
        figure = training_curves({self.path.parent.name: trainer.state.history})
        with writing(self.path):
            figure.savefig(self.path, dpi=80, bbox_inches="tight")
        self.drawn = time.monotonic()


class EpochFigures(Callback):
    """Saves the task's per-epoch figures as `DIR/NAME-EPOCH.png`, at most about 50 epochs'
    worth (every k-th epoch and the last), so a long run's folder stays browsable."""

    most = 50

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        epoch = trainer.state.epoch
        every = math.ceil(trainer.epochs / self.most)
        if epoch % every and epoch != trainer.epochs:
            return
        figures = trainer.task.epoch_figures(trainer.model, epoch)
        if figures:
            with writing(self.directory):
                self.directory.mkdir(parents=True, exist_ok=True)
        for name, figure in figures.items():
            path = self.directory / f"{Path(name).stem}-{epoch:04d}.png"
            with writing(path):
                figure.savefig(path, dpi=80, bbox_inches="tight")


@dataclass
class TrainState:
    """Where a run is: epochs and optimiser steps done, and each epoch's metrics."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0


class Trainer:
    """Fits `model` on `bundle` with `task`, as `config` says; events go to `callbacks`.

    `self.model` is the plain module (saved, evaluated); the task trains
    `self.train_model`, which is the same module wrapped as the config asks:
    compiled, and in `DistributedDataParallel` when `job` has several processes.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        bundle: DataBundle,
        config: TrainConfig,
        device: torch.device,
        callbacks: Iterable[Callback] = (),
        job: Distributed = SINGLE_PROCESS,
    ) -> None:
        self.model = model.to(device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.task = task
        self.bundle = bundle
        self.config = config
        self.device = device
        self.callbacks = list(callbacks)
        self.job = job
        self.batch_size = job.per_process_batch(config.batch_size)
        self.amp = amp_dtype(config.amp, device)
        self.train_model = self.wrap(self.model)
        self.state = TrainState()
        self.steps_per_epoch = len(self.train_loader(epoch=0))
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.optimizers = {
            name: make_optimizer(params, config) for name, params in task.optimizers(model).items()
        }
        self.schedulers = {
            name: make_scheduler(opt, config, self.total_steps)
            for name, opt in self.optimizers.items()
        }
        # float16 needs its loss scaled (and the scale adapted) so gradients do not underflow
        self.scalers = {
            name: torch.amp.GradScaler(device.type, enabled=self.amp == torch.float16)
            for name in self.optimizers
        }

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the task trains: DDP across processes, compiled if asked."""
        if self.job.enabled:
            check_task(self.task)
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return torch.compile(model) if self.config.compile else model

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes when `--amp` asks for it."""
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def train_loader(self, epoch: int) -> Iterable[Any]:
        """The training batches of one epoch (this process's share), in an order fixed by
        (seed, epoch)."""
        seed = self.config.seed * 1_000_003 + epoch
        options = {
            "num_workers": self.config.num_workers,
            "pin_memory": self.device.type == "cuda",
            "drop_last": self.task.drop_last,
        }
        if not self.job.enabled:
            generator = torch.Generator().manual_seed(seed)
            return self.bundle.loader(
                "train", self.batch_size, shuffle=True, generator=generator, **options
            )
        dataset = self.bundle.split("train")
        sampler = GlobalBatchSampler(len(dataset), self.job, self.config.batch_size, seed)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            # its worker-seed draw comes from here, not from the global generator, which
            # dropout draws from: as in one process
            generator=torch.Generator().manual_seed(seed),
            collate_fn=self.bundle.collate_fn,
            **options,
        )

    def update(self, loss: torch.Tensor, name: str = "model") -> None:
        """One optimiser step on `loss`: NaN check, zero_grad, backward, clip, step, schedule."""
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"loss became {loss.item()} at epoch {self.state.epoch + 1}, "
                f"step {self.state.step + 1}; "
                "stopped, the last good checkpoint is kept (try a lower --lr or --grad-clip)"
            )
        optimizer, scaler = self.optimizers[name], self.scalers[name]
        optimizer.zero_grad(set_to_none=True)
        if self.amp is None:
            loss.backward()
        else:
            with torch.autocast(self.device.type, enabled=False):  # backward: the forward's types
                scaler.scale(loss).backward()  # the loss itself unless float16 needs scaling
        if self.config.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients
            params = [p for group in optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        scaler.step(optimizer)  # skipped if the scaled gradients overflowed
        scaler.update()
        if self.schedulers[name] is not None:
            self.schedulers[name].step()

    def evaluate(self, split: str) -> dict[str, float]:
        """The task's metrics over a whole split, in eval mode.

        Across processes, a task whose metrics are means over examples evaluates a
        share of the split in each and sums the totals; any other task's metrics
        (IoU, BLEU, FID) are computed on the whole split by every process alike.
        """
        self.model.eval()
        with self.autocast():
            if self.job.enabled and self.task.metrics_are_means():
                dataset = self.bundle.split(split)
                share = torch.utils.data.Subset(
                    dataset, range(self.job.rank, len(dataset), self.job.world_size)
                )
                loader = torch.utils.data.DataLoader(
                    share, self.config.eval_batch_size, collate_fn=self.bundle.collate_fn
                )
                batches = (to_device(b, self.device, self.config.channels_last) for b in loader)
                totals, count = self.task.evaluation_totals(self.model, batches)
                return self.reduced_means(totals, count)
            batches = eval_batches(
                self.bundle,
                split,
                self.config.eval_batch_size,
                self.device,
                self.config.channels_last,
            )
            return self.task.evaluate(self.model, batches)

    def reduced_means(self, totals: dict[str, float], count: int) -> dict[str, float]:
        """Σ over processes of each total, divided by Σ of the counts."""
        keys = list(totals)  # the same order in every process
        *summed, count = self.job.sum([totals[k] for k in keys] + [count])
        return {k: total / count for k, total in zip(keys, summed, strict=True)}

    def fit(self) -> dict[str, float]:
        """Train to the end (or from the resumed epoch), then evaluate on the test split."""
        for callback in self.callbacks:
            callback.on_fit_start(self)
        while self.state.epoch < self.epochs and self.state.step < self.total_steps:
            self.run_epoch()
        last = self.state.history[-1]
        metrics = {k: v for k, v in last.items() if k.startswith(("train_", "val_"))}
        if "test" in self.bundle.splits:
            metrics.update({f"test_{k}": v for k, v in self.evaluate("test").items()})
            self.check_finite(metrics)
        for callback in self.callbacks:
            callback.on_fit_end(self, metrics)
        return metrics

    def run_epoch(self) -> None:
        start = time.perf_counter()
        self.model.train()
        totals: dict[str, float] = {}
        count = 0
        loader = self.train_loader(self.state.epoch)
        bar = tqdm(
            loader,
            desc=f"epoch {self.state.epoch + 1}/{self.epochs}",
            leave=False,
            disable=not (self.config.progress and self.job.is_main) or None,
        )
        for batch in bar:
            batch = to_device(batch, self.device, self.config.channels_last)
            with self.autocast():
                logs = self.task.training_step(self.train_model, batch, self.update)
            self.state.step += 1
            n = self.task.batch_size(batch)
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + float(value) * n
            count += n
            for callback in self.callbacks:
                callback.on_step_end(self, logs)
            if "loss" in logs and not bar.disable:
                bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)
            if self.state.step >= self.total_steps:
                break
        self.state.train_seconds += time.perf_counter() - start
        self.state.epoch += 1
        row = {"epoch": self.state.epoch, "step": self.state.step}
        row.update({f"train_{k}": v for k, v in self.reduced_means(totals, count).items()})
        row["lr"] = next(iter(self.optimizers.values())).param_groups[0]["lr"]
        if "val" in self.bundle.splits:
            row.update({f"val_{k}": v for k, v in self.evaluate("val").items()})
        row["time_s"] = time.perf_counter() - start
        self.check_finite(row)  # before the row is logged and the weights saved
        self.state.history.append(row)
        for callback in self.callbacks:
            callback.on_epoch_end(self, row)

    def check_finite(self, metrics: dict[str, float]) -> None:
        """Stop (TrainingDivergedError) if a weight or buffer of the model, or a loss among
        `metrics`, is NaN or infinite.

        The per-step check in `update` sees only the losses it is given: the step after
        the last one (or a NaN momentum that turns the weights to NaN while the loss that
        was just computed is still finite) shows only in the weights, and a NaN weight
        gives a NaN validation loss but an accuracy that looks like chance, not an error.
        """
        tensors = self.model.state_dict()
        bad = [
            name
            for name, t in tensors.items()
            if t.is_floating_point() and not bool(torch.isfinite(t).all())
        ]
        found = [f"{k} is {v}" for k, v in metrics.items() if "loss" in k and not math.isfinite(v)]
        if bad:
            named = ", ".join(bad[:3]) + (", …" if len(bad) > 3 else "")
            found.append(f"{len(bad)} of {len(tensors)} weight tensors hold NaN or ∞ ({named})")
        if found:
            raise TrainingDivergedError(
                f"training diverged by epoch {self.state.epoch}, step {self.state.step}: "
                f"{'; '.join(found)}; stopped before saving this epoch "
                "(try a lower --lr or --grad-clip)"
            )

    def state_dict(self) -> dict[str, Any]:
        """Everything but the weights that a resumed run needs."""
        return {
            "epoch": self.state.epoch,
            "step": self.state.step,
            "history": self.state.history,
            "train_seconds": self.state.train_seconds,
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {
                name: s.state_dict() for name, s in self.schedulers.items() if s is not None
            },
            "scalers": {name: s.state_dict() for name, s in self.scalers.items() if s.is_enabled()},
            "rng": rng_state(),
        }

    def load_state_dict(self, model_state: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.model.load_state_dict(model_state)
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            if sched is not None:
                sched.load_state_dict(state["schedulers"][name])
        for name, scaler_state in state.get("scalers", {}).items():
            self.scalers[name].load_state_dict(scaler_state)
        self.state = TrainState(
            epoch=state["epoch"],
            step=state["step"],
            history=state["history"],
            train_seconds=state["train_seconds"],
        )
        set_rng_state(state["rng"])
