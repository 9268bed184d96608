"""The README keeps its promises: two set-up commands, and a map that names what exists."""

from __future__ import annotations

import re
from pathlib import Path

from deepnotes.registry import EXERCISES, EXPERIMENTS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_quick_start_is_exactly_the_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick_start, re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert commands == [
        "pip install -e . && deepnotes tour",
        'pip install -e ".[test]" && pytest -n auto',
    ]
    # CI runs the README's test command (with --durations added)
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]"' in ci and "\npytest -n auto" in ci


def test_every_experiment_is_on_the_map():
    for name in EXPERIMENTS.names():
        assert f"`{name}`" in README, f"experiment {name} missing from the README map"


def test_every_exercise_is_listed_for_students():
    students = README.split("## For students", 1)[1].split("\n## ", 1)[0]
    for name in EXERCISES.names():
        assert f"`{name}`" in students, f"exercise {name} missing from the students' section"


def test_every_path_on_the_map_exists():
    for path in re.findall(r"`(deepnotes/[\w/.]+|tests/[\w/.]+)`", README):
        where = ROOT / "src" / path if path.startswith("deepnotes") else ROOT / path
        assert where.exists(), path
