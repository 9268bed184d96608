"""What CI must catch: under `CI=true` a missing data set or browser fails instead of
skipping; a plain `pytest` on a laptop skips. The `slow` reproductions run when asked for
(`-m slow`) on a laptop, and always under CI=true, first. Each case runs pytest in a fresh
process with the environment it describes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
BROWSER_TEST = "tests/report/test_book.py::test_the_browser_check_sees_a_missing_image"
DATA_TEST = "tests/graph/test_graph.py::test_cora_is_read_with_the_public_split"


def pytest_run(*args: str, ci: bool, **env: str) -> subprocess.CompletedProcess:
    """`pytest ARGS` in the project, with CI set or unset and ENV added."""
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    environment |= env | ({"CI": "true"} if ci else {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("ci", [False, True])
@pytest.mark.parametrize(
    ("test", "missing", "reason"),
    [
        (BROWSER_TEST, "PATH", "no Chromium on the PATH"),
        (DATA_TEST, "DEEPNOTES_DATA", "shared data sets not found"),
    ],
    ids=["browser", "data"],
)
def test_what_is_missing_skips_on_a_laptop_and_fails_in_ci(ci, test, missing, reason, tmp_path):
    """With the browser or the data set gone (a PATH or a data root that leads nowhere), the
    test that needs it skips on a laptop, and fails, saying why, under CI=true."""
    run = pytest_run(test, ci=ci, **{missing: str(tmp_path / "gone")})
    if ci:
        assert run.returncode == 1, run.stdout
        assert f"{reason}" in run.stdout and "CI=true" in run.stdout
    else:
        assert run.returncode == 0, run.stdout
        assert "1 skipped" in run.stdout


def collected(run: subprocess.CompletedProcess) -> list[str]:
    """The test ids that `pytest --collect-only -q` printed, in the order it would run them."""
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_the_slow_reproductions_run_when_asked_for_and_always_in_ci():
    """Every test of the zoo's training file is `slow`: `-m slow` collects them all; a plain
    `pytest` on a laptop deselects the same number, and under CI=true collects them all."""
    zoo = "tests/models/test_zoo_training.py"
    asked = collected(pytest_run("--collect-only", "-m", "slow", zoo, ci=False))
    assert asked
    laptop = pytest_run("--collect-only", zoo, ci=False)
    assert f"{len(asked)} deselected" in laptop.stdout, laptop.stdout
    assert collected(pytest_run("--collect-only", zoo, ci=True)) == asked


def test_the_slow_tests_run_first_so_the_workers_share_them():
    """A file with slow and fast tests: under CI=true every slow one comes before every fast
    one (xdist then hands them out one at a time: tests/conftest.py)."""
    speech = "tests/models/test_speech.py"
    slow = collected(pytest_run("--collect-only", "-m", "slow", speech, ci=False))
    everything = collected(pytest_run("--collect-only", speech, ci=True))
    assert slow and len(everything) > len(slow)
    assert everything[: len(slow)] == slow
