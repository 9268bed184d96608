"""Optimisers and learning-rate schedules, built by name from a run's config.

`optimizer_impl` picks the library: `torch.optim` or the from-scratch
`deepnotes.optim`, which has the same class names, arguments and state-dict
layout, so the choice is one line and checkpoints work with either.

Schedules are stepped once per optimiser step, so `total_steps` is the length of
the whole run; with `step`, the rate drops ×0.1 at 1/2 and 3/4 of the run; `cosine` and
`warmup-cosine` end at `min_lr` (nanoGPT keeps a floor of a tenth or a twentieth of the rate).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

import torch
from torch.optim.lr_scheduler import LRScheduler

import deepnotes.optim
from deepnotes.errors import UserError
from deepnotes.train.config import OPTIMIZERS, SCHEDULERS, TrainConfig

LIBRARIES = {
    "torch": (torch.optim, torch.optim.lr_scheduler),
    "deepnotes": (deepnotes.optim, deepnotes.optim.lr_scheduler),
}


def library(config: TrainConfig) -> tuple[ModuleType, ModuleType]:
    """(optimisers, schedules) modules named by `config.optimizer_impl`."""
    try:
        return LIBRARIES[config.optimizer_impl]
    except KeyError:
        raise UserError(
            f"unknown optimizer implementation {config.optimizer_impl!r}; "
            f"choose one of {', '.join(LIBRARIES)}"
        ) from None


def make_optimizer(
    params: Iterable[torch.nn.Parameter], config: TrainConfig, lr: float | None = None
) -> torch.optim.Optimizer | deepnotes.optim.Optimizer:
    """The optimiser named by `config.optimizer` (`lr` overrides the config's, e.g. for TTUR)."""
    lr = config.lr if lr is None else lr
    name, wd = config.optimizer, config.weight_decay
    optim, _ = library(config)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> LRScheduler | deepnotes.optim.LRScheduler | None:
    """The per-step learning-rate schedule named by `config.scheduler`, or None."""
    name = config.scheduler
    _, sched = library(config)
    lowest = min(group["lr"] for group in optimizer.param_groups)  # a GAN's players have two
    if name in ("cosine", "warmup-cosine") and lowest < config.min_lr:  # it would rise to it
        raise UserError(
            f"a learning rate of {lowest} is below --min-lr {config.min_lr}, the floor the "
            "cosine decays to: give a lower --min-lr"
        )
    if name == "none":
        return None
    if name == "step":
        milestones = [total_steps // 2, total_steps * 3 // 4]
        return sched.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=config.min_lr)
    if name == "onecycle":
        max_lrs = [group["lr"] for group in optimizer.param_groups]
        return sched.OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total_steps)
    if name == "warmup-cosine":
        warmup = max(1, min(config.warmup_steps or total_steps // 20, total_steps - 1))
        return sched.SequentialLR(
            optimizer,
            [
                sched.LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup),
                sched.CosineAnnealingLR(
                    optimizer, T_max=max(1, total_steps - warmup), eta_min=config.min_lr
                ),
            ],
            milestones=[warmup],
        )
    raise UserError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
