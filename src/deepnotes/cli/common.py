"""What the commands share: a parser that errs in one line, argument types, common flags.

The argument types check what can be checked before any work: a number in its range
(a seed NumPy takes, a positive finite temperature, a count of samples that fits in
memory), a folder where a folder belongs and a file where a file belongs, a name the
file system takes, a folder that can be read or written. argparse reports a refused
value as one line naming the flag.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from deepnotes.errors import UserError
from deepnotes.train.config import COUNT_MAX, SEED_MAX

T = TypeVar("T")
MAX_SAMPLES = 10_000  # `sample --n`: a grid or a text this long draws in seconds, not hours
FIGURE_FORMATS = ("png", "jpg", "jpeg", "pdf", "svg")  # what matplotlib writes without extras
EFFECTIVE = os.access in os.supports_effective_ids  # ask as the process acts (not on Windows)


class Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (usage stays in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def argument(check: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type made of a check that raises `UserError`, which argparse then reports
    as a bad value of its flag; the check also serves values that come from elsewhere."""

    @functools.wraps(check)
    def parse(text: str) -> T:
        try:
            return check(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


@argument
def experiment_names(text: str) -> list[str]:
    """`conv-arithmetic,vae` → the registered experiments named, each checked (an unknown
    one suggests the closest names); for `tour --only` and `--skip`."""
    from deepnotes.registry import EXPERIMENTS

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UserError("expected experiment names separated by commas")
    for name in names:
        EXPERIMENTS.get(name)
    return names


def int_tuple(text: str) -> tuple[int, ...]:
    """`5` → (5,), `32,32` → (32, 32); for --input, --input-size."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    return values


def integer_in(text: str, low: int, high: int, wanted: str) -> int:
    """`text` as an integer from `low` to `high`; else argparse's one-line refusal, which
    says what was `wanted`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a count of samples, classes, ...) that torch can hold."""
    return integer_in(text, 1, COUNT_MAX, "a positive integer")


def sizes(text: str) -> tuple[int, ...]:
    """`1,28,28` → (1, 28, 28): an input shape, each size a positive integer (--input-size)."""
    try:
        return tuple(positive_int(v) for v in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas, got {text!r}"
        ) from None


def sample_count(text: str) -> int:
    """A positive number of samples up to `MAX_SAMPLES`."""
    value = positive_int(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SAMPLES:,} samples, got {value:,}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (a temperature): not 0, not negative, not nan or inf."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


def seed(text: str) -> int:
    """A random seed, 0 to `SEED_MAX`, the seeds every generator here takes."""
    return integer_in(text, 0, SEED_MAX, f"an integer seed from 0 to {SEED_MAX}")


EXPERIMENT_SEEDS = 1000  # an experiment draws seeds S, S + 1, ... (up to S + 20 today)


def experiment_seed(text: str) -> int:
    """An experiment's seed: a `seed` that leaves room for the `EXPERIMENT_SEEDS` after it."""
    last = SEED_MAX - EXPERIMENT_SEEDS
    wanted = f"a seed from 0 to {last} (an experiment also draws the seeds after it)"
    return integer_in(text, 0, last, wanted)


def status(path: str) -> os.stat_result | None:
    """What is at a path a user named: its `os.stat`, or None where nothing is yet. A name
    the file system refuses (too long, a NUL), a file on the way (`FILE/x`), a loop of
    links or a folder that cannot be searched ends in one `UserError`."""
    if not path:
        raise UserError("expected a path, got an empty name")
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except ValueError:  # an embedded NUL
        raise UserError(f"{path!r} is not a name the file system takes") from None
    except OSError as e:
        raise UserError(f"{path}: {e.strerror}") from None


def check_writable(folder: Path) -> None:
    """`folder`, or the nearest folder above it that exists (where it will be made), takes
    new files."""
    while status(str(folder)) is None:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=EFFECTIVE):
        raise UserError(f"cannot write in folder {folder}: permission denied")


@argument
def out_folder(text: str) -> str:
    """A folder to write into (`--out DIR`): a folder or nothing yet, not a file."""
    found = status(text)
    if found is not None and not stat.S_ISDIR(found.st_mode):
        raise UserError(f"{text} is a file, not a folder")
    check_writable(Path(text))
    return text


def check_out_file(text: str, suffix: str = ".png") -> str:
    """A file to write (`--out FILE`): not a folder, in a folder that exists and takes it;
    `suffix` is the kind of file the error message suggests instead of a folder."""
    found = status(text)
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UserError(f"{text} is a folder; give a file name, e.g. {Path(text) / 'out'}{suffix}")
    folder = Path(text).parent
    if status(str(folder)) is None:
        raise UserError(f"folder {folder} does not exist")
    if found is not None and not os.access(text, os.W_OK, effective_ids=EFFECTIVE):
        raise UserError(f"cannot write {text}: permission denied")
    check_writable(folder)
    return text


def check_figure_file(text: str) -> str:
    """A file to draw a figure in: `check_out_file`, with a format matplotlib writes."""
    check_out_file(text)
    suffix = Path(text).suffix.lower().removeprefix(".")
    if suffix not in FIGURE_FORMATS:
        raise UserError(
            f"{text}: a figure is written as {', '.join('.' + f for f in FIGURE_FORMATS)}"
        )
    return text


@argument
def data_folder(text: str) -> str:
    """A data root (`--data-dir`): a folder that can be read, or nothing yet (`--download`
    fills it; a data set missing there is reported by name)."""
    found = status(text)
    if found is None:
        return text
    if not stat.S_ISDIR(found.st_mode):
        raise UserError(f"{text} is a file, not a folder")
    try:
        with os.scandir(text):
            pass
    except OSError as e:
        raise UserError(f"cannot read folder {text}: {e.strerror}") from None
    return text


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


class Parents:
    """argparse parents for the flags several commands share, each declared once."""

    def __init__(self) -> None:
        self.json = argparse.ArgumentParser(add_help=False)
        self.json.add_argument("--json", action="store_true", help="machine-readable output")

        self.data_dir = argparse.ArgumentParser(add_help=False)
        self.data_dir.add_argument(
            "--data-dir", type=data_folder, metavar="ROOT", help="data root to look in first"
        )

        # how an experiment runs: `run`, `tour`, and `notebook` for the notebook's runs
        self.mode = argparse.ArgumentParser(add_help=False)
        mode = self.mode.add_mutually_exclusive_group()
        mode.add_argument(
            "--quick",
            action="store_true",
            default=True,
            help="the short version used by the tour and tests (default)",
        )
        mode.add_argument("--full", action="store_true", help="the long version for the report")
        self.mode.add_argument(
            "--seed", type=experiment_seed, default=0, help="random seed (default: 0)"
        )

        self.experiment = argparse.ArgumentParser(
            add_help=False, parents=[self.data_dir, self.mode]
        )
        self.experiment.add_argument(
            "--out",
            type=out_folder,
            default="deepnotes-report",
            help="report folder (default: deepnotes-report); a folder of other files is "
            "refused without --force",
        )
        self.experiment.add_argument(
            "--force",
            action="store_true",
            help="write the report into a folder that holds other files",
        )
