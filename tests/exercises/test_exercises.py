"""Every exercise, graded as the command line grades it (a child process with limits):
the package's own implementation scores 100%; each known mistake scores less and is
diagnosed by its name; the starter, a syntax error, an exception, an infinite loop and an
allocation without bound each end in a graded failure with a one-line reason, within the
time limit."""

from __future__ import annotations

import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.exercises.submissions import broken, class_folder

from deepnotes.exercises.base import diagnose, first_difference, mistaken_outputs, outputs_of
from deepnotes.exercises.sandbox import Limits, check_file, grade_folder
from deepnotes.registry import EXERCISES

# a check grades the reference and every known mistake before the student's code runs
# (0.02-0.3 s in all); 2 s leaves room on a loaded CI machine, 256 MiB is far above
# what any exercise's cases need (a few MiB)
LIMITS = Limits(seconds=2.0, memory_mib=256)

NOTES = (Path(__file__).resolve().parents[2] / "docs" / "course-notes.txt").read_text().splitlines()

BROKEN_REASONS = {
    "broken-syntax.py": "SyntaxError",
    "broken-hoards.py": "ran out of memory",
}


@pytest.mark.parametrize("name", EXERCISES.names())
def test_every_kind_of_submission_is_graded(name: str, tmp_path: Path) -> None:
    exercise = EXERCISES.card(name)
    for file, text in class_folder(exercise, name).items():
        (tmp_path / file).write_text(text)
    reports = {path.name: report for path, report in grade_folder(name, tmp_path, 0, LIMITS)}

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


def test_an_infinite_loop_is_stopped_in_every_exercise(tmp_path: Path) -> None:
    """A file that loops forever, for every exercise, all side by side: each ends within
    its time limit (plus the start and the kill) in a graded failure with a one-line
    reason."""
    names = EXERCISES.names()
    files = {}
    for name in names:
        files[name] = tmp_path / f"{name}.py"
        files[name].write_text(broken(EXERCISES.card(name))["loops"])
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        reports = dict(zip(names, pool.map(
            lambda n: check_file(n, files[n], 0, LIMITS), names), strict=True))  # fmt: skip
    # side by side: the children start one after another (a fork each, slower under load)
    # and each is stopped at its limit; one by one would take len(names) × the limit
    assert time.monotonic() - started < len(names) * LIMITS.seconds / 2
    for name, report in reports.items():
        assert report.score == 0 and report.total == 0, name
        assert report.error == "did not finish within 2 s (an infinite loop?)", (name, report)
        # each stopped at its limit, plus the kill: the fork server reaps it while the
        # others still spin (about 1 s on 2 busy cores)
        assert LIMITS.seconds <= report.seconds < 2 * LIMITS.seconds, (name, report.seconds)


@pytest.mark.parametrize("name", EXERCISES.names())
def test_each_mistake_is_told_apart_on_other_seeds(name: str) -> None:
    """Cases are fresh for every check: on other seeds too the reference is right on every
    case, and each known mistake is wrong on some case and diagnosed by its own name (in
    this process, with the mistakes' outputs standing for the students')."""
    exercise = EXERCISES.card(name)
    tol = (exercise.rtol, exercise.atol)
    for seed in (1, 2, 3):
        cases = list(exercise.cases(random.Random(seed)))
        expected = [outputs_of(exercise, exercise.reference, case) for case in cases]
        mistaken = {m.name: mistaken_outputs(exercise, m, cases) for m in exercise.mistakes}
        for mistake in exercise.mistakes:
            made = mistaken[mistake.name]
            wrong = [m for m, e in zip(made, expected, strict=True) if m is None or
                     first_difference(m, e, *tol) is not None]  # fmt: skip
            assert wrong, f"seed {seed}: {mistake.name} is right on every case"
            found = diagnose(exercise, made, expected, mistaken)
            assert found is not None and found.mistake == mistake.name, (seed, mistake.name)


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
        # a line of the notes, a dated paper, or a library's documentation, named
        cited = r"notes line \d+|\(\d{4}\)|\(.*\d{4}.*\)|documentation"
        assert re.search(cited, mistake.source), mistake.source


def test_the_notes_lines_the_mistakes_cite_hold_text() -> None:
    cited = [
        (name, int(found.group(1)))
        for name in EXERCISES.names()
        for mistake in EXERCISES.card(name).mistakes
        if (found := re.match(r"notes line (\d+)", mistake.source))
    ]
    assert len(cited) >= 10  # many mistakes cite the notes; each line must exist, not blank
    for name, line in cited:
        assert line <= len(NOTES) and NOTES[line - 1].strip(), (name, line)


def test_more_than_twenty_exercises_over_the_course() -> None:
    names = EXERCISES.names()
    assert len(names) >= 20
    topics = {EXERCISES.card(n).topic.split(".")[0] for n in names}
    assert len(topics) >= 6
