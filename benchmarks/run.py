"""The package's speed against plain PyTorch, each number a ratio measured in the same process.

    (a) overhead    the trainer against a bare PyTorch loop doing the same work (the same
                    model, batches, optimiser and per-epoch validation): lenet5_relu on
                    digits, a model small enough for the loop's own cost to show
    (b) to 97%      seconds of training until LeNet-5 reaches 97% test accuracy on digits
    (c) throughput  training images/s of resnet18_small in the trainer against torchvision's
                    resnet18 with the same small stem (3×3 conv, no max-pool) in a bare loop;
                    tokens/s of gpt_char in the trainer against the same shapes built from
                    torch.nn.TransformerEncoderLayer in a bare loop
    (d) layers      the from-scratch layers against torch.nn (`layers.py`), eager

    python benchmarks/run.py                      # everything, about 10 minutes on 2 cores
    python benchmarks/run.py --quick              # fewer repeats and steps, about 3 minutes
    python benchmarks/run.py --only overhead throughput --json out.json --markdown out.md

Timings alternate between the two sides of each ratio and report medians, so a
slow moment of the machine falls on both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))  # layers.py beside this file

import layers
from deepnotes.data.base import DataBundle
from deepnotes.registry import MODELS
from deepnotes.tasks.language import LanguageModelTask
from deepnotes.tasks.supervised import ClassificationTask
from deepnotes.train.config import TrainConfig
from deepnotes.train.run import prepare
from deepnotes.train.trainer import Trainer

CPU = torch.device("cpu")


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def alternate(sides: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each side over `repeats` rounds, the sides taking turns, after one
    round untimed (first calls pay for allocation and lazy initialisation)."""
    for work in sides.values():
        work()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, work in sides.items():
            times[name].append(timed(work))
    return {name: statistics.median(values) for name, values in times.items()}


def model_config(name: str, **settings: Any) -> TrainConfig:
    """A run of `name` on digits as `deepnotes train` would set it up, quietly."""
    defaults = dict(MODELS.card(name).train_defaults)
    return TrainConfig(model=name, data="digits", **{**defaults, **settings, "progress": False})


# --- (a) the trainer's overhead --------------------------------------------------------------


def bare_epochs(model: nn.Module, bundle: DataBundle, config: TrainConfig, epochs: int) -> None:
    """What the trainer does for lenet5_relu, written as a plain loop: Adam with the cosine
    schedule, the same shuffled batches (the same random draws), the training loss and
    accuracy summed over the epoch, and the validation loss and accuracy after each epoch."""
    x, y = bundle.split("train").tensors
    val_x, val_y = bundle.split("val").tensors
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = epochs * -(-len(x) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # DataLoader's draw
        order = torch.randperm(len(x), generator=generator)
        model.train()
        loss_sum = correct = 0.0
        for start in range(0, len(x), config.batch_size):
            index = order[start : start + config.batch_size]
            logits = model(x[index])
            loss = F.cross_entropy(logits, y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += float(loss.detach()) * len(index)
            correct += float((logits.argmax(1) == y[index]).sum())
        model.eval()
        with torch.no_grad():
            size = config.eval_batch_size
            for start in range(0, len(val_x), size):
                logits, target = model(val_x[start : start + size]), val_y[start : start + size]
                float(F.cross_entropy(logits, target))  # the metrics, as the trainer logs them
                float((logits.argmax(1) == target).float().mean())


def overhead(quick: bool) -> dict[str, Any]:
    epochs, repeats = (3, 5) if quick else (5, 9)
    config = model_config("lenet5_relu", epochs=epochs)
    models = {}

    def with_trainer() -> None:
        torch.manual_seed(0)
        model, task, bundle, _ = prepare(config)
        trainer = Trainer(model, task, bundle, config, CPU)
        for _ in range(epochs):
            trainer.run_epoch()
        models["trainer"] = model

    def bare() -> None:
        torch.manual_seed(0)
        model, _, bundle, _ = prepare(config)
        bare_epochs(model, bundle, config, epochs)
        models["bare"] = model

    seconds = alternate({"trainer": with_trainer, "bare loop": bare}, repeats)
    same = all(
        torch.equal(a, b)
        for a, b in zip(
            models["trainer"].state_dict().values(),
            models["bare"].state_dict().values(),
            strict=True,
        )
    )
    ratio = seconds["trainer"] / seconds["bare loop"]
    return {
        "name": "overhead",
        "what": f"lenet5_relu on digits, {epochs} epochs with validation, median of {repeats}",
        "trainer_s": seconds["trainer"],
        "bare_s": seconds["bare loop"],
        "ratio": ratio,
        "same_weights": same,
        "target": "≤ 1.05",
        "verdict": "holds" if ratio <= 1.05 else "fails",
    }


# --- (b) time to 97% ---------------------------------------------------------------------------


def time_to_accuracy(quick: bool, target: float = 0.97) -> dict[str, Any]:
    config = model_config("lenet5_relu", epochs=30)
    torch.manual_seed(0)
    model, task, bundle, _ = prepare(config)
    trainer = Trainer(model, task, bundle, config, CPU)
    accuracy = 0.0
    while trainer.state.epoch < trainer.epochs and accuracy < target:
        trainer.run_epoch()
        accuracy = trainer.evaluate("test")["acc"]  # not counted: run_epoch keeps train time
    return {
        "name": "time to 97%",
        "what": f"lenet5_relu on digits (batch {config.batch_size}, {config.optimizer} "
        f"lr {config.lr}), test accuracy after each epoch",
        "seconds": trainer.state.train_seconds,
        "epochs": trainer.state.epoch,
        "test_acc": accuracy,
        "verdict": "reached" if accuracy >= target else f"not reached in {trainer.epochs} epochs",
    }


# --- (c) throughput -----------------------------------------------------------------------------


def torchvision_resnet18_small(num_classes: int) -> nn.Module:
    """torchvision's resnet18 with the small stem of our `_small` variants."""
    model = torchvision.models.resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


class TorchGPT(nn.Module):
    """gpt_char's shapes from torch.nn: pre-norm TransformerEncoderLayers with a causal mask,
    learned positions, a tied read-out, no biases."""

    def __init__(self, vocab: int, block: int, n_layer: int, n_head: int, width: int) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab, width)
        self.position = nn.Embedding(block, width)
        layer = nn.TransformerEncoderLayer(
            width, n_head, 4 * width, dropout=0.0, activation="gelu", batch_first=True,
            norm_first=True, bias=False,
        )  # fmt: skip
        self.blocks = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.token(ids) + self.position(torch.arange(t))
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        h = self.norm(self.blocks(h, mask=mask, is_causal=True))
        return h @ self.token.weight.T  # (B, T, vocab)


def bare_steps(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for x, y in batches:
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def benchmark_trainer(
    model: nn.Module,
    task: Any,
    bundle: DataBundle,
    steps: int,
    batch: int,
    device: torch.device = CPU,
    **settings: Any,
) -> Trainer:
    """The package's trainer set to run `steps` AdamW steps of `batch` examples, quietly."""
    config = TrainConfig(
        model="benchmark",
        data=bundle.name,
        max_steps=steps,
        batch_size=batch,
        optimizer="adamw",
        progress=False,
        device=device.type,
        **settings,
    )
    return Trainer(model, task, bundle, config, device)


def trainer_steps(
    model: nn.Module, task: Any, bundle: DataBundle, steps: int, batch: int, **settings: Any
) -> None:
    benchmark_trainer(model, task, bundle, steps, batch, **settings).run_epoch()


def throughput(quick: bool) -> list[dict[str, Any]]:
    steps, repeats = (3, 3) if quick else (8, 5)
    rows = []
    # images: random 32×32 pictures, 10 classes (the speed does not depend on what they show)
    batch = 64
    g = torch.Generator().manual_seed(0)
    images = torch.randn(steps * batch, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (steps * batch,), generator=g)
    bundle = DataBundle(
        "random-images",
        "images",
        {"train": torch.utils.data.TensorDataset(images, labels)},
        (3, 32, 32),
        10,
    )
    batches = [(images[i : i + batch], labels[i : i + batch]) for i in range(0, len(images), batch)]
    ours = MODELS.create("resnet18_small", num_classes=10)
    theirs = torchvision_resnet18_small(10)
    seconds = alternate(
        {
            "ours": lambda: trainer_steps(ours, ClassificationTask(), bundle, steps, batch),
            "reference": lambda: bare_steps(theirs, batches),
        },
        repeats,
    )
    rows.append(
        throughput_row(
            "resnet18_small",
            "images/s",
            steps * batch,
            seconds,
            "deepnotes resnet18_small in the trainer",
            "torchvision resnet18, small stem, bare loop",
            sum(p.numel() for p in ours.parameters()),
            sum(p.numel() for p in theirs.parameters()),
        )
    )
    # tokens: gpt_char's defaults (4 layers, 4 heads, width 128, context 64, batch 12)
    vocab, block, batch = 65, 64, 12
    tokens = torch.randint(0, vocab, (steps * batch, block + 1), generator=g)
    x, y = tokens[:, :-1], tokens[:, 1:]
    text = DataBundle(
        "random-text", "text", {"train": torch.utils.data.TensorDataset(x, y)}, (block,), vocab
    )
    batches = [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)]
    ours = MODELS.create("gpt_char", num_classes=vocab, input_size=(block,))
    theirs = TorchGPT(vocab, block, n_layer=4, n_head=4, width=128)
    seconds = alternate(
        {
            "ours": lambda: trainer_steps(ours, LanguageModelTask(), text, steps, batch),
            "reference": lambda: bare_steps(theirs, batches),
        },
        repeats,
    )
    rows.append(
        throughput_row(
            "gpt_char",
            "tokens/s",
            steps * batch * block,
            seconds,
            "deepnotes gpt_char in the trainer",
            "torch.nn.TransformerEncoder of the same shapes, bare loop",
            sum(p.numel() for p in ours.parameters()),
            sum(p.numel() for p in theirs.parameters()),
        )
    )
    return rows


def throughput_row(
    model: str,
    unit: str,
    items: int,
    seconds: dict[str, float],
    ours: str,
    reference: str,
    ours_params: int,
    reference_params: int,
) -> dict[str, Any]:
    return {
        "name": f"throughput {model}",
        "what": f"{ours} vs {reference}",
        "unit": unit,
        "ours": items / seconds["ours"],
        "reference": items / seconds["reference"],
        "ratio": seconds["reference"] / seconds["ours"],  # > 1: ours is faster
        "params": [ours_params, reference_params],
    }


# --- (d) the layers ------------------------------------------------------------------------------


def layer_ratios(quick: bool) -> list[dict[str, Any]]:
    pattern = "Conv2d|BatchNorm2d|LayerNorm|ReLU|GELU|CrossEntropyLoss" if quick else ""
    rows = []
    for case in layers.cases():
        if pattern and case.name not in pattern.split("|"):
            continue
        rows.append(layers.measure(case, compile_both=False, min_run_time=0.2 if quick else 0.6))
    return rows


# --- the report -----------------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Machine: {results['machine']}", ""]
    if "overhead" in results:
        r = results["overhead"]
        lines += [
            "## (a) The trainer's overhead against a bare loop",
            "",
            f"{r['what']}: trainer {r['trainer_s']:.3f} s, bare loop {r['bare_s']:.3f} s, "
            f"**ratio {r['ratio']:.3f}** (target {r['target']}: {r['verdict']}); the two end "
            f"with {'identical' if r['same_weights'] else 'different'} weights.",
            "",
        ]
    if "time_to_accuracy" in results:
        r = results["time_to_accuracy"]
        lines += [
            "## (b) Time to 97% test accuracy",
            "",
            f"{r['what']}: **{r['seconds']:.1f} s** of training, {r['epochs']} epochs, "
            f"test accuracy {r['test_acc']:.4f} ({r['verdict']}).",
            "",
        ]
    if "throughput" in results:
        lines += [
            "## (c) Training throughput",
            "",
            "| model | unit | ours | reference | ours / reference | parameters (ours, ref.) |",
            "| --- | --- | ---: | ---: | ---: | --- |",
        ]
        for r in results["throughput"]:
            lines.append(
                f"| {r['name'].removeprefix('throughput ')} | {r['unit']} | {r['ours']:,.0f} "
                f"| {r['reference']:,.0f} | {r['ratio']:.2f} | "
                f"{r['params'][0]:,}, {r['params'][1]:,} |"
            )
        lines += ["", *(f"- {r['name']}: {r['what']}" for r in results["throughput"]), ""]
    if "layers" in results:
        lines += [
            "## (d) From-scratch layers against torch.nn (eager, forward + backward)",
            "",
            layers.markdown(results["layers"], compiled=False),
            "",
            *layers.verdicts(results["layers"]),
            "",
        ]
    return "\n".join(lines)


def machine() -> str:
    """The CPU and threads (`layers.machine`), with the cores and memory of this machine."""
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        memory = f", {kib / 2**20:.0f} GiB of memory"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{layers.machine()}; {os.cpu_count()} cores{memory}, no GPU used"


BENCHMARKS = {
    "overhead": overhead,
    "time_to_accuracy": time_to_accuracy,
    "throughput": throughput,
    "layers": layer_ratios,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks"
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--markdown", type=Path, help="write the results as Markdown")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    for name in args.only or BENCHMARKS:
        print(f"running {name} ...", flush=True)
        results[name] = BENCHMARKS[name](args.quick)
    report = markdown(results)
    print(f"\n{report}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(
            "# Benchmarks on the CPU\n\n"
            "Written by `python benchmarks/run.py --markdown benchmarks/RESULTS.md "
            "--json benchmarks/results.json`.\n\n" + report
        )


if __name__ == "__main__":
    main()
