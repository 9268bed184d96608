"""Regularised evolution and random search on a toy fitness (no training): OneMax, the
number of ones in a bit string, where a mutation flips one bit."""

from __future__ import annotations

import random

import pytest

from deepnotes.train import search

BITS = 20


class BitStrings:
    """Strings of BITS bits, drawn uniformly; a mutation flips one bit."""

    def sample(self, rng: random.Random) -> tuple[int, ...]:
        return tuple(rng.randrange(2) for _ in range(BITS))

    def mutate(self, genome: tuple[int, ...], rng: random.Random) -> tuple[int, ...]:
        i = rng.randrange(BITS)
        return (*genome[:i], 1 - genome[i], *genome[i + 1 :])


def ones(genome: tuple[int, ...]) -> float:
    return float(sum(genome))


def evolve(seed: int, sample_size: int = 5) -> search.Search[tuple[int, ...]]:
    return search.regularized_evolution(
        BitStrings(), ones, 200, 20, sample_size, random.Random(seed)
    )


def test_ageing_keeps_p_and_removes_the_oldest() -> None:
    run = evolve(0)
    assert len(run.history) == 200 and len(run.cycles) == 180
    for cycle in run.cycles:
        born = [member.born for member in cycle.population]
        assert len(born) == 20
        assert cycle.removed.born == min(born) - 1  # the oldest, born just before the rest
        assert born == sorted(born) and born[-1] == cycle.child.born  # queue: oldest left


def test_the_parent_is_the_tournaments_best() -> None:
    run = evolve(1)
    rng = random.Random(1)
    for _ in range(20):  # the first P draws, as the loop makes them
        BitStrings().sample(rng)
    population = list(run.history[:20])
    for cycle in run.cycles:  # replay the tournaments with the same random numbers
        sample = [rng.choice(population) for _ in range(5)]
        assert cycle.parent == max(sample, key=lambda c: c.fitness)
        BitStrings().mutate(cycle.parent.genome, rng)
        population = [*population[1:], cycle.child]


@pytest.mark.parametrize("seed", range(5))
def test_evolution_beats_random_search_on_onemax(seed: int) -> None:
    # OneMax is smooth (a mutation moves the fitness by one), where selection must pay. A random
    # string has ≥ 19 ones with probability 21/2²⁰, so 200 of them reach 19 with probability
    # 0.4% (and 18 with 4%): evolution reaching 19 in the same 200 candidates is selection's
    # work, and random search, drawn alongside, stays below it
    evolved = evolve(seed).best().fitness
    drawn = search.random_search(BitStrings(), ones, 200, random.Random(seed)).best().fitness
    assert evolved >= 19 > drawn


def test_best_so_far_is_the_running_maximum() -> None:
    run = search.random_search(BitStrings(), ones, 50, random.Random(2))
    curve = run.best_so_far()
    assert curve == [max(c.fitness for c in run.history[: i + 1]) for i in range(50)]
    assert run.best().fitness == curve[-1]


def test_evolution_and_random_search_share_their_first_p() -> None:
    run = evolve(3)
    drawn = search.random_search(BitStrings(), ones, 20, random.Random(3))
    assert [c.genome for c in run.history[:20]] == [c.genome for c in drawn.history]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="P ≤ C"):
        search.regularized_evolution(BitStrings(), ones, 10, 20, 5, random.Random(0))
