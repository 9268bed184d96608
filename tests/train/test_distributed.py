"""Beyond one process: torchrun and DDP, the speed switches, and runs that meet faults.

Each test drives the real command line in a subprocess, as a user would, and
reads what the run wrote.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from deepnotes.cli import main
from deepnotes.train.checkpoint import LATEST

LENET = ("train", "lenet5_relu", "--data", "digits", "--no-progress")
WORKER = Path(__file__).with_name("ddp_worker.py")
TORCHRUN = (sys.executable, "-m", "torch.distributed.run")
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on two cores


def deepnotes(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepnotes", *args],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_two_processes_reach_the_accuracy_of_one(tmp_path):
    """`--devices 2` launches torchrun (gloo): one summary, all-reduced metrics, and within a
    point of the single-process run with the same global batch."""
    one, two = tmp_path / "one", tmp_path / "two"
    for out, extra in ((one, ()), (two, ("--devices", "2"))):
        result = deepnotes(*LENET, "--epochs", "10", "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr
    assert result.stdout.count("run written to") == 1  # rank 0 alone reports
    single, double = summary(one), summary(two)
    assert double["speed"]["processes"] == 2 and double["speed"]["backend"] == "gloo"
    assert double["speed"]["batch_per_process"] * 2 == single["speed"]["batch_per_process"]
    assert (two / "metrics.csv").read_text().count("\n") == 11  # one header, 10 epochs
    assert abs(double["metrics"]["test_acc"] - single["metrics"]["test_acc"]) <= 0.01
    assert double["metrics"]["test_acc"] >= 0.95


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_weights(out: Path, ranks: int) -> list[dict[str, torch.Tensor]]:
    """The final float64 weights each rank of a `ddp_worker.py` job wrote."""
    return [load_file(out / f"rank-{rank}.safetensors") for rank in range(ranks)]


def assert_trained_alike(ranks: list[dict], single: dict) -> None:
    """Every rank holds the same weights, bit for bit (DDP hands each the same averaged
    gradient), and they are one process's weights up to float64 round-off: the only
    difference is the order of a sum, (mean of 16 + mean of 16)/2 against a mean of 32;
    3e-16 is measured, so 1e-13 leaves room without hiding a changed batch (≈ 1e-2)."""
    for other in ranks[1:]:
        assert all(torch.equal(ranks[0][k], other[k]) for k in ranks[0])
    assert ranks[0][next(iter(ranks[0]))].dtype == torch.float64
    error = max((ranks[0][k] - single[k]).abs().max().item() for k in single)
    assert error < 1e-13, error


@pytest.fixture(scope="module")
def single_process_weights(tmp_path_factory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("single")
    subprocess.run([sys.executable, str(WORKER), str(out)], check=True, env=ONE_THREAD)
    return worker_weights(out, 1)[0]


def test_two_processes_take_the_steps_of_one(tmp_path, single_process_weights):
    """In float64 and without dropout, two processes on the same global batches end with
    the weights one process ends with, over two epochs and a last, smaller batch."""
    command = [*TORCHRUN, "--standalone", "--nproc_per_node", "2", str(WORKER), str(tmp_path)]
    subprocess.run(command, check=True, env=ONE_THREAD, capture_output=True, timeout=600)
    assert_trained_alike(worker_weights(tmp_path, 2), single_process_weights)


def test_two_launchers_meeting_over_loopback_train_like_one_process(
    tmp_path, single_process_weights
):
    """Multi-machine training on one machine: two torchrun launchers (`--nnodes 2`), one
    process each, meet at a c10d rendezvous on 127.0.0.1, as two machines would on a
    network, and train like one process with the same global batch."""
    endpoint = f"127.0.0.1:{free_port()}"
    rendezvous = ["--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d"]
    rendezvous += ["--rdzv_endpoint", endpoint, "--rdzv_id", "two-launchers"]
    launchers = [
        subprocess.Popen(
            [*TORCHRUN, *rendezvous, str(WORKER), str(tmp_path)],
            env=ONE_THREAD,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    for launcher in launchers:
        output, _ = launcher.communicate(timeout=600)
        assert launcher.returncode == 0, output.decode()[-3000:]
    assert_trained_alike(worker_weights(tmp_path, 2), single_process_weights)


def test_tasks_that_cannot_be_sharded_are_refused_before_launch(tmp_path):
    for args, expected in (
        (("train", "gcn", "--data", "karate", "--devices", "2"), "cannot train on several"),
        ((*LENET, "--devices", "2", "--batch-size", "33"), "divide evenly among 2"),
    ):
        result = deepnotes(*args, "--out", str(tmp_path / "never"))
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
        assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("flags", "recorded"),
    [
        (("--amp",), {"amp": "bfloat16"}),  # CPU: bfloat16, no scaler
        (("--amp", "fp16", "--channels-last"), {"amp": "float16", "channels_last": True}),
        (("--compile",), {"compile": True}),
    ],
)
def test_speed_switches_train_and_are_recorded(tmp_path, flags, recorded):
    out = tmp_path / "run"
    result = deepnotes(*LENET, "--max-steps", "60", "--out", str(out), *flags)
    assert result.returncode == 0, result.stderr
    run = summary(out)
    assert {k: run["speed"][k] for k in recorded} == recorded
    assert run["metrics"]["test_acc"] >= 0.5  # 60 steps learn (chance: 0.1)
    state = json.loads(next((out / "checkpoints").glob("epoch-*/state.json")).read_text())
    assert ("scalers" in state and bool(state["scalers"])) == (recorded.get("amp") == "float16")
    evaluated = deepnotes("eval", str(out), "--data", "digits", "--json")
    assert evaluated.returncode == 0, evaluated.stderr  # the saved weights are the plain model's


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_run_killed_in_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL gives no chance to clean up: the run continues from its last checkpoint and
    ends with exactly the metrics of a run that was never stopped."""
    args = (*LENET, "--epochs", "4", "--batch-size", "8")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert deepnotes(*args, "--out", str(whole)).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "deepnotes", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = killed / "checkpoints" / LATEST
    deadline = time.monotonic() + 120
    while not latest.exists() and time.monotonic() < deadline:  # epoch 1 is saved ...
        time.sleep(0.01)
    with open(killed / "metrics.csv") as f:
        epoch_seconds = float(next(csv.DictReader(f))["time_s"])
    time.sleep(epoch_seconds / 2)  # ... and epoch 2 is half done
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert json.loads(latest.read_text())["name"] == "epoch-0001"  # killed inside epoch 2
    assert not (killed / "summary.json").exists()
    resumed = deepnotes(*args, "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert summary(killed)["metrics"] == summary(whole)["metrics"]


def test_a_corrupted_checkpoint_falls_back_to_the_previous_one(tmp_path):
    """The newest checkpoint truncated: --resume says so in one line, goes on from the one
    before and ends with the weights the run had; with both damaged it refuses in one line
    and leaves them as they were."""
    out = tmp_path / "run"
    assert deepnotes(*LENET, "--epochs", "2", "--out", str(out)).returncode == 0
    finished = load_file(out / "model.safetensors")
    checkpoints = out / "checkpoints"
    newest = checkpoints / json.loads((checkpoints / LATEST).read_text())["name"]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    result = deepnotes(*LENET, "--epochs", "2", "--out", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert str(weights) in result.stderr and "epoch-0001" in result.stderr
    resumed = load_file(out / "model.safetensors")
    assert all(torch.equal(resumed[k], finished[k]) for k in finished)
    for name in ("epoch-0001", "epoch-0002"):
        (checkpoints / name / "state.json").write_text("{}")
    kept = {p: p.read_bytes() for p in checkpoints.rglob("*") if p.is_file()}
    result = deepnotes(*LENET, "--epochs", "2", "--out", str(out), "--resume")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "no intact checkpoint" in result.stderr
    assert {p: p.read_bytes() for p in checkpoints.rglob("*") if p.is_file()} == kept


FLAG_VALUES = {
    "--epochs": st.sampled_from(["0", "-3", "x", "1.5", ""]),
    "--batch-size": st.sampled_from(["0", "-1", "many"]),
    "--lr": st.sampled_from(["0", "-1", "fast", "nan"]),
    "--devices": st.sampled_from(["0", "-2", "two"]),
    "--amp": st.sampled_from(["fp8", "yes", "16"]),
    "--num-workers": st.sampled_from(["-1", "x"]),
    "--model-arg": st.sampled_from(["=1", "noequals", "widht=3"]),
    "--image-size": st.sampled_from(["0", "-28", "big"]),
    "--data": st.sampled_from(["digitz", "", "../etc"]),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bad=st.lists(st.sampled_from(sorted(FLAG_VALUES)), min_size=1, max_size=3, unique=True),
    data=st.data(),
)
def test_bad_training_arguments_never_traceback(capsys, tmp_path, bad, data):
    """At least one bad value among the flags: a one-line error (exit 2), never a traceback,
    and nothing trained or written."""
    args = ["train", "lenet5_relu", "--data", "digits", "--max-steps", "1"]
    for flag in bad:
        args += [flag, data.draw(FLAG_VALUES[flag])]
    out = tmp_path / f"run-{abs(hash(tuple(args)))}"
    try:
        code = main([*args, "--out", str(out), "--no-progress"])
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, args
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
    assert not (out / "summary.json").exists()
