"""The particle-physics experiment's measurements: the error against the truth, the scale of
the motion (constant velocity) and the energy read off a rollout's positions."""

from __future__ import annotations

import torch

from deepnotes.data import particles
from deepnotes.experiments.particle_physics import (
    constant_velocity,
    new_systems,
    position_errors,
    rollout_energy,
    rollouts,
)


def test_without_springs_the_true_rollout_is_constant_velocity():
    """Free particles: Verlet with a = 0 moves each at its velocity, so the scale of the
    motion (constant velocity's error) measures only what the springs do."""
    states, springs = new_systems(5, torch.Generator().manual_seed(0))
    paths = rollouts({}, states, torch.zeros_like(springs))
    one_step, many = position_errors(paths["constant velocity"], paths["true physics"])
    assert one_step < 1e-24 and many < 1e-24  # the same straight lines, to float64 rounding
    with_springs = rollouts({}, states, springs)
    one_step, many = position_errors(
        with_springs["constant velocity"], with_springs["true physics"]
    )
    assert many > 0.05 and one_step > 0  # the springs bend every test set's paths


def test_the_energy_read_off_the_true_rollout_is_conserved():
    """Velocities by central differences are O(Δt²) off: the truth's mean energy stays within
    0.1% of its start (0.03% measured on three draws), where constant velocity, the springs
    stretched freely, gains several times its energy (×4–5)."""
    states, springs = new_systems(5, torch.Generator().manual_seed(1))
    paths = rollouts({}, states, springs)
    energies = rollout_energy(paths, springs)
    truth = energies["true physics"]
    assert ((truth - truth[0]).abs() / truth[0]).max() < 1e-3
    free = energies["constant velocity"]
    assert ((free - free[0]).abs() / free[0]).max() > 1


def test_constant_velocity_is_the_straight_line():
    states = torch.randn(3, 4, 4, dtype=torch.float64)
    path = constant_velocity(states, 10)
    assert path.shape == (11, 3, 4, 2)
    end = states[..., :2] + 10 * particles.DT * states[..., 2:]
    assert torch.allclose(path[-1], end, atol=1e-12)
