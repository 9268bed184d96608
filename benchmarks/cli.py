"""How long the everyday commands take, run as a user runs them: each in a fresh process,
the median of REPEATS runs, beside the start of a bare Python (`python -c pass`) measured
in the same run. The lookups (`--help`, `conv`, `models`, `experiments`, `data`) read the
catalog and import no torch; `sample` loads a trained char model (a GPT trained for a few
steps here, on tiny-shakespeare when a data root holds it, else on Python's own docs).

    python benchmarks/cli.py      writes benchmarks/CLI.md
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 5
DEEPNOTES = [sys.executable, "-m", "deepnotes"]


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def train_char_model(out: Path) -> str:
    """A gpt_char run in `out`, trained for 3 steps; the data set it was trained on."""
    for data in ("tinyshakespeare", "pydoc-topics"):
        train = [*DEEPNOTES, "train", "gpt_char", "--data", data, "--max-steps", "3"]
        result = subprocess.run(
            [*train, "--no-progress", "--out", str(out)], capture_output=True, text=True
        )
        if result.returncode == 0:
            return data
    raise SystemExit(f"could not train a char model: {result.stderr.strip()}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "char-run"
        data = train_char_model(run)
        commands = {  # what is run → its target in seconds on 2 cores (issue 24)
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            "deepnotes --help": ([*DEEPNOTES, "--help"], 0.5),
            "deepnotes conv --input 5 --kernel 3": (
                [*DEEPNOTES, "conv", "--input", "5", "--kernel", "3"],
                0.5,
            ),
            "deepnotes models": ([*DEEPNOTES, "models"], 3.0),
            "deepnotes experiments": ([*DEEPNOTES, "experiments"], 3.0),
            "deepnotes data": ([*DEEPNOTES, "data"], 3.0),
            f"deepnotes sample RUN --n 120 ({data})": (
                [*DEEPNOTES, "sample", str(run), "--n", "120"],
                5.0,
            ),
        }
        seconds = {name: median_seconds(command) for name, (command, _) in commands.items()}
    bare = seconds["python -c pass"]
    lines = [
        "# Everyday commands",
        "",
        f"`python benchmarks/cli.py` on {os.cpu_count()} cores: each command in a fresh "
        f"process, the median of {REPEATS} runs.",
        "",
        "| command | seconds | ratio to `python -c pass` | target | within |",
        "|---|---|---|---|---|",
    ]
    for name, (_, target) in commands.items():
        within = "" if target is None else ("yes" if seconds[name] < target else "NO")
        shown = "" if target is None else f"< {target:g} s"
        lines.append(
            f"| `{name}` | {seconds[name]:.3f} | {seconds[name] / bare:.0f} | {shown} | {within} |"
        )
    text = "\n".join(lines) + "\n"
    (Path(__file__).parent / "CLI.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
