"""Registries: one name → one builder, with metadata the CLI, report and tests read.

A registry replaces a hand-kept list (STYLE.md, timm): `deepnotes models`, the
tour, the README map and the parametrised tests all ask a registry which
models, data sets and experiments exist.

    MODELS.register("lenet5", task="classification", input_size=(1, 28, 28), ...)
    def lenet5(**kwargs): ...

    MODELS.create("lenet5", num_classes=10)   # calls the builder
    MODELS.names("resnet*")                   # fnmatch pattern
    MODELS.meta("lenet5")["paper"]

Each registry fills itself lazily: the first lookup imports the package that
holds its entries (`deepnotes.models`, ...), whose `__init__` imports its
modules one by one, so importing `deepnotes` stays cheap and no registration
hides behind `import *`.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from deepnotes.errors import UnknownNameError


@dataclass(frozen=True)
class Entry:
    """A registered name: the builder to call and its metadata."""

    name: str
    builder: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)


class Registry:
    """A name → builder table for one kind of thing (model, data set, experiment)."""

    def __init__(self, kind: str, populate: str | None = None, listed_by: str = "") -> None:
        self.kind = kind
        self.listed_by = listed_by  # the command that lists the names, for error messages
        self._populate = populate  # module whose import registers the entries
        self._entries: dict[str, Entry] = {}
        self._populated = populate is None

    def register(self, name: str | None = None, **meta: Any) -> Callable[[Callable], Callable]:
        """Decorator: register the function under `name` (default: its own name)."""

        def decorate(builder: Callable) -> Callable:
            key = name or builder.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = Entry(key, builder, dict(meta))
            return builder

        return decorate

    def _load(self) -> None:
        if not self._populated:
            self._populated = True
            importlib.import_module(self._populate)

    def get(self, name: str) -> Entry:
        """The entry called `name`; an unknown name raises with the closest names."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        names = list(self._entries)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        if close:
            hint = f"; did you mean {', '.join(close)}?"
        else:  # nothing similar: still name the nearest few, so the line is never a dead end
            nearest = difflib.get_close_matches(name, names, n=3, cutoff=0.0)
            hint = f"; the closest are {', '.join(nearest)}" if nearest else ""
        listing = f" (`{self.listed_by}` lists them all)" if self.listed_by else ""
        return f"unknown {self.kind} {name!r}{hint}{listing}"

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build `name`; arguments left as None do not override the builder's defaults."""
        given = {k: v for k, v in kwargs.items() if v is not None}
        return self.get(name).builder(**given)

    def meta(self, name: str) -> dict[str, Any]:
        return self.get(name).meta

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching an fnmatch pattern, in registration order."""
        self._load()
        return [n for n in self._entries if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        self._load()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


MODELS = Registry("model", populate="deepnotes.models", listed_by="deepnotes models")
DATASETS = Registry("data set", populate="deepnotes.data", listed_by="deepnotes data")
EXPERIMENTS = Registry(
    "experiment", populate="deepnotes.experiments", listed_by="deepnotes experiments"
)
TASKS = Registry("task", populate="deepnotes.train.tasks")
