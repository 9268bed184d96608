"""Speed of the from-scratch layers against their torch counterparts.

For each layer of `deepnotes.nn`, times forward + backward of ours and of
torch's on the same input, in the same process, at two sizes — a small batch
(32 × 256 values) and an image batch (64 × 64 × 32 × 32) — eagerly and with
ours under `torch.compile`, and prints the ratios ours / torch eager.

Why the ratios are what they are: torch runs one fused C++ kernel per layer,
while ours runs the formula as several tensor operations, each a pass over
memory; `torch.compile` fuses them again. Convolution by unfolding copies every
input pixel k² times before its matrix multiply. The notes' recipe for the
transposed convolution multiplies the s² − 1 inserted zeros of every input
pixel too: s² times the multiply-adds of the fast path.

    python benchmarks/layers.py                       # everything (about 10 minutes)
    python benchmarks/layers.py --filter Conv --no-compile
    python benchmarks/layers.py --markdown benchmarks/LAYERS.md --json benchmarks/layers.json
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.benchmark as tb
from torch import nn

import deepnotes.nn as dn
from deepnotes.nn.activations import ACTIVATIONS


@dataclass
class Case:
    """One layer at one size: how to build ours and torch's, and the inputs of one call."""

    name: str
    group: str  # "activation", "loss", "norm", "conv", "other": the criteria differ by group
    size: str  # "small" or "image"
    ours: Callable[[], nn.Module]
    theirs: Callable[[], nn.Module]
    inputs: Callable[[], tuple]


SMALL, IMAGE = (32, 256), (64, 64, 32, 32)
SMALL_IMAGE = (32, 16, 4, 4)  # the small batch's 32 × 256 values as images


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, requires_grad=True)


def cases() -> list[Case]:
    found: list[Case] = []
    for name, entry in ACTIVATIONS.items():
        for size, shape in (("small", SMALL), ("image", IMAGE)):
            found.append(
                Case(
                    name,
                    "activation",
                    size,
                    lambda e=entry: e.ours(**e.kwargs),
                    lambda e=entry: e.theirs(**e.kwargs),
                    lambda s=shape: (randn(*s),),
                )
            )

    # (size, rows of features, image batch, channels): the same values seen both ways
    for size, flat, image, c in (
        ("small", SMALL, SMALL_IMAGE, 16),
        ("image", (64 * 32 * 32, 64), IMAGE, 64),
    ):
        features, normalized = flat[1], (flat[1],) if size == "small" else image[1:]
        found += [
            Case(
                "BatchNorm1d",
                "norm",
                size,
                lambda n=features: dn.BatchNorm1d(n),
                lambda n=features: nn.BatchNorm1d(n),
                lambda s=flat: (randn(*s),),
            ),
            Case(
                "BatchNorm2d",
                "norm",
                size,
                lambda c=c: dn.BatchNorm2d(c),
                lambda c=c: nn.BatchNorm2d(c),
                lambda s=image: (randn(*s),),
            ),
            Case(
                "LayerNorm",
                "norm",
                size,
                lambda n=normalized: dn.LayerNorm(n),
                lambda n=normalized: nn.LayerNorm(n),
                lambda s=(flat if size == "small" else image): (randn(*s),),
            ),
            Case(
                "GroupNorm",
                "norm",
                size,
                lambda c=c: dn.GroupNorm(8, c),
                lambda c=c: nn.GroupNorm(8, c),
                lambda s=image: (randn(*s),),
            ),
            Case(
                "Linear",
                "other",
                size,
                lambda n=features: dn.Linear(n, n),
                lambda n=features: nn.Linear(n, n),
                lambda s=flat: (randn(*s),),
            ),
            Case(
                "Conv2d 3×3 (unfold)",
                "conv",
                size,
                lambda c=c: dn.Conv2d(c, c, 3, padding=1),
                lambda c=c: nn.Conv2d(c, c, 3, padding=1),
                lambda s=image: (randn(*s),),
            ),
            Case(
                "ConvTranspose2d k2 s2 (fold)",
                "conv",
                size,
                lambda c=c: dn.ConvTranspose2d(c, c // 2, 2, stride=2),
                lambda c=c: nn.ConvTranspose2d(c, c // 2, 2, stride=2),
                lambda s=image: (randn(*s),),
            ),
            Case(
                "ConvTranspose2d k2 s2 (recipe)",
                "recipe",
                size,
                lambda c=c: recipe(dn.ConvTranspose2d(c, c // 2, 2, stride=2)),
                lambda c=c: nn.ConvTranspose2d(c, c // 2, 2, stride=2),
                lambda s=image: (randn(*s),),
            ),
            Case(
                "MaxPool2d 2×2",
                "other",
                size,
                lambda: dn.MaxPool2d(2),
                lambda: nn.MaxPool2d(2),
                lambda s=image: (randn(*s),),
            ),
            Case(
                "AvgPool2d 2×2",
                "other",
                size,
                lambda: dn.AvgPool2d(2),
                lambda: nn.AvgPool2d(2),
                lambda s=image: (randn(*s),),
            ),
            Case(
                "AdaptiveAvgPool2d 1",
                "other",
                size,
                lambda: dn.AdaptiveAvgPool2d(1),
                lambda: nn.AdaptiveAvgPool2d(1),
                lambda s=image: (randn(*s),),
            ),
        ]

    def targets(shape, classes):
        return lambda: (randn(*shape), torch.randint(0, classes, (shape[0], *shape[2:])))

    def pair(shape, fn=lambda t: t):
        return lambda: (randn(*shape), fn(torch.randn(*shape)))

    loss_cases = {
        "CrossEntropyLoss": (dn.CrossEntropyLoss, nn.CrossEntropyLoss, targets, None),
        "NLLLoss": (dn.NLLLoss, nn.NLLLoss, targets, None),
        "MSELoss": (dn.MSELoss, nn.MSELoss, pair, None),
        "L1Loss": (dn.L1Loss, nn.L1Loss, pair, None),
        "HuberLoss": (dn.HuberLoss, nn.HuberLoss, pair, None),
        "SmoothL1Loss": (dn.SmoothL1Loss, nn.SmoothL1Loss, pair, None),
        "BCEWithLogitsLoss": (
            dn.BCEWithLogitsLoss,
            nn.BCEWithLogitsLoss,
            pair,
            lambda t: (t > 0).float(),
        ),
        "BCELoss": (dn.BCELoss, nn.BCELoss, None, None),
        "KLDivLoss": (dn.KLDivLoss, nn.KLDivLoss, pair, lambda t: t.softmax(-1)),
        "SoftMarginLoss": (dn.SoftMarginLoss, nn.SoftMarginLoss, pair, lambda t: t.sign()),
    }
    for name, (ours, theirs, make, transform) in loss_cases.items():
        for size, shape in (("small", SMALL), ("image", IMAGE)):
            if name == "BCELoss":
                inputs = bce_inputs(shape)
            elif make is targets:
                inputs = targets(shape, shape[1])
            else:
                inputs = pair(shape, transform or (lambda t: t))
            found.append(Case(name, "loss", size, ours, theirs, inputs))
    return found


def bce_inputs(shape):
    def make():
        probabilities = torch.rand(*shape).clamp(0.01, 0.99).requires_grad_(True)
        return probabilities, (torch.rand(*shape) > 0.5).float()

    return make


def recipe(module: dn.ConvTranspose2d) -> dn.ConvTranspose2d:
    module.method = "recipe"
    return module


def forward_backward(module: nn.Module, inputs: tuple) -> None:
    output = module(*inputs)
    output.backward(torch.ones_like(output))


def median_seconds(module: nn.Module, inputs: tuple, min_run_time: float) -> float:
    forward_backward(module, inputs)  # warm up (and compile, when compiled)
    timer = tb.Timer(
        "fn(module, inputs)", globals={"fn": forward_backward, "module": module, "inputs": inputs}
    )
    return timer.blocked_autorange(min_run_time=min_run_time).median


def measure(case: Case, compile_ours: bool, min_run_time: float) -> dict:
    torch.manual_seed(0)
    inputs = case.inputs()
    theirs, ours = case.theirs(), case.ours()
    ours.load_state_dict(theirs.state_dict())
    row = {
        "layer": case.name,
        "group": case.group,
        "size": case.size,
        "torch_ms": 1e3 * median_seconds(theirs, inputs, min_run_time),
        "ours_ms": 1e3 * median_seconds(ours, inputs, min_run_time),
    }
    row["eager_ratio"] = row["ours_ms"] / row["torch_ms"]
    if compile_ours:
        torch._dynamo.reset()
        compiled = torch.compile(ours)
        start = time.perf_counter()
        forward_backward(compiled, inputs)
        row["compile_s"] = time.perf_counter() - start
        row["compiled_ms"] = 1e3 * median_seconds(compiled, inputs, min_run_time)
        row["compiled_ratio"] = row["compiled_ms"] / row["torch_ms"]
    return row


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = model.group(1) if model else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def markdown(rows: list[dict], compiled: bool) -> str:
    head = "| layer | size | torch ms | ours ms | ours / torch (eager) |"
    rule = "| --- | --- | ---: | ---: | ---: |"
    if compiled:
        head += " ours compiled / torch eager |"
        rule += " ---: |"
    lines = [head, rule]
    for r in rows:
        line = (
            f"| {r['layer']} | {r['size']} | {r['torch_ms']:.3f} | {r['ours_ms']:.3f} "
            f"| {r['eager_ratio']:.2f} |"
        )
        if compiled:
            line += f" {r['compiled_ratio']:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="regular expression on layer names")
    parser.add_argument("--no-compile", action="store_true", help="eager only")
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per timing")
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    args = parser.parse_args()
    rows = []
    for case in cases():
        if re.search(args.filter, case.name):
            row = measure(case, not args.no_compile, args.min_run_time)
            rows.append(row)
            print(
                f"{row['layer']:<34} {row['size']:<6} eager {row['eager_ratio']:6.2f}"
                + (f"  compiled {row['compiled_ratio']:6.2f}" if "compiled_ratio" in row else ""),
                flush=True,
            )
    table = markdown(rows, not args.no_compile)
    print(f"\n{machine()}\n\n{table}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    if args.markdown:
        args.markdown.write_text(f"Machine: {machine()}\n\n{table}\n")


if __name__ == "__main__":
    main()
