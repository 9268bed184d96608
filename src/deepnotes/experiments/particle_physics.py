"""GNNs for physics (notes, week 8): a particle simulator learned by message passing.

Particles in the plane joined by random springs (`data.particles`), simulated by velocity
Verlet. Two networks learn the accelerations from the state and the springs, and are then
used as the physics is: their accelerations drive the same integrator step after step.

- The integrator. Velocity Verlet is symplectic: over a long trajectory the energy
  (kinetic + the springs' potential) stays within O(Δt²) of its start, while explicit Euler
  multiplies it by 1 + ω²Δt² every step. The data, and every rollout, stand on it.
- The interaction network (Battaglia et al., NeurIPS 2016; `models.physics`): a relation
  model on every spring (the velocities at both ends, the offset, the distance, k), the
  effects summed at each particle, an object model giving its acceleration. Its weights are
  shared by every spring and particle, so what it learns is one spring's law; the MLP on
  the concatenated state of all particles must learn each pair of slots apart, from the
  same data. Errors compound along a rollout: the table gives each model's one-step error
  and its mean over the 50 steps, next to constant velocity's (the springs ignored).
- Any number of particles: φ_R and φ_O do not know N, so the network trained on 5 particles
  runs on 8 and 10 (more springs per particle than it ever saw); the MLP's first layer is
  sized for 5.

Errors are mean squared position errors against the true physics (the reference, error 0),
over the particles and the test systems: one step, and the mean over the 50 steps of a
rollout. A constant-velocity rollout (the springs ignored) gives the scale of the motion the
springs cause.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from deepnotes.cards import ExperimentCard
from deepnotes.data import particles
from deepnotes.experiments.base import Context, Control
from deepnotes.models.physics import interaction_network, particle_mlp
from deepnotes.registry import EXPERIMENTS, MODELS
from deepnotes.tasks.physics import (
    ROLLOUT_STEPS,
    PhysicsTask,
    draw_rollouts,
    learned_acceleration,
    rollout,
)
from deepnotes.train.fit import fit_in_memory
from deepnotes.train.trainer import seed_everything

TRAINED_PARTICLES = 5
MORE_PARTICLES = (8, 10)
TEST_SYSTEMS = 100
ENERGY_STEPS = 1000  # 50 time units: some 30 periods of the stiffest springs
# the median system's largest relative energy error: Verlet's 0.0014–0.0020 on quick seeds 0–4
ENERGY_TOLERANCE = 0.01
# the acceptance: the MLP's 50-step rollout RMSE / the IN's at least 5 (6.7–9.1 on
# quick seeds 0–4; the IN with its effects averaged, 2.5–2.6 on seeds 0 and 1)
MLP_ERROR_RATIO_MIN = 5
# the IN's rollout error on more particles as a fraction of constant velocity's, at most 0.1
# (0.018–0.026 on quick seeds 0–4; the untrained network's 0.99–1.34; averaged effects 0.15)
MOTION_FRACTION = 0.1


@EXPERIMENTS.register(
    "particle-physics",
    ExperimentCard(
        title="GNNs for physics: an interaction network learns springs, rolls out and takes "
        "more particles",
        topic="9. Graph neural networks",
        concepts=[
            "interaction network",
            "message passing",
            "learned simulator",
            "rollout",
            "symplectic integrator",
        ],
        formulas=(
            r"e_{ij} = \phi_R\left(v_i, v_j, r_{ij}, \|r_{ij}\|, k_{ij}\right), \quad a_i = "
            r"\phi_O\left(v_i, \sum_{j} e_{ij}\right)",
            r"a_i = \sum_j k_{ij} \left(\|r_{ij}\| - L\right) \frac{r_{ij}}{\|r_{ij}\|}",
            r"v_{t + \frac{1}{2}} = v_t + \frac{\Delta t}{2} a_t, \quad p_{t+1} = p_t + \Delta t "
            r"\, v_{t + \frac{1}{2}}, \quad v_{t+1} = v_{t + \frac{1}{2}} + \frac{\Delta t}{2} "
            r"a_{t+1}",
        ),
        code=(
            "deepnotes.models.physics.InteractionNetwork",
            "deepnotes.data.particles.spring_accelerations",
            "deepnotes.data.particles.verlet_step",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        228,
        "Applications of GNNs in computational social sciences, high-energy physics, and medicine",
    )
    integrator_energy(ctx, torch.Generator().manual_seed(20_000 + ctx.seed))
    models = train_both(ctx)
    test_generator = torch.Generator().manual_seed(10_000 + ctx.seed)  # the test systems
    tests = {n: new_systems(n, test_generator) for n in (TRAINED_PARTICLES, *MORE_PARTICLES)}
    trained_size(ctx, models, *tests[TRAINED_PARTICLES])
    more_particles(ctx, models["interaction network"], tests)
    ctx.note(
        "The notes name high-energy physics; no collider data ships with deepnotes. Spring "
        "systems are the simplest case of what such simulators learn (Battaglia et al.'s "
        "first experiment): the same relation–object structure reads particle interactions."
    )


def new_systems(particle_count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """TEST_SYSTEMS random systems: (states (S, N, 4), springs (S, N, N)), float64."""
    positions, velocities, springs = particles.random_systems(
        TEST_SYSTEMS, particle_count, generator
    )
    return torch.cat([positions, velocities], dim=-1), springs


def relative_energy_error(trajectory: tuple[Tensor, Tensor], springs: Tensor) -> Tensor:
    """|E_t − E_0| / E_0 at every step of (positions, velocities) (T + 1, S, N, 2): (T + 1, S)."""
    energies = particles.energy(*trajectory, springs)
    return (energies - energies[0]).abs() / energies[0]


def integrator_energy(ctx: Context, generator: torch.Generator) -> None:
    """Verlet against explicit Euler over ENERGY_STEPS steps of the data's Δt."""
    positions, velocities, springs = particles.random_systems(20, TRAINED_PARTICLES, generator)
    physics = particles.true_acceleration(springs)
    energy_errors = {
        method: relative_energy_error(
            particles.integrate(positions, velocities, physics, ENERGY_STEPS, method=method),
            springs,
        )
        for method in ("verlet", "euler")
    }
    worst = {method: float(error.amax(0).median()) for method, error in energy_errors.items()}
    ctx.claim(
        "verlet-conserves-energy",
        f"velocity Verlet keeps the energy: over {ENERGY_STEPS} steps of Δt = {particles.DT}, "
        "the largest relative energy error |E_t − E_0| / E_0 of the median system (of 20)",
        worst["verlet"],
        "<=",
        ENERGY_TOLERANCE,
        control=Control("explicit Euler, the same steps", worst["euler"]),
    )
    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps = torch.arange(1, ENERGY_STEPS + 1) * particles.DT  # from the first step: E_0 is exact
    for method, error in energy_errors.items():
        ax.plot(steps, error[1:].median(1).values, label=f"{method} (median system)")
    ax.axhline(ENERGY_TOLERANCE, color="k", linestyle="--", linewidth=0.8, label="tolerance")
    ax.set(xlabel="time", ylabel="|E_t − E_0| / E_0", yscale="log")
    ax.legend(fontsize=8)
    ax.set_title("Energy error of the integrators, 5 particles on springs")
    ctx.figure(
        fig,
        "integrator-energy.png",
        "Velocity Verlet's energy error stays bounded at a fraction of a percent; explicit "
        "Euler's grows exponentially.",
    )


def train_both(ctx: Context) -> dict[str, nn.Module]:
    """The interaction network and the MLP trained on the same simulated trajectories."""
    systems = 100 if ctx.quick else 400
    epochs = 20 if ctx.quick else 50
    bundle = particles.springs_bundle(
        {"train": systems, "val": 10, "test": 10}, TRAINED_PARTICLES, particles.STEPS, ctx.seed
    )
    settings = {
        **MODELS.card("interaction_network").train_defaults,
        "epochs": epochs,
        "seed": ctx.seed,
    }
    models = {}
    for name, builder in (("interaction network", interaction_network), ("MLP", particle_mlp)):
        seed_everything(ctx.seed)
        model = builder(input_size=bundle.input_size)
        fit_in_memory(model, PhysicsTask(), bundle, **settings)
        models[name] = model.eval()
    ctx.note(
        f"Both trained on {systems} trajectories of {particles.STEPS} steps "
        f"({len(bundle.split('train'))} states), {epochs} epochs of Adam, batches of "
        f"{settings['batch_size']}, rate {settings['lr']}: the loss is the mean squared "
        "error of the accelerations."
    )
    return models


def constant_velocity(states: Tensor, steps: int) -> Tensor:
    """p_t = p_0 + t Δt v_0, the springs ignored: (steps + 1, S, N, 2)."""
    times = torch.arange(steps + 1, dtype=states.dtype)[:, None, None, None] * particles.DT
    return states[..., :2] + times * states[..., 2:]


def position_errors(positions: Tensor, truth: Tensor) -> tuple[float, float]:
    """(one-step, mean over the rollout's steps) squared position error against the truth."""
    squared = (positions - truth).pow(2).mean(dim=(1, 2, 3))  # (T + 1,)
    return float(squared[1]), float(squared[1:].mean())


def rollouts(models: dict[str, nn.Module], states: Tensor, springs: Tensor) -> dict[str, Tensor]:
    """The truth, constant velocity and each model's rollout of ROLLOUT_STEPS steps."""
    paths = {
        "true physics": rollout(particles.true_acceleration(springs), states, ROLLOUT_STEPS),
        "constant velocity": constant_velocity(states, ROLLOUT_STEPS),
    }
    for name, model in models.items():
        paths[name] = rollout(learned_acceleration(model, springs), states, ROLLOUT_STEPS)
    return paths


@torch.no_grad()
def rollout_energy(paths: dict[str, Tensor], springs: Tensor) -> dict[str, Tensor]:
    """Each rollout's mean energy over the systems at every step: (T + 1,) each. Velocities
    by central differences of the positions (the rollouts keep only positions)."""
    energies = {}
    for name, positions in paths.items():
        velocities = (positions[2:] - positions[:-2]) / (2 * particles.DT)  # (T − 1, S, N, 2)
        energies[name] = particles.energy(positions[1:-1], velocities, springs).mean(1)
    return energies


def trained_size(
    ctx: Context, models: dict[str, nn.Module], states: Tensor, springs: Tensor
) -> None:
    paths = rollouts(models, states, springs)
    truth = paths["true physics"]
    measured = {name: position_errors(positions, truth) for name, positions in paths.items()}
    ctx.table(
        f"{TEST_SYSTEMS} new systems of {TRAINED_PARTICLES} particles, {ROLLOUT_STEPS} steps "
        f"of Δt = {particles.DT} by velocity Verlet (mean squared position error)",
        ["accelerations from", "one step", f"{ROLLOUT_STEPS}-step rollout"],
        [[name, f"{one:.2e}", f"{many:.2e}"] for name, (one, many) in measured.items()],
    )
    network, baseline = measured["interaction network"][1], measured["MLP"][1]
    ctx.claim(
        "interaction-network-beats-mlp-5x",
        f"the interaction network's {ROLLOUT_STEPS}-step rollout error is at least "
        f"{MLP_ERROR_RATIO_MIN}× below the MLP's on the same data: the MLP's root mean squared "
        "position error / the network's (in distance, not its square: the squared errors' ratio is "
        f"{baseline / network:.0f})",
        (baseline / network) ** 0.5,
        ">=",
        MLP_ERROR_RATIO_MIN,
    )
    figure = draw_rollouts(
        truth[:, 0],
        {name: paths[name][:, 0] for name in models},
        springs[0],
        f"A test system of {TRAINED_PARTICLES} particles, {ROLLOUT_STEPS} steps (faint: truth)",
    )
    ctx.figure(
        figure,
        "rollout-5.png",
        "One test system rolled out by the true physics, the interaction network and the "
        "MLP (the truth faint beneath each); grey: the springs at the start.",
    )
    energies = rollout_energy({name: paths[name] for name in ("true physics", *models)}, springs)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    times = torch.arange(1, ROLLOUT_STEPS) * particles.DT
    for name, energy in energies.items():
        truth_style = {"color": "k", "linestyle": "--", "zorder": 3}
        ax.plot(times, energy, label=name, **(truth_style if name == "true physics" else {}))
    ax.set(xlabel="time", ylabel=f"mean energy of the {TEST_SYSTEMS} systems")
    ax.legend(fontsize=8)
    ax.set_title("The conserved energy along the rollouts")
    drift = {
        name: float(((energy - energy[0]).abs() / energy[0]).max())
        for name, energy in energies.items()
    }  # the largest relative change of the mean energy from its first value
    ctx.figure(
        fig,
        "rollout-energy.png",
        "Total energy (kinetic + springs) along the rollouts, averaged over the test systems; "
        "its largest relative change along the rollout: "
        + ", ".join(f"{name} {change:.1%}" for name, change in drift.items())
        + ".",
    )


def more_particles(
    ctx: Context, network: nn.Module, tests: dict[int, tuple[Tensor, Tensor]]
) -> None:
    """The network trained on 5 particles, and an untrained one, on 8 and 10."""
    seed_everything(ctx.seed)
    untrained = interaction_network().eval()
    rows, ratios, untrained_ratios = [], [], []
    for particle_count in MORE_PARTICLES:
        states, springs = tests[particle_count]
        paths = rollouts({"trained": network, "untrained": untrained}, states, springs)
        truth = paths["true physics"]
        scale = position_errors(paths["constant velocity"], truth)[1]
        trained = position_errors(paths["trained"], truth)[1]
        control = position_errors(paths["untrained"], truth)[1]
        ratios.append(trained / scale)
        untrained_ratios.append(control / scale)
        rows.append([particle_count, f"{trained:.2e}", f"{control:.2e}", f"{scale:.2e}"])
        if particle_count == max(MORE_PARTICLES):
            figure = draw_rollouts(
                truth[:, 0],
                {"interaction network (trained on 5)": paths["trained"][:, 0]},
                springs[0],
                f"A system of {particle_count} particles, {ROLLOUT_STEPS} steps",
            )
            ctx.figure(
                figure,
                f"rollout-{particle_count}.png",
                f"The network trained on {TRAINED_PARTICLES} particles rolls out a system of "
                f"{particle_count}; the MLP cannot take it.",
            )
    ctx.table(
        f"More particles than trained on ({TEST_SYSTEMS} systems each, {ROLLOUT_STEPS}-step "
        "rollout, mean squared position error)",
        ["particles", "interaction network", "untrained network", "constant velocity"],
        rows,
    )
    ctx.claim(
        "interaction-network-takes-more-particles",
        f"trained on {TRAINED_PARTICLES} particles, the interaction network rolls out systems "
        f"of {' and '.join(map(str, MORE_PARTICLES))}: its {ROLLOUT_STEPS}-step error as a "
        "fraction of constant velocity's on the same systems (the larger of the two sizes)",
        max(ratios),
        "<=",
        MOTION_FRACTION,
        control=Control("the untrained network", max(untrained_ratios)),
    )
    ctx.note(
        f"The MLP cannot be run on them: its first layer takes {TRAINED_PARTICLES} · 4 states "
        f"and {TRAINED_PARTICLES * (TRAINED_PARTICLES - 1) // 2} spring constants."
    )
