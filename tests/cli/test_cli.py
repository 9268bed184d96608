"""The command line: answers, run folders, and one-line errors for every user mistake."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import random
import re
import subprocess
import sys
import warnings

import pytest
import torch

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


def random_conv_flags(rng: random.Random) -> list[str]:
    """A `deepnotes conv` command line of real flags, 1 to 3 dimensions, each value now and
    then at an edge (zero or negative) and often too large for the input or not dividing.
    Values are attached with `=`, since argparse reads `--input -1,3` as a missing value."""

    def draw(low: int, high: int) -> int:
        return rng.choice([-1, 0]) if rng.random() < 0.05 else rng.randint(low, high)

    dims = rng.randint(1, 3)
    kind = rng.choice(["conv", "conv", "transposed", "pool"])
    values = {
        "input": ",".join(str(draw(1, 12)) for _ in range(dims)),
        "kernel": draw(1, 5),
        "dilation": draw(1, 3),
        "padding": draw(0, 3),
    }
    if kind != "pool" or rng.random() < 0.5:
        values["stride"] = draw(1, 3)
    switches = []
    if kind == "transposed":
        switches.append("--transposed")
        values["output-padding"] = rng.randint(0, 2)
    elif kind == "pool":
        switches += ["--pool", *(["--ceil-mode"] if rng.random() < 0.5 else [])]
    else:
        values |= {"in-channels": draw(1, 6), "out-channels": draw(1, 6), "groups": draw(1, 3)}
        switches += ["--no-bias"] if rng.random() < 0.3 else []
    return [f"--{name}={value}" for name, value in values.items()] + switches


def torch_conv_answer(flags: list[str]) -> dict | None:
    """The same layer built by torch and run on zeros: {output, params}, or None where torch
    refuses it (at construction or in the forward pass)."""
    args = dict(flag.split("=") for flag in flags if "=" in flag)  # switches checked below
    size = [int(v) for v in args["--input"].split(",")]
    dims = len(size)
    k, d, p = int(args["--kernel"]), int(args["--dilation"]), int(args["--padding"])
    try:
        if "--pool" in flags:
            s = int(args.get("--stride", k))
            layer = getattr(torch.nn, f"MaxPool{dims}d")(
                k, s, p, d, ceil_mode="--ceil-mode" in flags
            )
            c_in = 1
        elif "--transposed" in flags:
            s = int(args["--stride"])
            layer = getattr(torch.nn, f"ConvTranspose{dims}d")(
                1, 1, k, s, p, output_padding=int(args["--output-padding"]), dilation=d
            )
            c_in = 1
        else:
            c_in, c_out = int(args["--in-channels"]), int(args["--out-channels"])
            if min(c_in, c_out) < 1:
                return None  # torch builds a layer of no channels; a conv answer needs one
            layer = getattr(torch.nn, f"Conv{dims}d")(
                c_in,
                c_out,
                k,
                int(args["--stride"]),
                p,
                d,
                groups=int(args["--groups"]),
                bias="--no-bias" not in flags,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = layer(torch.zeros(1, c_in, *size)).shape[2:]
    except (RuntimeError, ValueError):
        return None
    if min(out) < 1:
        return None  # torch returns an empty tensor where the notes' formula says "too small"
    output = out[0] if dims == 1 else list(out)
    return {"output": output, "params": sum(t.numel() for t in layer.parameters())}


def test_random_conv_command_lines_agree_with_torch(capsys):
    """300 generated `conv` command lines: where torch builds the layer, the answer is its
    output size and parameter count; where torch refuses, a one-line error with exit 2.
    Every line passes argparse, so each reaches the arithmetic; both outcomes must be
    common, or the test proves little."""
    rng = random.Random(0)
    answered = 0
    for _ in range(300):
        flags = random_conv_flags(rng)
        expected = torch_conv_answer(flags)
        code = main(["conv", *flags, "--json"])
        out, err = capsys.readouterr()
        if expected is None:
            assert code == 2, (flags, out)
            assert len(err.strip().splitlines()) == 1, (flags, err)
            assert "argument" not in err, (flags, err)  # the arithmetic refused, not argparse
            continue
        assert code == 0, (flags, err)
        answer = json.loads(out)
        assert answer["output"] == expected["output"], flags
        if "--pool" not in flags:
            assert answer["params"] == expected["params"], flags
        if "--transposed" in flags:  # the notes' recipe ends at the same size (first dimension)
            first = answer["output"] if isinstance(answer["output"], int) else answer["output"][0]
            assert answer["recipe"]["output_size"] == first, flags
        answered += 1
    assert 75 <= answered <= 225  # torch builds 102 of the 300 drawn layers, refuses 198


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
    evaluated = run_cli("eval", str(out), "--json")  # the run's own data set and split
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["data"] == "digits"
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


def test_tour_only_runs_the_experiments_named_and_keeps_the_others(tmp_path, capsys):
    """`tour --only A,B` runs those two; a later `--only C` adds C to the book and keeps A
    and B (their results are in the folder)."""
    out = tmp_path / "book"
    assert main(["tour", "--only", "weight-sharing,conv-arithmetic", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {e["name"] for e in summary["experiments"]} == {"conv-arithmetic", "weight-sharing"}
    assert main(["tour", "--only", "transposed-conv", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    names = {"conv-arithmetic", "weight-sharing", "transposed-conv"}
    assert {e["name"] for e in summary["experiments"]} == names
    with pytest.raises(SystemExit) as exit_:  # argparse refuses the value of --only
        main(["tour", "--only", "conv-arithmetik"])
    assert exit_.value.code == 2
    assert "did you mean conv-arithmetic" in capsys.readouterr().err


def test_tour_skip_leaves_out_the_experiments_named(monkeypatch, capsys):
    from deepnotes.cli import experiments as experiments_cli
    from deepnotes.registry import EXPERIMENTS

    asked = []
    monkeypatch.setattr(experiments_cli, "run_and_report", lambda names, args: asked.append(names))
    assert main(["tour", "--skip", "vae,gan-tricks"]) == 0
    assert asked == [[n for n in EXPERIMENTS.names() if n not in ("vae", "gan-tricks")]]
    assert main(["tour", "--only", "vae", "--skip", "vae"]) == 2
    assert "leave no experiment" in capsys.readouterr().err


def test_run_after_the_tour_keeps_the_tours_report(tmp_path):
    """`deepnotes run NAME` into the tour's folder updates that section and keeps the rest
    of the book (here a tour of two experiments, then a third run beside it)."""
    out = tmp_path / "deepnotes-report"
    assert main(["tour", "--only", "weight-sharing,conv-arithmetic", "--out", str(out)]) == 0
    tour_pages = {p.name: p.read_text() for p in out.glob("topic-*.html")}
    assert main(["run", "transposed-conv", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    names = {"weight-sharing", "conv-arithmetic", "transposed-conv"}
    assert {e["name"] for e in summary["experiments"]} == names
    page = (out / next(iter(tour_pages))).read_text()
    for name in names:
        assert f'<section id="{name}">' in page


def test_a_folder_of_the_users_files_is_not_written_over(tmp_path, capsys):
    folder = tmp_path / "my-site"
    folder.mkdir()
    (folder / "index.html").write_text("my own page")
    assert main(["run", "conv-arithmetic", "--out", str(folder)]) == 2
    assert "holds files and no deepnotes report" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["index.html"]
    assert (folder / "index.html").read_text() == "my own page"
    assert main(["run", "conv-arithmetic", "--out", str(folder), "--force"]) == 0
    assert (folder / "conv-arithmetic" / "result.json").is_file()


def test_eval_uses_the_runs_own_data_unless_told(tmp_path, capsys):
    out = tmp_path / "mlp"
    train = ["train", "mlp", "--data", "digits", "--epochs", "1", "--no-progress"]
    assert main([*train, "--out", str(out)]) == 0
    trained = json.loads((out / "summary.json").read_text())["metrics"]
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["data"] == "digits" and evaluated["split"] == "test"
    assert evaluated["metrics"]["test_acc"] == pytest.approx(trained["test_acc"])


def test_experiments_lists_each_experiments_measured_time(capsys):
    """A new experiment comes with its quick-mode time (`benchmarks/timings.py`)."""
    assert main(["experiments", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(isinstance(r["quick_seconds"], float) for r in rows), [
        r["name"] for r in rows if r["quick_seconds"] is None
    ]
    assert main(["experiments"]) == 0
    assert "measured on the quick tour" in capsys.readouterr().out


def test_every_run_draws_its_curves_and_runs_compare(tmp_path, capsys):
    """RUN/curves.png after training (redrawn each epoch); `plot curves` overlays runs."""
    runs = []
    for lr in ("0.01", "0.1"):
        runs.append(tmp_path / f"lr{lr}")
        args = ["train", "mlp", "--data", "digits", "--epochs", "2", "--lr", lr]
        assert main([*args, "--no-progress", "--out", str(runs[-1])]) == 0
        assert (runs[-1] / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "compare.png"
    assert main(["plot", "curves", *map(str, runs), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "curves", "--out", str(out)]) == 2
    assert "name one or more run folders" in capsys.readouterr().err
    assert main(["plot", "curves", str(tmp_path), "--out", str(out)]) == 2
    assert "holds no metrics.csv" in capsys.readouterr().err
