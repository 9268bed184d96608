"""`deepnotes exercises` and `deepnotes exercise start|check|hint|grade`, as a student and a
teaching assistant use them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from tests.exercises.submissions import broken, solution, with_mistake

from deepnotes.cli import main
from deepnotes.exercises.sandbox import Limits, check_file
from deepnotes.registry import EXERCISES

NAME = "conv-output-size"  # the cheapest exercise to grade: integers, no tensors


def test_exercises_are_listed_by_topic(capsys) -> None:
    assert main(["exercises"]) == 0
    out = capsys.readouterr().out
    assert f"{len(EXERCISES)} exercises" in out
    topics = [line for line in out.splitlines() if line and not line.startswith(" ")][:-1]
    numbers = [int(t.split(".")[0]) for t in topics]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert main(["exercises", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(EXERCISES.names())


def test_start_writes_the_starter_and_refuses_to_overwrite(tmp_path, capsys) -> None:
    out = tmp_path / "mine.py"
    assert main(["exercise", "start", NAME, "--out", str(out)]) == 0
    text = out.read_text()
    assert f"deepnotes exercise check {NAME} {out}" in text and "TODO" in text
    out.write_text(text + "# my work\n")
    assert main(["exercise", "start", NAME, "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text().endswith("# my work\n")  # nothing lost
    assert main(["exercise", "start", NAME, "--out", str(out), "--force"]) == 0
    assert main(["exercise", "start", "conv-output-sise"]) == 2
    assert "did you mean conv-output-size" in capsys.readouterr().err


def test_check_reports_the_failure_and_the_diagnosis(tmp_path, capsys) -> None:
    exercise = EXERCISES.card(NAME)
    file = tmp_path / "floorless.py"
    file.write_text(with_mistake(exercise, exercise.mistake("conv-size-without-floor")))
    assert main(["exercise", "check", NAME, str(file), "--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "First failure: " in out and "expected:" in out and "actual:" in out
    assert "Diagnosis (conv-size-without-floor):" in out and "notes line 48" in out
    assert "--seed 3" in out  # how to rerun the same cases
    assert main(["exercise", "check", NAME, str(file), "--seed", "3", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["diagnosis"]["mistake"] == "conv-size-without-floor"
    assert 0 < report["score"] < 1 and report["passed"] < report["total"]
    (tmp_path / "right.py").write_text(solution(exercise))
    assert main(["exercise", "check", NAME, str(tmp_path / "right.py")]) == 0
    assert main(["exercise", "check", NAME, str(tmp_path / "absent.py")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cases_are_fresh_unless_a_seed_is_given(tmp_path, capsys) -> None:
    file = tmp_path / "right.py"
    file.write_text(solution(EXERCISES.card(NAME)))
    runs = []
    for _ in range(2):
        main(["exercise", "check", NAME, str(file), "--json"])
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["seed"] != runs[1]["seed"]
    assert [c["case"] for c in runs[0]["cases"]] != [c["case"] for c in runs[1]["cases"]]
    again = []
    for _ in range(2):
        main(["exercise", "check", NAME, str(file), "--json", "--seed", "7"])
        again.append(json.loads(capsys.readouterr().out)["cases"])
    assert again[0] == again[1]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (
            "def output_size(*a, **k):\n    while True:\n        print('x' * 1000)\n",
            "printed more than 1 MiB",
        ),
        (
            "import ctypes\n\ndef output_size(*a, **k):\n    return ctypes.string_at(0)\n",
            "crashed (SIGSEGV)",
        ),
        ("import os\n\nos._exit(3)\n", "ended the process (exit status 3)"),
        ("import sys\n\nsys.exit('bye')\n", "SystemExit: bye (line 3)"),
        ("x = 1\n", "the file defines no 'output_size'"),
        ("print('x' * 10_000_000)\n", "printed more than 1 MiB"),  # at import, too
        ("hoard = []\nwhile True:\n    hoard.append(bytearray(2**24))\n", "ran out of memory"),
    ],
)
def test_a_misbehaving_file_is_a_graded_failure(tmp_path, code: str, reason: str) -> None:
    file = tmp_path / "student.py"
    file.write_text(code)
    report = check_file(NAME, file, 0, Limits(seconds=5, memory_mib=256))
    assert report.score == 0 and reason in report.error and "\n" not in report.error


def test_hints_come_one_at_a_time_and_the_solution_warns(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    hints = EXERCISES.card(NAME).hints
    for number in range(1, len(hints) + 2):  # one more than there are: the last again
        assert main(["exercise", "hint", NAME]) == 0
        shown = min(number, len(hints))
        assert capsys.readouterr().out.startswith(f"Hint {shown} of {len(hints)}")
    assert main(["exercise", "hint", NAME, "--solution"]) == 0
    captured = capsys.readouterr()
    assert "Warning" in captured.err
    assert "def conv_output_size(" in captured.out and "arith.py:" in captured.out


def test_grade_writes_one_csv_row_per_file(tmp_path, capsys) -> None:
    exercise = EXERCISES.card(NAME)
    folder = tmp_path / "class"
    folder.mkdir()
    files = {"ada.py": solution(exercise), "bob.py": broken(exercise)["syntax"]}
    for i, mistake in enumerate(exercise.mistakes):
        files[f"m{i}.py"] = with_mistake(exercise, mistake)
    for file, text in files.items():
        (folder / file).write_text(text)
    (folder / "notes.txt").write_text("not a submission")
    out = tmp_path / "grades.csv"
    args = ["exercise", "grade", NAME, str(folder), "--out", str(out), "--seed", "1"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    with out.open() as f:
        table = list(csv.DictReader(f))
    assert [r["file"] for r in table] == sorted(files) == [r["file"] for r in rows]
    by_file = {r["file"]: r for r in table}
    assert float(by_file["ada.py"]["score"]) == 1.0
    assert (
        by_file["bob.py"]["error"].startswith("SyntaxError") and by_file["bob.py"]["score"] == "0.0"
    )
    for i, mistake in enumerate(exercise.mistakes):
        assert by_file[f"m{i}.py"]["diagnosis"] == mistake.name
    assert main(args) == 2  # the CSV exists: refused without --force
    assert "--force" in capsys.readouterr().err
    assert (
        main(["exercise", "grade", NAME, str(tmp_path / "none"), "--out", str(tmp_path / "x.csv")])
        == 2
    )


def test_what_the_student_printed_comes_back(tmp_path, capsys) -> None:
    """A student debugs with print: the start of it is shown under the report."""
    file = tmp_path / "chatty.py"
    file.write_text(solution(EXERCISES.card(NAME)) + "print('loading my solution')\n")
    assert main(["exercise", "check", NAME, str(file), "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "Your code printed:\n  | loading my solution" in out


def test_a_submission_may_import_a_module_beside_it(tmp_path) -> None:
    (tmp_path / "helpers.py").write_text(solution(EXERCISES.card(NAME)))
    (tmp_path / "main.py").write_text("from helpers import output_size\n")
    assert check_file(NAME, tmp_path / "main.py", 0).score == 1.0


def test_a_name_that_looks_like_a_formula_is_text_in_the_csv(tmp_path, capsys) -> None:
    """A file named like a spreadsheet formula reaches the CSV as text (a leading
    apostrophe); a subfolder is named on stderr, not graded."""
    folder = tmp_path / "class"
    (folder / "eve").mkdir(parents=True)
    (folder / "=HYPERLINK(1).py").write_text(solution(EXERCISES.card(NAME)))
    (folder / "bob.py").write_text(solution(EXERCISES.card(NAME)))
    out = tmp_path / "grades.csv"
    assert main(["exercise", "grade", NAME, str(folder), "--out", str(out), "--seed", "0"]) == 0
    assert "1 subfolders not graded (eve)" in capsys.readouterr().err
    with out.open() as f:
        assert sorted(r["file"] for r in csv.DictReader(f)) == ["'=HYPERLINK(1).py", "bob.py"]


def test_listing_into_a_closed_pipe_ends_quietly() -> None:
    """`deepnotes exercises | head -1`: the reader leaves before the listing is written; the
    command ends as a shell reports SIGPIPE (141), with nothing on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "deepnotes", "exercises"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # the reader is gone before the first line
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == ""
