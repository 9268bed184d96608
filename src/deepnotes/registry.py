"""Registries: one name → one builder, with the card that describes it.

A registry replaces a hand-kept list (timm's model registry): `deepnotes models`,
the tour, the README map and the parametrised tests all ask a registry which
models, data sets, experiments and tasks exist.

    @MODELS.register("lenet5", ModelCard(task="classification", ...))
    def lenet5(**kwargs): ...

    MODELS.create("lenet5", num_classes=10)   # calls the builder
    MODELS.names("resnet*")                   # fnmatch pattern
    MODELS.card("lenet5").paper               # a typed card (deepnotes.cards)

Each registry fills itself completely on its first lookup: it imports the package
that holds its entries (`deepnotes.models`, ...), whose `__init__` imports its
modules one by one, so importing `deepnotes` stays cheap and no registration hides
behind `import *`.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from deepnotes.cards import DataCard, ExperimentCard, FaultCard, ModelCard
from deepnotes.errors import UnknownNameError

CardT = TypeVar("CardT")


@dataclass(frozen=True)
class Entry(Generic[CardT]):
    """A registered name: the builder to call and its card."""

    name: str
    builder: Callable[..., Any]
    card: CardT


class Registry(Generic[CardT]):
    """A name → builder table for one kind of thing (model, data set, experiment, task).

    `card_type`, when given, is the type every entry's card must have (a
    `deepnotes.cards.ModelCard` for models); a registry without one (the tasks,
    whose classes describe themselves) takes entries without a card.
    """

    def __init__(
        self,
        kind: str,
        populate: str | None = None,
        listed_by: str = "",
        card_type: type[CardT] | None = None,
    ) -> None:
        self.kind = kind
        self.listed_by = listed_by  # the command that lists the names, for error messages
        self.card_type = card_type
        self._populate = populate  # module whose import registers the entries
        self._entries: dict[str, Entry[CardT]] = {}
        self._populated = populate is None

    def register(
        self, name: str | None = None, card: CardT | None = None
    ) -> Callable[[Callable], Callable]:
        """Decorator: register the function (or class) under `name` (default: its own name)."""
        if self.card_type is not None and not isinstance(card, self.card_type):
            raise TypeError(f"a {self.kind} is registered with a {self.card_type.__name__}")

        def decorate(builder: Callable) -> Callable:
            key = name or builder.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = Entry(key, builder, card)
            return builder

        return decorate

    def _load(self) -> None:
        if not self._populated:
            self._populated = True
            importlib.import_module(self._populate)

    def get(self, name: str) -> Entry[CardT]:
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

    def card(self, name: str) -> CardT:
        """The card registered with `name` (an unknown name raises with the closest names)."""
        return self.get(name).card

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching an fnmatch pattern, in registration order."""
        self._load()
        return [n for n in self._entries if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[CardT]]:
        self._load()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


MODELS: Registry[ModelCard] = Registry(
    "model", populate="deepnotes.models", listed_by="deepnotes models", card_type=ModelCard
)
DATASETS: Registry[DataCard] = Registry(
    "data set", populate="deepnotes.data", listed_by="deepnotes data", card_type=DataCard
)
EXPERIMENTS: Registry[ExperimentCard] = Registry(
    "experiment",
    populate="deepnotes.experiments",
    listed_by="deepnotes experiments",
    card_type=ExperimentCard,
)
TASKS: Registry[None] = Registry("task", populate="deepnotes.tasks")  # a task describes itself
FAULTS: Registry[FaultCard] = Registry(
    "fault", populate="deepnotes.faults", listed_by="deepnotes faults", card_type=FaultCard
)
# an exercise's card is its `deepnotes.exercises.base.Exercise` (it holds the grading code)
EXERCISES: Registry[Any] = Registry(
    "exercise", populate="deepnotes.exercises", listed_by="deepnotes exercises"
)
