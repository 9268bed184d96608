"""How far each claim of the quick tour is from its threshold, across seeds.

A quick-mode threshold tuned on seed 0 may hold there by luck. This runs the
quick tour for several seeds and writes, for every claim, the values measured,
their minimum and median, the margin of the worst seed to the threshold and the
spread across seeds (max − min). A claim whose margin is smaller than its
spread is fragile: another seed could plausibly turn it red. Such claims are
listed at the top, to be fixed with more data, more steps, a paired comparison
or a better statistic — never by loosening the threshold. The page also counts
the claims that can fail: those a registered fault targets, those with a
control, and those with neither.

    python benchmarks/claims.py                      # seeds 0–4 → benchmarks/CLAIMS.md
    python benchmarks/claims.py --seeds 5 6 --markdown other-seeds.md --out runs/
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from deepnotes.experiments.base import run_experiments
from deepnotes.registry import EXPERIMENTS, FAULTS

HERE = Path(__file__).parent


@dataclass
class ClaimAcrossSeeds:
    """One claim's verdicts and values over the seeds, and what can turn it red."""

    key: str  # "experiment/claim"
    op: str
    target: float | int | str
    values: dict[int, float | int | str] = field(default_factory=dict)
    passed: dict[int, bool] = field(default_factory=dict)
    control: str | None = None  # the control's label, when the claim has one
    faults: list[str] = field(default_factory=list)

    def numeric(self) -> list[float]:
        return [float(v) for v in self.values.values() if isinstance(v, int | float)]

    def logarithmic(self) -> bool:
        """Also judged on a log scale: a threshold comparison whose values and threshold are
        all positive — ratios, errors, shares — where seeds at 2× and at 200× the threshold
        are both far from it. Differences (which may be negative) have one scale only."""
        values = self.numeric()
        return (
            self.op in (">", ">=", "<", "<=")
            and isinstance(self.target, int | float)
            and self.target > 0
            and bool(values)
            and min(values) > 0
        )

    def margin(self, log: bool = False) -> float | None:
        """Distance of the worst seed to the threshold, positive when every seed passes;
        None for exact comparisons (==), whose margin is not a distance."""
        values = self.numeric()
        if not values or self.op not in (">", ">=", "<", "<=") or any(map(math.isnan, values)):
            return None
        scale = math.log if log else float
        worst = min(values) if self.op in (">", ">=") else max(values)
        gap = scale(worst) - scale(float(self.target))
        return gap if self.op in (">", ">=") else -gap

    def spread(self, log: bool = False) -> float | None:
        """max − min over the seeds."""
        values = self.numeric()
        if not values or any(map(math.isnan, values)):
            return None
        scale = math.log if log else float
        return scale(max(values)) - scale(min(values))

    def fragile(self) -> bool:
        """Fails on a seed, or passes by less than its spread across seeds — on the linear
        scale and, for positive quantities, on the log scale too (an error of 1e-3 against a
        threshold of 1e-2 is safe though its seeds vary five-fold; a ratio of 900 against 10
        is safe though its seeds reach 4e8)."""
        if not all(self.passed.values()):
            return True
        scales = (False, True) if self.logarithmic() else (False,)
        margins = [self.margin(log) for log in scales]
        spreads = [self.spread(log) for log in scales]
        if any(m is None for m in margins) or any(s is None for s in spreads):
            return False
        return all(m < s for m, s in zip(margins, spreads, strict=True))

    def shown(self, amount: float | None) -> str:
        return "—" if amount is None else f"{amount:.4g}"


def collect(results_by_seed: dict[int, list[dict]]) -> dict[str, ClaimAcrossSeeds]:
    """Every claim of every run (`Result.to_dict()`s), keyed by "experiment/claim", in tour
    order."""
    targeted_by: dict[str, list[str]] = {}
    for fault in FAULTS:
        for target in fault.card.targets:
            targeted_by.setdefault(target, []).append(fault.name)
    claims: dict[str, ClaimAcrossSeeds] = {}
    for seed, results in results_by_seed.items():
        for result in results:
            for claim in result["claims"]:
                key = f"{result['name']}/{claim['id']}"
                faults = targeted_by.get(key, [])
                entry = claims.setdefault(
                    key, ClaimAcrossSeeds(key, claim["op"], claim["target"], faults=faults)
                )
                entry.values[seed] = claim["measured"]
                entry.passed[seed] = claim["passed"]
                if claim["control"] is not None:
                    entry.control = claim["control"]["label"]
    return claims


def number(value: float | int | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def markdown(
    claims: dict[str, ClaimAcrossSeeds], seeds: list[int], seconds: dict[int, float]
) -> str:
    fragile = [c for c in claims.values() if c.fragile()]
    with_fault = [c for c in claims.values() if c.faults]
    with_control = [c for c in claims.values() if c.control]
    either = [c for c in claims.values() if c.faults or c.control]
    neither = [c for c in claims.values() if not (c.faults or c.control)]
    share = len(either) / max(len(claims), 1)
    lines = [
        "# Claims across seeds",
        "",
        f"The quick tour (`deepnotes tour --quick --seed S`) for S = {', '.join(map(str, seeds))}, "
        "written by `python benchmarks/claims.py`. For each claim: its minimum and median "
        "value over the seeds, the margin of the worst seed to the threshold (positive: every "
        "seed passes) and the spread (max − min). A claim is fragile when a seed fails it or "
        "its margin is smaller than its spread — for positive quantities (ratios, errors, "
        "shares) on the log scale as well, so that an error of 1e-3 against 1e-2 whose seeds "
        "vary five-fold is not called fragile.",
        "",
        "| seed | claims passed | tour time |",
        "|---:|---:|---:|",
    ]
    for seed in seeds:
        passed = sum(c.passed.get(seed, False) for c in claims.values())
        lines.append(f"| {seed} | {passed} / {len(claims)} | {seconds[seed] / 60:.1f} min |")
    lines += [
        "",
        "## Claims that can fail",
        "",
        f"- targeted by a registered fault (`deepnotes faults`): {len(with_fault)}",
        f"- with a control in the same run (a measurement that must fail): {len(with_control)}",
        f"- **either: {len(either)} of {len(claims)} ({100 * share:.0f}%)**",
        f"- neither: {len(neither)}"
        + (": " + ", ".join(c.key for c in neither) if neither else ""),
        "",
        "## Fragile claims",
        "",
    ]
    lines += [f"- {c.key}" for c in fragile] or [
        "None: every claim passes every seed by more than its spread."
    ]
    lines += [
        "",
        "## Every claim",
        "",
        "| claim | test | min | median | margin | spread | red under |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for c in claims.values():
        values = c.numeric()
        low = min(values) if values else next(iter(c.values.values()))
        median = statistics.median(values) if values else None
        red = [*(f"`{f}`" for f in c.faults), *([f"control: {c.control}"] if c.control else [])]
        flag = " ⚠" if c.fragile() else ""
        lines.append(
            f"| {c.key}{flag} | {c.op} {number(c.target)} | {number(low)} | {number(median)} | "
            f"{c.shown(c.margin())} | {c.shown(c.spread())} | {'; '.join(red) or '—'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--experiments", nargs="+", default=None, help="default: the whole tour")
    parser.add_argument("--data-dir", default=None, help="data root (or DEEPNOTES_DATA)")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs' reports here")
    parser.add_argument(
        "--from-runs",
        type=Path,
        default=None,
        help="run nothing: read the results an earlier --out folder holds (seed-S/NAME/)",
    )
    parser.add_argument("--markdown", type=Path, default=HERE / "CLAIMS.md")
    parser.add_argument("--json", type=Path, default=HERE / "claims.json")
    args = parser.parse_args(argv)
    names = args.experiments or EXPERIMENTS.names()
    results_by_seed: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = args.from_runs or args.out or Path(scratch)
        for seed in args.seeds:
            if args.from_runs is None:
                print(f"seed {seed}", flush=True)
                run_experiments(
                    names, root / f"seed-{seed}", quick=True, seed=seed, data_dir=args.data_dir
                )
            results_by_seed[seed] = [
                json.loads((root / f"seed-{seed}" / name / "result.json").read_text())
                for name in names
            ]
    # the experiments' own run times, summed: the tour's time without its start-up
    seconds = {
        seed: sum(r["seconds"] for r in results) for seed, results in results_by_seed.items()
    }
    claims = collect(results_by_seed)
    args.markdown.write_text(markdown(claims, args.seeds, seconds))
    args.json.write_text(
        json.dumps(
            {
                "seeds": args.seeds,
                "seconds": seconds,
                "claims": {
                    k: {
                        "op": c.op,
                        "target": c.target,
                        "values": c.values,
                        "passed": c.passed,
                        "margin": c.margin(),
                        "spread": c.spread(),
                        "faults": c.faults,
                        "control": c.control,
                    }
                    for k, c in claims.items()
                },
            },
            indent=1,
        )
        + "\n"
    )
    fragile = [c.key for c in claims.values() if c.fragile()]
    failed = [c.key for c in claims.values() if not all(c.passed.values())]
    print(f"{len(claims)} claims; {len(failed)} fail a seed; {len(fragile)} fragile")
    print(f"wrote {args.markdown} and {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
