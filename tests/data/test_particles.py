"""The springs data set: Hooke's law, the energy, the integrators, shapes and seeds."""

from __future__ import annotations

import pytest
import torch

from deepnotes.data import particles
from deepnotes.data.base import DataRequest
from deepnotes.errors import UserError
from deepnotes.registry import DATASETS


def systems(count: int = 20, particle_count: int = 5, seed: int = 0):
    return particles.random_systems(count, particle_count, torch.Generator().manual_seed(seed))


def largest_energy_error(method: str, steps: int, dt: float = particles.DT) -> float:
    """max_t |E_t − E_0| / E_0 of the median of 20 systems, over `steps` steps of `method`."""
    positions, velocities, springs = systems()
    trajectory = particles.integrate(
        positions, velocities, particles.true_acceleration(springs), steps, dt, method
    )
    energies = particles.energy(*trajectory, springs)  # (T + 1, S)
    return float(((energies - energies[0]).abs() / energies[0]).amax(0).median())


def test_the_accelerations_are_minus_the_gradient_of_the_springs_energy():
    """Unit masses: a = F = −∇_p U, U = Σ_{i<j} ½ k_ij (|r_ij| − L)², by autograd."""
    positions, velocities, springs = systems(count=4)
    positions.requires_grad_(True)
    potential = particles.energy(positions, torch.zeros_like(velocities), springs).sum()
    (gradient,) = torch.autograd.grad(potential, positions)
    accelerations = particles.spring_accelerations(positions.detach(), springs)
    assert torch.allclose(accelerations, -gradient, atol=1e-12)  # float64: rounding ~1e-15


def test_velocity_verlet_keeps_the_energy_and_explicit_euler_does_not():
    """2,000 steps of the data's Δt (100 time units, ~60 periods of the stiffest springs).
    Verlet's error stays an O(Δt²) oscillation: 0.0054 here, so 0.02 leaves a margin of ~4
    for other draws' closer encounters; Euler multiplies E by 1 + ω²Δt² per step (~1e8)."""
    assert largest_energy_error("verlet", 2000) <= 0.02
    assert largest_energy_error("euler", 2000) > 0.02


def test_verlet_energy_error_is_second_order_in_the_time_step():
    """Halving Δt over the same time divides Verlet's energy error by ~4 = 2² (5.5
    measured; 3 allows for the few close encounters that dominate it)."""
    coarse = largest_energy_error("verlet", 1000)
    fine = largest_energy_error("verlet", 2000, particles.DT / 2)
    assert coarse / fine >= 3


def test_a_verlet_step_is_the_formula():
    """p' = p + v Δt + ½ a Δt², v' = v + ½ (a + a') Δt, a' at p'."""
    positions, velocities, springs = systems(count=3)
    physics = particles.true_acceleration(springs)
    a = physics(positions, velocities)
    dt = 0.1
    new_positions, new_velocities, new_a = particles.verlet_step(
        positions, velocities, a, physics, dt
    )
    expected_positions = positions + velocities * dt + 0.5 * a * dt**2
    assert torch.allclose(new_positions, expected_positions, atol=1e-12)
    assert torch.allclose(new_a, physics(expected_positions, velocities), atol=1e-12)
    assert torch.allclose(new_velocities, velocities + 0.5 * (a + new_a) * dt, atol=1e-12)


def test_the_springs_are_symmetric_without_self_loops_and_about_half_the_pairs():
    springs = particles.random_springs(400, 6, torch.Generator().manual_seed(0))
    assert torch.equal(springs, springs.transpose(-1, -2))
    assert springs.diagonal(dim1=-2, dim2=-1).abs().sum() == 0
    rows, columns = torch.triu_indices(6, 6, offset=1)
    upper = springs[:, rows, columns]  # (400, 15): each pair once
    joined = upper > 0
    assert 0.45 <= joined.float().mean() <= 0.55  # 6,000 pairs: sd of the share ≈ 0.0065
    low, high = particles.STIFFNESS
    assert low <= upper[joined].min() and upper[joined].max() <= high


def test_the_registered_set_matches_its_card_and_its_seed():
    card = DATASETS.card("springs")
    bundle = DATASETS.get("springs").builder(DataRequest(roots=(), seed=3))
    assert bundle.kind == card.kind and bundle.input_size == card.input_size == (5, 4)
    assert bundle.num_classes is None and card.task == "physics"
    for split, count in particles.SPLIT_SYSTEMS:
        state, springs, accelerations = bundle.split(split).tensors
        states = count * (particles.STEPS + 1)
        assert state.shape == (states, 5, 4) and state.dtype == torch.float32
        assert springs.shape == (states, 5, 5) and accelerations.shape == (states, 5, 2)
        assert torch.allclose(
            accelerations, particles.spring_accelerations(state[..., :2], springs), atol=1e-5
        )  # the true accelerations of each state, float32 rounding ~1e-7
    again = DATASETS.get("springs").builder(DataRequest(roots=(), seed=3))
    other = DATASETS.get("springs").builder(DataRequest(roots=(), seed=4))
    assert all(
        torch.equal(a, b)
        for a, b in zip(bundle.split("test").tensors, again.split("test").tensors, strict=True)
    )
    assert not torch.equal(bundle.split("test").tensors[0], other.split("test").tensors[0])


@pytest.mark.parametrize("particle_count", [2, 5, 8])
def test_a_simulated_trajectory_follows_its_own_physics(particle_count):
    """Each state of a trajectory is the Verlet step of the one before; the first is the
    random start, and the springs stay those of the system."""
    generator = torch.Generator().manual_seed(particle_count)
    states, springs = particles.simulate(3, particle_count, 10, generator)
    assert states.shape == (3, 11, particle_count, 4) and springs.shape == (
        3,
        particle_count,
        particle_count,
    )
    physics = particles.true_acceleration(springs)
    before = states[:, 4]
    positions, velocities, _ = particles.verlet_step(
        before[..., :2], before[..., 2:], physics(before[..., :2], None), physics, particles.DT
    )
    assert torch.allclose(torch.cat([positions, velocities], -1), states[:, 5], atol=1e-12)


def test_integrate_names_an_unknown_method():
    """A misspelt method is the user's mistake, said as such (not a KeyError from inside)."""
    positions, velocities, springs = systems(2)
    with pytest.raises(UserError, match="verlet, euler"):
        particles.integrate(
            positions, velocities, particles.true_acceleration(springs), 3, method="leapfrog"
        )
