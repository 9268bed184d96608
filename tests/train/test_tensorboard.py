"""`deepnotes train --tensorboard`: event files that TensorBoard's own reader loads, with
the metrics of metrics.csv."""

from __future__ import annotations

import csv

import pytest

from deepnotes.cli import main


def test_the_event_files_load_in_tensorboards_reader(tmp_path, tensorboard_reader):
    run = tmp_path / "run"
    args = ["train", "mlp", "--data", "digits", "--epochs", "2", "--no-progress"]
    assert main([*args, "--tensorboard", "--out", str(run)]) == 0
    events = tensorboard_reader(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"epoch/train_loss", "epoch/val_loss", "epoch/val_acc", "step/train_loss"} <= tags
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    logged = events.Scalars("epoch/val_acc")
    assert [e.step for e in logged] == [1, 2]
    # TensorBoard keeps float32: equal to the CSV's float64 to float32's precision
    assert [e.value for e in logged] == pytest.approx([float(r["val_acc"]) for r in rows], rel=1e-6)
    assert len(events.Scalars("step/train_loss")) == int(rows[-1]["step"])
