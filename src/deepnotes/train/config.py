"""The settings of one training run, and where each comes from.

Precedence, lowest first: the defaults below, the model's own `train_defaults`
(its `ModelCard`: a language model's context and batch differ from
LeNet's), a TOML file given with `--config`, then the flags typed on the
command line. `TrainConfig.from_sources` applies them in that order.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
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
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
OPTIMIZER_IMPLS = ("torch", "deepnotes")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "warmup-cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Flag:
    """The command-line flag of one `TrainConfig` field: its name (`--batch-size`), the type
    it parses (`int` for `int | None`), its default, its help, and argparse's extras
    (choices, metavar, nargs, const)."""

    field: str
    flag: str
    kind: type
    default: Any
    help: str
    extras: dict[str, Any]


def setting(
    default: Any = None,
    help: str = "",
    flag: str | None = None,
    flag_help: str | None = None,
    default_factory: Callable[[], Any] | None = None,
    **extras: Any,
) -> Any:
    """A documented field: `help` is its reason, shown by `deepnotes train --help`; `flag` a
    name other than the field's (`--no-progress`), with `flag_help`; `extras` argparse's."""
    described = {"help": help, "flag": flag, "flag_help": flag_help, "extras": extras}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=described)
    return field(default=default, metadata=described)


@dataclass
class TrainConfig:
    """Everything that decides a run; saved in `summary.json` so a run can be repeated.

    Each field is a flag of `deepnotes train` (`batch_size` → `--batch-size`), built
    from the field's type, default and help by `deepnotes.cli.training`; a TOML file
    given with `--config` uses the same names.
    """

    model: str = setting(dataclasses.MISSING, "model name (see `deepnotes models`)")
    data: str = setting(dataclasses.MISSING, "data set name (see `deepnotes data`)")
    epochs: int = setting(10, "passes over the training split")
    max_steps: int | None = setting(
        None, "stop after this many optimiser steps (it takes precedence over --epochs)"
    )
    batch_size: int = setting(64, "examples per optimiser step")
    lr: float = setting(1e-3, "learning rate")
    optimizer: str = setting("adam", "the optimiser", choices=OPTIMIZERS)
    optimizer_impl: str = setting(
        "torch",
        "torch.optim, or the from-scratch deepnotes.optim, which takes the same steps",
        choices=OPTIMIZER_IMPLS,
    )
    momentum: float = setting(0.9, "momentum of sgd and rmsprop")
    weight_decay: float = setting(0.0, "L2 penalty (decoupled for adamw)")
    scheduler: str = setting("none", "per-step learning-rate schedule", choices=SCHEDULERS)
    warmup_steps: int = setting(0, "warm-up steps of warmup-cosine")
    grad_clip: float | None = setting(None, "clip the global gradient norm to this value")
    seed: int = setting(0, "random seed of the model, the batches and dropout")
    seeds: int = setting(1, "repeat over seeds seed, seed+1, ...; summary gets NAME_mean, NAME_std")
    split: str | None = setting(None, "a data set's own split scheme, e.g. speaker:theo")
    image_size: int | None = setting(
        None, "resize images to this height and width (default: the model's input size)"
    )
    block_size: int | None = setting(
        None, "a text model's context, characters per training block (default: the model's)"
    )
    model_args: dict[str, Any] = setting(  # noqa: RUF009 (a field with its help)
        help="a model constructor argument, KEY=VALUE (repeatable), e.g. activation=relu",
        flag="--model-arg",
        default_factory=dict,
    )
    data_dir: str | None = setting(None, "data root to look in first", metavar="ROOT")
    download: bool = setting(False, "download the data set if it is missing")
    device: str = setting("auto", "where to train", choices=DEVICES)
    devices: int = setting(
        1,
        "train on N processes of this machine (N GPUs, or CPU processes with gloo): launches "
        "torchrun; --batch-size stays the global batch",
    )
    amp: str = setting(
        "none",
        "mixed precision: bf16, or fp16 with a gradient scaler; plain --amp picks bf16 on CPUs "
        "and GPUs that have it, else fp16",
        choices=AMP_CHOICES,
        nargs="?",
        const="auto",
    )
    channels_last: bool = setting(
        False, "store images and convolution weights as NHWC (faster on GPUs with AMP)"
    )
    compile: bool = setting(False, "train through torch.compile")
    num_workers: int = setting(0, "data-loading worker processes; pinned memory on CUDA")
    eval_batch_size: int = setting(512, "examples per batch when evaluating a split")
    progress: bool = setting(
        True,
        "show progress bars and a line per epoch",
        flag="--no-progress",
        flag_help="no progress bars and no line per epoch",
    )

    @classmethod
    def flags(cls) -> list[Flag]:
        """The flag of every field, in the fields' order (`deepnotes.cli.training`)."""
        types = typing.get_type_hints(cls)
        flags = []
        for f in dataclasses.fields(cls):
            about = f.metadata
            flags.append(
                Flag(
                    field=f.name,
                    flag=about["flag"] or "--" + f.name.replace("_", "-"),
                    kind=parsed_type(types[f.name]),
                    default=f.default,
                    help=about["flag_help"] or about["help"],
                    extras=about["extras"],
                )
            )
        return flags

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
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seeds": self.seeds,
            "eval_batch_size": self.eval_batch_size,
        }
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


def parsed_type(annotation: Any) -> type:
    """The type a flag parses: `int` for `int` and for `int | None`, `dict` for `dict[str, Any]`."""
    if isinstance(annotation, types.UnionType):  # X | None: the X
        (annotation,) = (t for t in typing.get_args(annotation) if t is not type(None))
    return typing.get_origin(annotation) or annotation


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
