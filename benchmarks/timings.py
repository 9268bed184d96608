"""Rewrite `src/deepnotes/experiments/timings.json`, each experiment's quick-mode seconds,
from the summary.json of a quick tour run as measured: one process, torch on one thread,
on the machine `MEASURED_ON` describes (edit it when you measure on another).

    OMP_NUM_THREADS=1 deepnotes tour --quick --out tour
    python benchmarks/timings.py tour/summary.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TIMINGS = Path(__file__).resolve().parents[1] / "src" / "deepnotes" / "experiments" / "timings.json"
MEASURED_ON = (
    "the quick tour (deepnotes tour --quick), one experiment after another in one process "
    "with torch on one thread, on a 2-core x86-64 machine without a GPU (this project's "
    "development machine)"
)


def main() -> None:
    summary = json.loads(Path(sys.argv[1]).read_text())
    if any(e["mode"] != "quick" for e in summary["experiments"]):
        raise SystemExit("the timings are of quick mode: give a quick tour's summary.json")
    seconds = {e["name"]: round(e["seconds"], 1) for e in summary["experiments"]}
    TIMINGS.write_text(
        json.dumps({"measured": MEASURED_ON, "quick_seconds": seconds}, indent=2) + "\n"
    )
    print(f"{len(seconds)} experiments, {sum(seconds.values()) / 60:.1f} min: {TIMINGS}")


if __name__ == "__main__":
    main()
