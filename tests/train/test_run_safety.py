"""Run folders under hostile conditions: a resume with other settings, a damaged checkpoint,
weights or summary changed after training, a full disk, NaN weights, and folders that hold
something else than a run. Each ends in one line (or a one-line warning) and leaves the
user's files as they were."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save

from deepnotes import io
from deepnotes.cli import main
from deepnotes.errors import CheckpointError, TrainingDivergedError, UserError, WriteError
from deepnotes.train import checkpoint, run, trainer
from deepnotes.train.config import TrainConfig
from deepnotes.train.run import train
from deepnotes.train.runs import evaluate_run, load_trained


def config(**overrides) -> TrainConfig:
    """A run of a second or so: a small MLP on the 8×8 digits."""
    settings = dict(
        model="mlp",
        data="digits",
        epochs=2,
        batch_size=128,
        lr=0.05,
        optimizer="sgd",
        scheduler="none",
        progress=False,
        model_args={"hidden": [16]},
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` with its bytes and modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def assert_one_line(error: BaseException, *names: object) -> None:
    message = str(error)
    assert "\n" not in message and isinstance(error, UserError)
    for name in names:
        assert str(name) in message, (name, message)


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `deepnotes ARGV`, in this process (argparse refuses a
    flag by exiting)."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, err: str) -> None:
    """A non-zero exit with exactly one line on stderr and no traceback."""
    assert code != 0
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err


# --- resume with other settings ------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"model": "lenet5_relu", "model_args": {}}, ["model", "model_args"]),
        ({"optimizer": "adam", "max_steps": 4}, ["optimizer"]),
        ({"lr": 0.1, "batch_size": 64, "seed": 3}, ["lr", "batch_size", "seed"]),
        ({"data": "moons"}, ["data"]),
        ({"scheduler": "cosine"}, ["scheduler"]),
        ({"momentum": 0.5, "weight_decay": 0.1}, ["momentum", "weight_decay"]),
        ({"amp": "bf16"}, ["amp"]),
    ],
)
def test_resume_with_other_settings_is_refused_naming_each(tmp_path, changes, named):
    """Before the fix, another model was a traceback and another optimiser ran the old one
    while config.json and summary.json recorded the new one."""
    train(config(), tmp_path / "run")
    before = snapshot(tmp_path / "run")
    with pytest.raises(UserError) as info:
        train(config(**changes), tmp_path / "run", resume=True)
    assert_one_line(info.value, *named, tmp_path / "run" / "config.json")
    assert snapshot(tmp_path / "run") == before


def test_resume_with_a_schedule_refuses_another_length(tmp_path):
    """A cosine schedule is laid out over the whole run: another length would bend it."""
    train(config(scheduler="cosine"), tmp_path / "run")
    with pytest.raises(UserError) as info:
        train(config(scheduler="cosine", epochs=4), tmp_path / "run", resume=True)
    assert_one_line(info.value, "epochs 2 → 4")
    with pytest.raises(UserError) as info:
        train(config(scheduler="cosine", max_steps=40), tmp_path / "run", resume=True)
    assert_one_line(info.value, "max_steps null → 40")


def test_resume_without_a_schedule_may_run_longer_and_records_it(tmp_path):
    """More epochs, no progress bars, another eval batch: the same weights as a run that was
    asked for 4 epochs from the start, and config.json and summary.json say 4."""
    straight = train(config(epochs=4), tmp_path / "straight")
    train(config(epochs=2), tmp_path / "run")
    longer = config(epochs=4, eval_batch_size=100, num_workers=0, progress=True)
    resumed = train(longer, tmp_path / "run", resume=True)
    assert_same_weights(weights(tmp_path / "run"), weights(tmp_path / "straight"))
    assert resumed["timing"]["epochs"] == straight["timing"]["epochs"] == 4
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["config"] == longer.to_dict()
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == longer.to_dict()
    # shorter than what is done: refused, nothing changed
    before = snapshot(tmp_path / "run")
    with pytest.raises(UserError) as info:
        train(config(epochs=4, max_steps=20), tmp_path / "run", resume=True)
    assert_one_line(info.value, f"{resumed['timing']['steps']} already")
    assert snapshot(tmp_path / "run") == before


def test_resume_of_a_folder_without_a_config_is_refused(tmp_path):
    train(config(), tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text("{")
    with pytest.raises(UserError) as info:
        train(config(), tmp_path / "run", resume=True)
    assert_one_line(info.value, tmp_path / "run" / "config.json")


def test_resume_as_another_model_through_the_command_line(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["--data", "digits", "--max-steps", "3", "--no-progress", "--out", out]
    assert cli(capsys, "train", "mlp", *args)[0] == 0
    code, _, err = cli(capsys, "train", "lenet5_relu", *args, "--resume")
    assert_refused(code, err)
    assert "model" in err


# --- a damaged newest checkpoint -----------------------------------------------------------


def test_resume_falls_back_past_a_corrupted_newest_checkpoint(tmp_path, capsys):
    """The last checkpoint flipped: the run resumes from the one before, says so in one
    line, and ends with the weights it had (the resume is exact)."""
    train(config(epochs=3), tmp_path / "run")
    finished = weights(tmp_path / "run")
    newest = tmp_path / "run" / "checkpoints" / "epoch-0003" / "model.safetensors"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    capsys.readouterr()
    train(config(epochs=3), tmp_path / "run", resume=True)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(newest) in err and "epoch-0002" in err
    assert_same_weights(weights(tmp_path / "run"), finished)


def test_resume_with_no_intact_checkpoint_is_refused(tmp_path):
    train(config(), tmp_path / "run")
    for name in ("epoch-0001", "epoch-0002"):
        (tmp_path / "run" / "checkpoints" / name / "state.json").write_text("{}")
    with pytest.raises(CheckpointError) as info:
        train(config(), tmp_path / "run", resume=True)
    assert_one_line(info.value, "epoch-0002", "no intact checkpoint")


# --- weights and summaries changed after training ------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    train(config(), out)
    return out


def copy_run(run_dir: Path, to: Path) -> Path:
    to.mkdir()
    for name in ("summary.json", "model.safetensors"):
        (to / name).write_bytes((run_dir / name).read_bytes())
    return to


def test_summary_records_the_weights_digest(trained_run):
    summary = json.loads((trained_run / "summary.json").read_text())
    data = (trained_run / "model.safetensors").read_bytes()
    assert summary["weights_sha256"] == hashlib.sha256(data).hexdigest()
    assert evaluate_run(trained_run, "digits")["metrics"]["test_acc"] == pytest.approx(
        summary["metrics"]["test_acc"]
    )


@pytest.mark.parametrize("command", ["eval", "sample"])
def test_changed_weights_are_refused_on_every_load(tmp_path, trained_run, capsys, command):
    """50 bytes flipped in the weights (still valid safetensors): before the fix, `eval
    --json` printed `"test_loss": Infinity` and exited 0."""
    run_dir = copy_run(trained_run, tmp_path / "run")
    path = run_dir / "model.safetensors"
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 50, len(data)):  # inside the last tensor's values
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    load_file(path)  # the damage is not one the format itself would notice
    with pytest.raises(CheckpointError) as info:
        load_trained(run_dir)
    assert_one_line(info.value, path, run_dir / "summary.json")
    argv = ["eval", str(run_dir), "--data", "digits", "--json"] if command == "eval" else []
    argv = argv or ["sample", str(run_dir), "--out", str(tmp_path / "s.png")]
    code, out, err = cli(capsys, *argv)
    assert_refused(code, err)
    assert out == "" and not (tmp_path / "s.png").exists()


def without(table: dict, key: str) -> dict:
    return {k: v for k, v in table.items() if k != key}


# One edit each that a user or a bad disk could make to summary.json: (summary, its config)
# → the new summary (a string is written as it is).
EDITS = {
    "not-json": lambda s, c: "{",
    "list": lambda s, c: [],
    "no-config": lambda s, c: without(s, "config"),
    "digest-int": lambda s, c: {**s, "weights_sha256": 5},
    "kwargs-str": lambda s, c: {**s, "model_kwargs": "x"},
    "input-size-str": lambda s, c: {**s, "input_size": ["a", 8]},
    "classes-str": lambda s, c: {**s, "num_classes": "10"},
    "classes-bool": lambda s, c: {**s, "num_classes": True},
    "unknown-model": lambda s, c: {**s, "config": {**c, "model": "no_such_model"}},
    "model-int": lambda s, c: {**s, "config": {**c, "model": 5}},
    "model-list": lambda s, c: {**s, "config": {**c, "model": ["mlp"]}},
    "unknown-setting": lambda s, c: {**s, "config": {**c, "lrr": 1}},
    "no-model": lambda s, c: {**s, "config": without(c, "model")},
    "eval-batch-0": lambda s, c: {**s, "config": {**c, "eval_batch_size": 0}},
    "device-int": lambda s, c: {**s, "config": {**c, "device": 3}},
    "other-kwargs": lambda s, c: {**s, "model_kwargs": {**s["model_kwargs"], "hidden": [64]}},
    "bad-kwarg": lambda s, c: {**s, "model_kwargs": {**s["model_kwargs"], "nope": 1}},
    "other-classes": lambda s, c: {**s, "num_classes": 3},
}


@pytest.mark.parametrize("change", EDITS)
def test_edited_summary_is_one_line_at_eval(tmp_path, trained_run, capsys, change):
    run_dir = copy_run(trained_run, tmp_path / "run")
    summary = json.loads((run_dir / "summary.json").read_text())
    edited = EDITS[change](summary, summary["config"])
    text = edited if isinstance(edited, str) else json.dumps(edited)
    (run_dir / "summary.json").write_text(text)
    code, out, err = cli(capsys, "eval", str(run_dir), "--data", "digits", "--json")
    assert_refused(code, err)
    assert out == ""


def test_eval_json_never_prints_a_non_finite_number(tmp_path, trained_run, capsys):
    """NaN weights whose digest is recorded (the check of the bytes passes): the evaluation
    gives a NaN loss, and `eval --json` refuses rather than print `NaN`, which is not JSON."""
    run_dir = copy_run(trained_run, tmp_path / "run")
    nan = {k: torch.full_like(v, math.nan) for k, v in weights(run_dir).items()}
    data = save(nan)
    (run_dir / "model.safetensors").write_bytes(data)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (run_dir / "summary.json").write_text(json.dumps(summary))
    code, out, err = cli(capsys, "eval", str(run_dir), "--data", "digits", "--json")
    assert_refused(code, err)
    assert "test_loss=nan" in err and out == ""


# --- a full disk ---------------------------------------------------------------------------


def fill_disk_at(monkeypatch: pytest.MonkeyPatch, write: int | None) -> list[Path]:
    """Make the `write`-th atomic write of the run (config, metrics, checkpoint files,
    weights, summary) fail with ENOSPC, as a full disk does; None counts the writes only."""
    calls: list[Path] = []
    real = io.write_atomic

    def write_atomic(path: os.PathLike, data: bytes) -> None:
        calls.append(Path(path))
        if len(calls) == write:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)

    for module in (io, run, trainer, checkpoint):
        monkeypatch.setattr(module, "write_atomic", write_atomic)
    return calls


@pytest.fixture(scope="module")
def writes_of_a_run(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The files a 2-epoch run writes, in order, relative to its folder."""
    out = tmp_path_factory.mktemp("counted") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = fill_disk_at(monkeypatch, None)
        train(config(), out)
    return [path.relative_to(out) for path in calls]


# config.json; each epoch: metrics.csv, the checkpoint's files, its sha256.json, latest.json;
# then model.safetensors and summary.json
WRITES = 1 + 2 * (1 + len(checkpoint.FILES) + 2) + 2


def test_every_write_of_a_run_is_counted(writes_of_a_run):
    names = [p.name for p in writes_of_a_run]
    assert names[0] == "config.json" and names[-2:] == ["model.safetensors", "summary.json"]
    assert names.count("latest.json") == 2 and names.count("metrics.csv") == 2
    assert len(names) == WRITES


@pytest.mark.parametrize("write", range(1, WRITES + 1))
def test_full_disk_ends_in_one_line_and_leaves_a_folder_that_goes_on(
    tmp_path, monkeypatch, writes_of_a_run, write
):
    """The disk fills at each write in turn: one line that names the file and says how to go
    on, then, with room again, that way works: --resume when a checkpoint was written
    (ending with the weights of a run that never stopped), else the same command.
    Before the fix: a 30-line traceback, and an empty checkpoints/ that neither a resume nor
    a fresh run accepted."""
    reference = train(config(), tmp_path / "reference")
    out = tmp_path / "run"
    fill_disk_at(monkeypatch, write)
    with pytest.raises(WriteError) as info:
        train(config(), out)
    monkeypatch.undo()
    resumable = checkpoint.has_checkpoint(out / "checkpoints")
    assert_one_line(info.value, "no space left on device while writing", "free space")
    failed = writes_of_a_run[write - 1]  # a checkpoint's file is named by its checkpoint
    assert str(out / (failed.parts[0] if failed.parts[0] == "checkpoints" else failed)) in str(
        info.value
    )
    assert ("--resume" in str(info.value)) == resumable
    if resumable:
        with pytest.raises(UserError, match="already holds a run"):
            train(config(), out)
        summary = train(config(), out, resume=True)
    else:
        with pytest.raises(UserError, match="nothing to resume"):
            train(config(), out, resume=True)
        summary = train(config(), out)
    assert summary["metrics"] == reference["metrics"]
    assert_same_weights(weights(out), weights(tmp_path / "reference"))


# --- NaN weights ---------------------------------------------------------------------------


def test_nan_weights_are_not_saved_as_a_success(tmp_path):
    """A NaN momentum turns the weights to NaN in the second step, the last of the run: no
    loss computed after it shows it. Before the fix the run exited 0 with val_loss=nan."""
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError) as info:
        train(config(momentum=math.nan, max_steps=2), out)
    assert_one_line(info.value, "weight", "val_loss is nan")
    assert info.value.exit_code == 1
    assert not (out / "summary.json").exists() and not (out / "model.safetensors").exists()
    assert not checkpoint.has_checkpoint(out / "checkpoints")  # nothing NaN was kept


def test_weights_that_turn_nan_later_keep_the_last_good_checkpoint(tmp_path, monkeypatch):
    """NaN planted in the weights in the last step of epoch 2: epoch 1's checkpoint stays the
    newest, with finite weights, and metrics.csv holds epoch 1 alone."""
    real = trainer.Trainer.update

    def poisoned(self, loss, name="model"):
        real(self, loss, name)
        if self.state.step + 1 == 2 * self.steps_per_epoch:
            with torch.no_grad():
                next(self.model.parameters())[0, 0] = math.inf

    monkeypatch.setattr(trainer.Trainer, "update", poisoned)
    with pytest.raises(TrainingDivergedError) as info:
        train(config(epochs=3, model_args={"hidden": [16], "dropout": 0.0}), tmp_path / "run")
    assert_one_line(info.value, "epoch 2", "1 of 4 weight tensors")
    model_state, state = checkpoint.load_checkpoint(tmp_path / "run" / "checkpoints")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in model_state.values())
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 2


# --- where a run may go --------------------------------------------------------------------


@pytest.mark.parametrize("seeds", [1, 2])
def test_resume_where_there_is_no_run_is_refused(tmp_path, capsys, seeds):
    """`train --resume --out NEW`: before the fix, two seeds silently started a new run."""
    out = tmp_path / "new"
    with pytest.raises(UserError) as info:
        train(config(seeds=seeds), out, resume=True)
    assert_one_line(info.value, "nothing to resume", out)
    assert not out.exists()
    code, _, err = cli(capsys, "train", "mlp", "--data", "digits", "--out", str(out), "--resume")
    assert_refused(code, err)
    assert not out.exists()


@pytest.mark.parametrize(
    "files",
    [
        {"config.json": '{"lr": 0.1}', "metrics.csv": "epoch,loss\n1,0.5\n"},
        {"config.json": '{"model": "mine"}'},
        {"notes.txt": "my notes"},
        {"metrics.csv": "a,b\n"},
        {"summary.json": "{}"},
        {"checkpoints/readme.txt": "mine"},
    ],
    ids=["config-and-metrics", "config", "notes", "metrics", "summary", "checkpoints-folder"],
)
@pytest.mark.parametrize("seeds", [1, 2])
def test_a_folder_of_the_users_own_files_is_refused_untouched(tmp_path, capsys, files, seeds):
    """Before the fix, a fresh run overwrote the user's config.json and metrics.csv."""
    out = tmp_path / "mine"
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = snapshot(out), sorted(out.rglob("*"))
    with pytest.raises(UserError) as info:
        train(config(seeds=seeds), out)
    assert_one_line(info.value, out)
    assert (snapshot(out), sorted(out.rglob("*"))) == before
    code, _, err = cli(capsys, "train", "mlp", "--data", "digits", "--out", str(out))
    assert_refused(code, err)
    assert (snapshot(out), sorted(out.rglob("*"))) == before


def test_an_empty_folder_or_a_run_stopped_before_its_first_checkpoint_is_used(tmp_path):
    (tmp_path / "empty").mkdir()
    train(config(epochs=1), tmp_path / "empty")
    stopped = tmp_path / "stopped"  # Ctrl-C in epoch 1: config.json, an empty checkpoints/
    (stopped / "checkpoints").mkdir(parents=True)
    (stopped / "config.json").write_text(json.dumps(config().to_dict()))
    (stopped / ".metrics.csv.abc123.tmp").write_text("half")
    train(config(epochs=1), stopped)
    assert (stopped / "summary.json").exists()


def test_a_file_as_the_run_folder_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("mine")
    for resume in (False, True):
        with pytest.raises(UserError) as info:
            train(config(), path, resume=resume)
        assert_one_line(info.value, path, "is a file")
    assert path.read_text() == "mine"


def test_a_run_folder_name_longer_than_the_file_system_allows_is_refused(tmp_path, capsys):
    out = tmp_path / ("x" * 300)  # a name of 300 bytes; file systems allow 255
    for resume in (False, True):
        with pytest.raises(UserError) as info:
            train(config(), out, resume=resume)
        assert_one_line(info.value, out, "File name too long")
    code, _, err = cli(capsys, "train", "mlp", "--data", "digits", "--out", str(out))
    assert_refused(code, err)
    assert list(tmp_path.iterdir()) == []


def test_a_run_older_than_the_digests_loads_with_a_warning(tmp_path, trained_run, capsys):
    """A summary.json without `weights_sha256` (written before runs recorded it) still
    evaluates, to the same metrics, and says in one line that the weights went unchecked."""
    run_dir = copy_run(trained_run, tmp_path / "run")
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps(without(summary, "weights_sha256")))
    code, out, err = cli(capsys, "eval", str(run_dir), "--data", "digits", "--json")
    assert code == 0
    assert err.strip().splitlines() == [err.strip()] and "loaded unchecked" in err
    assert json.loads(out)["metrics"]["test_acc"] == summary["metrics"]["test_acc"]


def test_resume_compares_numbers_by_value(tmp_path):
    """A run whose TOML said `weight_decay = 0` (an int in config.json) resumes with the
    flag's 0.0: the same setting, not another."""
    config = TrainConfig(model="mlp", data="digits", weight_decay=0.0, progress=False)
    stored = {**config.to_dict(), "weight_decay": 0, "lr": 1}
    (tmp_path / "config.json").write_text(json.dumps(stored))
    run.check_resume(TrainConfig(**{**config.to_dict(), "lr": 1.0}), tmp_path)
    with pytest.raises(UserError, match=r"weight_decay 0 → 0\.5"):
        run.check_resume(
            TrainConfig(**{**config.to_dict(), "lr": 1.0, "weight_decay": 0.5}), tmp_path
        )


def test_a_refused_run_removes_only_the_empty_folders_it_made(tmp_path, capsys):
    """`--out a/b/c` refused after its folder was made: a, b and c go, since the run made
    them and they hold nothing; a folder that already existed, or holds a file, stays."""
    argv = ["train", "mlp", "--data", "digits", "--model-arg", "hidden=[-1]", "--no-progress"]
    code, _, err = cli(capsys, *argv, "--out", str(tmp_path / "a" / "b" / "c"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    code, _, _ = cli(capsys, *argv, "--out", str(tmp_path / "kept" / "new"))
    assert code == 2 and [p.name for p in tmp_path.iterdir()] == ["kept"]
    assert list((tmp_path / "kept").iterdir()) == []
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "mine.txt").write_text("a file of the user's")
    (tmp_path / "a" / "empty").mkdir()
    run.remove_empty_folders(tmp_path / "a")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "a",
        "a/b",
        "a/b/mine.txt",
        "kept",
    ]
