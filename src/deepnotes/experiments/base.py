"""Experiments: each checkable sentence of the notes, measured and judged.

An experiment is a registered function `run(ctx: Context) -> None` that
measures something (a simulation, a trained model, a computed tensor), draws
figures with `ctx.figure(...)`, adds tables with `ctx.table(...)`, and states
claims with `ctx.claim(...)`. A claim compares a *measured* value with a
threshold taken from the notes or a formula; its verdict is computed, never
written down:

    ctx.claim("conv-output", "i=5, k=4, p=2 gives o=6 (notes)",
              measured=arith_output_width, op="==", target=6)

A claim must be able to fail. Either a fault (`deepnotes.faults`: a mistake
planted in the package's code) turns it red, or it carries a *control*: the same
measurement on something that must not pass (an untrained network, the network
without the layer the claim credits), and the claim passes only if the measured
value does and the control does not:

    ctx.claim("relu-bends", "...", accuracy, ">", 0.97,
              control=Control("the same network untrained", untrained_accuracy))

What follows from arithmetic alone (18/25 weights, the range of a sigmoid) is no
verdict: `ctx.derived(...)` shows it in its own table.

`run_experiment` times the function (with a fault planted, when asked) and returns
a `Result`, which the report turns into a page section and `summary.json` into data.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import sys
import time
import traceback
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no screen

import matplotlib.pyplot as plt

from deepnotes.io import write_json
from deepnotes.registry import EXPERIMENTS, FAULTS

COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Control:
    """The same measurement on something that must fail the claim: what it is, its value."""

    label: str
    measured: float | int | str


@dataclass
class Claim:
    """One sentence of the notes with the value measured for it and the verdict.

    With a `control`, `passed` needs the measured value to pass and the control's to fail
    (`control_failed`); a control that passes shows the claim cannot tell them apart.
    """

    id: str
    statement: str
    measured: float | int | str
    op: str
    target: float | int | str
    passed: bool
    control: Control | None = None
    control_failed: bool | None = None

    @property
    def expected(self) -> str:
        return f"{self.op} {format_value(self.target)}"


@dataclass
class Derived:
    """A number that follows from arithmetic alone, shown with how it is got, no verdict."""

    id: str
    statement: str
    value: float | int | str
    how: str


@dataclass
class Quote:
    """A sentence of the course notes (`docs/course-notes.txt`) that a section measures, as
    written there, with its line number; `english` renders a passage the notes wrote in
    Chinese. `tests/experiments` checks that the text stands on that line."""

    line: int
    text: str
    english: str | None = None


@dataclass
class Figure:
    path: str  # relative to the report's root
    caption: str


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Result:
    """What one experiment produced: its figures, tables, claims, notes and run time."""

    name: str
    title: str
    topic: str
    mode: str
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    derived: list[Derived] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    error: str | None = None
    fault: str | None = None  # the fault planted for this run, if any
    seed: int = 0
    skipped: list[str] = field(default_factory=list)  # the parts that could not run, and why

    @property
    def passed(self) -> bool:
        """No error and no claim failed (a part skipped is not a failure)."""
        return self.error is None and all(c.passed for c in self.claims)

    @property
    def status(self) -> str:
        """ "error", "failed", "skipped" (every claim that ran passed, but a part of the
        experiment could not run: its data are missing) or "passed"."""
        if self.error is not None:
            return "error"
        if not self.passed:
            return "failed"
        return "skipped" if self.skipped else "passed"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["status"] = self.status
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """The Result that `to_dict` (and `result.json`) describes; `passed` is recomputed."""
        fields = {key: value for key, value in data.items() if key not in ("passed", "status")}
        claims = [
            Claim(**{**claim, "control": claim["control"] and Control(**claim["control"])})
            for claim in fields.pop("claims")
        ]
        return cls(
            **fields
            | {
                "claims": claims,
                "figures": [Figure(**figure) for figure in fields["figures"]],
                "tables": [Table(**table) for table in fields["tables"]],
                "derived": [Derived(**value) for value in fields["derived"]],
                "quotes": [Quote(**quote) for quote in fields["quotes"]],
            }
        )


def json_value(value: Any) -> Any:
    """What JSON lacks, as JSON: numpy and torch numbers and arrays as numbers and lists, any
    other object as its text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def format_value(value: Any) -> str:
    """A number as a person would write it: 6, 0.9731, 1.2e-07."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (
        math.isfinite(value) and value == int(value) and abs(value) < 1e15
    ):
        return f"{int(value):,}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.3g}"
    return f"{value:.4f}"


class TargetsMeasured(BaseException):
    """Raised by `Context.claim` once every claim in `Context.stop_after` is recorded, to end
    a faulted run early. A BaseException, so that an experiment's own `except Exception`
    (one that turns a crash under a fault into a red claim) does not swallow it."""


class Context:
    """What an experiment is given (mode, seed, output folder) and what it records.

    `stop_after`: claim ids after which the run may end (the claims a planted fault
    targets, when only they are wanted); None runs the experiment to its end.
    """

    def __init__(
        self,
        name: str,
        out_dir: Path,
        root: Path,
        quick: bool = True,
        seed: int = 0,
        data_dir: str | None = None,
        stop_after: frozenset[str] | None = None,
    ) -> None:
        self.name = name
        self.out_dir = Path(out_dir)  # this experiment's own folder
        self.root = Path(root)  # the report's folder; figure paths are relative to it
        self.quick = quick
        self.seed = seed
        self.data_dir = data_dir
        self.figures: list[Figure] = []
        self.tables: list[Table] = []
        self.claims: list[Claim] = []
        self.derived_values: list[Derived] = []
        self.notes: list[str] = []
        self.skipped: list[str] = []
        self.quotes: list[Quote] = []
        self.stop_after = stop_after
        self.started = time.perf_counter()
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def figure(self, fig: plt.Figure, filename: str, caption: str) -> Path:
        """Save a matplotlib figure as PNG in this experiment's folder and list it."""
        path = self.out_dir / filename
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(Figure(path.relative_to(self.root).as_posix(), caption))
        return path

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tables.append(Table(title, columns, [list(r) for r in rows]))

    def note(self, text: str) -> None:
        """A visible remark in the report (e.g. "tiny-shakespeare not found: another text
        used")."""
        self.notes.append(text)

    def stage(self, description: str) -> None:
        """Say that a long experiment starts one of its parts: a line on stderr with the
        seconds since the experiment began, so a tour says where it is."""
        from tqdm.auto import tqdm

        elapsed = time.perf_counter() - self.started
        tqdm.write(f"  {self.name}: {description} (at {elapsed:.0f} s)", file=sys.stderr)

    def skip(self, reason: str) -> None:
        """A part of the experiment that could not run, and why (its data set is missing):
        the section shows "skipped" with the reason, counted apart from the passes."""
        self.skipped.append(reason)

    def quote(self, line: int, text: str, english: str | None = None) -> None:
        """Name the sentence of the notes that the measurements after it test: `text` as it
        stands on `line` of `docs/course-notes.txt` (a part of the line will do)."""
        self.quotes.append(Quote(line, text, english))

    def claim(
        self,
        id: str,
        statement: str,
        measured: float | int | str,
        op: str,
        target: Any,
        control: Control | None = None,
    ) -> Claim:
        """Judge `measured op target` and record it; a NaN measurement always fails. With a
        `control`, the claim passes only if the control's value fails the same comparison."""
        if op not in COMPARISONS:
            raise ValueError(f"unknown comparison {op!r}")
        passed = holds(measured, op, target)
        # a control that measured nothing (NaN) shows nothing: it does not count as failed
        control_failed = (
            None
            if control is None
            else not is_nan(control.measured) and not holds(control.measured, op, target)
        )
        passed = passed and control_failed is not False
        claim = Claim(id, statement, measured, op, target, passed, control, control_failed)
        self.claims.append(claim)
        if self.stop_after is not None and self.stop_after <= {c.id for c in self.claims}:
            raise TargetsMeasured
        return claim

    def derived(self, id: str, statement: str, value: float | int | str, how: str) -> None:
        """Record a number that follows from arithmetic alone (no verdict), with `how`."""
        self.derived_values.append(Derived(id, statement, value, how))


def is_nan(value: float | int | str) -> bool:
    return isinstance(value, float) and math.isnan(value)


def holds(measured: float | int | str, op: str, target: Any) -> bool:
    """`measured op target`, false for a NaN measurement."""
    return not is_nan(measured) and bool(COMPARISONS[op](measured, target))


def run_experiment(
    name: str,
    out: str | Path,
    quick: bool = True,
    seed: int = 0,
    data_dir: str | None = None,
    fault: str | None = None,
    stop_after_targets: bool = False,
) -> Result:
    """Run one registered experiment into `out/<name>/`, with the registered `fault` planted
    if one is named; an exception becomes a failed Result. With `stop_after_targets`, a
    faulted run ends as soon as every claim the fault targets here is recorded (the faults'
    tests need only those), and says so in a note."""
    entry = EXPERIMENTS.get(name)
    planted = FAULTS.create(fault) if fault is not None else contextlib.nullcontext()
    stop_after = None
    if fault is not None and stop_after_targets:
        prefix = f"{name}/"
        wanted = [t for t in FAULTS.card(fault).targets if t.startswith(prefix)]
        stop_after = frozenset(t.removeprefix(prefix) for t in wanted) or None
    root = Path(out)
    ctx = Context(name, root / name, root, quick, seed, data_dir, stop_after)
    start = time.perf_counter()
    error = None
    try:
        with planted:
            entry.builder(ctx)
    except TargetsMeasured:
        ctx.note("Stopped once the claims the planted fault targets were measured.")
    except Exception:  # one experiment failing must not take the report down
        error = traceback.format_exc(limit=8)
    result = Result(
        name=name,
        title=entry.card.title,
        topic=entry.card.topic,
        mode="quick" if quick else "full",
        seconds=time.perf_counter() - start,
        figures=ctx.figures,
        tables=ctx.tables,
        claims=ctx.claims,
        derived=ctx.derived_values,
        notes=ctx.notes,
        skipped=ctx.skipped,
        quotes=ctx.quotes,
        error=error,
        fault=fault,
        seed=seed,
    )
    write_json(root / name / "result.json", result.to_dict(), default=json_value)
    return result


def run_experiments(
    names: list[str],
    out: str | Path,
    quick: bool = True,
    seed: int = 0,
    data_dir: str | None = None,
    fault: str | None = None,
) -> list[Result]:
    """Run the experiments `names` into `out`, one line each on the way (name, verdict,
    claims passed, seconds; the last line of an error)."""
    from tqdm.auto import tqdm

    results = []
    bar = tqdm(names, desc="experiments", unit="exp", disable=len(names) == 1 or None)
    for name in bar:
        bar.set_postfix_str(name)
        result = run_experiment(name, out, quick, seed, data_dir, fault)
        passed = sum(c.passed for c in result.claims)
        status = {"passed": "ok", "skipped": "skip"}.get(result.status, "FAILED")
        tqdm.write(
            f"{name:<24} {status:<6} {passed}/{len(result.claims)} claims  {result.seconds:6.1f} s"
        )
        for reason in result.skipped:
            tqdm.write(f"  skipped: {reason}")
        if result.error:
            tqdm.write(result.error.rstrip().splitlines()[-1])
        results.append(result)
    return results


def results_in(out: str | Path, leave_out: Collection[str] = ()) -> list[Result]:
    """The results of registered experiments already written in the folder `out`
    (`out/NAME/result.json`), in registration order, but those named in `leave_out`; a
    result.json that cannot be read is passed over."""
    found = []
    for name in EXPERIMENTS.names():
        path = Path(out) / name / "result.json"
        if name in leave_out or not path.is_file():
            continue
        try:
            found.append(Result.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError, KeyError):  # damaged, or from another version
            continue
    return found


def targeted(result: Result) -> list[str]:
    """The ids of the claims of `result`'s experiment that its planted fault targets."""
    if result.fault is None:
        return []
    prefix = f"{result.name}/"
    return [
        t.removeprefix(prefix) for t in FAULTS.card(result.fault).targets if t.startswith(prefix)
    ]


def caught(results: list[Result]) -> tuple[list[str], list[str]]:
    """("experiment/claim" of the targeted claims that turned red, of every targeted claim);
    a claim the faulted run never reached (it raised first) did not turn red."""
    red, every = [], []
    for result in results:
        verdicts = {c.id: c.passed for c in result.claims}
        for claim in targeted(result):
            every.append(f"{result.name}/{claim}")
            if verdicts.get(claim) is False:
                red.append(f"{result.name}/{claim}")
    return red, every
