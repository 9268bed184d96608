"""What an exercise is, and how a student's implementation is graded against the package's.

An exercise asks a student to write one function or class the package already holds
(the `reference`, written in the exercise's own signature). Grading runs both on the
same random `Case`s — fresh ones for every check, from a seed — and compares the
named outputs that `run` returns (values, gradients, buffers), case by case:

    exercise = EXERCISES.card("conv-output-size")
    report = grade(exercise, student_function, seed=0)
    report.score            # the fraction of cases passed
    report.first_failure    # the inputs that break it, expected and actual
    report.diagnosis        # the known mistake it makes, if it is one

A student's mistake is often one the package already knows: a fault of
`deepnotes.faults` (planted around the reference, it gives the outputs a student
with that mistake gets) or a `Mistake` written with the exercise (`wrong`). A
student's outputs that equal a mistake's on every case it can run — and that
mistake is not right on all of them — are diagnosed as that mistake, in one
sentence with the line of the notes or the paper it contradicts.

The grading here runs in the process that calls it; `sandbox.py` runs it in a child
process with limits, which is how the command line runs a student's file.
"""

from __future__ import annotations

import copy
import errno
import math
import random
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from deepnotes.registry import EXERCISES, FAULTS


@dataclass(frozen=True)
class Case:
    """One graded call: its settings in one line, and the inputs `run` hands over.

    `inputs` are what the exercise's `run` needs (tensors, sizes, flags); the grader
    prints the small tensors among them when the case fails.
    """

    settings: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Mistake:
    """A known mistake: a registered fault (planted around the reference), or a wrong
    implementation in the exercise's signature (`wrong`).

    Attributes:
        name: the fault's registered name, or the mistake's own.
        sentence: the mistake in one sentence, as the diagnosis says it.
        source: the line of the notes or the paper it contradicts ("notes line 231",
            "Kingma & Ba (2015), Algorithm 1").
        wrong: the mistaken implementation; None for a registered fault.
    """

    name: str
    sentence: str
    source: str
    wrong: Callable[..., Any] | None = None

    def planted(self) -> AbstractContextManager[None]:
        """The fault planted (a registered fault), or nothing (a `wrong` implementation)."""
        return nullcontext() if self.wrong is not None else FAULTS.create(self.name)


@dataclass(frozen=True)
class Exercise:
    """An exercise: what the student writes, how it is run, and what it is compared with.

    Attributes:
        title: the exercise in a few words.
        topic: the syllabus topic ("2. Convolution arithmetic").
        entry: the name the student's file must define (a function or a class).
        starter: the starter file: imports, the signature, the docstring with the formula
            and the shapes, and `TODO` in the body.
        reference: the package's implementation, in the exercise's signature.
        cases: random cases from a seeded generator, small ones first, covering the
            settings the reference supports.
        run: calls an implementation (the student's, the reference, a mistake) on a case
            and returns its named outputs (values, gradients, buffers).
        solution: the dotted names of the package's own code, which `hint --solution`
            shows beside the reference.
        hints: a short sequence, from a nudge to nearly the answer.
        mistakes: the known mistakes the grader can name.
        rtol, atol: how close a float output must be (inputs are float64, so a correct
            implementation is within about 1e-12; the tolerance leaves room for a
            different but sound order of operations).
    """

    title: str
    topic: str
    entry: str
    starter: str
    reference: Callable[..., Any]
    cases: Callable[[random.Random], Sequence[Case]]
    run: Callable[[Callable[..., Any], Case], Mapping[str, Any]]
    solution: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    mistakes: tuple[Mistake, ...] = ()
    rtol: float = 1e-5
    atol: float = 1e-7

    def mistake(self, name: str) -> Mistake:
        """The known mistake called `name`."""
        for mistake in self.mistakes:
            if mistake.name == name:
                return mistake
        raise KeyError(f"exercise {self.title!r} knows no mistake {name!r}")


def register(name: str, exercise: Exercise) -> Exercise:
    """Register `exercise` under `name` in `EXERCISES` (its builder is the reference)."""
    EXERCISES.register(name, exercise)(exercise.reference)
    return exercise


def randn(rng: random.Random, *shape: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """A standard normal tensor drawn from `rng` (so a case depends on the seed alone)."""
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    return torch.randn(*shape, generator=generator, dtype=dtype)


def gradients(
    outputs: Sequence[Tensor], inputs: Sequence[Tensor], cotangents: Sequence[Tensor]
) -> tuple[Tensor, ...]:
    """The vector-Jacobian products ∂⟨outputs, cotangents⟩/∂inputs, for `run` to compare.

    An input the outputs do not depend on, or outputs cut from the graph (a student's
    `.detach()`, a tensor built anew), get zeros: the student sees the gradient that
    differs from the package's, not an error of torch's raised as if from their call.
    """
    pairs = [(o, c) for o, c in zip(outputs, cotangents, strict=True) if o.requires_grad]
    if not pairs:
        return tuple(torch.zeros_like(x) for x in inputs)
    found = torch.autograd.grad(
        [o for o, _ in pairs], list(inputs), [c for _, c in pairs], allow_unused=True
    )
    return tuple(
        torch.zeros_like(x) if g is None else g for x, g in zip(inputs, found, strict=True)
    )


# ----------------------------------------------------------------------------- comparing


def _brief(value: Any, limit: int = 240) -> str:
    """A value on one line: small tensors in full, large ones by shape, containers item by
    item; cut at `limit` characters."""
    if isinstance(value, Tensor):
        if value.numel() <= 24:
            text = repr(value.detach())
        else:
            text = f"tensor of shape {tuple(value.shape)}, dtype {str(value.dtype)[6:]}"
    elif isinstance(value, (list, tuple)):
        items = ", ".join(_brief(item, limit) for item in value)
        text = f"[{items}]" if isinstance(value, list) else f"({items})"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k!r}: {_brief(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def difference(actual: Any, expected: Any, rtol: float, atol: float) -> str | None:
    """Why `actual` is not `expected` (None when it is): shapes, types, then values."""
    if isinstance(expected, Tensor):
        if not isinstance(actual, Tensor):
            try:
                actual = torch.as_tensor(actual)
            except (TypeError, ValueError, RuntimeError):
                return f"expected a tensor, got {type(actual).__name__}"
        if tuple(actual.shape) != tuple(expected.shape):
            return f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
        if expected.dtype == torch.bool or not expected.is_floating_point():
            if actual.is_floating_point() or actual.is_complex():
                return f"expected {str(expected.dtype)[6:]} values, got {str(actual.dtype)[6:]}"
            same = torch.equal(actual.detach().to(expected.dtype), expected)
        else:
            a, e = actual.detach().double(), expected.detach().double()
            same = bool(torch.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True))
            if not same:
                error = (a - e).abs().nan_to_num(math.inf).max().item()
                return f"largest difference {error:.3g}"
        return None if same else "the values differ"
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        if math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol):
            return None
        return "the values differ"
    if isinstance(expected, (tuple, list)) and isinstance(actual, (tuple, list)):
        if len(actual) != len(expected):
            return f"expected {len(expected)} items, got {len(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            why = difference(a, e, rtol, atol)
            if why is not None:
                return f"item {i}: {why}"
        return None
    if type(actual) is not type(expected) and not (
        isinstance(expected, int) and isinstance(actual, int) and not isinstance(actual, bool)
    ):
        why = f"expected {type(expected).__name__}, got {type(actual).__name__}"
        if hasattr(actual, "item"):  # a numpy or torch scalar where a Python number belongs
            why += f" (return a Python {type(expected).__name__}: .item())"
        return why
    return None if actual == expected else "the values differ"


def first_difference(
    actual: Mapping[str, Any], expected: Mapping[str, Any], rtol: float, atol: float
) -> tuple[str, str] | None:
    """The first output of `expected` that `actual` misses or gets wrong, with why."""
    for key, value in expected.items():
        if key not in actual:
            return key, "missing"
        why = difference(actual[key], value, rtol, atol)
        if why is not None:
            return key, why
    return None


# ----------------------------------------------------------------------------- grading


@dataclass
class Failure:
    """The first case that failed: its inputs, the output that differs (empty when the
    call raised), why, and both values."""

    case: str
    inputs: dict[str, str]
    output: str
    why: str
    expected: str
    actual: str


@dataclass
class Diagnosis:
    """A known mistake the student's outputs match, in one sentence with its source."""

    mistake: str
    sentence: str
    source: str


@dataclass
class Report:
    """A graded check: per-case verdicts, the first failure, a diagnosis, or an error.

    `error` is a one-line reason that no case could be graded (a syntax error, the
    entry missing, the time or memory limit); the score is then 0.
    """

    exercise: str
    seed: int
    cases: list[dict[str, Any]] = field(default_factory=list)
    first_failure: Failure | None = None
    diagnosis: Diagnosis | None = None
    error: str | None = None
    printed: str = ""  # the start of what the student's code printed
    seconds: float = 0.0  # how long the check took, from its child's start to its report

    @property
    def passed(self) -> int:
        return sum(case["passed"] for case in self.cases)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def score(self) -> float:
        return self.passed / self.total if self.cases and self.error is None else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(passed=self.passed, total=self.total, score=self.score)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """The report `to_dict` wrote (as a child process sends it)."""
        failure, diagnosis = data["first_failure"], data["diagnosis"]
        return cls(
            data["exercise"],
            data["seed"],
            cases=list(data["cases"]),
            first_failure=Failure(**failure) if failure else None,
            diagnosis=Diagnosis(**diagnosis) if diagnosis else None,
            error=data["error"],
            printed=data.get("printed", ""),
        )

    @classmethod
    def failed(cls, exercise: str, seed: int, error: str) -> Report:
        return cls(exercise, seed, error=error)


def exception_line(error: BaseException, filename: str | None = None) -> str:
    """`Type: message` in one line, with the line of `filename` where it was raised."""
    message = " ".join(str(error).split()) or "(no message)"
    where = ""
    if filename is not None:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
        if frames:
            where = f" (line {frames[-1].lineno})"
    text = f"{type(error).__name__}: {message}"
    return (text if len(text) <= 300 else text[:299] + "…") + where


class LimitError(Exception):
    """The student's code reached a limit of its process: `what` is "memory" or "output"
    (`sandbox.py` sets them); no later case could run, so the check ends."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def limit_reached(error: BaseException) -> str | None:
    """Which limit an exception comes from: "memory", "output" (a file grown past its
    limit: the printed output), or None for an ordinary mistake."""
    if isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    ):
        return "memory"
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        return "output"
    return None


def raise_if_limit(error: BaseException) -> None:
    """Raise `LimitError` when `error` comes from a limit of the process (the check ends)."""
    limit = limit_reached(error)
    if limit is not None:
        raise LimitError(limit) from error


def outputs_of(
    exercise: Exercise, implementation: Callable[..., Any], case: Case
) -> Mapping[str, Any]:
    """The implementation's outputs on a copy of the case (so no call sees another's
    changes to its inputs), with the torch seed fixed for implementations that draw."""
    torch.manual_seed(0)
    return exercise.run(implementation, copy.deepcopy(case))


def mistaken_outputs(exercise: Exercise, mistake: Mistake, cases: Sequence[Case]) -> list[Any]:
    """Each case's outputs with the mistake made (None where the mistake raises)."""
    results: list[Any] = []
    implementation = mistake.wrong or exercise.reference
    with mistake.planted():
        for case in cases:
            try:
                results.append(outputs_of(exercise, implementation, case))
            except Exception:  # the mistake cannot run this case: it decides nothing here
                results.append(None)
    return results


def diagnose(
    exercise: Exercise,
    actual: Sequence[Mapping[str, Any] | None],
    expected: Sequence[Mapping[str, Any]],
    mistaken: Mapping[str, Sequence[Any]],
) -> Diagnosis | None:
    """The known mistake that explains the student's failures: on every case where the
    mistake goes wrong, the student's outputs equal the mistake's. Of several, the one
    wrong on the most cases (the most evidence) is named; a student may make other
    mistakes beside it, on cases it does not touch."""
    tol = (exercise.rtol, exercise.atol)
    best, best_evidence = None, 0
    for mistake in exercise.mistakes:
        wrong = [
            (a, m)
            for a, m, e in zip(actual, mistaken[mistake.name], expected, strict=True)
            if m is not None and first_difference(m, e, *tol) is not None
        ]
        explained = all(a is not None and first_difference(a, m, *tol) is None for a, m in wrong)
        if wrong and explained and len(wrong) > best_evidence:
            best, best_evidence = mistake, len(wrong)
    return None if best is None else Diagnosis(best.name, best.sentence, best.source)


def grade(
    exercise: Exercise,
    name: str,
    load: Callable[[], Callable[..., Any]],
    seed: int,
    filename: str | None = None,
) -> Report:
    """Grade the implementation that `load` returns on the exercise's cases for `seed`.

    The expected outputs (and each known mistake's) are computed before `load` runs the
    student's code, so nothing the student's module does at import changes them.
    `filename` is the student's file, to point at its line when a call raises.
    """
    cases = list(exercise.cases(random.Random(seed)))
    expected = [outputs_of(exercise, exercise.reference, case) for case in cases]
    mistaken = {m.name: mistaken_outputs(exercise, m, cases) for m in exercise.mistakes}
    report = Report(name, seed)
    try:
        implementation = load()
    except Exception as error:
        raise_if_limit(error)
        report.error = exception_line(error, filename)
        return report
    actual: list[Mapping[str, Any] | None] = []
    tol = (exercise.rtol, exercise.atol)
    for case, want in zip(cases, expected, strict=True):
        output, found = None, None
        try:
            output = outputs_of(exercise, implementation, case)
        except Exception as error:
            raise_if_limit(error)
            found = ("", f"the call raised {exception_line(error, filename)}")
        else:
            try:
                found = first_difference(output, want, *tol)
            except Exception as error:  # an output of a kind the comparison cannot read
                found = ("", f"its outputs cannot be compared: {exception_line(error)}")
        actual.append(output)
        why = None if found is None else found[1]
        report.cases.append({"case": case.settings, "passed": found is None, "why": why})
        if found is not None and report.first_failure is None:
            key = found[0]
            report.first_failure = Failure(
                case.settings,
                {k: _brief(v) for k, v in case.inputs.items()},
                key,
                found[1],
                _brief(want[key]) if key else "",
                _brief(output.get(key, "(missing)")) if key and output is not None else "",
            )
    if report.first_failure is not None:
        report.diagnosis = diagnose(exercise, actual, expected, mistaken)
    return report
