"""`deepnotes tour`, `deepnotes run EXPERIMENT`, `deepnotes experiments`."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepnotes.cli.common import Parents, print_json


def cmd_tour(args: argparse.Namespace) -> int:
    from deepnotes.registry import EXPERIMENTS

    return run_and_report(EXPERIMENTS.names(), args)


def cmd_run(args: argparse.Namespace) -> int:
    from deepnotes.registry import EXPERIMENTS

    EXPERIMENTS.get(args.experiment)  # an unknown name fails before any work
    return run_and_report([args.experiment], args)


def run_and_report(names: list[str], args: argparse.Namespace) -> int:
    from deepnotes.experiments.base import run_experiments
    from deepnotes.report import write_report

    results = run_experiments(
        names, Path(args.out), quick=not args.full, seed=args.seed, data_dir=args.data_dir
    )
    page = write_report(results, Path(args.out))
    claims = [c for r in results for c in r.claims]
    print(f"{sum(c.passed for c in claims)} of {len(claims)} claims pass; report: {page}")
    return 0 if all(r.passed for r in results) else 1


def cmd_experiments(args: argparse.Namespace) -> None:
    from deepnotes.registry import EXPERIMENTS

    rows = [{"name": e.name, "topic": e.card.topic, "title": e.card.title} for e in EXPERIMENTS]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']:<24} {r['topic']:<30} {r['title']}")


def add_commands(commands: argparse._SubParsersAction, parents: Parents) -> None:
    p = commands.add_parser(
        "tour",
        parents=[parents.experiment],
        help="run every experiment and write the course report",
        description="Run every registered experiment and write OUT/index.html "
        "(figures, claims with verdicts, timings) and OUT/summary.json.",
    )
    p.set_defaults(func=cmd_tour)

    p = commands.add_parser(
        "run",
        parents=[parents.experiment],
        help="run one experiment",
        description="Run one experiment and write its report page.",
    )
    p.add_argument("experiment", help="experiment name (see `deepnotes experiments`)")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("experiments", parents=[parents.json], help="list the experiments")
    p.set_defaults(func=cmd_experiments)
