"""Shared fixtures: the data root beside the project, an isolated cache, and the quick tour
(every experiment run once per session, for the experiments' and the faults' tests)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "datasets"


def in_ci() -> bool:
    """Whether the tests run under CI (`CI=true`, as GitHub Actions, GitLab and `.ci/run` set)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_unless_ci(reason: str) -> None:
    """Skip a test that needs something this machine lacks; under CI fail instead, since CI
    must run every test (a skip there would hide a data set or a browser gone missing)."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`-n auto`) give each worker its share of the cores for torch's
    threads: two torch processes each spinning on every core run 5–10× slower than one.

    And hand the tests out one at a time (`--maxschedchunk 1`, unless given): the slow ones
    come first (`pytest_collection_modifyitems`), so each worker takes the next long one as it
    finishes one, instead of the first worker getting a chunk that holds all of them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # for the subprocesses the tests start
        import torch

        torch.set_num_threads(threads)
    if getattr(config.option, "maxschedchunk", 1) is None:  # the xdist controller
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the `slow` reproductions out of a plain `pytest` on a laptop unless a marker
    expression asks for them (`-m slow`, `-m "slow or not slow"`); CI (`CI=true`) runs them.
    Those that run go first, so that the xdist workers share the long ones between them."""
    if not (config.option.markexpr or in_ci()):
        slow = [item for item in items if item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow first


@pytest.fixture
def shared_data() -> Path:
    """`../shared/datasets` (or $DEEPNOTES_DATA); skips with the reason when it is absent
    (fails under CI)."""
    root = Path(os.environ.get("DEEPNOTES_DATA") or SHARED_DATA)
    if not root.is_dir():
        skip_unless_ci(f"shared data sets not found at {root}")
    return root


@pytest.fixture
def chromium() -> str:
    """The first Chromium on the PATH, for the report's browser tests; skips without one
    (fails under CI, which installs Debian's `chromium`)."""
    names = ("chromium", "chromium-browser", "google-chrome")
    found = next((path for path in map(shutil.which, names) if path), None)
    if found is None:
        skip_unless_ci("no Chromium on the PATH")
    return found


@pytest.fixture
def tensorboard_reader() -> type:
    """TensorBoard's own reader of event files (the optional `tensorboard` extra, which the
    test extra and so CI install)."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        skip_unless_ci("the tensorboard package is not installed")
    return EventAccumulator


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point the user cache at an empty folder so no test reads or writes the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def quick_tour(tmp_path_factory: pytest.TempPathFactory):
    """Every registered experiment in quick mode, seed 0, no fault: (report folder, results).

    Run once per session however many pytest-xdist workers ask for it: each experiment is
    computed by the first worker to take its lock, into the folder the workers share, and read
    back from its `result.json` by every worker (the one that computed it too, so all of them
    test the same thing). Worker k of n starts k/n of the way down the list, so two workers
    split the tour between them instead of each waiting for the other.
    """
    from filelock import FileLock

    from deepnotes.experiments.base import Result, run_experiment
    from deepnotes.registry import EXPERIMENTS

    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...; unset without xdist
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker else base  # xdist gives worker k the folder .../popen-gwk
    out = shared / "quick-tour"
    out.mkdir(exist_ok=True)
    names = EXPERIMENTS.names()
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    start = int(worker.removeprefix("gw")) * len(names) // workers if worker else 0
    for name in names[start:] + names[:start]:
        with FileLock(out / f"{name}.lock"):
            if not (out / name / "result.json").is_file():
                run_experiment(name, out, quick=True, seed=0)
    return out, {
        name: Result.from_dict(json.loads((out / name / "result.json").read_text()))
        for name in names
    }
