"""Architecture search by trial and error: regularised (ageing) evolution and random search.

The notes (week 4, after Inception): "If not sure, just take all options and let the
optimization decide or even learn this through trial and error (genetic algorithm,
AmoebaNet)". AmoebaNet was found by *regularised evolution* (Real, Aggarwal, Huang &
Le 2019, "Regularized evolution for image classifier architecture search", AAAI),
Algorithm 1 of the paper:

    population ← empty queue                      ▷ the youngest on the right
    history ← ∅
    while |population| < P:                       ▷ P random architectures to start
        model.arch ← RandomArchitecture()
        model.accuracy ← TrainAndEval(model.arch)
        add model to the right of population; add model to history
    while |history| < C:                          ▷ C architectures trained in all
        sample ← S elements of population drawn at random (with replacement)
        parent ← the highest-accuracy model in sample        ▷ tournament selection
        child.arch ← Mutate(parent.arch)
        child.accuracy ← TrainAndEval(child.arch)
        add child to the right of population; add child to history
        remove dead from the left of population   ▷ the OLDEST dies, not the worst
    return the highest-accuracy model in history

Ageing is the "regularisation": a model survives only as long as its descendants
keep winning tournaments, so an architecture that scored well once by the luck of
its training cannot stay in the population forever. Random search, the baseline
the paper compares with (and which the literature finds hard to beat at small
budgets), trains C random architectures. With S = 1 the "best of the sample" is
one random member: selection is gone and evolution is a random walk.

The search knows nothing of networks: a `SearchSpace` draws and mutates genomes,
`fitness` trains and scores one (the experiment `architecture-search` trains a
small CNN on digits; the tests use a toy fitness with no training). The loop calls
`select_parent` and `remove_oldest` through this module, so that a planted fault
(`deepnotes.faults.search`) reaches them.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

Genome = TypeVar("Genome")


class SearchSpace(Protocol[Genome]):
    """What a search needs of its space: a random genome, and a small change of one."""

    def sample(self, rng: random.Random) -> Genome: ...

    def mutate(self, genome: Genome, rng: random.Random) -> Genome: ...


@dataclass(frozen=True)
class Candidate(Generic[Genome]):
    """One trained architecture: its genome, its fitness (validation accuracy) and `born`,
    its place in the order of training (0 for the first; smaller is older)."""

    genome: Genome
    fitness: float
    born: int


@dataclass(frozen=True)
class Cycle(Generic[Genome]):
    """One cycle of evolution: the parent, the child, the member removed, and the
    population left (oldest first)."""

    parent: Candidate[Genome]
    child: Candidate[Genome]
    removed: Candidate[Genome]
    population: tuple[Candidate[Genome], ...]


@dataclass(frozen=True)
class Search(Generic[Genome]):
    """What a search did: every candidate in the order trained (`history`), and for
    evolution each cycle (none for random search)."""

    history: list[Candidate[Genome]]
    cycles: list[Cycle[Genome]]

    def best(self) -> Candidate[Genome]:
        """The highest-fitness candidate trained (the first of equals)."""
        return max(self.history, key=lambda c: c.fitness)

    def best_so_far(self) -> list[float]:
        """The best fitness after each candidate trained: the search's progress curve."""
        best, curve = -float("inf"), []
        for candidate in self.history:
            best = max(best, candidate.fitness)
            curve.append(best)
        return curve


def select_parent(sample: Sequence[Candidate[Genome]]) -> Candidate[Genome]:
    """Tournament selection: the fittest of the sample (the first of equals)."""
    return max(sample, key=lambda c: c.fitness)


def remove_oldest(population: deque[Candidate[Genome]]) -> Candidate[Genome]:
    """Ageing: the member at the left of the queue, the one trained longest ago, dies."""
    return population.popleft()


def regularized_evolution(
    space: SearchSpace[Genome],
    fitness: Callable[[Genome], float],
    candidates: int,
    population_size: int,
    sample_size: int,
    rng: random.Random,
) -> Search[Genome]:
    """Real et al.'s Algorithm 1: `candidates` (C) trained in all, the first
    `population_size` (P) at random, then each cycle a tournament among
    `sample_size` (S) members drawn with replacement, the winner's mutated child
    trained and added on the right, the oldest removed on the left."""
    if not 1 <= population_size <= candidates or sample_size < 1:
        raise ValueError(
            f"need 1 ≤ P ≤ C and S ≥ 1, got P={population_size}, C={candidates}, S={sample_size}"
        )
    history: list[Candidate[Genome]] = []

    def train(genome: Genome) -> Candidate[Genome]:
        candidate = Candidate(genome, fitness(genome), born=len(history))
        history.append(candidate)
        return candidate

    population: deque[Candidate[Genome]] = deque()  # oldest on the left
    while len(population) < population_size:
        population.append(train(space.sample(rng)))
    cycles = []
    while len(history) < candidates:
        sample = [rng.choice(population) for _ in range(sample_size)]
        parent = select_parent(sample)
        child = train(space.mutate(parent.genome, rng))
        population.append(child)
        removed = remove_oldest(population)
        cycles.append(Cycle(parent, child, removed, tuple(population)))
    return Search(history, cycles)


def random_search(
    space: SearchSpace[Genome],
    fitness: Callable[[Genome], float],
    candidates: int,
    rng: random.Random,
) -> Search[Genome]:
    """The baseline: `candidates` architectures drawn at random, each trained."""
    history: list[Candidate[Genome]] = []
    for born in range(candidates):
        genome = space.sample(rng)
        history.append(Candidate(genome, fitness(genome), born))
    return Search(history, cycles=[])
