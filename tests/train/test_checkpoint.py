"""Checkpoints: tensor/JSON split, verified loads, falling back past a damaged checkpoint, and
no unpickling (atomic writes: test_io.py)."""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load, save, save_file
from torch import nn

from deepnotes.errors import CheckpointError, UserError
from deepnotes.io import write_atomic
from deepnotes.train import checkpoint
from deepnotes.train.checkpoint import (
    FILES,
    LATEST,
    MANIFEST,
    join_tensors,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    split_tensors,
)

# --- Helpers -------------------------------------------------------------------------------


def assert_same(actual: Any, expected: Any, where: str = "") -> None:
    """Deep equality: tensors equal in dtype, shape and value; tuples read back as lists."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert actual.dtype == expected.dtype, where
        assert actual.shape == expected.shape, where
        assert torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(expected), where  # same keys: 1 and "1" differ
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}.{i}")
    else:
        assert type(actual) is type(expected), where
        assert actual == expected, where


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))


def batch(seed: int) -> torch.Tensor:
    return torch.randn(6, 4, generator=torch.Generator().manual_seed(seed))


def adam_step(model: nn.Module, optimizer: torch.optim.Optimizer, seed: int) -> None:
    optimizer.zero_grad()
    model(batch(seed)).pow(2).sum().backward()
    optimizer.step()


def trained(steps: int = 3) -> tuple[nn.Module, torch.optim.Adam]:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, betas=(0.8, 0.95))
    for seed in range(steps):
        adam_step(model, optimizer, seed)
    return model, optimizer


def through_disk_formats(obj: Any) -> Any:
    """What `split_tensors` gives after a trip through JSON and safetensors bytes, joined."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.loads(json.dumps(split_tensors(obj, tensors, "opt")))
    return join_tensors(skeleton, load(save(tensors)))


def run_state(optimizer: torch.optim.Optimizer, epoch: int) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "history": [{"loss": 0.5, "acc": 0.25}, {"loss": 0.25, "acc": 0.5}],
        "best": float("inf"),
        "note": None,
        "done": False,
    }


def save_epoch(directory: Path, epoch: int, keep: int = 2) -> tuple[dict, dict]:
    model, optimizer = trained(steps=epoch)
    state = run_state(optimizer, epoch)
    save_checkpoint(directory, f"epoch-{epoch:04d}", model.state_dict(), state, keep=keep)
    return model.state_dict(), state


def load_saying(directory: Path) -> tuple[tuple[dict, dict], list[str]]:
    """`load_checkpoint`'s result, and every line it said about falling back."""
    said: list[str] = []
    return load_checkpoint(directory, said.append), said


def damage(path: Path, how: str) -> None:
    """Truncate, flip a byte of, empty or delete `path`."""
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) - 7])
    elif how == "flip":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (hidden ones included) by relative path, with its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# --- split_tensors / join_tensors ----------------------------------------------------------


def test_adam_state_round_trips_with_integer_keys():
    _, optimizer = trained()
    original = optimizer.state_dict()
    assert original["state"]  # Adam has state after stepping
    restored = through_disk_formats(original)
    assert sorted(restored["state"]) == [0, 1, 2, 3]
    assert all(type(k) is int for k in restored["state"])
    assert_same(restored, original)


def test_split_collects_every_tensor_under_a_unique_key():
    _, optimizer = trained()
    original = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    skeleton = split_tensors(original, tensors, "opt")
    expected = sum(
        isinstance(v, torch.Tensor) for s in original["state"].values() for v in s.values()
    )
    assert len(tensors) == expected == 4 * 3  # step, exp_avg, exp_avg_sq per parameter
    json.dumps(skeleton)  # no tensor left in the skeleton
    assert skeleton["state"]["__intkeys__"]["0"]["exp_avg"] == {"__tensor__": "opt.state.0.exp_avg"}
    assert torch.equal(tensors["opt.state.2.exp_avg_sq"], original["state"][2]["exp_avg_sq"])


def test_restored_adam_takes_the_same_next_step():
    model, optimizer = trained()
    restored = through_disk_formats(optimizer.state_dict())
    twin = copy.deepcopy(model)
    twin_optimizer = torch.optim.Adam(twin.parameters(), lr=1.0)  # overwritten by the load
    twin_optimizer.load_state_dict(restored)
    assert twin_optimizer.param_groups[0]["lr"] == 0.05
    assert tuple(twin_optimizer.param_groups[0]["betas"]) == (0.8, 0.95)
    for seed in (10, 11):
        adam_step(model, optimizer, seed)
        adam_step(twin, twin_optimizer, seed)
        for p, q in zip(model.parameters(), twin.parameters(), strict=True):
            assert torch.equal(p, q)
    assert_same(twin_optimizer.state_dict()["state"], optimizer.state_dict()["state"])


def test_split_of_an_empty_optimizer_state():
    optimizer = torch.optim.Adam(make_model().parameters())
    original = optimizer.state_dict()
    assert original["state"] == {}
    assert_same(through_disk_formats(original), original)


def test_split_refuses_tensors_whose_paths_look_alike():
    """{'a.b': t1, 'a': {'b': t2}} would store both under 'state.a.b': refused, never lost."""
    original = {"a.b": torch.zeros(2), "a": {"b": torch.ones(2)}}
    with pytest.raises(ValueError, match="same key"):
        split_tensors(original, {}, "state")


def test_split_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError, match="set"):
        split_tensors({"a": {1, 2}}, {}, "s")


# --- save_checkpoint / load_checkpoint -----------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path):
    model_state, state = save_epoch(tmp_path, 3)
    assert (tmp_path / "epoch-0003").is_dir()
    assert sorted(p.name for p in (tmp_path / "epoch-0003").iterdir()) == sorted([*FILES, MANIFEST])
    latest = json.loads((tmp_path / LATEST).read_text())
    assert latest["name"] == "epoch-0003"
    # The checkpoint carries its own digests, the same as latest.json's, and they are true.
    manifest = json.loads((tmp_path / "epoch-0003" / MANIFEST).read_text())
    assert manifest == latest["sha256"]
    for filename in FILES:
        data = (tmp_path / "epoch-0003" / filename).read_bytes()
        assert manifest[filename] == hashlib.sha256(data).hexdigest()
    (loaded_model, loaded_state), said = load_saying(tmp_path)
    assert said == []
    assert_same(loaded_model, dict(model_state))
    assert_same(loaded_state, state)
    assert loaded_state["best"] == float("inf")
    # The weights file alone is plain safetensors.
    weights = tmp_path / "epoch-0003" / "model.safetensors"
    loaded = load_weights(weights, manifest["model.safetensors"], tmp_path / LATEST)
    assert_same(loaded, dict(model_state))


def test_loaded_state_resumes_a_model_and_optimizer(tmp_path: Path):
    model, optimizer = trained()
    save_checkpoint(tmp_path, "epoch-0001", model.state_dict(), run_state(optimizer, 1))
    weights, state = load_checkpoint(tmp_path)
    resumed = make_model()
    with torch.no_grad():
        for p in resumed.parameters():
            p.add_(1.0)  # different from the saved weights until loaded
    resumed.load_state_dict(weights)
    resumed_optimizer = torch.optim.Adam(resumed.parameters())
    resumed_optimizer.load_state_dict(state["optimizer"])
    adam_step(model, optimizer, 7)
    adam_step(resumed, resumed_optimizer, 7)
    for p, q in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("keep", [1, 2, 3])
def test_only_the_newest_checkpoints_are_kept(tmp_path: Path, keep: int):
    for epoch in range(1, 6):
        save_epoch(tmp_path, epoch, keep=keep)
    kept = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert kept == [f"epoch-{e:04d}" for e in range(6 - keep, 6)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [LATEST]
    assert load_checkpoint(tmp_path)[1]["epoch"] == 5


def test_pruning_orders_checkpoints_by_epoch_number_past_epoch_9999(tmp_path: Path):
    # As text "epoch-10000" < "epoch-9999", so a text sort would prune the newest.
    weights = make_model().state_dict()
    for epoch in (9998, 9999, 10000, 10001):
        save_checkpoint(tmp_path, f"epoch-{epoch:04d}", weights, {"epoch": epoch}, keep=2)
    kept = {p.name for p in tmp_path.iterdir() if p.is_dir()}
    assert kept == {"epoch-10000", "epoch-10001"}
    assert load_checkpoint(tmp_path)[1]["epoch"] == 10001


def test_checkpoints_are_ordered_by_epoch_number_not_as_text(tmp_path: Path):
    for name in ("epoch-10000", "epoch-0002", "epoch-9999", ".epoch-10001.abc.tmp", "notes"):
        (tmp_path / name).mkdir()
    ordered = [p.name for p in checkpoint.checkpoints_oldest_first(tmp_path)]
    assert ordered == ["epoch-0002", "epoch-9999", "epoch-10000"]


# --- Damaged checkpoints -------------------------------------------------------------------


def assert_one_line_error_naming(info: pytest.ExceptionInfo, path: Path) -> None:
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize("filename", FILES)
@pytest.mark.parametrize("how", ["truncate", "flip", "empty", "delete"])
def test_damaged_file_is_refused(tmp_path: Path, filename: str, how: str):
    save_epoch(tmp_path, 1)
    path = tmp_path / "epoch-0001" / filename
    damage(path, how)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    assert_one_line_error_naming(info, path)


@pytest.mark.parametrize("filename", FILES)
def test_any_flipped_byte_is_refused(tmp_path: Path, filename: str):
    """A flip anywhere, not only mid-file: header, first and last bytes included."""
    save_epoch(tmp_path, 1)
    path = tmp_path / "epoch-0001" / filename
    data = path.read_bytes()
    for position in sorted({0, 1, 7, 8, 9, len(data) // 3, len(data) - 1}):
        path.write_bytes(data[:position] + bytes([data[position] ^ 0x80]) + data[position + 1 :])
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(tmp_path)
        assert_one_line_error_naming(info, path)
    path.write_bytes(data)
    load_checkpoint(tmp_path)  # the undamaged file loads again


def test_missing_latest_without_checkpoints_is_refused(tmp_path: Path):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    assert_one_line_error_naming(info, tmp_path / LATEST)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "absent")
    assert_one_line_error_naming(info, tmp_path / "absent" / LATEST)


DAMAGED_LATEST = {
    "missing": None,
    "empty": b"",
    "truncated": b"{",
    "list": b"[]",
    "no-digests": b'{"name": "epoch-0002"}',
    "not-utf8": b"\xff\xfe",
    "null": b"null",
    "name-int": json.dumps({"name": 5, "sha256": {}}).encode(),
    "sha256-list": json.dumps({"name": "epoch-0002", "sha256": []}).encode(),
    "sha256-str": json.dumps({"name": "epoch-0002", "sha256": "0" * 64}).encode(),
    "name-outside": json.dumps({"name": "../epoch-0002", "sha256": {}}).encode(),
}


@pytest.mark.parametrize("content", DAMAGED_LATEST.values(), ids=DAMAGED_LATEST.keys())
def test_damaged_latest_falls_back_to_the_newest_intact_checkpoint(
    tmp_path: Path, content: bytes | None
):
    """latest.json missing or unreadable: each checkpoint's own sha256.json still proves it
    intact, so the newest by epoch number is loaded, and the fallback is said in one line."""
    save_epoch(tmp_path, 1)
    model_state, state = save_epoch(tmp_path, 2)
    if content is None:
        (tmp_path / LATEST).unlink()
    else:
        (tmp_path / LATEST).write_bytes(content)
    (loaded_model, loaded_state), said = load_saying(tmp_path)
    assert_same(loaded_model, dict(model_state))
    assert_same(loaded_state, state)
    assert len(said) == 1 and "\n" not in said[0]
    assert str(tmp_path / LATEST) in said[0] and str(tmp_path / "epoch-0002") in said[0]


def test_latest_pointing_at_a_missing_checkpoint_falls_back(tmp_path: Path):
    model_state, state = save_epoch(tmp_path, 1)
    latest = json.loads((tmp_path / LATEST).read_text())
    latest["name"] = "epoch-0099"
    (tmp_path / LATEST).write_text(json.dumps(latest))
    (loaded_model, loaded_state), said = load_saying(tmp_path)
    assert_same(loaded_model, dict(model_state))
    assert_same(loaded_state, state)
    assert len(said) == 1 and "epoch-0099" in said[0] and "epoch-0001" in said[0]


def test_latest_digest_flipped_is_refused(tmp_path: Path):
    save_epoch(tmp_path, 1)
    latest = json.loads((tmp_path / LATEST).read_text())
    digest = latest["sha256"]["state.json"]
    latest["sha256"]["state.json"] = ("1" if digest[0] == "0" else "0") + digest[1:]
    (tmp_path / LATEST).write_text(json.dumps(latest))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    assert_one_line_error_naming(info, tmp_path / "epoch-0001" / "state.json")


@pytest.mark.parametrize("filename", [*FILES, MANIFEST])
@pytest.mark.parametrize("how", ["flip", "delete"])
def test_damaged_newest_checkpoint_falls_back_to_the_previous(
    tmp_path: Path, filename: str, how: str
):
    """The newest checkpoint damaged (a file, or its own digests with latest.json gone): the
    previous one is loaded, as it was saved, and the damage is named in one line."""
    model_state, state = save_epoch(tmp_path, 1)
    save_epoch(tmp_path, 2)
    path = tmp_path / "epoch-0002" / filename
    damage(path, how)
    if filename == MANIFEST:  # latest.json's digests would still prove epoch 2 intact
        (tmp_path / LATEST).unlink()
    (loaded_model, loaded_state), said = load_saying(tmp_path)
    assert_same(loaded_model, dict(model_state))
    assert_same(loaded_state, state)
    assert len(said) == 1 and "\n" not in said[0]
    named = tmp_path / LATEST if filename == MANIFEST else path
    assert str(named) in said[0] and str(tmp_path / "epoch-0001") in said[0]


def test_fallback_warns_by_default(tmp_path: Path):
    save_epoch(tmp_path, 1)
    save_epoch(tmp_path, 2)
    damage(tmp_path / "epoch-0002" / "model.safetensors", "flip")
    with pytest.warns(RuntimeWarning, match="epoch-0001"):
        assert load_checkpoint(tmp_path)[1]["epoch"] == 1


def test_no_fallback_to_a_checkpoint_newer_than_latest(tmp_path: Path):
    """A complete epoch-0003 that latest.json never pointed at (its save failed at the
    index) is not the previous checkpoint of a damaged epoch-0002: epoch-0001 is."""
    model_state, state = save_epoch(tmp_path, 1, keep=3)
    save_epoch(tmp_path, 2, keep=3)
    index = (tmp_path / LATEST).read_bytes()
    save_epoch(tmp_path, 3, keep=3)
    (tmp_path / LATEST).write_bytes(index)  # points at epoch-0002 again
    damage(tmp_path / "epoch-0002" / "state.json", "flip")
    (loaded_model, loaded_state), said = load_saying(tmp_path)
    assert_same(loaded_model, dict(model_state))
    assert_same(loaded_state, state)
    assert len(said) == 1 and str(tmp_path / "epoch-0001") in said[0]


def test_nothing_intact_is_refused_naming_the_newest_damage(tmp_path: Path):
    save_epoch(tmp_path, 1)
    save_epoch(tmp_path, 2)
    damage(tmp_path / "epoch-0001" / "state.json", "flip")
    damage(tmp_path / "epoch-0002" / "model.safetensors", "truncate")
    said: list[str] = []
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path, said.append)
    assert_one_line_error_naming(info, tmp_path / "epoch-0002" / "model.safetensors")
    assert "2 tried" in str(info.value) and said == []


def test_has_checkpoint(tmp_path: Path):
    """What a run folder's checkpoints/ holds decides whether --resume can go on."""
    assert not checkpoint.has_checkpoint(tmp_path / "absent")
    assert not checkpoint.has_checkpoint(tmp_path)  # empty: nothing written yet
    (tmp_path / ".epoch-0001.x.tmp").mkdir()  # what a killed save leaves
    assert not checkpoint.has_checkpoint(tmp_path)
    (tmp_path / "epoch-0001").mkdir()  # renamed into place, latest.json not yet written
    assert checkpoint.has_checkpoint(tmp_path)
    (tmp_path / "epoch-0001").rmdir()
    (tmp_path / LATEST).write_text("{")
    assert checkpoint.has_checkpoint(tmp_path)


# --- Failures while saving -----------------------------------------------------------------


def failing_write_atomic(monkeypatch: pytest.MonkeyPatch, fail_on_call: int) -> list[Path]:
    """Replace `write_atomic` by one that runs out of space on call number `fail_on_call`."""
    calls: list[Path] = []
    real = checkpoint.write_atomic

    def write(path: Path, data: bytes) -> None:
        calls.append(Path(path))
        if len(calls) == fail_on_call:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_atomic", write)
    return calls


@pytest.mark.parametrize("fail_on_call", [1, 2, 3, 4])
def test_failed_save_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on_call: int
):
    model_state, state = save_epoch(tmp_path, 1)
    before = snapshot(tmp_path)
    calls = failing_write_atomic(monkeypatch, fail_on_call)
    with pytest.raises(OSError) as info:
        save_epoch(tmp_path, 2)
    assert info.value.errno == errno.ENOSPC
    assert len(calls) == fail_on_call
    # Nothing new is left, hidden staging directories included, and nothing old changed.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", LATEST]
    assert snapshot(tmp_path) == before
    loaded_model, loaded_state = load_checkpoint(tmp_path)
    assert_same(loaded_model, dict(model_state))
    assert_same(loaded_state, state)
    # The next save, once the disk has room, goes through.
    monkeypatch.setattr(checkpoint, "write_atomic", write_atomic)
    save_epoch(tmp_path, 3)
    assert load_checkpoint(tmp_path)[1]["epoch"] == 3


def test_failed_index_write_keeps_pointing_at_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The fifth write is latest.json: the new directory is complete but not yet current."""
    model_state, state = save_epoch(tmp_path, 1)
    before = snapshot(tmp_path)
    calls = failing_write_atomic(monkeypatch, 5)
    with pytest.raises(OSError):
        save_epoch(tmp_path, 2)
    assert calls[-1] == tmp_path / LATEST
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("epoch-0002")} == before
    loaded_model, loaded_state = load_checkpoint(tmp_path)
    assert_same(loaded_model, dict(model_state))
    assert_same(loaded_state, state)


# --- load_weights --------------------------------------------------------------------------


class MakesMarker:
    """A pickle that creates a directory when it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_marker_pickle_is_live(tmp_path: Path):
    """The control: unpickling this payload really does create the marker."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(MakesMarker(marker)))
    assert marker.is_dir()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_load_weights_refuses_pickles_without_running_them(tmp_path: Path, writer: str):
    """Even with its true digest recorded, a pickle is refused, never unpickled."""
    marker = tmp_path / "marker"
    path = tmp_path / "weights.pt"
    payload = {"weight": torch.zeros(2), "evil": MakesMarker(marker)}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError) as info:
        load_weights(path, digest(path), tmp_path / "summary.json")
    assert_one_line_error_naming(info, path)
    assert not marker.exists()


def test_load_weights_reads_safetensors_and_refuses_missing_files(tmp_path: Path):
    weights = make_model().state_dict()
    path = tmp_path / "model.safetensors"
    save_file(dict(weights), path)
    record = tmp_path / "summary.json"
    assert_same(load_weights(path, digest(path), record), dict(weights))
    with pytest.raises(CheckpointError) as info:
        load_weights(tmp_path / "absent.safetensors", digest(path), record)
    assert_one_line_error_naming(info, tmp_path / "absent.safetensors")


@pytest.mark.parametrize("how", ["truncate", "flip", "empty"])
def test_load_weights_refuses_weights_that_changed(tmp_path: Path, how: str):
    """Bytes that are not those recorded are refused before parsing: a flipped byte inside a
    tensor is still valid safetensors, and would load as a different model."""
    weights = make_model().state_dict()
    path = tmp_path / "model.safetensors"
    save_file(dict(weights), path)
    recorded = digest(path)
    damage(path, how)
    with pytest.raises(CheckpointError) as info:
        load_weights(path, recorded, tmp_path / "summary.json")
    assert_one_line_error_naming(info, path)
    assert str(tmp_path / "summary.json") in str(info.value)
