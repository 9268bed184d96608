"""Checkpoints that are safe to load and never half-written.

Weights go into safetensors (a flat tensor format that cannot run code when
loaded, unlike `torch.load` on a pickle); everything else a run needs to
continue — optimiser and scheduler state, RNG states, epoch, history — goes
into a companion pair: the tensors of that state in `state.safetensors` and the
rest in `state.json`, where each tensor is a reference `{"__tensor__": key}`.

Atomicity: a checkpoint is a directory written under a temporary name, each
file flushed and fsynced, then renamed into place (a rename is atomic on one
file system), and only then is `latest.json` replaced — also by an atomic
rename — to point at it. `latest.json` records each file's SHA-256, so a
truncated or corrupted file is refused with a clear error instead of being
loaded. The previous checkpoint stays on disk until the new one is complete.

Layout:
    OUT/checkpoints/latest.json           {"name": "epoch-0003", "sha256": {...}}
    OUT/checkpoints/epoch-0003/model.safetensors
    OUT/checkpoints/epoch-0003/state.safetensors
    OUT/checkpoints/epoch-0003/state.json
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, save

from deepnotes.errors import CheckpointError
from deepnotes.io import fsync_dir, write_atomic

LATEST = "latest.json"
FILES = ("model.safetensors", "state.safetensors", "state.json")
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


def checkpoints_oldest_first(directory: Path) -> list[Path]:
    """The checkpoint directories `epoch-N` under `directory`, ordered by epoch, oldest first.

    The order is by the epoch as a number, not by the name as text: as text,
    "epoch-10000" sorts before "epoch-9999", and pruning by that order would
    delete the newest checkpoints once a run passes epoch 9999. Hidden staging
    directories and anything else not named `epoch-N` are left out.
    """
    epochs = {
        path: int(match.group(1))
        for path in Path(directory).iterdir()
        if path.is_dir() and (match := CHECKPOINT_NAME.fullmatch(path.name))
    }
    return sorted(epochs, key=epochs.__getitem__)


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
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".tmp"))
    try:
        for filename, data in payload.items():
            write_atomic(staging / filename, data)
        final = directory / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(directory)
    digests = {f: hashlib.sha256(data).hexdigest() for f, data in payload.items()}
    write_atomic(
        directory / LATEST, json.dumps({"name": name, "sha256": digests}, indent=1).encode()
    )
    for old in checkpoints_oldest_first(directory)[:-keep]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return directory / name


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """The bytes of `path`, after checking them against the recorded SHA-256."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CheckpointError(f"checkpoint file {path} cannot be read: {e.strerror}") from None
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise CheckpointError(
            f"checkpoint file {path} is corrupted or truncated (SHA-256 mismatch); "
            "delete the run directory or start without --resume"
        )
    return data


def load_checkpoint(directory: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The (model state, run state) of the latest checkpoint under `directory`, verified."""
    directory = Path(directory)
    latest_path = directory / LATEST
    if not latest_path.exists():
        raise CheckpointError(f"no checkpoint to resume from: {latest_path} does not exist")
    try:
        latest = json.loads(latest_path.read_text())
        name, digests = latest["name"], latest["sha256"]
        valid = isinstance(name, str) and isinstance(digests, dict) and set(FILES) <= set(digests)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise CheckpointError(f"{latest_path} is not a valid checkpoint index")
    data = {f: read_verified(directory / name / f, digests[f]) for f in FILES}
    try:
        model_state = load(data["model.safetensors"])
        state_tensors = load(data["state.safetensors"])
        state = join_tensors(json.loads(data["state.json"]), state_tensors)
    except (SafetensorError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {directory / name} cannot be read: {e}") from None
    return model_state, state


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Model weights from a safetensors file (no pickle), with a clear error if unreadable."""
    try:
        return load_file(path)
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"cannot read weights {path}: {e}") from None
