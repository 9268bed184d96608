"""Checkpoints that are safe to load and never half-written.

Weights go into safetensors (a flat tensor format that cannot run code when
loaded, unlike `torch.load` on a pickle); everything else a run needs to
continue — optimiser and scheduler state, RNG states, epoch, history — goes
into a companion pair: the tensors of that state in `state.safetensors` and the
rest in `state.json`, where each tensor is a reference `{"__tensor__": key}`.

Atomicity: a checkpoint is a directory written under a temporary name, each
file flushed and fsynced, then renamed into place (a rename is atomic on one
file system), and only then is `latest.json` replaced — also by an atomic
rename — to point at it. `latest.json` records each file's SHA-256, and so does
the checkpoint's own `sha256.json`, so a truncated or corrupted file is refused
with a clear error instead of being loaded. The previous checkpoint stays on
disk until the new one is complete.

Falling back: when the newest checkpoint is damaged (or `latest.json` itself),
`load_checkpoint` loads the newest older checkpoint that its own `sha256.json`
proves intact, and says so; it refuses only when none is.

Layout:
    OUT/checkpoints/latest.json           {"name": "epoch-0003", "sha256": {...}}
    OUT/checkpoints/epoch-0003/model.safetensors
    OUT/checkpoints/epoch-0003/state.safetensors
    OUT/checkpoints/epoch-0003/state.json
    OUT/checkpoints/epoch-0003/sha256.json    the same digests as latest.json's
    OUT/checkpoints/epoch-0002/...            the one before, kept as a fallback
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from deepnotes.errors import CheckpointError
from deepnotes.io import fsync_dir, one_line, write_atomic

LATEST = "latest.json"
FILES = ("model.safetensors", "state.safetensors", "state.json")
MANIFEST = "sha256.json"  # in each checkpoint: its files' digests, to fall back to it
CHECKPOINT_NAME = re.compile(r"epoch-(\d+)")  # "epoch-0003"; the epoch can outgrow 4 digits


def split_tensors(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """Replace every tensor in a nested dict/list by a reference, collecting the tensors.

    The result is JSON-serialisable as long as the non-tensor leaves are (numbers,
    strings, booleans, None); integer dict keys (optimiser state is keyed by
    parameter index) are kept as strings and tagged so `join_tensors` restores them.
    """
    if isinstance(obj, torch.Tensor):
        if prefix in tensors:  # {"a.b": x} and {"a": {"b": y}} would share a key
            raise ValueError(f"two tensors would be stored under the same key {prefix!r}")
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if all(isinstance(k, int) for k in obj) and obj:
            return {
                "__intkeys__": {
                    str(k): split_tensors(v, tensors, f"{prefix}.{k}") for k, v in obj.items()
                }
            }
        return {str(k): split_tensors(v, tensors, f"{prefix}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [split_tensors(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix!r} in a checkpoint")


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `split_tensors`."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__intkeys__"}:
            return {int(k): join_tensors(v, tensors) for k, v in obj["__intkeys__"].items()}
        return {k: join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def epoch_of(name: str) -> int:
    """The epoch of a checkpoint's name: 3 for "epoch-0003"."""
    match = CHECKPOINT_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not a checkpoint name")
    return int(match.group(1))


def checkpoints_oldest_first(directory: Path) -> list[Path]:
    """The checkpoint directories `epoch-N` under `directory`, ordered by epoch, oldest first.

    The order is by the epoch as a number, not by the name as text: as text,
    "epoch-10000" sorts before "epoch-9999", and pruning by that order would
    delete the newest checkpoints once a run passes epoch 9999. Hidden staging
    directories and anything else not named `epoch-N` are left out; a missing
    `directory` holds none.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and CHECKPOINT_NAME.fullmatch(p.name)]
    return sorted(found, key=lambda path: epoch_of(path.name))


def has_checkpoint(directory: Path) -> bool:
    """Whether `directory` holds a checkpoint, intact or not: a `latest.json`, or an `epoch-N`
    folder (a crash can leave a complete one before `latest.json` points at it). A missing or
    empty folder, or one that holds only what a failed save left, holds none."""
    return (Path(directory) / LATEST).exists() or bool(checkpoints_oldest_first(directory))


def save_checkpoint(
    directory: Path,
    name: str,
    model_state: dict[str, torch.Tensor],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint `name` under `directory` atomically and point `latest.json` at it.

    Keeps the newest `keep` checkpoints, by epoch number (`checkpoints_oldest_first`),
    and deletes older ones only after the new one is complete.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state_tensors: dict[str, torch.Tensor] = {}
    state_json = split_tensors(state, state_tensors, "state")
    payload = {
        "model.safetensors": save(
            {k: v.detach().cpu().contiguous() for k, v in model_state.items()}
        ),
        "state.safetensors": save(state_tensors),
        "state.json": json.dumps(state_json, indent=1, allow_nan=True).encode(),
    }
    digests = {f: hashlib.sha256(data).hexdigest() for f, data in payload.items()}
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".tmp"))
    try:
        for filename, data in payload.items():
            write_atomic(staging / filename, data)
        write_atomic(staging / MANIFEST, json.dumps(digests, indent=1).encode())
        final = directory / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(directory)
    write_atomic(
        directory / LATEST, json.dumps({"name": name, "sha256": digests}, indent=1).encode()
    )
    for old in checkpoints_oldest_first(directory)[:-keep]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return directory / name


def read_verified(path: Path, expected_sha256: str | None, record: Path | None = None) -> bytes:
    """The bytes of `path`, after checking them against the SHA-256 that `record` holds
    (read unchecked when there is none to check against)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read: {e.strerror}") from None
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise CheckpointError(
            f"{path} is corrupted, truncated or was changed: "
            f"its SHA-256 differs from the one {record} records"
        )
    return data


def valid_digests(digests: Any) -> bool:
    """Whether `digests` is a table with a SHA-256 string for each file of a checkpoint."""
    return (
        isinstance(digests, dict)
        and set(FILES) <= set(digests)
        and all(isinstance(digests[f], str) for f in FILES)
    )


def read_index(path: Path) -> Any:
    """The JSON in `path` (`latest.json` or a `sha256.json`); CheckpointError if it has none."""
    try:
        return json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read: {e.strerror}") from None
    except ValueError:  # not JSON, or not UTF-8
        raise CheckpointError(f"{path} is not a valid checkpoint index") from None


def read_latest(directory: Path) -> tuple[str, dict[str, str]]:
    """The name of the checkpoint `latest.json` points at, and the digests it records."""
    path = Path(directory) / LATEST
    latest = read_index(path)
    name = latest.get("name") if isinstance(latest, dict) else None
    digests = latest.get("sha256") if isinstance(latest, dict) else None
    if not (isinstance(name, str) and CHECKPOINT_NAME.fullmatch(name) and valid_digests(digests)):
        raise CheckpointError(f"{path} is not a valid checkpoint index")
    return name, digests


def read_checkpoint(
    path: Path, digests: dict[str, str] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(model state, run state) of the checkpoint folder `path`, each file verified against
    `digests` (those `latest.json` records), or by default against the folder's `sha256.json`."""
    record = path.parent / LATEST
    if digests is None:
        record = path / MANIFEST
        digests = read_index(record)
        if not valid_digests(digests):
            raise CheckpointError(f"{record} is not a valid checkpoint index")
    data = {f: read_verified(path / f, digests[f], record) for f in FILES}
    try:
        model_state = load(data["model.safetensors"])
        state_tensors = load(data["state.safetensors"])
        state = join_tensors(json.loads(data["state.json"]), state_tensors)
    except (SafetensorError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} cannot be read: {one_line(e)}") from None
    return model_state, state


def warn(message: str) -> None:
    """How `load_checkpoint` says it fell back, unless told otherwise: a Python warning."""
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def load_checkpoint(
    directory: Path, on_fallback: Callable[[str], None] = warn
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The (model state, run state) of the newest intact checkpoint under `directory`.

    First the checkpoint `latest.json` names, checked against the digests recorded there;
    if it is damaged, the older ones, newest first, each checked against its own
    `sha256.json` (every checkpoint, when `latest.json` itself is missing or damaged).
    Loading an older one calls `on_fallback` with one line that names what was damaged
    and what is loaded instead. When none is intact, CheckpointError names the newest
    checkpoint's damage.
    """
    directory = Path(directory)
    problems: list[str] = []
    candidates: list[tuple[Path, dict[str, str] | None]] = [
        (path, None) for path in reversed(checkpoints_oldest_first(directory))
    ]
    try:
        name, digests = read_latest(directory)
    except CheckpointError as e:
        problems.append(str(e))
    else:
        older = [(p, d) for p, d in candidates if epoch_of(p.name) < epoch_of(name)]
        candidates = [(directory / name, digests), *older]
    for path, digests in candidates:
        try:
            loaded = read_checkpoint(path, digests)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        if problems:
            on_fallback(f"{problems[0]}; resuming from {path}, the newest intact checkpoint")
        return loaded
    if not candidates:
        raise CheckpointError(f"no checkpoint to resume from in {directory}: {problems[0]}")
    raise CheckpointError(
        f"{problems[0]}; no intact checkpoint is left in {directory} "
        f"({len(candidates)} tried): train again in another --out"
    )


def load_weights(
    path: Path, sha256: str | None = None, record: Path | None = None
) -> dict[str, torch.Tensor]:
    """Model weights from a safetensors file (no pickle), after checking its bytes against
    the SHA-256 that `record` (the run's summary.json) holds: weights changed or corrupted
    since training are refused in one line, never evaluated. Without a digest (a run older
    than the digests) the bytes are read as they are."""
    data = read_verified(path, sha256, record)
    try:
        return load(data)
    except SafetensorError as e:
        raise CheckpointError(f"cannot read weights {path}: {one_line(e)}") from None
