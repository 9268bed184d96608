"""What a student sees around the grader: the starter file, the hints one at a time,
the package's own solution, and a graded report in words."""

from __future__ import annotations

import inspect
import json
import os
import pkgutil
from pathlib import Path

from deepnotes.exercises.base import Exercise, Report
from deepnotes.registry import EXERCISES


def starter_file(name: str, filename: str = "FILE.py") -> str:
    """The text of the starter file: a header that says how to check it, then the
    exercise's starter (imports, signature, docstring with formula and shapes, TODO)."""
    exercise: Exercise = EXERCISES.card(name)
    header = (
        f'"""Exercise {name}: {exercise.title}.\n\n'
        f"Write `{exercise.entry}` below, then grade it:\n\n"
        f"    deepnotes exercise check {name} {filename}\n\n"
        f"Stuck? `deepnotes exercise hint {name}` gives the next hint.\n"
        '"""\n\n'
    )
    return header + exercise.starter


def solution_text(name: str) -> str:
    """The package's implementation: the exercise's reference, then the package code it
    calls (the exercise's `solution` names), each with its file and line."""
    exercise: Exercise = EXERCISES.card(name)
    reference = exercise.reference
    names = [f"{reference.__module__}.{reference.__qualname__}", *exercise.solution]
    parts = []
    for dotted in names:
        found = inspect.unwrap(pkgutil.resolve_name(dotted))
        lines, first = inspect.getsourcelines(found)
        file = Path(inspect.getsourcefile(found) or "?").name
        parts.append(f"# {dotted}  ({file}:{first})\n" + "".join(lines))
    return "\n\n".join(parts)


def hint_state_file() -> Path:
    """Where the hints already shown are counted: $XDG_STATE_HOME/deepnotes/hints.json."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "deepnotes" / "hints.json"


def next_hint(name: str, state_file: Path | None = None) -> tuple[int, int, str]:
    """The next hint of `name` not yet shown (the last one again once all are shown), as
    (its number from 1, how many there are, the hint); the count is kept in `state_file`."""
    from deepnotes.io import write_json

    exercise: Exercise = EXERCISES.card(name)
    path = state_file or hint_state_file()
    try:
        shown = json.loads(path.read_text())
        if not isinstance(shown, dict):
            shown = {}
    except (OSError, ValueError):  # no file yet, or one that is not ours: start again
        shown = {}
    number = min(int(shown.get(name, 0)) + 1, len(exercise.hints))
    shown[name] = number
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, shown)
    return number, len(exercise.hints), exercise.hints[number - 1]


def report_lines(report: Report, file: str) -> list[str]:
    """The graded check in words: the score, each case, the first failure with its
    inputs, expected and actual values, the diagnosis, and how to rerun the same cases."""
    name = report.exercise
    if report.error is not None:
        return [f"{name}: {file}: 0 cases graded: {report.error}", *printed_lines(report)]
    lines = [
        f"{name}: {report.passed} of {report.total} cases passed "
        f"({report.score:.0%}) for {file}, seed {report.seed}"
    ]
    for case in report.cases:
        mark = "ok  " if case["passed"] else "FAIL"
        lines.append(f"  {mark} {case['case']}")
    failure = report.first_failure
    if failure is not None:
        lines += ["", f"First failure: {failure.case}"]
        lines += [f"  {key} = {value}" for key, value in failure.inputs.items()]
        if failure.output:
            lines += [
                f"  output {failure.output}: {failure.why}",
                f"    expected: {failure.expected}",
                f"    actual:   {failure.actual}",
            ]
        else:
            lines.append(f"  {failure.why}")
    if report.diagnosis is not None:
        d = report.diagnosis
        lines += ["", f"Diagnosis ({d.mistake}): {d.sentence}", f"  It contradicts {d.source}."]
    lines += printed_lines(report)
    if report.score < 1:
        lines += [
            "",
            f"Rerun these cases: deepnotes exercise check {name} {file} --seed {report.seed}",
        ]
    return lines


def printed_lines(report: Report, most: int = 30) -> list[str]:
    """What the student's code printed (its start), set apart from the report."""
    if not report.printed:
        return []
    shown = report.printed.splitlines()
    lines = ["", "Your code printed:"] + [f"  | {line}" for line in shown[:most]]
    if len(shown) > most:
        lines.append(f"  | … ({len(shown) - most} more lines)")
    return lines
