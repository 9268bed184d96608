"""Cards: what the package knows about each registered model, data set and experiment.

A card is a frozen dataclass, so a field is named once, typed, and found by
its name in an editor (timm keeps such facts in its `default_cfg`, torchvision in
its `Weights` enums). The CLI, the report and the tests read cards through
their attributes; no module looks up a string key in a free dictionary.

    ModelCard        task, input size, classes, paper, reference parameter count
                     with its source, concepts, training defaults, which model it
                     is a variant of
    DataCard         kind, task, input size, classes, source, licence, where it lives
    ExperimentCard   title, syllabus topic, concepts
    FaultCard        a mistake planted in the package's code: what it is, what it breaks,
                     the function it replaces, the claims it turns red
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ParameterCount:
    """A published (or derived) parameter count and the setting it was counted at.

    `source` says where the number comes from (torchvision's weights, a paper's
    table, the layer formulas), so a test that rebuilds the model at `input_size`
    with `num_classes` and counts its parameters checks the package against it.
    """

    value: int
    input_size: tuple[int, ...]
    num_classes: int | None
    source: str


@dataclass(frozen=True)
class ModelCard:
    """What a registered model is, beside the builder that makes it.

    Attributes:
        task: the registered task that trains it ("classification", "gan", ...).
        family: the file of the zoo it belongs to ("resnet", "vgg", ...).
        paper: the paper (and any later one it follows).
        concepts: the course's concepts it teaches.
        input_size: one example's shape, (C, H, W) or (F,); None when any size fits.
        num_classes: outputs of a classifier; None for a model without classes.
        reference: its published parameter count; None for a variant, whose count
            differs by construction.
        train_defaults: `TrainConfig` settings that suit it (batch size, rate, ...).
        test_input_size: a smaller (C, H, W) at which the tests run a full-size model.
        torchvision: the name of the same model in `torchvision.models`, if any.
        torchvision_kwargs: arguments that make torchvision's model the same as ours.
        from_torchvision: maps a torchvision state dict onto our module names.
        variant: "full" (the paper's model), "small" (a small-image stem and head) or
            "tiny" (fewer, narrower blocks, for fast tests).
        variant_of: the full model a variant is made from.
    """

    task: str
    family: str
    paper: str
    concepts: tuple[str, ...]
    input_size: tuple[int, ...] | None
    num_classes: int | None
    reference: ParameterCount | None
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    test_input_size: tuple[int, ...] | None = None
    torchvision: str | None = None
    torchvision_kwargs: Mapping[str, Any] = field(default_factory=dict)
    from_torchvision: Callable[[dict], dict] | None = None
    variant: str = "full"
    variant_of: str | None = None

    def __post_init__(self) -> None:  # copies, so that no caller's dictionary changes a card
        object.__setattr__(self, "concepts", tuple(self.concepts))
        object.__setattr__(self, "train_defaults", dict(self.train_defaults))
        object.__setattr__(self, "torchvision_kwargs", dict(self.torchvision_kwargs))

    @property
    def example_input_size(self) -> tuple[int, ...]:
        """A size the model is built at when none is asked for: its own, else its reference's
        (a model that takes any size was counted at one)."""
        if self.input_size is not None:
            return tuple(self.input_size)
        if self.reference is None:
            raise ValueError("a model card needs an input size or a reference count")
        return tuple(self.reference.input_size)

    @property
    def example_num_classes(self) -> int | None:
        """The classes the model is built with when none are asked for (its reference's)."""
        return self.reference.num_classes if self.reference is not None else self.num_classes


@dataclass(frozen=True)
class DataCard:
    """What a registered data set is, before it is loaded.

    Attributes:
        kind: "images", "vectors", "text", "graph", "audio" or "translation".
        task: the task it is made for ("classification", "node", ...).
        input_size: one example's shape as the data set stores it.
        num_classes: its classes (the vocabulary for text); None where there are none.
        source: where it comes from (a paper, a URL, a generator).
        licence: under which terms.
        files: where its files lie under a data root, as glob patterns each of which
            must match a file ("fsdd/recordings/*.wav"); none for a set that is
            embedded or generated, so always available.
    """

    kind: str
    task: str
    input_size: tuple[int, ...]
    num_classes: int | None
    source: str
    licence: str
    files: tuple[str, ...] = ()

    def present(self, root: Path) -> bool:
        """Whether the data root `root` holds the files (existence only, no checksums)."""
        return files_present(root, self.files)

    def first_root(self, roots: Iterable[Path]) -> Path | None:
        """The first of `roots` that holds the files, or None (the lookup order is theirs)."""
        return next((root for root in roots if self.present(root)), None)


def files_present(root: Path, patterns: tuple[str, ...]) -> bool:
    """Whether each glob pattern matches a file under `root` (existence only)."""
    return all(any(path.is_file() for path in Path(root).glob(p)) for p in patterns)


@dataclass(frozen=True)
class ExperimentCard:
    """What a registered experiment measures: its title, its syllabus topic, the concepts,
    and what the course book shows beside its results.

    Attributes:
        formulas: the concept's formulas in LaTeX, typeset in the book (as MathML, offline).
        code: the dotted names of the functions or classes that implement the concept (their
            readable path, not a fast path); the book prints their source, read from the
            package at build time, with its `file:line`, so the page cannot drift from the code.
    """

    title: str
    topic: str
    concepts: tuple[str, ...] = ()
    formulas: tuple[str, ...] = ()
    code: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("concepts", "formulas", "code"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class FaultCard:
    """A plausible mistake, planted in the package's own code for the length of a run.

    Attributes:
        mistake: the mistake as a student makes it, in one sentence.
        consequence: what goes wrong, and why (the lesson of the fault).
        replaces: the function or method it replaces, by its dotted name.
        targets: the claims it turns red, each "experiment/claim-id".
        slow: whether the experiments it targets take long even in quick mode (the tests
            run its check with `-m slow`).
    """

    mistake: str
    consequence: str
    replaces: str
    targets: tuple[str, ...]
    slow: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))

    @property
    def experiments(self) -> tuple[str, ...]:
        """The experiments its targets belong to, in order, each once."""
        return tuple(dict.fromkeys(t.split("/")[0] for t in self.targets))


def imagenet_count(value: int, source: str) -> ParameterCount:
    """A count at torchvision's ImageNet setting: 3×224×224 images, 1,000 classes."""
    return ParameterCount(value, (3, 224, 224), 1000, source)


def imagenet_card(**fields: Any) -> ModelCard:
    """The card of an image classifier of the ImageNet papers: 3×224×224 inputs, 1,000
    classes (its `reference` an `imagenet_count`); `fields` give the rest."""
    return ModelCard(task="classification", input_size=(3, 224, 224), num_classes=1000, **fields)
