"""`deepnotes tour`, `deepnotes run EXPERIMENT [--fault F]`, `deepnotes experiments`,
`deepnotes faults`, `deepnotes notebook EXPERIMENT [--out FILE.ipynb]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deepnotes.cli import catalog
from deepnotes.cli.common import Parents, check_out_file, experiment_names, print_json
from deepnotes.errors import UserError


def cmd_tour(args: argparse.Namespace) -> int:
    from deepnotes.registry import EXPERIMENTS

    names = [
        name
        for name in EXPERIMENTS.names()
        if (args.only is None or name in args.only) and name not in (args.skip or ())
    ]
    if not names:
        raise UserError("--only and --skip leave no experiment to run")
    if not args.full:
        seconds = catalog.quick_timings()[1]
        minutes = sum(seconds.get(name, 0.0) for name in names) / 60
        print(
            f"{len(names)} experiments, about {minutes:.0f} min in quick mode on 2 cores "
            "(`deepnotes experiments` lists each)",
            file=sys.stderr,
        )
    return run_and_report(names, args)


def cmd_run(args: argparse.Namespace) -> int:
    from deepnotes.registry import EXPERIMENTS, FAULTS

    EXPERIMENTS.get(args.experiment)  # an unknown name fails before any work
    if args.fault is not None:
        FAULTS.get(args.fault)
    return run_and_report([args.experiment], args, fault=args.fault)


def check_report_folder(out: Path) -> None:
    """Refuse to write the book into a folder that holds files of its own and no book: a
    folder of the user's (an index.html of theirs would be replaced). A book's folder is
    one whose summary.json a book wrote, or that holds an experiment's result.json; the
    book rewritten there keeps the results it holds."""
    from deepnotes.registry import EXPERIMENTS

    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        summary = json.loads((out / "summary.json").read_text())
        written_by_us = isinstance(summary, dict) and "deepnotes" in summary
    except (OSError, ValueError):  # none, or not JSON: not a summary a book wrote
        written_by_us = False
    results = any((out / name / "result.json").is_file() for name in EXPERIMENTS.names())
    if not (written_by_us or results):
        raise UserError(
            f"{out} holds files and no deepnotes report: give another --out, or --force to "
            "write the report among them (its index.html, assets/ and pages replace any there)"
        )


def run_and_report(names: list[str], args: argparse.Namespace, fault: str | None = None) -> int:
    """Run the experiments and write the book, with the other experiments whose results are
    already in the folder (a section rerun from the book updates it in place). Exit 0 when
    every claim of this run passes; with a fault planted, when every claim it targets in
    these experiments turned red."""
    from deepnotes.experiments.base import caught, results_in, run_experiments
    from deepnotes.report import write_report

    out = Path(args.out)
    if not args.force:
        check_report_folder(out)
    quick = not args.full
    results = run_experiments(names, out, quick, args.seed, args.data_dir, fault)
    page = write_report(results + results_in(out, leave_out=names), out)
    claims = [c for r in results for c in r.claims]
    print(f"{sum(c.passed for c in claims)} of {len(claims)} claims pass; report: {page}")
    if fault is None:
        return 0 if all(r.passed for r in results) else 1
    red, targeted = caught(results)
    print(f"fault {fault}: {len(red)} of {len(targeted)} claims it targets here turned red")
    return 0 if targeted and red == targeted else 1


def cmd_experiments(args: argparse.Namespace) -> None:
    measured, seconds = catalog.quick_timings()
    rows = [{**r, "quick_seconds": seconds.get(r["name"])} for r in catalog.rows("experiments")]
    if args.json:
        print_json(rows)
        return
    for r in rows:
        time_ = "?" if r["quick_seconds"] is None else f"~{r['quick_seconds']:.0f} s"
        print(f"{r['name']:<24} {time_:>7}  {r['topic']:<30} {r['title']}")
    total = sum(s for s in seconds.values())
    print(f"\nquick mode in all: about {total / 60:.0f} min, measured on {measured}")


def cmd_faults(args: argparse.Namespace) -> None:
    from deepnotes.registry import FAULTS

    rows = [
        {
            "name": e.name,
            "mistake": e.card.mistake,
            "consequence": e.card.consequence,
            "replaces": e.card.replaces,
            "targets": list(e.card.targets),
        }
        for e in FAULTS
    ]
    if args.json:
        print_json(rows)
        return
    for r in rows:
        print(f"{r['name']}\n  mistake: {r['mistake']}\n  replaces: {r['replaces']}")
        print(f"  turns red: {', '.join(r['targets'])}")


def cmd_notebook(args: argparse.Namespace) -> None:
    from deepnotes.io import write_atomic
    from deepnotes.notebooks import notebook
    from deepnotes.registry import EXPERIMENTS

    EXPERIMENTS.get(args.experiment)  # an unknown name fails before the file is looked at
    out = args.out or f"{args.experiment}.ipynb"
    if Path(out).suffix != ".ipynb":
        raise UserError(f"{out}: a notebook is written as NAME.ipynb")
    check_out_file(out, suffix=".ipynb")
    if Path(out).exists() and not args.force:
        raise UserError(f"{out} exists; give --force to overwrite it")
    document = notebook(args.experiment, quick=not args.full, seed=args.seed)
    write_atomic(out, (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode())
    print(f"notebook written to {out}: open it in Jupyter (`jupyter lab {out}`) or Colab")


def add_commands(commands: argparse._SubParsersAction, parents: Parents) -> None:
    p = commands.add_parser(
        "tour",
        parents=[parents.experiment],
        help="run every experiment and write the course report",
        description="Run every registered experiment and write OUT/index.html "
        "(figures, claims with verdicts, timings) and OUT/summary.json. With --only or "
        "--skip, a part of the tour: the book keeps the other experiments' results already "
        "in OUT.",
    )
    p.add_argument(
        "--only",
        type=experiment_names,
        metavar="A,B",
        help="run only these experiments (see `deepnotes experiments`)",
    )
    p.add_argument(
        "--skip", type=experiment_names, metavar="C,D", help="run all but these experiments"
    )
    p.set_defaults(func=cmd_tour)

    p = commands.add_parser(
        "run",
        parents=[parents.experiment],
        help="run one experiment",
        description="Run one experiment and write its report page.",
    )
    p.add_argument("experiment", help="experiment name (see `deepnotes experiments`)")
    p.add_argument(
        "--fault",
        metavar="FAULT",
        help="plant a fault in the package's code for this run (see `deepnotes faults`); "
        "the exit code is 0 when every claim it targets turns red",
    )
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("experiments", parents=[parents.json], help="list the experiments")
    p.set_defaults(func=cmd_experiments)

    p = commands.add_parser(
        "faults",
        parents=[parents.json],
        help="list the faults that can be planted, with the claims each turns red",
        description="Plausible mistakes, each planted in the package's code by "
        "`deepnotes run EXPERIMENT --fault FAULT` for the length of a run: what the mistake "
        "is, the function it replaces, and the claims it must turn red.",
    )
    p.set_defaults(func=cmd_faults)

    p = commands.add_parser(
        "notebook",
        parents=[parents.mode],
        help="write a Jupyter notebook that runs one experiment step by step",
        description="Write a Jupyter notebook (for Jupyter or Colab) that runs one experiment "
        "step by step with the package's Python API: the lesson and its formulas in Markdown "
        "cells, the source of the code that implements it, the run, the notes' sentences it "
        "tests, its figures, tables and claims with their verdicts, a planted mistake that "
        "turns claims red, and the command that reproduces it. The notebook runs the "
        "experiment when its cells run, not now.",
    )
    p.add_argument("experiment", help="experiment name (see `deepnotes experiments`)")
    p.add_argument(
        "--out",
        metavar="FILE.ipynb",
        help="the notebook to write (default: EXPERIMENT.ipynb in the current folder)",
    )
    p.add_argument("--force", action="store_true", help="overwrite the notebook if it exists")
    p.set_defaults(func=cmd_notebook)
