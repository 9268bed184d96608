"""Imports go down the layers written in docs/ARCHITECTURE.md, and never round in a circle.

Every module's imports are read with `ast` — function-local ones and those under
`TYPE_CHECKING` included — and each `deepnotes` import is placed in its layer by the
numbered list of the document, so the document and the code cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "src" / "deepnotes"
ARCHITECTURE = PROJECT / "docs" / "ARCHITECTURE.md"


def documented_layers(text: str) -> dict[str, int]:
    """`{"nn": 2, "train": 7, ...}` from the numbered list between the layer markers."""
    section = text.split("<!-- layers")[1].split("<!-- end of layers -->")[0]
    layers = {}
    for number, names in re.findall(r"^(\d+)\. (.+)$", section, flags=re.MULTILINE):
        for name in re.findall(r"`([\w.]+)`", names):
            layers[name] = int(number)
    return layers


def module_name(path: Path, root: Path) -> str:
    """`deepnotes/nn/conv.py` → `deepnotes.nn.conv`; a package's `__init__` is the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, here: str, modules: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every `deepnotes` import in a file, wherever it stands; `from
    deepnotes.train import checkpoint` counts as an import of `deepnotes.train.checkpoint`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node, here, path.name == "__init__.py")
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((node.lineno, submodule if submodule in modules else base))
    return [(line, m) for line, m in found if m == "deepnotes" or m.startswith("deepnotes.")]


def absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    """The module a `from … import` in module `here` names, a relative one
    (`from ..train import run`) resolved against `here`'s own package."""
    if node.level == 0:
        return node.module or ""
    package = here if is_package else here.rpartition(".")[0]
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def layer_of(module: str, layers: dict[str, int]) -> int:
    """A module's layer: that of its first name under `deepnotes` (the package root and
    `__main__`, which only runs the command line, count as the first and the last)."""
    parts = module.split(".")
    if len(parts) == 1:
        return 0  # `deepnotes` itself: the version
    if parts[1] == "__main__":
        return max(layers.values())
    if parts[1] not in layers:
        raise AssertionError(f"{module} is in no layer of docs/ARCHITECTURE.md")
    return layers[parts[1]]


def upward_imports(root: Path, layers: dict[str, int]) -> list[str]:
    """Every import of a module from a module of a lower layer, as `file:line: a → b`. The
    package root is left out as the importer: its module `__getattr__` is the Python API,
    which imports from every layer on first use (docs/ARCHITECTURE.md)."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    problems = []
    for path in files:
        here = module_name(path, root)
        if here == "deepnotes":
            continue
        for line, target in imported_modules(path, here, modules):
            if layer_of(target, layers) > layer_of(here, layers):
                rel = path.relative_to(root.parent)
                problems.append(
                    f"{rel}:{line}: {here} (layer {layer_of(here, layers)}) imports "
                    f"{target} (layer {layer_of(target, layers)})"
                )
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Circles of module imports (a → b → … → a), a package's `__init__` importing its own
    modules left out (Python runs it first whatever is imported)."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        here = module_name(path, root)
        graph[here] = {
            target
            for _, target in imported_modules(path, here, modules)
            if target != here and not (path.name == "__init__.py" and target.startswith(here))
        }
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


LAYERS = documented_layers(ARCHITECTURE.read_text())


def test_the_document_places_every_part_of_the_package():
    parts = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and not p.name.startswith("__")
    }
    assert parts == set(LAYERS), "docs/ARCHITECTURE.md and src/deepnotes/ list other parts"
    assert LAYERS["errors"] == 0 and LAYERS["cli"] == max(LAYERS.values())


def test_no_import_goes_up_the_layers():
    assert upward_imports(PACKAGE, LAYERS) == []


def test_no_imports_go_round_in_a_circle():
    assert import_cycles(PACKAGE) == []


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "deepnotes"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


@pytest.mark.parametrize(
    "source",
    [
        "from deepnotes.train.run import train\n",  # at the top
        "def f():\n    from deepnotes.train import run\n    return run\n",  # inside a function
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import deepnotes.train.run\n",
        "def f():\n    from ..train.run import train\n    return train\n",
    ],
    ids=["top-level", "function-local", "type-checking", "relative"],
)
def test_an_upward_import_is_caught(tmp_path: Path, source: str):
    """A layer-2 module (`nn`) importing the trainer (layer 7) is reported, wherever the
    import stands; the same import from the CLI (layer 10) is not."""
    package = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "nn/__init__.py": "",
            "nn/bad.py": source,
            "train/__init__.py": "",
            "train/run.py": "def train(): ...\n",
            "cli/__init__.py": source,
        },
    )
    problems = upward_imports(package, LAYERS)
    assert len(problems) == 1
    assert problems[0].startswith("deepnotes/nn/bad.py:")
    assert "deepnotes.nn.bad (layer 2) imports deepnotes.train.run (layer 7)" in problems[0]


def test_a_circle_behind_a_function_local_import_is_caught(tmp_path: Path):
    package = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "train/__init__.py": "",
            "train/a.py": "from deepnotes.train.b import g\n",
            "train/b.py": "def g():\n    from deepnotes.train.a import x\n    return x\n",
        },
    )
    assert import_cycles(package) == [
        ["deepnotes.train.a", "deepnotes.train.b", "deepnotes.train.a"]
    ]
