"""How long a teaching assistant waits: `deepnotes exercise grade NAME FOLDER --json` on a
class of 30 submissions (correct, with each known mistake, and broken: syntax errors,
exceptions, infinite loops, allocations without bound), run as a user runs it, in a fresh
process, with the default limits (10 s and 1 GiB per file). The start of a bare Python
(`python -c pass`), measured in the same run, is the reference.

    python benchmarks/grading.py [EXERCISE]      writes benchmarks/GRADING.md
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.exercises.submissions import broken, solution, with_mistake  # noqa: E402

from deepnotes.registry import EXERCISES  # noqa: E402

CLASS_SIZE = 30


def class_folder(name: str, folder: Path) -> dict[str, str]:
    """30 files: 2 of each broken kind (8), one of each mistake in turn up to 12, the rest
    correct; the kind of each file by its name."""
    exercise = EXERCISES.card(name)
    kinds: dict[str, str] = {}
    files: dict[str, str] = {}
    for why, text in broken(exercise).items():
        for copy in range(2):
            files[f"broken-{why}-{copy}.py"], kinds[f"broken-{why}-{copy}.py"] = text, why
    mistakes = itertools.cycle(exercise.mistakes)
    for i in range(12):
        mistake = next(mistakes)
        file = f"mistake-{i:02d}.py"
        files[file], kinds[file] = with_mistake(exercise, mistake), mistake.name
    while len(files) < CLASS_SIZE:
        file = f"correct-{len(files):02d}.py"
        files[file], kinds[file] = solution(exercise), "correct"
    for file, text in files.items():
        (folder / file).write_text(text)
    return kinds


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, result


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "batchnorm2d"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        kinds = class_folder(name, folder)
        bare, _ = timed([sys.executable, "-c", "pass"])
        command = [sys.executable, "-m", "deepnotes", "exercise", "grade", name, str(folder)]
        command += ["--json", "--seed", "0", "--out", str(Path(tmp) / "grades.csv")]
        seconds, result = timed(command)
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        rows = json.loads(result.stdout)
    right = sum(
        (r["score"] == 1.0) == (kinds[r["file"]] == "correct")
        and (
            kinds[r["file"]] in ("correct", "syntax", "raises", "loops", "hoards")
            or r["diagnosis"] == kinds[r["file"]]
        )
        for r in rows
    )
    lines = [
        "# Grading a class",
        "",
        f"`python benchmarks/grading.py {name}` on {os.cpu_count()} cores: "
        f"`deepnotes exercise grade {name} FOLDER --json` on {len(rows)} files "
        "(8 broken: 2 each of a syntax error, an exception, an infinite loop and an "
        "allocation without bound; 12 with known mistakes; 10 correct), default limits "
        "(10 s, 1 GiB per file), in a fresh process.",
        "",
        "| measured | seconds | ratio to `python -c pass` |",
        "|---|---|---|",
        f"| `python -c pass` | {bare:.3f} | 1 |",
        f"| grade {len(rows)} files | {seconds:.1f} | {seconds / bare:.0f} |",
        "",
        f"Rows written: {len(rows)}; graded as their kind (score 1 exactly for the correct "
        f"ones, each mistake diagnosed by its name): {right} of {len(rows)}.",
        "",
    ]
    (ROOT / "benchmarks" / "GRADING.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
