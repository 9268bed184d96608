"""A student's file graded in a child process with limits: time, memory, printed output.

A teaching assistant runs code nobody has read. So `check` never imports the file in
its own process: a child process does, with

    time     the parent waits `seconds` for the report, then kills the child (an
             infinite loop); the child's CPU time is capped as well (RLIMIT_CPU);
    memory   its address space may grow by `memory_mib` beyond what it holds at the
             start (RLIMIT_AS), so an allocation without bound ends in MemoryError;
    output   what it prints goes to a file capped at `output_mib` (RLIMIT_FSIZE), so a
             print storm ends in a write refused (EFBIG: Python ignores SIGXFSZ)
             instead of a full disk; the start of what it printed comes back with the
             report, for a student who debugs with print.

Every way the child can end becomes a `Report` with a one-line `error` — a syntax
error, an exception, the limits, a crash (a signal), an exit before the report — and
never a traceback of the grader or a hang. The children are forked from a server
process that has imported torch and the exercises once (multiprocessing's
"forkserver"), so a check costs milliseconds to start, not the seconds of an import;
that is what lets `grade` run a class's folder in under a minute.

This guards against accidents, not against an adversary: the student's code runs
with the teaching assistant's permissions, in the same process as its grading.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import multiprocessing
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from deepnotes.exercises.base import LimitError, Report, exception_line, grade
from deepnotes.registry import EXERCISES

MIB = 1024 * 1024
PRINTED_SHOWN = 2048  # bytes of a student's printed output that come back with the report


@dataclass(frozen=True)
class Limits:
    """What one check may use: wall-clock seconds, extra memory, printed output."""

    seconds: float = 10.0
    memory_mib: int = 1024
    output_mib: float = 1.0


class SubmissionError(Exception):
    """The student's file cannot be graded as it is (its entry is missing)."""


def load_entry(path: str, entry: str) -> Callable[..., Any]:
    """Import the file at `path` as a module and return its `entry`."""
    spec = importlib.util.spec_from_file_location("submission", path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"{path} cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(Path(path).parent))  # the student's own modules beside the file
    sys.modules[spec.name] = module  # as an import would: the module lives on with its state
    spec.loader.exec_module(module)
    if not hasattr(module, entry):
        raise SubmissionError(f"the file defines no {entry!r}")
    return getattr(module, entry)


def _virtual_memory() -> int:
    """The bytes of address space this process holds now (VmSize)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")


def _set_limits(limits: Limits) -> None:
    cpu = math.ceil(limits.seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    space = _virtual_memory() + limits.memory_mib * MIB
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    output = int(limits.output_mib * MIB)
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))


def _check_in_child(
    connection: Connection, name: str, path: str, seed: int, limits: Limits
) -> None:
    """The child: limits, output to a capped file, grade, send the report's dict."""
    import torch

    torch.set_num_threads(1)  # children run side by side in `grade`
    printed = tempfile.TemporaryFile()  # noqa: SIM115 (open until the child ends)
    os.dup2(printed.fileno(), 1)
    os.dup2(printed.fileno(), 2)
    _set_limits(limits)
    exercise = EXERCISES.card(name)
    try:
        report = grade(exercise, name, lambda: load_entry(path, exercise.entry), seed, path)
    except LimitError as limit:
        report = Report.failed(name, seed, limit_message(limit.what, limits))
    except BaseException as error:  # SystemExit, a KeyboardInterrupt raised by the file...
        report = Report.failed(name, seed, exception_line(error, path))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a stream over its limit cannot flush
            stream.flush()
    size = printed.seek(0, os.SEEK_END)
    printed.seek(0)
    report.printed = printed.read(PRINTED_SHOWN).decode(errors="replace")
    if size > PRINTED_SHOWN:
        report.printed += f"\n… ({size:,} bytes in all)"
    connection.send(report.to_dict())
    connection.close()


_start_lock = threading.Lock()  # `grade` starts children from several threads


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    # the server imports torch and every exercise (and fault) once; each child forks from it
    context.set_forkserver_preload(["deepnotes.exercises", "deepnotes.faults"])
    return context


def limit_message(what: str, limits: Limits) -> str:
    """The one-line reason for a limit reached: "memory" or "output"."""
    if what == "memory":
        return f"ran out of memory (the limit is {limits.memory_mib} MiB more than at the start)"
    return f"printed more than {limits.output_mib:g} MiB"


def why_it_ended(exitcode: int | None, limits: Limits) -> str:
    """A child that sent no report, in one line: the signal or status that ended it."""
    if exitcode is None:
        return f"did not finish within {limits.seconds:g} s (an infinite loop?)"
    if exitcode < 0:
        number = -exitcode
        if number == signal.SIGXFSZ:
            return limit_message("output", limits)
        if number == signal.SIGXCPU:
            return f"used more than {math.ceil(limits.seconds)} s of CPU time"
        if number == signal.SIGKILL:
            return "was killed (SIGKILL: out of memory?)"
        return f"crashed ({signal.Signals(number).name})"
    return f"ended the process (exit status {exitcode}) before it could be graded"


def check_file(name: str, path: str | Path, seed: int, limits: Limits = Limits()) -> Report:
    """Grade the file at `path` for the exercise `name` in a child process with `limits`."""
    EXERCISES.get(name)  # an unknown name raises here, in the parent
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_check_in_child,
        args=(sender, name, str(Path(path).resolve()), seed, limits),
        daemon=True,
    )
    with _start_lock:
        process.start()
    sender.close()
    started = time.monotonic()
    deadline = started + limits.seconds
    finished = receiver.poll(limits.seconds)  # a report, or the pipe closed by its end
    data = None
    if finished:
        try:
            data = receiver.recv()
        except (EOFError, OSError):  # the child ended without a report
            data = None
    # a child that sent its report exits at once; one that closed the pipe by ending may
    # still be writing a core dump: it has what is left of its time to be done
    process.join(timeout=5 if data is not None else max(1.0, deadline - time.monotonic()))
    if process.is_alive():
        process.kill()
        process.join()
    receiver.close()
    if data is None:
        report = Report.failed(
            name, seed, why_it_ended(process.exitcode if finished else None, limits)
        )
    else:
        report = Report.from_dict(data)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def submissions(folder: str | Path) -> list[Path]:
    """The Python files directly in `folder`, by name: one submission each."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix == ".py" and p.is_file())


def grade_folder(
    name: str,
    folder: str | Path,
    seed: int,
    limits: Limits = Limits(),
    jobs: int | None = None,
    progress: Callable[[Path, Report], None] | None = None,
) -> list[tuple[Path, Report]]:
    """Grade every submission in `folder` on the same cases (one `seed`), `jobs` at a time
    (default: one per CPU), each in its own child process with `limits`."""
    from concurrent.futures import ThreadPoolExecutor

    files = submissions(folder)
    workers = jobs or os.cpu_count() or 1

    def one(path: Path) -> tuple[Path, Report]:
        report = check_file(name, path, seed, limits)
        if progress is not None:
            progress(path, report)
        return path, report

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, files))
