"""Files written atomically, JSON, and errors in one line."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from deepnotes import io
from deepnotes.io import current_umask, one_line, write_atomic, write_json

# --- write_atomic --------------------------------------------------------------------------


def test_write_atomic_creates_and_replaces(tmp_path: Path):
    path = tmp_path / "file.bin"
    write_atomic(path, b"first")
    assert path.read_bytes() == b"first"
    inode = path.stat().st_ino
    with open(path, "rb") as reader:  # a reader that opened the old file...
        write_atomic(path, b"second, longer")
        assert reader.read() == b"first"  # ...still sees all of it: a rename, not a rewrite
    assert path.read_bytes() == b"second, longer"
    assert path.stat().st_ino != inode
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_write_atomic_failure_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
):
    path = tmp_path / "file.bin"
    write_atomic(path, b"old content")

    def fail(*args: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(io.os, failing, fail)
    with pytest.raises(OSError) as info:
        write_atomic(path, b"new content")
    monkeypatch.undo()
    assert info.value.errno == errno.EIO
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_write_json_is_indented_and_converts_what_json_lacks(tmp_path: Path):
    write_json(tmp_path / "a.json", {"b": [1, 2]})
    assert (tmp_path / "a.json").read_text() == '{\n  "b": [\n    1,\n    2\n  ]\n}\n'
    with pytest.raises(TypeError):
        write_json(tmp_path / "c.json", {"path": tmp_path})
    write_json(tmp_path / "c.json", {"path": tmp_path}, default=str)
    assert json.loads((tmp_path / "c.json").read_text()) == {"path": str(tmp_path)}


def test_one_line_folds_a_message_and_names_a_silent_error():
    assert one_line(OSError("no\n  such   file\n")) == "no such file"
    assert one_line(KeyError()) == "KeyError"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_write_atomic_gives_the_mode_of_the_users_umask(tmp_path: Path, umask: int, mode: int):
    """A report or a run written under umask 0022 is readable by others (0644), as any new
    file is, not private as the temporary file starts (0600)."""
    previous = os.umask(umask)
    try:
        assert current_umask() == umask
        write_atomic(tmp_path / "index.html", b"<html>")
        write_json(tmp_path / "summary.json", {"a": 1})
    finally:
        os.umask(previous)
    for name in ("index.html", "summary.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode
