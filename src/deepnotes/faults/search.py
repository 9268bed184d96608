"""Faults in the architecture search's machinery: ageing that kills the newest member, and a
tournament won by the worst."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.registry import FAULTS
from deepnotes.train import search


def remove_newest(population: deque[search.Candidate[Any]]) -> search.Candidate[Any]:
    """`pop()` for `popleft()`: the right end of the queue, the child just added, dies."""
    return population.pop()


@FAULTS.register(
    "ageing-removes-the-newest",
    FaultCard(
        mistake="Regularised evolution removes a member with deque.pop(), the right end, "
        "instead of popleft(), the left",
        consequence="the child just trained dies at once: the population never changes after "
        "its first P, ageing never happens, and every cycle mutates the same founders",
        replaces="deepnotes.train.search.remove_oldest",
        targets=("architecture-search/ageing-removes-the-oldest",),
    ),
)
def ageing_removes_the_newest() -> AbstractContextManager[None]:
    return replaced(search, "remove_oldest", remove_newest)


def select_worst(sample: Sequence[search.Candidate[Any]]) -> search.Candidate[Any]:
    """min for max: the fitness read as if it were a loss."""
    return min(sample, key=lambda c: c.fitness)


@FAULTS.register(
    "tournament-picks-the-worst",
    FaultCard(
        mistake="The tournament's parent is the sample's lowest-fitness member, accuracy "
        "minimised as if it were a loss",
        consequence="selection pushes the wrong way: the children descend from the worst "
        "cells and score below random ones",
        replaces="deepnotes.train.search.select_parent",
        targets=("architecture-search/selection-pays",),
    ),
)
def tournament_picks_the_worst() -> AbstractContextManager[None]:
    return replaced(search, "select_parent", select_worst)
