"""Rewrite `src/deepnotes/cli/catalog.json`, the listings of `deepnotes models`,
`experiments` and `data`, in the sections whose source files changed since it was made
(`deepnotes.cli.catalog`; the models' section builds every model, about a minute of CPU).

    python benchmarks/catalog.py
"""

from __future__ import annotations

from deepnotes.cli.catalog import CATALOG, rewrite

if __name__ == "__main__":
    rewritten = rewrite()
    print(f"{CATALOG}: rewrote {', '.join(rewritten) or 'nothing (it was up to date)'}")
