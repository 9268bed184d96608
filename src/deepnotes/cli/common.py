"""What the commands share: a parser that errs in one line, argument types, common flags."""

from __future__ import annotations

import argparse
import json
from typing import Any


class Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (usage stays in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_tuple(text: str) -> tuple[int, ...]:
    """`5` → (5,), `32,32` → (32, 32); for --input, --input-size."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    return values


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a count of samples, classes, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


class Parents:
    """argparse parents for the flags several commands share, each declared once."""

    def __init__(self) -> None:
        self.json = argparse.ArgumentParser(add_help=False)
        self.json.add_argument("--json", action="store_true", help="machine-readable output")

        self.data_dir = argparse.ArgumentParser(add_help=False)
        self.data_dir.add_argument("--data-dir", metavar="ROOT", help="data root to look in first")

        self.experiment = argparse.ArgumentParser(add_help=False, parents=[self.data_dir])
        mode = self.experiment.add_mutually_exclusive_group()
        mode.add_argument(
            "--quick",
            action="store_true",
            default=True,
            help="the short version used by the tour and tests (default)",
        )
        mode.add_argument("--full", action="store_true", help="the long version for the report")
        self.experiment.add_argument(
            "--out", default="deepnotes-report", help="report folder (default: deepnotes-report)"
        )
        self.experiment.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
