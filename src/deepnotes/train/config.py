"""The settings of one training run, and where each comes from.

Precedence, lowest first: the defaults below, the model's own `train_defaults`
(registered metadata: a language model's context and batch differ from
LeNet's), a TOML file given with `--config`, then the flags typed on the
command line. `TrainConfig.from_sources` applies them in that order.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepnotes.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


AMP_CHOICES = ("none", "auto", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Everything that decides a run; saved in `summary.json` so a run can be repeated."""

    model: str
    data: str
    epochs: int = 10
    max_steps: int | None = None  # stop after this many optimiser steps (overrides epochs)
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # sgd | adam | adamw | rmsprop
    optimizer_impl: str = "torch"  # torch | deepnotes (the from-scratch deepnotes.optim)
    momentum: float = 0.9  # SGD and RMSprop only
    weight_decay: float = 0.0
    scheduler: str = "none"  # none | step | cosine | onecycle | warmup-cosine
    warmup_steps: int = 0  # warm-up length for warmup-cosine
    grad_clip: float | None = None  # clip the global gradient norm to this value
    seed: int = 0
    seeds: int = 1  # repeat the run over seeds seed, seed+1, ...; report mean and std
    split: str | None = None  # a data set's own split scheme, e.g. "speaker:theo"
    image_size: int | None = None  # override the model's input height and width
    block_size: int | None = None  # a text model's context: characters per training block
    model_args: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    download: bool = False
    device: str = "auto"  # auto | cpu | cuda | mps
    devices: int = 1  # processes on this machine (torchrun is launched for more than one)
    amp: str = "none"  # none | auto | bf16 | fp16: mixed precision (autocast)
    channels_last: bool = False  # NHWC memory layout for image models
    compile: bool = False  # torch.compile the model for training
    num_workers: int = 0
    eval_batch_size: int = 512
    progress: bool = True

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_sources(
        cls,
        cli: dict[str, Any],
        model_defaults: Callable[[str], dict[str, Any]] | None = None,
        config_file: str | Path | None = None,
    ) -> TrainConfig:
        """Merge defaults < model defaults < config file < command line (None = not given).

        `model_defaults(name)` gives a model's own defaults; it is asked once the model's
        name is known, which may come from the command line or from the file.
        """
        settings: dict[str, Any] = read_toml(config_file) if config_file is not None else {}
        settings.update({k: v for k, v in cli.items() if v is not None})
        if model_defaults is not None and "model" in settings:
            settings = {**model_defaults(settings["model"]), **settings}
        unknown = set(settings) - cls.field_names()
        if unknown:
            raise UserError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        for key in ("model", "data"):
            if key not in settings:
                raise UserError(
                    f"no {key} given (a positional argument or `{key} = ...` in --config)"
                )
        config = cls(**settings)
        config.validate()
        return config

    def validate(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "seeds": self.seeds}
        if self.max_steps is not None:
            positive["max_steps"] = self.max_steps
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise UserError(
                    f"--{name.replace('_', '-')} must be a positive integer, got {value!r}"
                )
        if self.amp not in AMP_CHOICES:
            raise UserError(f"--amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")
        if not isinstance(self.devices, int) or self.devices < 1:
            raise UserError(f"--devices must be a positive integer, got {self.devices!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise UserError(f"--num-workers must be 0 or more, got {self.num_workers!r}")
        if not self.lr > 0:
            raise UserError(f"--lr must be positive, got {self.lr!r}")
        for name in ("image_size", "block_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                flag = name.replace("_", "-")
                raise UserError(f"--{flag} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Training settings from a TOML file: top-level keys named as the flags (with _)."""
    try:
        with open(path, "rb") as f:
            settings = tomllib.load(f)
    except OSError as e:
        raise UserError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config file {path} is not valid TOML: {e}") from None
    return {k.replace("-", "_"): v for k, v in settings.items()}


def parse_model_args(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings → a dict; VALUE is read as JSON when it parses (3, 0.5, true, [1,2])."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--model-arg expects KEY=VALUE, got {pair!r}")
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    return parsed
