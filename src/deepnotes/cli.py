"""The `deepnotes` command line: thin, it parses and calls the library.

    deepnotes tour [--quick|--full] [--out DIR]     run the course, write OUT/index.html
    deepnotes run EXPERIMENT [--quick|--full]        run one experiment
    deepnotes experiments                            list experiments
    deepnotes train MODEL --data NAME [...]          train, write OUT/summary.json
    deepnotes eval RUN_DIR --data NAME               evaluate a trained run
    deepnotes sample RUN_DIR [--n 64] [--out FILE]   draw from a trained generative model
    deepnotes models | summary MODEL | data | conv   look things up

A mistake a user can make (an unknown name, a missing file, an impossible
setting) ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepnotes import __version__
from deepnotes.errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (usage stays in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_tuple(text: str) -> tuple[int, ...]:
    """`5` → (5,), `32,32` → (32, 32); for --input, --input-size."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    return values


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# ---------------------------------------------------------------- models, summary, data


def cmd_models(args: argparse.Namespace) -> None:
    from deepnotes.registry import MODELS
    from deepnotes.summary import summarize

    rows = []
    for entry in MODELS:
        if not re.search(args.pattern or "", entry.name):
            continue
        meta = entry.meta
        row = {"name": entry.name, "task": meta.get("task"), "family": meta.get("family")}
        reference = meta.get("reference_params") or {}
        input_size = tuple(meta.get("input_size") or reference.get("input_size") or ())
        if input_size:
            model = entry.builder(num_classes=meta.get("num_classes"), input_size=input_size)
            summary = summarize(model, input_size)
            row.update(
                input_size=list(input_size),
                params=summary.total_params,
                gmacs=summary.total_macs / 1e9,
            )
        row["paper"] = meta.get("paper", "")
        rows.append(row)
    if args.json:
        print_json(rows)
        return
    print(f"{'model':<24} {'task':<16} {'input':<12} {'params':>14} {'GMACs':>9}  paper")
    for r in rows:
        size = "×".join(map(str, r.get("input_size", []))) or "any"
        params = f"{r['params']:,}" if "params" in r else ""
        gmacs = f"{r['gmacs']:.4f}" if "gmacs" in r else ""
        print(
            f"{r['name']:<24} {r['task']:<16} {size:<12} {params:>14} {gmacs:>9}  {r['paper'][:60]}"
        )


def cmd_summary(args: argparse.Namespace) -> None:
    from deepnotes.registry import MODELS
    from deepnotes.summary import summarize

    meta = MODELS.meta(args.model)
    input_size = args.input_size or tuple(
        meta.get("input_size") or (meta.get("reference_params") or {}).get("input_size", ())
    )
    if not input_size:
        raise UserError(f"model {args.model} takes any input; give one with --input-size C,H,W")
    num_classes = args.num_classes or meta.get("num_classes")
    try:
        model = MODELS.create(args.model, num_classes=num_classes, input_size=input_size)
        summary = summarize(model, input_size)
    except (RuntimeError, UserError) as e:
        raise UserError(
            f"{args.model} cannot take input {input_size}: {str(e).splitlines()[0]}"
        ) from None
    if args.json:
        print_json({"model": args.model, **summary.to_dict()})
    else:
        print(f"{args.model} on input {'×'.join(map(str, input_size))}")
        print(summary.table())


def cmd_data(args: argparse.Namespace) -> None:
    from deepnotes.data.base import data_roots
    from deepnotes.registry import DATASETS

    roots = data_roots(args.data_dir)
    rows = []
    for entry in DATASETS:
        present = entry.meta.get("present")
        if present is None:
            where = "embedded or generated"
        else:
            found = [str(r) for r in roots if present(r)]
            where = f"found in {found[0]}" if found else "not found (see --data-dir, --download)"
        rows.append(
            {
                "name": entry.name,
                "kind": entry.meta.get("kind"),
                "input_size": list(entry.meta.get("input_size") or []),
                "num_classes": entry.meta.get("num_classes"),
                "available": present is None or where.startswith("found"),
                "where": where,
                "source": entry.meta.get("source"),
                "licence": entry.meta.get("licence"),
            }
        )
    if args.json:
        print_json({"roots": [str(r) for r in roots], "datasets": rows})
        return
    print("data roots, in lookup order: " + ", ".join(str(r) for r in roots))
    print(f"{'data set':<16} {'kind':<8} {'input':<10} {'classes':>7}  availability")
    for r in rows:
        size = "×".join(map(str, r["input_size"]))
        print(
            f"{r['name']:<16} {r['kind']:<8} {size:<10} {r['num_classes'] or '':>7}  {r['where']}"
        )


# ---------------------------------------------------------------- conv arithmetic

LAYER_SPEC = re.compile(r"^k(\d+)(?:s(\d+))?(?:p(\d+))?(?:d(\d+))?$")


def parse_stack(text: str) -> list:
    """`k3,k3s2p1,k2s2` → receptive-field layers (k kernel, s stride, p padding, d dilation)."""
    from deepnotes.arith import Layer

    layers = []
    for spec in text.split(","):
        match = LAYER_SPEC.match(spec.strip())
        if not match:
            raise UserError(f"bad layer {spec!r} in --stack: write k3, k3s2, k3s1p1d2, ...")
        k, s, p, d = (
            int(g) if g else default
            for g, default in zip(match.groups(), (0, 1, 0, 1), strict=True)
        )
        layers.append(Layer(k, s, p, d))
    return layers


def cmd_conv(args: argparse.Namespace) -> None:
    from deepnotes import arith

    if args.stack:
        return conv_stack(args)
    if args.input is None:
        raise UserError("give --input SIZE (e.g. --input 5 or --input 32,32), or --stack LAYERS")
    kind = "transposed" if args.transposed else "pool" if args.pool else "conv"
    dims = len(args.input)
    output = arith.output_shape(
        kind,
        args.input,
        args.kernel,
        args.stride,
        args.padding,
        args.dilation,
        args.output_padding,
        ceil_mode=args.ceil_mode,
    )
    answer: dict[str, Any] = {
        "kind": kind,
        "input": args.input[0] if dims == 1 else list(args.input),
        "output": output[0] if dims == 1 else list(output),
        "settings": {
            "kernel": args.kernel,
            "stride": args.stride
            if args.stride is not None
            else (args.kernel if kind == "pool" else 1),
            "padding": args.padding,
            "dilation": args.dilation,
            "output_padding": args.output_padding,
        },
    }
    kernel = (args.kernel,) * dims
    if kind != "pool":
        answer["params"] = arith.conv_params(
            args.in_channels, args.out_channels, kernel, args.groups, bias=not args.no_bias
        )
        macs = arith.transposed_conv_macs if kind == "transposed" else arith.conv_macs
        pixels = tuple(args.input) if kind == "transposed" else output
        answer["macs"] = macs(args.in_channels, args.out_channels, kernel, pixels, args.groups)
    if kind == "transposed":
        answer["recipe"] = arith.transposed_conv_recipe(
            args.input[0], args.kernel, args.stride or 1, args.padding, args.output_padding
        )
    if args.json:
        print_json(answer)
        return
    shape = "×".join(map(str, output))
    print(f"{kind} output: {shape}")
    s = answer["settings"]
    i = args.input[0]
    if kind == "transposed":
        print(
            f"  o = (i − 1)·s − 2p + d·(k − 1) + output_padding + 1 = ({i} − 1)·{s['stride']} − "
            f"2·{s['padding']} + {s['dilation']}·({s['kernel']} − 1) + {s['output_padding']} + 1 "
            f"= {output[0]}"
        )
        r = answer["recipe"]
        print(
            f"  recipe: insert {r['zeros_between']} zero(s) between inputs "
            f"({r['stretched_size']}), "
            f"pad {r['padding_each_side']} each side ({r['padded_size']}), convolve with the "
            f"flipped kernel at stride 1 → {r['output_size']}"
        )
    else:
        print(
            f"  o = ⌊(i + 2p − d·(k − 1) − 1)/s⌋ + 1 = ⌊({i} + 2·{s['padding']} − "
            f"{s['dilation']}·({s['kernel']} − 1) − 1)/{s['stride']}⌋ + 1 = {output[0]}"
        )
    if "params" in answer:
        print(
            f"  params: {answer['params']:,} (c_in·c_out·k^{dims}/groups"
            f"{'' if args.no_bias else ' + c_out'})   multiply-adds: {answer['macs']:,}"
        )


def conv_stack(args: argparse.Namespace) -> None:
    from deepnotes import arith

    layers = parse_stack(args.stack)
    fields = arith.receptive_field(layers)
    sizes: list[int | None] = []
    size = args.input[0] if args.input else None
    for layer in layers:
        if size is not None:
            size = arith.conv_output_size(
                size, layer.kernel, layer.stride, layer.padding, layer.dilation
            )
        sizes.append(size)
    rows = [
        {
            "layer": f"k{layer.kernel} s{layer.stride} p{layer.padding} d{layer.dilation}",
            "output": o,
            "receptive_field": f.size,
            "jump": f.jump,
        }
        for layer, f, o in zip(layers, fields, sizes, strict=True)
    ]
    if args.json:
        print_json({"layers": rows, "output": sizes[-1], "receptive_field": fields[-1].size})
        return
    print(f"{'layer':<18} {'output':>7} {'receptive field':>16} {'jump':>5}")
    for r in rows:
        print(f"{r['layer']:<18} {r['output'] or '':>7} {r['receptive_field']:>16} {r['jump']:>5}")


# ---------------------------------------------------------------- train, eval

TRAIN_FLAGS = (
    "epochs",
    "max_steps",
    "batch_size",
    "lr",
    "optimizer",
    "optimizer_impl",
    "momentum",
    "weight_decay",
    "scheduler",
    "warmup_steps",
    "grad_clip",
    "seed",
    "seeds",
    "split",
    "image_size",
    "block_size",
    "data_dir",
    "device",
    "devices",
    "amp",
    "channels_last",
    "compile",
    "num_workers",
)


def cmd_train(args: argparse.Namespace) -> int:
    from deepnotes.registry import MODELS, TASKS
    from deepnotes.train import distributed
    from deepnotes.train.config import TrainConfig, parse_model_args
    from deepnotes.train.run import check_out_dir, train

    cli = {name: getattr(args, name) for name in TRAIN_FLAGS}
    cli.update(
        model=args.model,
        data=args.data,
        download=args.download or None,
        progress=False if args.no_progress else None,
    )
    if args.model_arg:
        cli["model_args"] = parse_model_args(args.model_arg)

    def model_defaults(name: str) -> dict[str, Any]:
        return MODELS.meta(name).get("train_defaults", {})

    config = TrainConfig.from_sources(cli, model_defaults, args.config)
    out = Path(args.out or f"runs/{config.model}-{config.data}-{time.strftime('%Y%m%d-%H%M%S')}")
    if config.devices > 1 and not distributed.from_environment().enabled:
        distributed.check_task(TASKS.create(MODELS.meta(config.model)["task"]))
        distributed.Distributed(world_size=config.devices).per_process_batch(config.batch_size)
        if not args.resume:
            check_out_dir(out, resume=False)  # before any process starts
        argv = [*args.argv]
        if args.out is None:  # every process must write to (and rank 0 into) the same folder
            argv += ["--out", str(out)]
        return distributed.launch(config.devices, argv)
    summary = train(config, out, resume=args.resume)
    if not distributed.from_environment().is_main:
        return 0
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items())
    print(f"{config.model} on {config.data}: {metrics}")
    print(f"run written to {out} ({summary['timing']['total_s']:.1f} s)")
    for filename in summary.get("figures", []):
        print(f"figure: {out / filename}")
    for filename in summary.get("texts", []):
        print(f"--- {out / filename} ---\n{(out / filename).read_text()}")
    return 0


def cmd_eval(args: argparse.Namespace) -> None:
    from deepnotes.train.run import evaluate_run

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
    import torch

    from deepnotes.train.run import load_trained

    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.exists():
        raise UserError(f"folder {out.parent} does not exist")
    model, _, bundle, _ = load_trained(args.run_dir, data_dir=args.data_dir)
    generator = torch.Generator().manual_seed(args.seed)
    if hasattr(model, "generate"):  # a language model: text after the prompt
        prompt = bundle.vocabulary.encode(args.prompt or "\n")
        ids = model.generate(prompt, args.n or 500, args.temperature, args.top_k, generator)
        text = bundle.vocabulary.decode(ids)
        print(text)
        if out is not None:
            out.write_text(text + "\n", encoding="utf-8")
        return
    if not hasattr(model, "sample"):
        raise UserError(f"{args.run_dir} holds a {type(model).__name__}, which draws no samples")
    if args.prompt is not None:
        raise UserError("--prompt is for language models; this run holds a generative model")
    from deepnotes.figures import samples_figure

    n, out = args.n or 64, out or Path("samples.png")
    try:
        figure = samples_figure(model.sample(n, generator), f"{n} samples, seed {args.seed}")
    except ValueError as e:
        raise UserError(str(e)) from None
    figure.savefig(out, dpi=110, bbox_inches="tight")
    print(f"{n} samples written to {out}")


# ---------------------------------------------------------------- experiments, tour


def cmd_experiments(args: argparse.Namespace) -> None:
    from deepnotes.registry import EXPERIMENTS

    rows = [
        {"name": e.name, "topic": e.meta.get("topic"), "title": e.meta.get("title")}
        for e in EXPERIMENTS
    ]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']:<24} {r['topic']:<30} {r['title']}")


def run_and_report(names: list[str], args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from deepnotes.experiments.base import run_experiment
    from deepnotes.report import write_report

    out = Path(args.out)
    results = []
    bar = tqdm(names, desc="experiments", unit="exp", disable=len(names) == 1 or None)
    for name in bar:
        bar.set_postfix_str(name)
        result = run_experiment(
            name, out, quick=not args.full, seed=args.seed, data_dir=args.data_dir
        )
        passed = sum(c.passed for c in result.claims)
        status = "ok" if result.passed else "FAILED"
        tqdm.write(
            f"{name:<24} {status:<6} {passed}/{len(result.claims)} claims  {result.seconds:6.1f} s"
        )
        if result.error:
            tqdm.write(result.error.rstrip().splitlines()[-1])
        results.append(result)
    page = write_report(results, out)
    claims = [c for r in results for c in r.claims]
    print(f"{sum(c.passed for c in claims)} of {len(claims)} claims pass; report: {page}")
    return 0 if all(r.passed for r in results) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from deepnotes.registry import EXPERIMENTS

    EXPERIMENTS.get(args.experiment)  # an unknown name fails before any work
    return run_and_report([args.experiment], args)


def cmd_tour(args: argparse.Namespace) -> int:
    from deepnotes.registry import EXPERIMENTS

    return run_and_report(EXPERIMENTS.names(), args)


# ---------------------------------------------------------------- figures

PLOTS = ("activations",)


def cmd_plot(args: argparse.Namespace) -> None:
    from deepnotes.experiments.activations import draw_gallery

    out = Path(args.out or f"{args.figure}.png")
    if out.parent and not out.parent.exists():
        raise UserError(f"folder {out.parent} does not exist")
    draw_gallery(out)
    print(f"figure written to {out}")


# ---------------------------------------------------------------- the parser


def build_parser() -> Parser:
    from deepnotes.train.config import AMP_CHOICES, TrainConfig
    from deepnotes.train.optimizers import OPTIMIZERS, SCHEDULERS

    d = TrainConfig("", "")
    parser = Parser(
        prog="deepnotes", description="A deep-learning course as runnable, tested code."
    )
    parser.add_argument("--version", action="version", version=f"deepnotes {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=Parser, metavar="COMMAND"
    )

    def experiment_flags(p: argparse.ArgumentParser) -> None:
        mode = p.add_mutually_exclusive_group()
        mode.add_argument(
            "--quick",
            action="store_true",
            default=True,
            help="the short version used by the tour and tests (default)",
        )
        mode.add_argument("--full", action="store_true", help="the long version for the report")
        p.add_argument(
            "--out", default="deepnotes-report", help="report folder (default: deepnotes-report)"
        )
        p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
        p.add_argument("--data-dir", help="data root to look in first")

    p = sub.add_parser(
        "tour",
        help="run every experiment and write the course report",
        description="Run every registered experiment and write OUT/index.html "
        "(figures, claims with verdicts, timings) and OUT/summary.json.",
    )
    experiment_flags(p)
    p.set_defaults(func=cmd_tour)

    p = sub.add_parser(
        "run",
        help="run one experiment",
        description="Run one experiment and write its report page.",
    )
    p.add_argument("experiment", help="experiment name (see `deepnotes experiments`)")
    experiment_flags(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("experiments", help="list the experiments")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser(
        "plot",
        help="draw a figure of the course (activations gallery)",
        description="Draw a figure: `activations` draws every activation of "
        "deepnotes.nn with its derivative.",
    )
    p.add_argument("figure", choices=PLOTS)
    p.add_argument("--out", metavar="FILE.png", help="where to write it (default: FIGURE.png)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("models", help="list the registered models with params and GMACs")
    p.add_argument("pattern", nargs="?", help="regular expression to filter names")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "summary",
        help="per-layer output shapes, parameters, multiply-adds",
        description="Per-layer output shape, parameters, multiply-adds (from the "
        "notes' formulas) and receptive field of a registered model.",
    )
    p.add_argument("model")
    p.add_argument(
        "--input-size",
        type=int_tuple,
        metavar="C,H,W",
        help="input shape (default: the model's registered input size)",
    )
    p.add_argument("--num-classes", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("data", help="list the data sets and whether each is available here")
    p.add_argument("--data-dir", help="data root to look in first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser(
        "conv",
        help="convolution arithmetic: output size, parameters, receptive field",
        description="Output size of a convolution, pooling or transposed convolution, per "
        "dimension, with its parameter count and multiply-adds; or the receptive field of a "
        "stack of layers (--stack k3,k3s2,...).",
        epilog="examples: deepnotes conv --input 5 --kernel 4 --padding 2;  deepnotes conv "
        "--input 2 --kernel 3 --transposed;  deepnotes conv --stack k3,k3,k2s2 --input 32",
    )
    p.add_argument("--input", type=int_tuple, metavar="I[,I...]", help="input size per dimension")
    p.add_argument("--kernel", type=int, default=3, help="kernel size k (default: 3)")
    p.add_argument("--stride", type=int, help="stride s (default: 1; the kernel for --pool)")
    p.add_argument("--padding", type=int, default=0, help="zero padding p per side (default: 0)")
    p.add_argument("--dilation", type=int, default=1, help="dilation d (default: 1)")
    p.add_argument(
        "--output-padding",
        type=int,
        default=0,
        help="extra output size of a transposed convolution (default: 0)",
    )
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--transposed", action="store_true", help="a transposed convolution")
    kind.add_argument("--pool", action="store_true", help="max or average pooling")
    p.add_argument("--ceil-mode", action="store_true", help="pooling rounds up")
    p.add_argument("--in-channels", type=int, default=1, help="c_in (default: 1)")
    p.add_argument("--out-channels", type=int, default=1, help="c_out (default: 1)")
    p.add_argument("--groups", type=int, default=1)
    p.add_argument("--no-bias", action="store_true")
    p.add_argument(
        "--stack",
        metavar="LAYERS",
        help="receptive field of a stack: comma-separated kK[sS][pP][dD], e.g. k3,k3s2",
    )
    p.add_argument("--json", action="store_true", help="machine-readable answer (key: output)")
    p.set_defaults(func=cmd_conv)

    p = sub.add_parser(
        "train",
        help="train a model on a data set",
        description="Train a registered model; writes OUT/summary.json, metrics.csv, "
        "model.safetensors and checkpoints. Flags override --config, which overrides the "
        "model's own defaults.",
    )
    p.add_argument("model", nargs="?", help="model name (see `deepnotes models`)")
    p.add_argument("--data", help="data set name (see `deepnotes data`)")
    p.add_argument(
        "--epochs", type=int, help=f"passes over the training split (default: {d.epochs})"
    )
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.add_argument("--batch-size", type=int, help=f"(default: {d.batch_size})")
    p.add_argument("--lr", type=float, help=f"learning rate (default: {d.lr})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default: {d.optimizer})")
    p.add_argument(
        "--optimizer-impl",
        choices=("torch", "deepnotes"),
        help="torch.optim, or the from-scratch deepnotes.optim (default: torch)",
    )
    p.add_argument("--momentum", type=float, help=f"for sgd and rmsprop (default: {d.momentum})")
    p.add_argument("--weight-decay", type=float, help=f"(default: {d.weight_decay})")
    p.add_argument(
        "--scheduler", choices=SCHEDULERS, help=f"per-step schedule (default: {d.scheduler})"
    )
    p.add_argument("--warmup-steps", type=int, help="warm-up steps for warmup-cosine")
    p.add_argument("--grad-clip", type=float, help="clip the gradient norm to this value")
    p.add_argument("--seed", type=int, help=f"(default: {d.seed})")
    p.add_argument(
        "--seeds", type=int, help="repeat over N seeds; summary gets NAME_mean, NAME_std"
    )
    p.add_argument("--split", help="a data set's own split scheme, e.g. speaker:theo")
    p.add_argument(
        "--image-size",
        type=int,
        help="resize images to this height and width (default: the model's input size)",
    )
    p.add_argument(
        "--block-size",
        type=int,
        help="a text model's context, characters per training block (default: the model's)",
    )
    p.add_argument(
        "--model-arg",
        action="append",
        metavar="KEY=VALUE",
        help="a model constructor argument (repeatable), e.g. activation=relu",
    )
    p.add_argument("--config", metavar="FILE", help="the same settings from a TOML file")
    p.add_argument("--out", metavar="DIR", help="run folder (default: runs/MODEL-DATA-TIME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--data-dir", help="data root to look in first")
    p.add_argument("--download", action="store_true", help="download the data set if missing")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="(default: auto)")
    p.add_argument(
        "--devices",
        type=int,
        help="train on N processes of this machine (N GPUs, or CPU processes with gloo): "
        "launches torchrun; --batch-size stays the global batch (default: 1)",
    )
    p.add_argument(
        "--amp",
        nargs="?",
        const="auto",
        choices=AMP_CHOICES,
        help="mixed precision: bf16, or fp16 with a gradient scaler; plain --amp picks bf16 "
        "on CPUs and GPUs that have it, else fp16 (default: none)",
    )
    p.add_argument(
        "--channels-last",
        action="store_true",
        default=None,
        help="store images and convolution weights as NHWC (faster on GPUs with AMP)",
    )
    p.add_argument(
        "--compile", action="store_true", default=None, help="train through torch.compile"
    )
    p.add_argument(
        "--num-workers",
        type=int,
        help="data-loading worker processes; pinned memory on CUDA (default: 0)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval",
        help="evaluate a trained run on a data set",
        description="Evaluate the model of a run folder on a split of any compatible data set.",
    )
    p.add_argument("run_dir")
    p.add_argument("--data", required=True)
    p.add_argument("--data-dir")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "sample",
        help="draw samples from a trained generative model or language model",
        description="Draw samples from the model of a run folder: images (a VAE's decoder "
        "means, a GAN's G(z)) as one grid, 2-D points as a scatter, or text continuing "
        "--prompt from a language model.",
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--n", type=int, help="samples to draw (default: 64), or characters of text (500)"
    )
    p.add_argument(
        "--out", help="PNG file (default: samples.png); for text, a file to write besides printing"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--prompt", help='text to continue, e.g. "ROMEO:" (language models)')
    p.add_argument(
        "--temperature", type=float, default=1.0, help="divide logits by this (default: 1.0)"
    )
    p.add_argument("--top-k", type=int, help="sample among the k likeliest characters only")
    p.add_argument("--data-dir", help="data root to look in first (text: for its vocabulary)")
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # `train --devices N` hands the same arguments to torchrun
    try:
        return args.func(args) or 0
    except UserError as e:
        print(f"deepnotes {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("deepnotes: interrupted", file=sys.stderr)
        return 130
