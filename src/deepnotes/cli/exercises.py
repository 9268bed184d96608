"""`deepnotes exercises` and `deepnotes exercise start|check|hint|grade`: practising.

A student lists the exercises, writes a starter file, checks it (graded in a child
process with limits, `deepnotes.exercises.sandbox`) and asks for hints; a teaching
assistant grades a folder of submissions into one CSV.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import stat
import sys
import time
from pathlib import Path

from deepnotes.cli.common import (
    EFFECTIVE,
    Parents,
    check_out_file,
    positive_float,
    positive_int,
    print_json,
    seed,
    status,
)
from deepnotes.errors import UserError


def clock_seed() -> int:
    """A seed from the clock, so that each check draws fresh cases."""
    return time.time_ns() % 2**31


def cmd_exercises(args: argparse.Namespace) -> None:
    from deepnotes.registry import EXERCISES

    rows = [
        {"name": e.name, "topic": e.card.topic, "title": e.card.title, "entry": e.card.entry}
        for e in sorted(EXERCISES, key=lambda e: int(e.card.topic.split(".")[0]))
    ]
    if args.json:
        print_json(rows)
        return
    topic = None
    for row in rows:
        if row["topic"] != topic:
            topic = row["topic"]
            print(("" if row is rows[0] else "\n") + topic)
        print(f"  {row['name']:<36} {row['title']}")
    print(f"\n{len(rows)} exercises: `deepnotes exercise start NAME` writes a starter file.")


def cmd_start(args: argparse.Namespace) -> None:
    from deepnotes.exercises.practice import starter_file
    from deepnotes.io import write_atomic
    from deepnotes.registry import EXERCISES

    entry = EXERCISES.card(args.name).entry
    out = args.out or f"{args.name.replace('-', '_')}.py"
    check_out_file(out, suffix=".py")
    if Path(out).exists() and not args.force:
        raise UserError(f"{out} exists; give --force to overwrite it (your work in it is lost)")
    write_atomic(out, starter_file(args.name, out).encode())
    print(
        f"starter written to {out}: write `{entry}`, then `deepnotes exercise check "
        f"{args.name} {out}`"
    )


def limits_of(args: argparse.Namespace):  # -> sandbox.Limits, imported when needed
    from deepnotes.exercises.sandbox import Limits

    return Limits(seconds=args.time_limit, memory_mib=args.memory_limit)


def check_submission(file: str) -> None:
    """A file `check` can grade: a readable Python file."""
    found = status(file)
    if found is None:
        raise UserError(f"{file}: no such file")
    if not stat.S_ISREG(found.st_mode):
        raise UserError(f"{file} is not a file")
    if Path(file).suffix != ".py":
        raise UserError(f"{file}: a submission is a Python file, NAME.py")
    if not os.access(file, os.R_OK, effective_ids=EFFECTIVE):
        raise UserError(f"cannot read {file}: permission denied")


def cmd_check(args: argparse.Namespace) -> int:
    from deepnotes.exercises.practice import report_lines
    from deepnotes.exercises.sandbox import check_file

    check_submission(args.file)
    chosen = clock_seed() if args.seed is None else args.seed
    report = check_file(args.name, args.file, chosen, limits_of(args))
    if args.json:
        print_json({"file": args.file, **report.to_dict()})
    else:
        print("\n".join(report_lines(report, args.file)))
    return 0 if report.score == 1 else 1


def cmd_hint(args: argparse.Namespace) -> None:
    from deepnotes.exercises.practice import next_hint, solution_text

    if args.solution:
        print(
            "Warning: this is the package's own implementation. Reading it before you have "
            "written yours takes the exercise away; `deepnotes exercise hint NAME` gives one "
            "hint at a time.\n",
            file=sys.stderr,
        )
        print(solution_text(args.name))
        return
    number, total, hint = next_hint(args.name)
    more = "" if number < total else " (the last; --solution shows the package's code)"
    print(f"Hint {number} of {total}{more}: {hint}")


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet shows as text: a student's message that starts like a formula
    (=, +, -, @) gets a leading apostrophe, so opening the CSV runs nothing (OWASP's
    advice on CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


CSV_COLUMNS = (
    "file",
    "score",
    "passed",
    "total",
    "diagnosis",
    "error",
    "first_failure",
    "seed",
    "seconds",
)


def cmd_grade(args: argparse.Namespace) -> None:
    from deepnotes.exercises.sandbox import grade_folder, submissions
    from deepnotes.io import write_atomic
    from deepnotes.registry import EXERCISES

    EXERCISES.get(args.name)
    found = status(args.folder)
    if found is None or not Path(args.folder).is_dir():
        raise UserError(f"{args.folder}: no such folder")
    out = args.out or f"{args.name}-grades.csv"
    check_out_file(out, suffix=".csv")
    if Path(out).exists() and not args.force:
        raise UserError(f"{out} exists; give --force to overwrite it")
    count = len(submissions(args.folder))
    if count == 0:
        raise UserError(f"{args.folder} holds no .py files to grade")
    folders = sorted(p.name for p in Path(args.folder).iterdir() if p.is_dir())
    if folders:
        print(
            f"note: {len(folders)} subfolders not graded ({', '.join(folders[:5])}"
            f"{', …' if len(folders) > 5 else ''}): a submission is one .py file in {args.folder}",
            file=sys.stderr,
        )
    done = 0

    def progress(path: Path, report) -> None:
        nonlocal done
        done += 1
        print(f"[{done}/{count}] {path.name}: {report.score:.0%}", file=sys.stderr)

    chosen = clock_seed() if args.seed is None else args.seed
    limits = limits_of(args)
    results = grade_folder(args.name, args.folder, chosen, limits, args.jobs, progress)
    rows = []
    for path, report in results:
        failure = report.first_failure
        rows.append(
            {
                "file": path.name,
                "score": round(report.score, 4),
                "passed": report.passed,
                "total": report.total,
                "diagnosis": report.diagnosis.mistake if report.diagnosis else "",
                "error": report.error or "",
                "first_failure": f"{failure.case}: {failure.output}: {failure.why}"
                if failure
                else "",
                "seed": report.seed,
                "seconds": report.seconds,
            }
        )
    rows = [{key: spreadsheet_safe(value) for key, value in row.items()} for row in rows]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out, text.getvalue().encode())
    if args.json:
        print_json(rows)
    else:
        mean = sum(r["score"] for r in rows) / len(rows)
        print(f"{len(rows)} submissions graded (mean score {mean:.0%}, seed {chosen}): {out}")


def add_commands(commands: argparse._SubParsersAction, parents: Parents) -> None:
    p = commands.add_parser(
        "exercises",
        parents=[parents.json],
        help="list the exercises, by syllabus topic",
        description="The exercises, by syllabus topic: a student writes one concept "
        "(`deepnotes exercise start NAME`) and the package grades it against its own "
        "implementation (`deepnotes exercise check NAME FILE`).",
    )
    p.set_defaults(func=cmd_exercises)

    p = commands.add_parser(
        "exercise",
        help="start, check, get a hint for, or grade an exercise",
        description="Practise one concept: write a starter file, check your implementation "
        "against the package's on fresh random cases, ask for hints, or grade a folder of "
        "submissions.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=type(p))

    # the limits of a graded run and its seed, shared by check and grade
    graded = argparse.ArgumentParser(add_help=False)
    graded.add_argument(
        "--seed",
        type=seed,
        default=None,
        help="draw the cases from this seed (default: from the clock, fresh each time)",
    )
    graded.add_argument(
        "--time-limit",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="wall-clock limit of one file's check (default: 10)",
    )
    graded.add_argument(
        "--memory-limit",
        type=positive_int,
        default=1024,
        metavar="MIB",
        help="memory one file's check may allocate (default: 1024 MiB)",
    )

    s = actions.add_parser(
        "start",
        help="write a starter file",
        description="Write a starter file: the signature, the docstring with the formula "
        "and the shapes, and TODO in the body.",
    )
    s.add_argument("name", help="exercise name (see `deepnotes exercises`)")
    s.add_argument("--out", metavar="FILE.py", help="the file to write (default: NAME.py)")
    s.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    s.set_defaults(func=cmd_start)

    s = actions.add_parser(
        "check",
        parents=[parents.json, graded],
        help="grade your file against the package's implementation",
        description="Grade FILE on random cases against the package's implementation, in a "
        "separate process with a time and a memory limit: which cases passed, the inputs "
        "of the first failure with the expected and actual values, and the known mistake it "
        "makes, if it is one. Exit status 0 when every case passes, 1 otherwise.",
    )
    s.add_argument("name", help="exercise name (see `deepnotes exercises`)")
    s.add_argument("file", help="your Python file")
    s.set_defaults(func=cmd_check)

    s = actions.add_parser(
        "hint",
        help="the next hint, or the package's solution",
        description="Show the next hint of a short sequence (the count is kept in "
        "$XDG_STATE_HOME/deepnotes/hints.json), or with --solution the package's own "
        "implementation.",
    )
    s.add_argument("name", help="exercise name (see `deepnotes exercises`)")
    s.add_argument(
        "--solution", action="store_true", help="show the package's implementation instead"
    )
    s.set_defaults(func=cmd_hint)

    s = actions.add_parser(
        "grade",
        parents=[parents.json, graded],
        help="grade a folder of submissions into one CSV",
        description="Grade every .py file in FOLDER on the same random cases (one seed), "
        "each in its own process with limits, several at a time, and write one CSV row "
        "per file: score, cases passed, the diagnosed mistake, the error, the first failure.",
    )
    s.add_argument("name", help="exercise name (see `deepnotes exercises`)")
    s.add_argument("folder", help="a folder of .py files, one per student")
    s.add_argument("--out", metavar="FILE.csv", help="the CSV to write (default: NAME-grades.csv)")
    s.add_argument("--force", action="store_true", help="overwrite the CSV if it exists")
    s.add_argument(
        "--jobs", type=positive_int, default=None, help="files graded at once (default: CPUs)"
    )
    s.set_defaults(func=cmd_grade)
