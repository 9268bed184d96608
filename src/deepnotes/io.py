"""Files written safely and errors told in one line: what every layer above may use.

`write_atomic` is how the package writes the files a run or a report is read back
from (a run's summary, config and weights, a checkpoint, the report's pages and
results, samples): the bytes go to a temporary file in the same folder, are flushed
and fsynced, and the temporary file is renamed over the target, so a reader (or a
crash) sees the old file or the new one, never a mix. Figures are drawn by
matplotlib straight to their files.

Where the user's files are read from is here too: the data roots (docs/ARCHITECTURE.md,
"Contracts"), `--data-dir`, then `$DEEPNOTES_DATA`, then the user cache directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process's umask, read without changing it (Linux's /proc/self/status); where
    that is not readable, set and put back at once."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); the file a user asked for gets the mode
        # any program's new file gets under their umask (0644 under 0022), as open() gives
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json(
    path: str | os.PathLike, obj: Any, default: Callable[[Any], Any] | None = None
) -> None:
    """`obj` as indented JSON, written atomically; `default` converts what JSON lacks."""
    write_atomic(path, (json.dumps(obj, indent=2, default=default) + "\n").encode())


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename inside `directory` durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def one_line(error: BaseException) -> str:
    """An exception's message on one line (a library's errors may span several; its type's
    name where it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def cache_root() -> Path:
    """The user cache directory's data root: `$XDG_CACHE_HOME/deepnotes` (default ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deepnotes"


def data_roots(data_dir: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """Candidate data roots in lookup order: `--data-dir`, `$DEEPNOTES_DATA`, the user cache."""
    roots = [Path(data_dir)] if data_dir else []
    if os.environ.get("DEEPNOTES_DATA"):
        roots.append(Path(os.environ["DEEPNOTES_DATA"]))
    roots.append(cache_root())
    return tuple(r.expanduser() for r in roots)
