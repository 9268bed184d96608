"""Particles joined by springs, simulated by the package: physics for a GNN to learn (notes,
week 8, "applications of GNNs in … high-energy physics").

    springs   5 particles in the plane, each pair joined by a spring with probability ½
              (spring constant k ~ U[0.5, 1.5], rest length 1, unit masses), started at
              random positions in [−1, 1]² with random velocities and integrated by
              velocity Verlet at Δt = 0.05; an example is one state of a trajectory and
              the true accelerations there

The physics. Hooke's law on every spring, r_ij = p_j − p_i the offset from i to j:

    F_i = Σ_j k_ij (|r_ij| − L) r_ij / |r_ij|,     a_i = F_i / m_i  (m_i = 1)
    E   = Σ_i ½ m_i |v_i|² + Σ_{i<j} ½ k_ij (|r_ij| − L)²      kinetic + spring potential

Velocity Verlet (Verlet 1967; Swope et al. 1982), symplectic and second order:

    p' = p + v Δt + ½ a Δt²,   a' = a(p'),   v' = v + ½ (a + a') Δt

It keeps a nearby "shadow" energy exactly, so the energy's error stays bounded, O(Δt²),
over any number of steps. Explicit Euler (p' = p + v Δt, v' = v + a Δt) is first order
and not symplectic: on a spring of frequency ω it multiplies the energy by 1 + ω²Δt² at
every step, so the energy drifts up without bound.

Where a learned model gives the accelerations, it may read the velocities too: Verlet calls
`acceleration(p', v + a Δt/2)`, its half-step velocity, and Euler `acceleration(p', v')`;
the springs' forces (positions only) ignore them.

Shapes: positions and velocities (..., N, 2), springs (..., N, N) symmetric, k_ij or 0
(no spring, and 0 on the diagonal); a state is (..., N, 4) = (p_x, p_y, v_x, v_y).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Generator, Tensor
from torch.utils.data import TensorDataset

from deepnotes.cards import DataCard
from deepnotes.data.base import DataBundle, DataRequest
from deepnotes.errors import UserError
from deepnotes.registry import DATASETS

PARTICLES = 5
DT = 0.05  # the data's time step, and every rollout's
REST_LENGTH = 1.0
SPRING_PROBABILITY = 0.5
STIFFNESS = (0.5, 1.5)  # k ~ U[0.5, 1.5]
BOX = 1.0  # initial positions uniform in [−BOX, BOX]²
SPEED = 0.5  # initial velocities N(0, SPEED²) per coordinate
STEPS = 40  # steps per trajectory in the registered set
SPLIT_SYSTEMS = (("train", 200), ("val", 25), ("test", 25))  # trajectories per split

# (positions (..., N, 2), velocities (..., N, 2)) → accelerations (..., N, 2)
Acceleration = Callable[[Tensor, Tensor], Tensor]


def spring_accelerations(
    positions: Tensor, springs: Tensor, rest_length: float = REST_LENGTH
) -> Tensor:
    """Hooke's law, a_i = Σ_j k_ij (|r_ij| − L) r_ij / |r_ij| (unit masses): (..., N, 2)."""
    offsets = positions.unsqueeze(-3) - positions.unsqueeze(-2)  # (..., N, N, 2): r_ij = p_j − p_i
    distances = offsets.norm(dim=-1, keepdim=True)  # (..., N, N, 1)
    pull = springs.unsqueeze(-1) * (distances - rest_length) / distances.clamp(min=1e-9)
    return (pull * offsets).sum(dim=-2)  # i ≠ j only: k_ii = 0


def energy(
    positions: Tensor, velocities: Tensor, springs: Tensor, rest_length: float = REST_LENGTH
) -> Tensor:
    """E = Σ_i ½ |v_i|² + Σ_{i<j} ½ k_ij (|r_ij| − L)²: (...) (each spring counted once)."""
    kinetic = 0.5 * velocities.pow(2).sum(dim=(-1, -2))
    distances = (positions.unsqueeze(-3) - positions.unsqueeze(-2)).norm(dim=-1)  # (..., N, N)
    stretch = springs * (distances - rest_length).pow(2)
    return kinetic + 0.25 * stretch.sum(dim=(-1, -2))  # ½ · ½: both (i, j) and (j, i) summed


def verlet_step(
    positions: Tensor,
    velocities: Tensor,
    accelerations: Tensor,
    acceleration: Acceleration,
    dt: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """One velocity-Verlet step: (p', v', a'), a' = acceleration(p', v + a Δt/2)."""
    half_step = velocities + 0.5 * dt * accelerations
    new_positions = positions + dt * half_step  # p + v Δt + ½ a Δt²
    new_accelerations = acceleration(new_positions, half_step)
    return new_positions, half_step + 0.5 * dt * new_accelerations, new_accelerations


def euler_step(
    positions: Tensor,
    velocities: Tensor,
    accelerations: Tensor,
    acceleration: Acceleration,
    dt: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """One explicit Euler step, first order: p' = p + v Δt, v' = v + a Δt."""
    new_positions = positions + dt * velocities
    new_velocities = velocities + dt * accelerations
    return new_positions, new_velocities, acceleration(new_positions, new_velocities)


def integrate(
    positions: Tensor,
    velocities: Tensor,
    acceleration: Acceleration,
    steps: int,
    dt: float = DT,
    method: str = "verlet",
) -> tuple[Tensor, Tensor]:
    """`steps` steps of `method` ("verlet" or "euler") from (p, v): the positions and
    velocities at every step, the start included: (steps + 1, ..., N, 2) each."""
    steps_by_method = {"verlet": verlet_step, "euler": euler_step}  # looked up now: faults reach it
    if method not in steps_by_method:
        raise UserError(f"method must be one of {', '.join(steps_by_method)}, got {method!r}")
    step = steps_by_method[method]
    accelerations = acceleration(positions, velocities)
    all_positions, all_velocities = [positions], [velocities]
    for _ in range(steps):
        positions, velocities, accelerations = step(
            positions, velocities, accelerations, acceleration, dt
        )
        all_positions.append(positions)
        all_velocities.append(velocities)
    return torch.stack(all_positions), torch.stack(all_velocities)


def true_acceleration(springs: Tensor) -> Acceleration:
    """The springs' own physics as an `Acceleration` (the velocities play no part)."""
    return lambda positions, velocities: spring_accelerations(positions, springs)


def random_springs(
    systems: int, particles: int, generator: Generator, probability: float = SPRING_PROBABILITY
) -> Tensor:
    """Each pair of particles joined with `probability`, k ~ U(STIFFNESS): (systems, N, N),
    symmetric, 0 on the diagonal."""
    low, high = STIFFNESS
    stiffness = low + (high - low) * torch.rand(systems, particles, particles, generator=generator)
    joined = torch.rand(systems, particles, particles, generator=generator) < probability
    upper = torch.triu(stiffness * joined, diagonal=1)
    return upper + upper.transpose(-1, -2)


def random_systems(
    systems: int, particles: int, generator: Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Initial positions U[−BOX, BOX]², velocities N(0, SPEED²) and springs, in float64:
    (positions (S, N, 2), velocities (S, N, 2), springs (S, N, N))."""
    positions = BOX * (2 * torch.rand(systems, particles, 2, generator=generator) - 1)
    velocities = SPEED * torch.randn(systems, particles, 2, generator=generator)
    springs = random_springs(systems, particles, generator)
    return positions.double(), velocities.double(), springs.double()


def simulate(
    systems: int, particles: int, steps: int, generator: Generator, dt: float = DT
) -> tuple[Tensor, Tensor]:
    """Trajectories of random systems by velocity Verlet, in float64: (states (S, T + 1, N, 4)
    with T = `steps`, springs (S, N, N))."""
    positions, velocities, springs = random_systems(systems, particles, generator)
    all_positions, all_velocities = integrate(
        positions, velocities, true_acceleration(springs), steps, dt
    )
    states = torch.cat([all_positions, all_velocities], dim=-1).transpose(0, 1)  # (S, T + 1, N, 4)
    return states, springs


def examples(states: Tensor, springs: Tensor) -> TensorDataset:
    """Every state of every trajectory with its springs and true accelerations, in float32:
    (state (N, 4), springs (N, N), accelerations (N, 2)) per example."""
    systems, length = states.shape[:2]
    flat_states = states.reshape(systems * length, *states.shape[2:])  # (S·(T + 1), N, 4)
    flat_springs = springs.repeat_interleave(length, dim=0)  # (S·(T + 1), N, N)
    accelerations = spring_accelerations(flat_states[..., :2], flat_springs)
    return TensorDataset(flat_states.float(), flat_springs.float(), accelerations.float())


def springs_bundle(
    systems: dict[str, int], particles: int, steps: int, seed: int, name: str = "springs"
) -> DataBundle:
    """A bundle of `systems[split]` simulated trajectories of `particles` particles, `steps`
    steps each, the states of each split drawn from the generator seeded with `seed` in
    turn; info holds the time step."""
    generator = torch.Generator().manual_seed(seed)
    splits = {
        split: examples(*simulate(count, particles, steps, generator))
        for split, count in systems.items()
    }
    return DataBundle(
        name=name,
        kind="graph",
        splits=splits,
        input_size=(particles, 4),
        info={"dt": DT, "systems": dict(systems), "steps": steps},
    )


@DATASETS.register(
    "springs",
    DataCard(
        kind="graph",
        task="physics",
        input_size=(PARTICLES, 4),
        num_classes=None,
        source="generated: 5 particles joined by random springs, integrated by velocity "
        "Verlet (Battaglia et al. 2016's spring systems)",
        licence="MIT (generated by deepnotes)",
    ),
)
def springs_set(request: DataRequest) -> DataBundle:
    """200 training, 25 validation and 25 test trajectories of 40 steps (8,200, 1,025 and
    1,025 states)."""
    return springs_bundle(dict(SPLIT_SYSTEMS), PARTICLES, STEPS, request.seed)
