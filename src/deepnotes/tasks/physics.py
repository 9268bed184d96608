"""A learned simulator: predict every particle's acceleration, then integrate (notes, week 8).

physics   a batch is (state (B, N, 4), springs (B, N, N), accelerations (B, N, 2)); the model
          maps (state, springs) to accelerations, judged by their mean squared error

    loss = (1/(B·N·2)) Σ_{b,n,d} (f(s_b, K_b)_{n,d} − a_{b,n,d})²

A trained model is used as the physics is: its accelerations drive the same integrator
(velocity Verlet, `data.particles.integrate`) step after step, a rollout, whose errors
build up; `rollout` makes one and `draw_rollouts` draws it.
"""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Generator, Tensor, nn

from deepnotes.data import particles
from deepnotes.data.base import DataBundle
from deepnotes.registry import TASKS
from deepnotes.tasks.base import Examples, Inputs, Shape, Task

ROLLOUT_STEPS = 50


def learned_acceleration(model: nn.Module, springs: Tensor) -> particles.Acceleration:
    """The model as the physics of the systems with `springs` (S, N, N): (p, v) → a, float32."""

    def acceleration(positions: Tensor, velocities: Tensor) -> Tensor:
        state = torch.cat([positions, velocities], dim=-1).float()
        return model(state, springs.float()).to(positions.dtype)

    return acceleration


@torch.no_grad()
def rollout(
    acceleration: particles.Acceleration, states: Tensor, steps: int, dt: float = particles.DT
) -> Tensor:
    """The positions of `steps` Verlet steps from `states` (S, N, 4) under `acceleration`:
    (steps + 1, S, N, 2), the start included."""
    positions, _ = particles.integrate(
        states[..., :2], states[..., 2:], acceleration, steps, dt, "verlet"
    )
    return positions


def draw_rollouts(
    truth: Tensor, predictions: dict[str, Tensor], springs: Tensor, title: str
) -> Figure:
    """One system's trajectories (T, N, 2): the truth, then each prediction beside it, the
    springs drawn at the start and each particle's start marked."""
    import matplotlib.pyplot as plt  # on use: docs/ARCHITECTURE.md

    panels = {"true physics": truth, **predictions}
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False, layout="constrained"
    )
    low = (truth.amin(dim=(0, 1)) - 0.5).tolist()
    high = (truth.amax(dim=(0, 1)) + 0.5).tolist()
    pairs = springs.triu(diagonal=1).nonzero().tolist()
    truth = truth.numpy()
    for ax, (name, positions) in zip(axes[0], panels.items(), strict=True):
        positions = positions.numpy()
        for i, j in pairs:
            ax.plot(*truth[0, [i, j]].T, color="0.7", linewidth=0.8, zorder=0)
        for n in range(positions.shape[1]):
            ax.plot(*truth[:, n].T, color=f"C{n}", alpha=0.3, linewidth=3)
            ax.plot(*positions[:, n].T, color=f"C{n}", linewidth=1)
            ax.plot(*positions[0, n], "o", color=f"C{n}", markersize=4)
        ax.set(xlim=(low[0], high[0]), ylim=(low[1], high[1]), aspect="equal", title=name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return fig


@TASKS.register("physics")
class PhysicsTask(Task):
    """Learn a system's accelerations from its state and its springs: the mean squared error.

    Any number of particles fits a graph network; an MLP on the concatenated state takes
    the N it was built for. Its figure is a rollout of the first test system.
    """

    name = "physics"
    data_kinds = ("graph",)
    data_tasks = ("physics",)
    has_classes = False

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        return {"num_classes": None, "input_size": bundle.input_size}

    def example_input(self, examples: Examples, generator: Generator | None = None) -> Inputs:
        """`examples.batch` random systems of N = input_size[0] particles: (state (B, N, 4)
        of N(0, 1) values, springs (B, N, N) joined with probability ½)."""
        generator = generator or torch.Generator().manual_seed(0)
        particle_count, features = examples.input_size
        state = torch.randn(examples.batch, particle_count, features, generator=generator)
        return state, particles.random_springs(examples.batch, particle_count, generator)

    def output_shape(self, examples: Examples) -> Shape:
        return (examples.batch, examples.input_size[0], 2)  # an acceleration per particle

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        state, springs, accelerations = batch
        loss = (model(state, springs) - accelerations).pow(2).mean()
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def figures(self, model: nn.Module, bundle: DataBundle) -> dict[str, Figure]:
        """The first test state rolled out for 50 steps, by the truth and by the model."""
        state, springs, _ = bundle.split("test")[:1]  # (1, N, 4), (1, N, N)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        on_device = learned_acceleration(model, springs.to(device))
        learned = rollout(on_device, state.to(device), ROLLOUT_STEPS, bundle.info["dt"]).cpu()
        model.train(was_training)
        truth = rollout(particles.true_acceleration(springs), state, ROLLOUT_STEPS)
        title = f"{ROLLOUT_STEPS} steps of Δt = {bundle.info['dt']} from a test state"
        figure = draw_rollouts(
            truth[:, 0], {type(model).__name__: learned[:, 0]}, springs[0], title
        )
        return {"rollout.png": figure}
