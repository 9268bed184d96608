"""Shared fixtures: the data root beside the project, an isolated cache, and the quick tour
(every experiment run once per session, for the experiments' and the faults' tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "datasets"


@pytest.fixture
def shared_data() -> Path:
    """`../shared/datasets` (or $DEEPNOTES_DATA); skips with the reason when it is absent."""
    root = Path(os.environ.get("DEEPNOTES_DATA") or SHARED_DATA)
    if not root.is_dir():
        pytest.skip(f"shared data sets not found at {root}")
    return root


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point the user cache at an empty folder so no test reads or writes the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def quick_tour(tmp_path_factory: pytest.TempPathFactory):
    """Every registered experiment in quick mode, seed 0, no fault: (report folder, results)."""
    from deepnotes.experiments.base import run_experiment
    from deepnotes.registry import EXPERIMENTS

    out = tmp_path_factory.mktemp("report")
    return out, {
        name: run_experiment(name, out, quick=True, seed=0) for name in EXPERIMENTS.names()
    }
