"""The command line: answers, run folders, and one-line errors for every user mistake."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepnotes.cli import build_parser, main
from deepnotes.cli.training import RUN_FLAGS
from deepnotes.train.config import TrainConfig


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real console entry point in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "deepnotes", *args], capture_output=True, text=True, timeout=300
    )


def conv_json(capsys, *args: str) -> dict:
    assert main(["conv", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_conv_worked_examples(capsys):
    assert conv_json(capsys, "--input", "5", "--kernel", "4", "--padding", "2")["output"] == 6
    answer = conv_json(capsys, "--input", "5", "--kernel", "3", "--padding", "1", "--stride", "2")
    assert answer["output"] == 3
    transposed = conv_json(capsys, "--input", "2", "--kernel", "3", "--transposed")
    assert transposed["output"] == 4
    assert transposed["recipe"]["padding_each_side"] == 2
    assert conv_json(capsys, "--input", "32,16", "--kernel", "3", "--stride", "2")["output"] == [
        15,
        7,
    ]


def test_conv_params_and_macs(capsys):
    answer = conv_json(
        capsys,
        "--input",
        "8,8",
        "--kernel",
        "3",
        "--padding",
        "1",
        "--in-channels",
        "4",
        "--out-channels",
        "6",
        "--groups",
        "2",
    )
    assert answer["params"] == 4 * 6 * 9 // 2 + 6
    assert answer["macs"] == 4 * 6 * 9 // 2 * 8 * 8


def test_conv_text_output_shows_the_formula(capsys):
    assert main(["conv", "--input", "5", "--kernel", "4", "--padding", "2"]) == 0
    out = capsys.readouterr().out
    assert "conv output: 6" in out
    assert "⌊(5 + 2·2 − 1·(4 − 1) − 1)/1⌋ + 1 = 6" in out


def test_conv_receptive_field_stack(capsys):
    answer = conv_json(capsys, "--stack", "k3,k3", "--input", "9")
    assert answer["receptive_field"] == 5
    assert answer["output"] == 5


@pytest.mark.parametrize(
    "args",
    [
        ["conv", "--input", "2", "--kernel", "9"],  # kernel larger than the padded input
        ["conv", "--input", "5", "--kernel", "3", "--stride", "0"],  # non-positive stride
        ["conv", "--input", "2", "--kernel", "3", "--transposed", "--padding", "3"],  # o < 1
        ["conv", "--input", "5,x"],
        ["conv", "--stack", "q3"],
    ],
)
def test_impossible_conv_is_one_line_exit_2(capsys, args):
    try:
        code = main(args)
    except SystemExit as e:  # argparse refuses a malformed value itself
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "error" in err[0]


def test_user_errors_are_one_line_without_traceback():
    cases = {
        # close matches are suggested, whichever they are as the zoo grows
        ("train", "nosuchnet", "--data", "digits"): r"(did you mean|the closest are) \w+",
        ("train", "lenet5_rleu", "--data", "digits"): "lenet5_relu",
        ("train", "lenet5", "--data", "mnist", "--data-dir", "/nonexistent"): "/nonexistent",
        ("train", "lenet5", "--data", "digitz"): "digits",
        ("conv", "--input", "2", "--kernel", "9"): "kernel",
        ("eval", "/nonexistent/run", "--data", "digits"): "not a run directory",
        ("run", "no-such-experiment"): "unknown experiment",
        ("summary", "lenet5", "--input-size", "1,4,4"): "cannot take input",
        ("train", "lenet5", "--data", "digits", "--epochs", "0"): "positive",
        ("train", "lenet5", "--data", "moons"): "images",
    }
    for args, expected in cases.items():
        result = run_cli(*args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert re.search(expected, lines[0]), (args, lines[0])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(alphabet="-=,.0123456789abcdefkpsx ", max_size=8), max_size=6))
def test_random_conv_arguments_never_traceback(capsys, words):
    """Whatever a user types after `deepnotes conv`, the answer is a result or a one-line error."""
    try:
        code = main(["conv", *words])
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    err = capsys.readouterr().err
    assert code in (0, 2)
    if code:
        assert len(err.strip().splitlines()) == 1


def test_train_lenet_on_digits_reaches_97_percent(tmp_path):
    """The foundation issue's acceptance run, through the real command line."""
    out = tmp_path / "run"
    result = run_cli(
        "train",
        "lenet5_relu",
        "--data",
        "digits",
        "--epochs",
        "20",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["test_acc"] >= 0.97
    assert summary["input_size"] == [1, 28, 28]  # digits 8×8 resized to LeNet's input
    assert (out / "metrics.csv").read_text().count("\n") == 21
    evaluated = run_cli("eval", str(out), "--data", "digits", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["metrics"]["test_acc"] == pytest.approx(
        summary["metrics"]["test_acc"]
    )


def test_train_image_size_and_config_file(tmp_path, capsys):
    toml = tmp_path / "lenet.toml"
    toml.write_text('model = "lenet5_relu"\ndata = "digits"\nepochs = 1\nimage_size = 16\n')
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(toml),
                "--out",
                str(out),
                "--no-progress",
                "--model-arg",
                "activation=sigmoid",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input_size"] == [1, 16, 16]
    assert summary["model_kwargs"]["activation"] == "sigmoid"
    assert summary["config"]["batch_size"] == 32  # LeNet's own train_defaults


def test_models_summary_data_experiments_listings(capsys):
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["lenet5"]["params"] == 61_706
    assert main(["summary", "lenet5", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_params"] == sum(layer["params"] for layer in summary["layers"])
    assert main(["summary", "mlp", "--input-size", "2", "--num-classes", "3"]) == 0
    assert "total params 34,051" in capsys.readouterr().out  # 768 + 32,896 + 387
    assert main(["data", "--json"]) == 0
    data = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
    assert data["digits"]["available"] and data["shapes"]["available"]
    assert main(["experiments", "--json"]) == 0
    names = [e["name"] for e in json.loads(capsys.readouterr().out)]
    assert {"conv-arithmetic", "lenet-digits"} <= set(names)


def test_help_explains_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("tour", "run", "train", "eval", "models", "summary", "data", "conv"):
        assert command in result.stdout
    train_help = run_cli("train", "--help").stdout
    for flag in (
        "--epochs",
        "--max-steps",
        "--seeds",
        "--model-arg",
        "--config",
        "--resume",
        "--image-size",
        "--download",
        "--device",
    ):
        assert flag in train_help


def test_plot_activations_gallery(tmp_path, capsys):
    out = tmp_path / "gallery.png"
    assert main(["plot", "activations", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "activations", "--out", str(tmp_path / "missing" / "g.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def command_parser(name: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    return subparsers.choices[name]


def test_train_flags_are_the_config_fields():
    """Every `TrainConfig` field is a flag of `deepnotes train`, and every train flag sets
    a field, but for the three that say where the run goes (`RUN_FLAGS`)."""
    dests = {a.dest for a in command_parser("train")._actions if a.dest != "help"}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert dests - set(RUN_FLAGS) == fields
    assert set(RUN_FLAGS) <= dests


def test_a_train_flag_reaches_its_field(tmp_path, monkeypatch):
    """Each typed flag lands in the config the run uses (the parser is built from the fields,
    so a wrong type or name would show here)."""
    seen = {}

    def capture(config, out, resume=False):
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr("deepnotes.train.run.train", capture)
    argv = ["train", "mlp", "--data", "digits", "--epochs", "3", "--lr", "0.5", "--no-progress"]
    argv += ["--amp", "--model-arg", "hidden=[8]", "--grad-clip", "2", "--eval-batch-size", "7"]
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(tmp_path / "run")])
    config = seen["config"]
    assert (config.epochs, config.lr, config.progress, config.amp) == (3, 0.5, False, "auto")
    assert (config.model_args, config.grad_clip, config.eval_batch_size) == (
        {"hidden": [8]},
        2.0,
        7,
    )
    assert config.batch_size == 64 and config.optimizer == "adam"  # untouched: the defaults


def test_the_parser_is_short_and_each_command_sits_with_its_handler():
    assert len(inspect.getsource(build_parser).splitlines()) <= 60
    for name, parser in {n: command_parser(n) for n in ("train", "eval", "conv", "tour")}.items():
        handler = parser.get_default("func")
        assert handler.__name__ == f"cmd_{name}"
