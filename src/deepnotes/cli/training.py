"""`deepnotes train MODEL`, `deepnotes eval RUN_DIR`, `deepnotes sample RUN_DIR`.

The train flags are built from `TrainConfig`'s fields (`TrainConfig.flags`): each
field's type, default, help and argparse extras make one flag, `batch_size` →
`--batch-size`, so a new setting is one field and nothing here. Three flags say where a run goes
rather than how it trains, and are not fields: `--config` (the TOML file the fields
may come from), `--out` and `--resume`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from deepnotes.cli.common import (
    MAX_SAMPLES,
    Parents,
    check_figure_file,
    check_out_file,
    data_folder,
    out_folder,
    positive_float,
    positive_int,
    print_json,
    sample_count,
    seed,
)
from deepnotes.train.config import TrainConfig

RUN_FLAGS = ("config", "out", "resume")  # train flags that are not settings of the run
PATH_TYPES = {"data_dir": data_folder}  # fields whose flag names a path, checked as it is read


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainConfig` field (`TrainConfig.flags`); a flag not typed stays None, so
    the model's defaults and `--config` can fill it (`TrainConfig.from_sources`)."""
    for f in TrainConfig.flags():
        if f.field == "model":
            parser.add_argument("model", nargs="?", help=f.help)
        elif f.kind is bool:  # a switch; --no-X turns a setting that is on by default off
            const = not f.flag.startswith("--no-")
            parser.add_argument(
                f.flag, dest=f.field, action="store_const", const=const, default=None, help=f.help
            )
        elif f.kind is dict:  # KEY=VALUE pairs, repeatable
            parser.add_argument(
                f.flag, dest=f.field, action="append", metavar="KEY=VALUE", help=f.help
            )
        else:
            shown = "" if f.default in (None, dataclasses.MISSING) else f" (default: {f.default})"
            kind = PATH_TYPES.get(f.field, f.kind)
            parser.add_argument(f.flag, dest=f.field, type=kind, help=f.help + shown, **f.extras)


def cmd_train(args: argparse.Namespace) -> int:
    from deepnotes.registry import MODELS
    from deepnotes.train import distributed
    from deepnotes.train.config import parse_model_args
    from deepnotes.train.run import default_out, launch, needs_launch, train

    cli: dict[str, Any] = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    cli["model_args"] = parse_model_args(args.model_args) if args.model_args else None
    config = TrainConfig.from_sources(
        cli, lambda name: dict(MODELS.card(name).train_defaults), args.config
    )
    out = Path(args.out) if args.out else default_out(config)
    if needs_launch(config):
        return launch(config, out, args.resume, args.argv)
    summary = train(config, out, resume=args.resume)
    if not distributed.from_environment().is_main:  # another process of a torchrun job
        return 0
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items())
    print(f"{config.model} on {config.data}: {metrics}")
    print(f"run written to {out} ({summary['timing']['total_s']:.1f} s)")
    for filename in summary["figures"]:
        print(f"figure: {out / filename}")
    for filename in summary["texts"]:
        print(f"--- {out / filename} ---\n{(out / filename).read_text()}")
    return 0


def cmd_eval(args: argparse.Namespace) -> None:
    from deepnotes.train.runs import evaluate_run

    result = evaluate_run(args.run_dir, args.data, args.data_dir, args.split)
    if args.json:
        print_json(result)
    else:
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in result["metrics"].items())
        print(
            f"{result['run']} on {result['data']} ({result['split']}, "
            f"{result['examples']} examples): {metrics}"
        )


def cmd_sample(args: argparse.Namespace) -> None:
    from deepnotes.io import write_atomic
    from deepnotes.tasks.base import SampleRequest
    from deepnotes.train.runs import load_trained

    if args.out is not None:  # before any work; a figure's format once the run says it draws one
        check_out_file(args.out)
    model, task, bundle, _ = load_trained(args.run_dir, data_dir=args.data_dir)
    request = SampleRequest(args.n, args.seed, args.prompt, args.temperature, args.top_k)
    samples = task.sample(model, bundle, request)
    if samples.text is not None:
        print(samples.text)
        if args.out is not None:
            write_atomic(Path(args.out), (samples.text + "\n").encode())
        return
    out = Path(check_figure_file(args.out or "samples.png"))
    samples.figure.savefig(out, dpi=110, bbox_inches="tight")
    print(f"{samples.count} samples written to {out}")


def add_commands(commands: argparse._SubParsersAction, parents: Parents) -> None:
    p = commands.add_parser(
        "train",
        help="train a model on a data set",
        description="Train a registered model; writes OUT/summary.json, metrics.csv, "
        "model.safetensors and checkpoints. Flags override --config, which overrides the "
        "model's own defaults.",
    )
    add_config_flags(p)
    p.add_argument("--config", metavar="FILE", help="the same settings from a TOML file")
    p.add_argument(
        "--out", type=out_folder, metavar="DIR", help="run folder (default: runs/MODEL-DATA-TIME)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser(
        "eval",
        parents=[parents.data_dir, parents.json],
        help="evaluate a trained run on a data set",
        description="Evaluate the model of a run folder on a split of any compatible data set.",
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--data",
        help="data set name (see `deepnotes data`; default: the one the run was trained on)",
    )
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser(
        "sample",
        parents=[parents.data_dir],
        help="draw samples from a trained generative model or language model",
        description="Draw samples from the model of a run folder: images (a VAE's decoder "
        "means, a GAN's G(z)) as one grid, 2-D points as a scatter, or text continuing "
        "--prompt from a language model.",
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--n",
        type=sample_count,
        help=f"samples to draw (default: 64), or characters of text (500); at most {MAX_SAMPLES:,}",
    )
    p.add_argument(
        "--out",
        help="PNG, JPEG, PDF or SVG file (default: samples.png); for text, a file to write "
        "besides printing",
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed (default: 0)")
    p.add_argument("--prompt", help='text to continue, e.g. "ROMEO:" (language models)')
    p.add_argument(
        "--temperature",
        type=positive_float,
        default=1.0,
        help="divide logits by this (default: 1.0)",
    )
    p.add_argument(
        "--top-k", type=positive_int, help="sample among the k likeliest characters only"
    )
    p.set_defaults(func=cmd_sample)
