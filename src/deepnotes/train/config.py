"""The settings of one training run, and where each comes from.

Precedence, lowest first: the defaults below, the model's own `train_defaults`
(its `ModelCard`: a language model's context and batch differ from
LeNet's), a TOML file given with `--config`, then the flags typed on the
command line. `TrainConfig.from_sources` applies them in that order.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
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
SEED_MAX = 2**32 - 1  # NumPy's seeds are 32-bit; torch and Python take these too
COUNT_MAX = 2**63 - 1  # torch counts in int64
IMAGE_SIZE_MAX = 4096  # a resize beyond this is a typo, and would fill the memory
SPLIT_SCHEME = re.compile(r"index|speaker:.+")  # the speech sets' split schemes (data/speech.py)
TASK_GIVEN = ("num_classes", "input_size")  # model arguments the data set decides
# the kinds of data set a setting applies to (the split schemes are the speech sets', audio)
FOR_KINDS = {"image_size": ("images",), "block_size": ("text",), "split": ("audio",)}


@dataclass(frozen=True)
class Range:
    """The values a number setting may take: finite, from `low` to `high`, each end
    included unless `open_low` / `open_high` (a learning rate > 0, momentum in [0, 1))."""

    low: float
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):  # nan, inf
            return False
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def __str__(self) -> str:
        """What a message says a setting must be: "positive", "0 or more and below 1"."""
        if (self.low, self.open_low) in ((0, True), (1, False)):  # > 0, or a count ≥ 1
            low = "positive"
        elif (self.low, self.open_low) == (0, False):
            low = "0 or more"
        else:
            low = f"{'above' if self.open_low else 'at least'} {self.low:g}"
        if self.high == math.inf:
            return low
        return f"{low} and {'below' if self.open_high else 'at most'} {self.high}"


POSITIVE = Range(1, COUNT_MAX)  # a count of epochs, steps, examples
NATURAL = Range(0, COUNT_MAX)


@dataclass(frozen=True)
class Flag:
    """The command-line flag of one `TrainConfig` field: its name (`--batch-size`), the type
    it parses (`int` for `int | None`), its default, its help, and argparse's extras
    (choices, metavar, nargs, const)."""

    field: str
    flag: str
    kind: type
    optional: bool
    default: Any
    help: str
    valid: Range | None
    extras: dict[str, Any]


def setting(
    default: Any = None,
    help: str = "",
    flag: str | None = None,
    flag_help: str | None = None,
    default_factory: Callable[[], Any] | None = None,
    valid: Range | None = None,
    **extras: Any,
) -> Any:
    """A documented field: `help` is its reason, shown by `deepnotes train --help`; `flag` a
    name other than the field's (`--no-progress`), with `flag_help`; `valid` the values a
    number may take (`TrainConfig.validate`); `extras` argparse's."""
    described = {
        "help": help,
        "flag": flag,
        "flag_help": flag_help,
        "valid": valid,
        "extras": extras,
    }
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
    epochs: int = setting(10, "passes over the training split", valid=POSITIVE)
    max_steps: int | None = setting(
        None,
        "stop after this many optimiser steps (it takes precedence over --epochs)",
        valid=POSITIVE,
    )
    batch_size: int = setting(64, "examples per optimiser step", valid=POSITIVE)
    lr: float = setting(1e-3, "learning rate", valid=Range(0, open_low=True))
    optimizer: str = setting("adam", "the optimiser", choices=OPTIMIZERS)
    optimizer_impl: str = setting(
        "torch",
        "torch.optim, or the from-scratch deepnotes.optim, which takes the same steps",
        choices=OPTIMIZER_IMPLS,
    )
    momentum: float = setting(0.9, "momentum of sgd and rmsprop", valid=Range(0, 1, open_high=True))
    weight_decay: float = setting(0.0, "L2 penalty (decoupled for adamw)", valid=Range(0))
    scheduler: str = setting("none", "per-step learning-rate schedule", choices=SCHEDULERS)
    warmup_steps: int = setting(0, "warm-up steps of warmup-cosine", valid=NATURAL)
    min_lr: float = setting(0.0, "the rate cosine and warmup-cosine end at", valid=Range(0))
    grad_clip: float | None = setting(
        None, "clip the global gradient norm to this value", valid=Range(0, open_low=True)
    )
    seed: int = setting(
        0, "random seed of the model, the batches and dropout", valid=Range(0, SEED_MAX)
    )
    seeds: int = setting(
        1, "repeat over seeds seed, seed+1, ...; summary gets NAME_mean, NAME_std", valid=POSITIVE
    )
    split: str | None = setting(
        None, "a data set's own split scheme: index, or speaker:NAME (fsdd, fsdd-strings)"
    )
    image_size: int | None = setting(
        None,
        "resize images to this height and width (default: the model's input size)",
        valid=Range(1, IMAGE_SIZE_MAX),
    )
    block_size: int | None = setting(
        None,
        "a text model's context, characters per training block (default: the model's)",
        valid=POSITIVE,
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
        valid=POSITIVE,
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
    num_workers: int = setting(
        0, "data-loading worker processes; pinned memory on CUDA", valid=NATURAL
    )
    eval_batch_size: int = setting(
        512, "examples per batch when evaluating a split", valid=POSITIVE
    )
    progress: bool = setting(
        True,
        "show progress bars and a line per epoch",
        flag="--no-progress",
        flag_help="no progress bars and no line per epoch",
    )
    tensorboard: bool = setting(
        False,
        "also log every epoch's metrics and every step's loss for TensorBoard, in "
        "OUT/tensorboard (`tensorboard --logdir OUT`; needs the tensorboard extra)",
    )

    @classmethod
    def flags(cls) -> list[Flag]:
        """The flag of every field, in the fields' order (`deepnotes.cli.training`)."""
        hints = typing.get_type_hints(cls)
        flags = []
        for f in dataclasses.fields(cls):
            about = f.metadata
            flags.append(
                Flag(
                    field=f.name,
                    flag=about["flag"] or "--" + f.name.replace("_", "-"),
                    kind=parsed_type(hints[f.name]),
                    optional=isinstance(hints[f.name], types.UnionType),
                    default=f.default,
                    help=about["flag_help"] or about["help"],
                    valid=about["valid"],
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
        unknown = set(settings) - cls.field_names()
        if unknown:
            raise UserError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        for key in ("model", "data"):
            if key not in settings:
                raise UserError(
                    f"no {key} given (a positional argument or `{key} = ...` in --config)"
                )
            check_setting(cls.flag(key), settings[key])  # before the model's name is used
        if model_defaults is not None:
            settings = {**model_defaults(settings["model"]), **settings}
        config = cls(**settings)
        config.validate()
        config.check_here()
        return config

    @classmethod
    def flag(cls, name: str) -> Flag:
        """The flag of the field `name`."""
        return next(f for f in cls.flags() if f.field == name)

    def validate(self) -> None:
        """Refuse, in one line that names the flag, a setting of the wrong type (a TOML file
        may hold `lr = "0.1"`), a choice not offered, a number outside its `Range`, seeds
        beyond `SEED_MAX`, a split that is no split scheme, and model arguments that cannot
        be right (`check_model_args`). It holds for a run saved on any machine."""
        for flag in self.flags():
            check_setting(flag, getattr(self, flag.field))
        if self.seed + self.seeds - 1 > SEED_MAX:
            raise UserError(
                f"--seed {self.seed} with --seeds {self.seeds} goes past the last seed, {SEED_MAX}"
            )
        if self.scheduler in ("cosine", "warmup-cosine") and self.min_lr > self.lr:
            raise UserError(
                f"--min-lr {self.min_lr} (the floor the cosine decays to; the model's default "
                f"unless given) is above --lr {self.lr}: give a lower --min-lr"
            )
        if self.split is not None and not SPLIT_SCHEME.fullmatch(self.split):
            raise UserError(f"--split must be index or speaker:NAME, got {self.split!r}")
        check_model_args(self.model_args)

    def check_here(self) -> None:
        """What a new run asks of this machine and of its data set: no more processes or
        data-loading workers than CPUs; `image_size` for images, `block_size` for text, and a
        split scheme, only where the data set has them (`FOR_KINDS`)."""
        from deepnotes.registry import DATASETS

        cpus = os.cpu_count() or 1
        for name in ("devices", "num_workers"):
            if getattr(self, name) > cpus:
                flag = self.flag(name).flag
                raise UserError(f"{flag} {getattr(self, name)}: this machine has {cpus} CPUs")
        kind = DATASETS.card(self.data).kind
        for name, kinds in FOR_KINDS.items():
            value = getattr(self, name)
            if value is not None and kind not in kinds:
                raise UserError(
                    f"{self.flag(name).flag} {value} is for {' or '.join(kinds)} data; "
                    f"{self.data} holds {kind}"
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parsed_type(annotation: Any) -> type:
    """The type a flag parses: `int` for `int` and for `int | None`, `dict` for `dict[str, Any]`."""
    if isinstance(annotation, types.UnionType):  # X | None: the X
        (annotation,) = (t for t in typing.get_args(annotation) if t is not type(None))
    return typing.get_origin(annotation) or annotation


KINDS = {int: "an integer", float: "a number", str: "text", bool: "true or false", dict: "a table"}


def check_setting(flag: Flag, value: Any) -> None:
    """One setting's value: of its field's type (True is no integer), one of its choices, in
    its `Range`; else one line naming the flag."""
    if value is None and flag.optional:
        return
    if flag.kind is float:
        typed = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        typed = isinstance(value, flag.kind) and (flag.kind is bool or not isinstance(value, bool))
    if not typed:
        raise UserError(f"{flag.flag} must be {KINDS[flag.kind]}, got {value!r}")
    choices = flag.extras.get("choices")
    if choices is not None and value not in choices:
        raise UserError(f"{flag.flag} must be one of {', '.join(choices)}, got {value!r}")
    if flag.valid is not None and value not in flag.valid:
        raise UserError(f"{flag.flag} must be {flag.valid}, got {value!r}")


def check_model_args(model_args: dict[str, Any]) -> None:
    """Refuse model arguments that cannot be right whatever the model: a key that is no
    Python name, one the data set decides (`TASK_GIVEN`), and a dropout probability (a key
    that holds "drop": dropout, drop_rate, d_dropout) outside [0, 1]. What only the model's
    constructor can judge is judged there."""
    for key, value in model_args.items():
        if not key.isidentifier():
            raise UserError(f"--model-arg {key!r}: a model argument is a Python name")
        if key in TASK_GIVEN:
            raise UserError(
                f"--model-arg {key}: the data set decides it (see --image-size, --block-size)"
            )
        if "drop" in key and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        ):
            raise UserError(f"--model-arg {key}={value!r}: a dropout probability must be in [0, 1]")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Training settings from a TOML file: top-level keys named as the flags (with _)."""
    try:
        if not Path(path).is_file():  # a folder, or a pipe that would block the read forever
            raise UserError(f"config file {path} is not a file")
        with open(path, "rb") as f:
            settings = tomllib.load(f)
    except OSError as e:
        raise UserError(f"cannot read config file {path}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
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
