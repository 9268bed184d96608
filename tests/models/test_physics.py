"""The learned simulators: the interaction network's symmetries and any N, the rollout, and
`deepnotes train` on the springs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import Tensor, nn

from deepnotes.cli import main
from deepnotes.data import particles
from deepnotes.models.physics import InteractionNetwork, spring_edges
from deepnotes.tasks.physics import learned_acceleration, rollout

# float32 through two MLPs: sums in another order differ by ~1e-7 of values ~1
ROUNDING = 1e-5


def random_inputs(count: int, particle_count: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    positions, velocities, springs = particles.random_systems(
        count, particle_count, torch.Generator().manual_seed(seed)
    )
    return torch.cat([positions, velocities], -1).float(), springs.float()


def network(seed: int = 0) -> InteractionNetwork:
    torch.manual_seed(seed)
    return InteractionNetwork(hidden=16, effect=8).eval()


def test_spring_edges_carry_each_spring_both_ways_in_the_disjoint_union():
    springs = torch.zeros(2, 3, 3)
    springs[0, 0, 1] = springs[0, 1, 0] = 0.75  # system 0: 0 – 1
    springs[1, 1, 2] = springs[1, 2, 1] = 1.25  # system 1: 1 – 2, nodes 4 and 5 of the union
    edge_index, stiffness = spring_edges(springs)
    edges = set(zip(*edge_index.tolist(), stiffness.tolist(), strict=True))  # (sender, receiver, k)
    assert edges == {(1, 0, 0.75), (0, 1, 0.75), (5, 4, 1.25), (4, 5, 1.25)}
    assert len(stiffness) == 4


def test_the_interaction_network_is_permutation_equivariant():
    """Renumber the particles (their states and the springs' rows and columns alike) and
    the predicted accelerations are renumbered the same way."""
    model = network()
    state, springs = random_inputs(4, 7)
    order = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        predicted = model(state, springs)
        permuted = model(state[:, order], springs[:, order][:, :, order])
    assert torch.allclose(permuted, predicted[:, order], atol=ROUNDING)
    assert not torch.allclose(predicted[:, order], predicted, atol=1e-3)  # the order mattered


def test_the_interaction_network_sees_positions_only_as_offsets():
    """Moving the whole system does not change its accelerations (translation invariance)."""
    model = network()
    state, springs = random_inputs(4, 6)
    moved = state.clone()
    moved[..., :2] += torch.tensor([3.0, -2.0])
    with torch.no_grad():
        assert torch.allclose(model(moved, springs), model(state, springs), atol=ROUNDING)


@pytest.mark.parametrize("particle_count", [2, 5, 11])
def test_one_network_takes_any_number_of_particles_each_system_alone(particle_count):
    """The same weights on 2, 5 or 11 particles; a batch predicts each system as it would
    alone (no effect crosses from one system to another)."""
    model = network()
    state, springs = random_inputs(3, particle_count)
    with torch.no_grad():
        together = model(state, springs)
        alone = torch.cat([model(state[b : b + 1], springs[b : b + 1]) for b in range(3)])
    assert together.shape == (3, particle_count, 2)
    assert torch.allclose(together, alone, atol=ROUNDING)


class TrueSprings(nn.Module):
    """A "model" that knows Hooke's law: the rollout of it must be the simulation's."""

    def forward(self, state: Tensor, springs: Tensor) -> Tensor:
        return particles.spring_accelerations(state[..., :2], springs)


def test_a_rollout_of_the_true_accelerations_retraces_the_simulation():
    """`rollout` through a model integrates as the data were made: float32 accelerations
    through float64 Verlet stay within ~1e-6 of the float64 trajectory over 30 steps."""
    generator = torch.Generator().manual_seed(0)
    states, springs = particles.simulate(4, 5, 30, generator)  # (4, 31, 5, 4)
    positions = rollout(learned_acceleration(TrueSprings(), springs), states[:, 0], 30)
    simulated = states[..., :2].transpose(0, 1)  # (31, 4, 5, 2)
    assert positions.shape == simulated.shape
    assert (positions - simulated).abs().max() < 1e-5


def test_deepnotes_train_resume_and_eval_learn_the_springs(tmp_path, capsys):
    """`deepnotes train interaction_network --data springs` like every model: a run folder
    with checkpoints and a rollout figure, `--resume` continuing it, `eval` on a split; the
    accelerations' error falls below the data's own spread."""
    out = str(tmp_path / "run")
    train = ["train", "interaction_network", "--data", "springs", "--out", out, "--no-progress"]
    assert main([*train, "--epochs", "1"]) == 0
    assert main([*train, "--epochs", "2", "--resume"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["epochs"] == 2
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3  # header, 2 epochs
    assert (tmp_path / "run" / "rollout.png").is_file()
    capsys.readouterr()
    assert main(["eval", out, "--data", "springs", "--split", "test", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["examples"] == 25 * (particles.STEPS + 1)
    # the accelerations' mean square is ~0.5; two epochs bring the error to 0.025 (measured,
    # the default seed): 0.05 allows 2×, an untrained network's error is ~0.5
    assert evaluated["metrics"]["test_loss"] < 0.05
