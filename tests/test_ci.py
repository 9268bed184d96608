"""What CI must catch: under `CI=true` a missing data set or browser fails instead of
skipping; a plain `pytest` on a laptop skips. The `slow` reproductions run when asked for
(`-m slow`), in CI as on a laptop. Each case runs pytest in a fresh process with the
environment it describes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
BROWSER_TEST = "tests/experiments/test_experiments.py::test_the_browser_check_sees_a_missing_image"
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


def test_the_slow_reproductions_run_when_asked_for():
    """Every test of the zoo's training file is `slow`: `-m slow` collects them all; a plain
    `pytest`, on a laptop or in CI, deselects the same number."""
    asked = pytest_run(
        "--collect-only", "-m", "slow", "tests/models/test_zoo_training.py", ci=False
    )
    collected = re.search(r"(\d+) tests? collected", asked.stdout)
    assert collected and int(collected[1]) > 0, asked.stdout
    for ci in (False, True):
        plain = pytest_run("--collect-only", "tests/models/test_zoo_training.py", ci=ci)
        assert f"{collected[1]} deselected" in plain.stdout, plain.stdout
