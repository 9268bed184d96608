"""`deepnotes models`, `summary MODEL`, `data`, `conv`, `plot`: looking things up."""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepnotes.cards import files_present
from deepnotes.cli import catalog
from deepnotes.cli.common import (
    Parents,
    check_figure_file,
    int_tuple,
    positive_int,
    print_json,
    sizes,
)
from deepnotes.errors import UserError
from deepnotes.io import data_roots

PAPER_WIDTH = 48  # characters of the paper column at the least


def cmd_models(args: argparse.Namespace) -> None:
    rows = [r for r in catalog.rows("models") if catalog.matches(r["name"], args.pattern)]
    if not rows:  # a typo, or a malformed glob such as '[' (which matches a literal '[')
        raise UserError(f"no model matches {args.pattern!r} (`deepnotes models` lists them all)")
    if args.json:
        print_json(rows)
        return
    columns = f"{'model':<24} {'task':<20} {'input':<12} {'params':>14} {'GMACs':>9}  "
    columns += f"{'variant of':<18} "
    # the paper cut at a word to fit the terminal (`--json` gives it whole)
    width = max(PAPER_WIDTH, shutil.get_terminal_size().columns - len(columns))
    print(f"{columns}paper")
    for r in rows:
        size = "×".join(map(str, r["input_size"]))
        print(
            f"{r['name']:<24} {r['task']:<20} {size:<12} {r['params']:>14,} {r['gmacs']:>9.4f}  "
            f"{r['variant_of'] or '':<18} {textwrap.shorten(r['paper'], width, placeholder=' …')}"
        )


def cmd_summary(args: argparse.Namespace) -> None:
    from deepnotes.models.catalog import summarize_registered

    input_size, summary = summarize_registered(args.model, args.input_size, args.num_classes)
    if args.json:
        print_json({"model": args.model, **summary.to_dict()})
    else:
        print(f"{args.model} on input {'×'.join(map(str, input_size))}")
        print(summary.table())


def cmd_data(args: argparse.Namespace) -> None:
    roots = data_roots(args.data_dir)
    rows = [availability(row, roots) for row in catalog.rows("data")]
    if args.json:
        print_json({"roots": [str(r) for r in roots], "datasets": rows})
        return
    print("data roots, in lookup order: " + ", ".join(str(r) for r in roots))
    print(f"{'data set':<16} {'kind':<8} {'input':<10} {'classes':>7}  availability")
    for r in rows:
        size = "×".join(map(str, r["input_size"]))
        print(
            f"{r['name']:<16} {r['kind']:<8} {size:<10} {r['num_classes'] or '':>7}  {r['where']}"
        )


def cmd_conv(args: argparse.Namespace) -> None:
    from deepnotes import arith

    if args.stack:
        answer = arith.stack_answer(arith.parse_stack(args.stack), (args.input or [None])[0])
        lines = arith.explain_stack(answer)
    elif args.input is None:
        raise UserError("give --input SIZE (e.g. --input 5 or --input 32,32), or --stack LAYERS")
    else:
        answer = arith.conv_answer(
            "transposed" if args.transposed else "pool" if args.pool else "conv",
            args.input,
            args.kernel,
            args.stride,
            args.padding,
            args.dilation,
            args.output_padding,
            args.ceil_mode,
            args.in_channels,
            args.out_channels,
            args.groups,
            bias=not args.no_bias,
        )
        lines = arith.explain_conv(answer)
    if args.json:
        print_json(answer)
    else:
        print("\n".join(lines))


def availability(row: dict[str, Any], roots: Sequence[Path]) -> dict[str, Any]:
    """A data set's catalog row with whether (and where) its files are found under `roots`."""
    found = [str(r) for r in roots if files_present(r, row["files"])]
    if not row["files"]:
        available, where = True, "embedded or generated"
    elif found:
        available, where = True, f"found in {found[0]}"
    else:
        available, where = False, "not found (see --data-dir, --download)"
    return {**row, "available": available, "where": where}


PLOTS = ("activations", "curves")


def cmd_plot(args: argparse.Namespace) -> None:
    from deepnotes.figures import activation_gallery, training_curves

    if args.figure == "activations" and args.runs:
        raise UserError("`plot activations` takes no run folders")
    if args.figure == "curves" and not args.runs:
        raise UserError("`plot curves` compares runs: name one or more run folders")
    histories = {str(run): read_metrics(run) for run in args.runs}
    out = Path(check_figure_file(args.out or f"{args.figure}.png"))
    figure = training_curves(histories) if args.figure == "curves" else activation_gallery()
    figure.savefig(out, dpi=110, bbox_inches="tight")
    print(f"figure written to {out}")


def read_metrics(run: str) -> list[dict[str, float]]:
    """The rows of RUN/metrics.csv, every value a number (an empty cell NaN)."""
    path = Path(run) / "metrics.csv"
    if not path.is_file():
        raise UserError(f"{run} holds no metrics.csv: give the folder of a `deepnotes train` run")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return [{k: float(v) if v != "" else math.nan for k, v in row.items()} for row in rows]
    except (TypeError, ValueError):
        raise UserError(f"{path} is not a metrics table of numbers") from None


def add_commands(commands: argparse._SubParsersAction, parents: Parents) -> None:
    p = commands.add_parser(
        "plot",
        help="draw a figure: the activations gallery, or runs' training curves",
        description="Draw a figure: `activations` draws every activation of "
        "deepnotes.nn with its derivative; `curves RUN [RUN ...]` draws the training curves "
        "of runs side by side (each run's metrics.csv: train solid, validation dashed).",
    )
    p.add_argument("figure", choices=PLOTS)
    p.add_argument("runs", nargs="*", metavar="RUN", help="for curves: the run folders to compare")
    p.add_argument("--out", metavar="FILE.png", help="where to write it (default: FIGURE.png)")
    p.set_defaults(func=cmd_plot)

    p = commands.add_parser(
        "models",
        parents=[parents.json],
        help="list the registered models with params and GMACs",
        description="The registered models: task, input size, parameters, multiply-adds and paper.",
    )
    p.add_argument(
        "pattern",
        nargs="?",
        help="a glob pattern such as 'resnet*' or '*_tiny'; a plain word matches the names "
        "that contain it",
    )
    p.set_defaults(func=cmd_models)

    p = commands.add_parser(
        "summary",
        parents=[parents.json],
        help="per-layer output shapes, parameters, multiply-adds",
        description="Per-layer output shape, parameters, multiply-adds (from the "
        "notes' formulas) and receptive field of a registered model.",
    )
    p.add_argument("model")
    p.add_argument(
        "--input-size",
        type=sizes,
        metavar="C,H,W",
        help="input shape (default: the model's registered input size)",
    )
    p.add_argument("--num-classes", type=positive_int, help="(default: the model's)")
    p.set_defaults(func=cmd_summary)

    p = commands.add_parser(
        "data",
        parents=[parents.data_dir, parents.json],
        help="list the data sets and whether each is available here",
    )
    p.set_defaults(func=cmd_data)

    p = commands.add_parser(
        "conv",
        parents=[parents.json],
        help="convolution arithmetic: output size, parameters, receptive field",
        description="Output size of a convolution, pooling or transposed convolution, per "
        "dimension, with its parameter count and multiply-adds; or the receptive field of a "
        "stack of layers (--stack k3,k3s2,...).",
        epilog="examples: deepnotes conv --input 5 --kernel 4 --padding 2;  deepnotes conv "
        "--input 2 --kernel 3 --transposed;  deepnotes conv --stack k3,k3,k2s2 --input 32",
    )
    p.add_argument("--input", type=int_tuple, metavar="I[,I...]", help="input size per dimension")
    p.add_argument("--kernel", type=int, default=3, help="kernel size k (default: 3)")
    p.add_argument("--stride", type=int, help="stride s (default: 1; the kernel for --pool)")
    p.add_argument("--padding", type=int, default=0, help="zero padding p per side (default: 0)")
    p.add_argument("--dilation", type=int, default=1, help="dilation d (default: 1)")
    p.add_argument(
        "--output-padding",
        type=int,
        default=0,
        help="extra output size of a transposed convolution (default: 0)",
    )
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--transposed", action="store_true", help="a transposed convolution")
    kind.add_argument("--pool", action="store_true", help="max or average pooling")
    p.add_argument("--ceil-mode", action="store_true", help="pooling rounds up")
    p.add_argument("--in-channels", type=int, default=1, help="c_in (default: 1)")
    p.add_argument("--out-channels", type=int, default=1, help="c_out (default: 1)")
    p.add_argument("--groups", type=int, default=1)
    p.add_argument("--no-bias", action="store_true")
    p.add_argument(
        "--stack",
        metavar="LAYERS",
        help="receptive field of a stack: comma-separated kK[sS][pP][dD], e.g. k3,k3s2",
    )
    p.set_defaults(func=cmd_conv)
