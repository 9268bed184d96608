"""Every exercise, graded as the command line grades it (a child process with limits):
the package's own implementation scores 100%; each known mistake scores less and is
diagnosed by its name; the starter, a syntax error, an exception, an infinite loop and an
allocation without bound each end in a graded failure with a one-line reason, within the
time limit."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from tests.exercises.submissions import class_folder

from deepnotes.exercises.sandbox import Limits, grade_folder
from deepnotes.registry import EXERCISES

# a check grades the reference and every known mistake before the student's code runs
# (0.02-0.3 s in all); 2 s leaves room on a loaded CI machine, 256 MiB is far above
# what any exercise's cases need (a few MiB)
LIMITS = Limits(seconds=2.0, memory_mib=256)

NOTES = (Path(__file__).resolve().parents[2] / "docs" / "course-notes.txt").read_text().splitlines()

BROKEN_REASONS = {
    "broken-syntax.py": "SyntaxError",
    "broken-loops.py": "did not finish within 2 s",
    "broken-hoards.py": "ran out of memory",
}


@pytest.mark.parametrize("name", EXERCISES.names())
def test_every_kind_of_submission_is_graded(name: str, tmp_path: Path) -> None:
    exercise = EXERCISES.card(name)
    for file, text in class_folder(exercise, name).items():
        (tmp_path / file).write_text(text)
    started = time.monotonic()
    reports = {path.name: report for path, report in grade_folder(name, tmp_path, 0, LIMITS)}
    # two at a time: the loop and its partner, then the rest, each far under its limit
    assert time.monotonic() - started < 4 * LIMITS.seconds + len(reports)

    solution = reports.pop("solution.py")
    assert solution.error is None and solution.score == 1.0, solution.first_failure
    assert solution.total >= 8  # enough cases to cover the settings

    for mistake in exercise.mistakes:
        report = reports.pop(f"mistake-{mistake.name}.py")
        assert report.error is None, report.error
        assert report.score < 1.0, mistake.name
        assert report.diagnosis is not None, f"{mistake.name} not diagnosed"
        assert report.diagnosis.mistake == mistake.name

    starter = reports.pop("starter.py")  # runs, and every case fails on the TODO
    assert starter.error is None and starter.passed == 0
    assert "NotImplementedError" in starter.first_failure.why

    raises = reports.pop("broken-raises.py")
    assert raises.error is None and raises.passed == 0
    assert raises.first_failure.why.startswith(
        "the call raised ValueError: not written yet (line 2)"
    )

    for file, reason in BROKEN_REASONS.items():
        report = reports.pop(file)
        assert report.score == 0.0 and report.total == 0
        assert reason in report.error and "\n" not in report.error, report.error
    assert not reports  # every file was looked at


@pytest.mark.parametrize("name", EXERCISES.names())
def test_card_is_complete(name: str) -> None:
    """What a student and the grader read: a starter that says what to write, at least
    three hints, the package's code to show, known mistakes with a sentence and a source."""
    exercise = EXERCISES.card(name)
    assert f"def {exercise.entry}(" in exercise.starter or f"class {exercise.entry}" in (
        exercise.starter
    )
    assert "TODO" in exercise.starter and "NotImplementedError" in exercise.starter
    assert len(exercise.hints) >= 3
    assert exercise.solution
    assert len(exercise.mistakes) >= 2
    for mistake in exercise.mistakes:
        assert mistake.sentence.endswith(".") and mistake.source
        cited = re.match(r"notes line (\d+)", mistake.source)
        if cited is None:  # a paper or a library's documentation, named
            assert re.search(r"\(\d{4}\)|\(.*\d{4}.*\)|documentation", mistake.source)
        else:
            assert NOTES[int(cited.group(1)) - 1].strip(), mistake.source


def test_more_than_twenty_exercises_over_the_course() -> None:
    names = EXERCISES.names()
    assert len(names) >= 20
    topics = {EXERCISES.card(n).topic.split(".")[0] for n in names}
    assert len(topics) >= 6
