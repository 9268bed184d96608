"""What `deepnotes models`, `experiments` and `data` list, read from `catalog.json` beside
this file, so that listing imports no torch: counting the zoo's parameters and
multiply-adds means building 93 models (a minute of CPU), and the registries alone import
torch (seconds).

    rows("models")                  the zoo's rows: card, parameters, GMACs
    python benchmarks/catalog.py    rewrite the stale sections of catalog.json (in a checkout)

Each section of the catalog records the SHA-256 of the source files its rows are made from
(`SOURCES`). A section whose files have changed since is not used: its rows are made from
the registries again, as slowly as before, with a note on stderr; and
`tests/cli/test_catalog.py` fails until the catalog is rewritten. The measured quick-mode
time of each experiment is kept apart, in `experiments/timings.json`
(`benchmarks/timings.py` rewrites it from a tour).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from deepnotes.io import write_json

CATALOG = Path(__file__).with_name("catalog.json")
PACKAGE = Path(__file__).resolve().parents[1]  # the deepnotes package folder
TIMINGS = PACKAGE / "experiments" / "timings.json"
# what each section's rows are made from, relative to the package folder: a model's row
# from its builder, the layers (and the graph layers), its task's example input (tasks
# import data) and the per-layer counting
SOURCES: dict[str, tuple[str, ...]] = {
    "models": ("models", "nn", "graph", "tasks", "data", "summary.py", "arith.py", "cards.py"),
    "experiments": ("experiments", "cards.py"),
    "data": ("data", "cards.py"),
}


def sources_digest(section: str) -> str:
    """SHA-256 over the names and bytes of the Python files `section`'s rows are made from."""
    digest = hashlib.sha256()
    for name in SOURCES[section]:
        path = PACKAGE / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(PACKAGE).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()


def live_rows(section: str) -> list[dict[str, Any]]:
    """`section`'s rows made from the registries (imports torch; the models' take a minute)."""
    if section == "models":
        from deepnotes.models.catalog import model_rows

        return model_rows()
    if section == "experiments":
        from deepnotes.registry import EXPERIMENTS

        return [{"name": e.name, "topic": e.card.topic, "title": e.card.title} for e in EXPERIMENTS]
    from deepnotes.registry import DATASETS

    return [
        {
            "name": e.name,
            "kind": e.card.kind,
            "input_size": list(e.card.input_size),
            "num_classes": e.card.num_classes,
            "source": e.card.source,
            "licence": e.card.licence,
            "files": list(e.card.files),
        }
        for e in DATASETS
    ]


def read_catalog() -> dict[str, Any]:
    return json.loads(CATALOG.read_text()) if CATALOG.is_file() else {}


def rows(section: str) -> list[dict[str, Any]]:
    """`section`'s rows: from the catalog while its sources are unchanged, else from the
    registries, with a note on stderr saying how to bring the catalog up to date."""
    stored = read_catalog().get(section)
    if stored is not None and stored["sources"] == sources_digest(section):
        return stored["rows"]
    print(
        f"note: the {section} in {CATALOG.name} are out of date with their source, so they "
        "are listed from the registries (slower); `python benchmarks/catalog.py` in a "
        "checkout rewrites it",
        file=sys.stderr,
    )
    return live_rows(section)


def matches(name: str, pattern: str | None) -> bool:
    """A glob pattern ("resnet*", "*_tiny"); a plain word matches the names that contain it."""
    if not pattern:
        return True
    glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
    return fnmatch.fnmatchcase(name, glob)


def quick_timings() -> tuple[str, dict[str, float]]:
    """Each experiment's quick-mode seconds as measured (`timings.json`, rewritten by
    `python benchmarks/timings.py SUMMARY.json` from a tour), and on what they were."""
    data = json.loads(TIMINGS.read_text())
    return data["measured"], data["quick_seconds"]


def rewrite() -> list[str]:
    """Make the stale sections of catalog.json again; the sections rewritten."""
    catalog = read_catalog()
    digests = {section: sources_digest(section) for section in SOURCES}
    stale = [s for s in SOURCES if catalog.get(s, {}).get("sources") != digests[s]]
    for section in stale:
        catalog[section] = {"sources": digests[section], "rows": live_rows(section)}
    write_json(CATALOG, {s: catalog[s] for s in SOURCES})
    return stale
