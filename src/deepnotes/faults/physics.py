"""Faults in the learned simulator: Verlet's half-steps dropped, a spring as one directed edge,
the effects averaged."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.data import particles
from deepnotes.faults.base import replaced
from deepnotes.models import physics
from deepnotes.registry import FAULTS


@FAULTS.register(
    "verlet-as-euler",
    FaultCard(
        mistake="Velocity Verlet written without its half-steps: p' = p + v Δt, v' = v + a Δt "
        "(the ½ a Δt² and the average of a and a' dropped), which is explicit Euler's step",
        consequence="what is left is explicit Euler, first order and not symplectic: on a "
        "spring of frequency ω every step multiplies the energy by 1 + ω²Δt², so over a long "
        "trajectory the energy the springs should keep grows without bound",
        replaces="deepnotes.data.particles.verlet_step",
        targets=("particle-physics/verlet-conserves-energy",),
    ),
)
def verlet_as_euler() -> AbstractContextManager[None]:
    return replaced(particles, "verlet_step", particles.euler_step)


def spring_edges_one_way(springs: Tensor) -> tuple[Tensor, Tensor]:
    """Each spring stored once, as an undirected edge list often is: j → i for i < j only, so
    only one end of each spring feels it."""
    systems, i, j = torch.triu(springs, diagonal=1).nonzero(as_tuple=True)
    particles_per_system = springs.shape[-1]
    offset = systems * particles_per_system
    return torch.stack([offset + j, offset + i]), springs[systems, i, j]


@FAULTS.register(
    "springs-as-one-way-edges",
    FaultCard(
        mistake="The interaction network's graph holds each spring once, as the edge j → i "
        "(i < j), not in both directions",
        consequence="message passing carries an effect from sender to receiver only: the "
        "particle at the other end of each spring receives nothing from it, so half of the "
        "forces are missing, no training can put them back, and the rollouts drift off with "
        "the springs that cannot pull",
        replaces="deepnotes.models.physics.spring_edges",
        targets=(
            "particle-physics/interaction-network-beats-mlp-5x",
            "particle-physics/interaction-network-takes-more-particles",
        ),
    ),
)
def springs_as_one_way_edges() -> AbstractContextManager[None]:
    return replaced(physics, "spring_edges", spring_edges_one_way)


@FAULTS.register(
    "interaction-network-averages-effects",
    FaultCard(
        mistake="The interaction network aggregates the effects at each particle by their mean, "
        "E_i = mean_{j → i} e_ij, not their sum",
        consequence="forces add, and the mean divides them by the particle's number of springs "
        "and hides that number from the object model: a particle with four springs gets the "
        "pull of one average spring, no training can tell it from a particle with one, and the "
        "rollouts drift off, on 5 particles and more so on more particles than trained on (more "
        "springs per particle)",
        replaces="deepnotes.models.physics.InteractionNetwork.aggregation",
        targets=(
            "particle-physics/interaction-network-beats-mlp-5x",
            "particle-physics/interaction-network-takes-more-particles",
        ),
    ),
)
def interaction_network_averages_effects() -> AbstractContextManager[None]:
    return replaced(physics.InteractionNetwork, "aggregation", "mean")
