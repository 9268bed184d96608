"""Speed of the from-scratch layers against their torch counterparts.

For each layer of `deepnotes.nn`, times forward + backward of ours and of
torch's on the same input, in the same process, at two sizes — a small batch
(32 × 256 values) and an image batch (64 × 64 × 32 × 32) — eagerly and
under `torch.compile`, and prints the ratios ours / torch eager and, compiled,
ours / torch compiled.

It ends with the issue's targets, each with its worst ratio and a verdict,
and with `WHY` the ratios are what they are.

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

WHY = """\
- Eager, torch runs one fused C++ kernel per layer, while ours runs the formula as
  several tensor operations, each a pass over memory (and, at the small size, each
  a few microseconds of Python and dispatch: a small batch costs torch 30–100 µs).
- `torch.compile` fuses our operations into one kernel again: at the image size
  ours compiled is as fast as torch eager or faster. At the small size a compiled
  call carries a fixed cost of its own (guards, the compiled graph's wrappers, the
  autograd function around forward and backward), about 0.1 ms for forward +
  backward on this machine: more than torch's whole eager call. That fixed cost,
  not our formulas, sets the small-size "ours compiled / torch eager" ratios:
  torch's own layers compiled pay it too (last column, ours compiled / torch
  compiled, where the formulas alone are compared).
- Convolution by unfolding copies every input pixel k² times (im2col) before one
  matrix multiply; torch's convolution avoids the copy.
- The notes' recipe for the transposed convolution inserts s − 1 zeros between
  inputs and convolves with the flipped kernel: it multiplies the s² − 1 inserted
  zeros of every input pixel too, s² times the multiply-adds of the fast path
  (4× at stride 2), on a map s² times larger; the fast path (col2im, fold)
  computes only the products that are not zero.
"""


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


def interleaved_medians(
    modules: dict[str, nn.Module], inputs: tuple, min_run_time: float, rounds: int = 3
) -> dict[str, float]:
    """Median milliseconds of forward + backward for each module, timed in alternating rounds.

    On a shared machine a slow spell would land on whichever module was being
    timed; timing all of them in turn, `rounds` times, and keeping each one's
    fastest round, spreads such spells over all and lets none decide a ratio.
    """
    timers = {
        name: tb.Timer(
            "fn(module, inputs)", globals={"fn": forward_backward, "module": m, "inputs": inputs}
        )
        for name, m in modules.items()
    }
    for module in modules.values():
        forward_backward(module, inputs)  # warm up
    best = dict.fromkeys(modules, float("inf"))
    for _ in range(rounds):
        for name, timer in timers.items():
            median = timer.blocked_autorange(min_run_time=min_run_time / rounds).median
            best[name] = min(best[name], 1e3 * median)
    return best


def compiled(module: nn.Module, inputs: tuple) -> tuple[nn.Module, float]:
    """The module under torch.compile (static shapes), and the seconds its first call took."""
    compiled_module = torch.compile(module, dynamic=False)
    start = time.perf_counter()
    forward_backward(compiled_module, inputs)
    return compiled_module, time.perf_counter() - start


def measure(case: Case, compile_both: bool, min_run_time: float) -> dict:
    torch.manual_seed(0)
    inputs = case.inputs()
    theirs, ours = case.theirs(), case.ours()
    ours.load_state_dict(theirs.state_dict())
    row = {"layer": case.name, "group": case.group, "size": case.size}
    modules = {"torch": theirs, "ours": ours}
    if compile_both:
        torch._dynamo.reset()
        modules["ours_compiled"], row["compile_s"] = compiled(ours, inputs)
        # torch's layer compiled too: what a compiled call itself costs at this size
        modules["torch_compiled"], _ = compiled(theirs, inputs)
    ms = interleaved_medians(modules, inputs, min_run_time)
    row.update({f"{name}_ms": value for name, value in ms.items()})
    row["eager_ratio"] = ms["ours"] / ms["torch"]
    if compile_both:
        row["compiled_ratio"] = ms["ours_compiled"] / ms["torch"]
        row["both_compiled_ratio"] = ms["ours_compiled"] / ms["torch_compiled"]
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
        head += " ours compiled / torch eager | ours compiled / torch compiled |"
        rule += " ---: | ---: |"
    lines = [head, rule]
    for r in rows:
        line = (
            f"| {r['layer']} | {r['size']} | {r['torch_ms']:.3f} | {r['ours_ms']:.3f} "
            f"| {r['eager_ratio']:.2f} |"
        )
        if compiled:
            line += f" {r['compiled_ratio']:.2f} | {r['both_compiled_ratio']:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def issue_layers(row: dict) -> bool:
    """The layers with speed targets: BatchNorm2d, LayerNorm, the activations, the losses."""
    return row["group"] in ("activation", "loss") or row["layer"] in ("BatchNorm2d", "LayerNorm")


CRITERIA = [
    # (statement, which rows, which ratio, at most)
    (
        "compiled, ≤ 2× torch eager at both sizes: BatchNorm2d, LayerNorm, activations, losses",
        issue_layers,
        "compiled_ratio",
        2.0,
    ),
    (
        "compiled, ≤ 2× torch compiled at both sizes: the same layers",
        issue_layers,
        "both_compiled_ratio",
        2.0,
    ),
    (
        "eager, ≤ 3× torch at the small size: the same layers",
        lambda row: issue_layers(row) and row["size"] == "small",
        "eager_ratio",
        3.0,
    ),
    (
        "eager, ≤ 10× torch: Conv2d by unfolding, ConvTranspose2d by col2im (fold)",
        lambda row: row["group"] == "conv",
        "eager_ratio",
        10.0,
    ),
]


def verdicts(rows: list[dict]) -> list[str]:
    """One line per target: the worst ratio measured, and every row over the target."""
    lines = []
    for statement, selects, ratio, limit in CRITERIA:
        chosen = [r for r in rows if selects(r) and ratio in r]
        if not chosen:
            continue
        worst = max(chosen, key=lambda r: r[ratio])
        over = [f"{r['layer']} {r['size']} {r[ratio]:.2f}" for r in chosen if r[ratio] > limit]
        verdict = "holds" if not over else f"fails for {len(over)}: " + "; ".join(over)
        lines.append(
            f"- {statement} — worst {worst[ratio]:.2f} ({worst['layer']}, {worst['size']}): "
            f"{verdict}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="regular expression on layer names")
    parser.add_argument("--no-compile", action="store_true", help="eager only")
    parser.add_argument(
        "--min-run-time", type=float, default=0.6, help="seconds of timing per module and case"
    )
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
                + (
                    f"  compiled {row['compiled_ratio']:6.2f}  both compiled "
                    f"{row['both_compiled_ratio']:6.2f}"
                    if "compiled_ratio" in row
                    else ""
                ),
                flush=True,
            )
    table = markdown(rows, not args.no_compile)
    checks = "\n".join(verdicts(rows))
    print(f"\n{machine()}\n\n{table}\n\n{checks}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    if args.markdown:
        args.markdown.write_text(
            f"# deepnotes.nn against torch.nn: forward + backward\n\n"
            f"Written by `python benchmarks/layers.py --markdown benchmarks/LAYERS.md`.\n"
            f"Machine: {machine()}\n\n{table}\n\n## Targets\n\n{checks}\n\n"
            f"## Why\n\n{WHY}\n"
        )


if __name__ == "__main__":
    main()
