"""Shared fixtures: the data root beside the project, and small training configs."""

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
