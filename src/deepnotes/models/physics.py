"""Networks that learn a particle system's physics: they predict every particle's acceleration.

    interaction_network   Battaglia, Pascanu, Lai, Rezende, Kavukcuoglu, "Interaction networks
                          for learning about objects, relations and physics", NeurIPS 2016:
                          message passing over the springs
    particle_mlp          the baseline: one MLP on the concatenated state of all particles and
                          the springs (a fixed number of particles)

The interaction network, in the package's message passing (`graph.message_passing`), with
one edge j → i for each spring between i and j, in both directions:

    relation model   e_ij = φ_R(v_i, v_j, r_ij, |r_ij|, k_ij)      r_ij = p_j − p_i: the effect
                                                                 of sender j on receiver i
    aggregate        E_i  = Σ_{j → i} e_ij                        the effects summed at i
    object model     a_i  = φ_O(v_i, E_i)                        i's acceleration

The positions enter only as offsets (the relation's attributes), so the network is the same
wherever the system stands (translation invariance), and as φ_R and φ_O are shared by every
spring and particle it is permutation equivariant and takes any number of particles. The
sum matters: forces add, and a particle with four springs feels four of them. (Battaglia et
al. use MLPs of 4 × 150 for φ_R, 1 × 100 for φ_O, effects of 50; here 3 × 64 and 1 × 64.)

The MLP reads the state of all N particles at once, flattened, with the N(N − 1)/2 spring
constants: it must learn each force anew for every pair of slots, and it takes N particles
only.

Builders take the zoo's arguments: `input_size` = (N, 4), the particles and their state
(p_x, p_y, v_x, v_y); `num_classes` is None. Shapes: forward(state (B, N, 4), springs
(B, N, N)) → accelerations (B, N, 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from deepnotes.arith import linear_params
from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.graph.message_passing import MessagePassing
from deepnotes.models.common import register_model
from deepnotes.models.mlp import dense_stack

PARTICLES, STATE = 5, 4  # the reference count's setting: 5 particles of (p, v) in 2-D
DIMENSIONS = 2
RELATION_INPUTS = 3 * DIMENSIONS + 2  # v_i, v_j, r_ij, |r_ij|, k_ij
PAPER = (
    "Battaglia, Pascanu, Lai, Rezende, Kavukcuoglu, Interaction networks for learning about "
    "objects, relations and physics, NeurIPS 2016"
)


def spring_edges(springs: Tensor) -> tuple[Tensor, Tensor]:
    """Every spring of a batch as two directed edges j → i, i → j of the batch's disjoint
    union (particle n of system b is node b·N + n): (edge_index (2, E), k (E,))."""
    systems, i, j = springs.nonzero(as_tuple=True)  # both (i, j) and (j, i): springs symmetric
    particles = springs.shape[-1]
    edge_index = torch.stack([systems * particles + j, systems * particles + i])  # sender, receiver
    return edge_index, springs[systems, i, j]


class InteractionNetwork(MessagePassing):
    """φ_R on every spring, the effects summed at each receiver, φ_O on every particle."""

    aggregation = "sum"

    def __init__(self, hidden: int = 64, effect: int = 50) -> None:
        super().__init__()
        self.relation = dense_stack([RELATION_INPUTS, hidden, hidden, effect], nn.ReLU)
        self.object = dense_stack([DIMENSIONS + effect, hidden, DIMENSIONS], nn.ReLU)

    def forward(self, state: Tensor, springs: Tensor) -> Tensor:
        systems, particles, features = state.shape
        edge_index, stiffness = spring_edges(springs)
        nodes = state.reshape(systems * particles, features)  # (B·N, 4): one disjoint union
        accelerations = self.propagate(edge_index, nodes, len(nodes), stiffness=stiffness)
        return accelerations.view(systems, particles, DIMENSIONS)  # (B·N, 2) → (B, N, 2)

    def message(self, x_j: Tensor, x_i: Tensor, stiffness: Tensor) -> Tensor:
        """e_ij = φ_R(v_i, v_j, r_ij, |r_ij|, k_ij) for each edge j → i: (E, effect)."""
        offset = x_j[:, :DIMENSIONS] - x_i[:, :DIMENSIONS]  # r_ij = p_j − p_i
        distance = offset.norm(dim=1, keepdim=True)
        velocities = (x_i[:, DIMENSIONS:], x_j[:, DIMENSIONS:])
        return self.relation(torch.cat([*velocities, offset, distance, stiffness[:, None]], 1))

    def update(self, aggregated: Tensor, x: Tensor) -> Tensor:
        """a_i = φ_O(v_i, E_i): (B·N, 2)."""
        return self.object(torch.cat([x[:, DIMENSIONS:], aggregated], dim=1))


class ParticleMLP(nn.Module):
    """An MLP on (all N states, the N(N − 1)/2 spring constants) → N accelerations."""

    def __init__(self, particles: int, hidden: int = 256, layers: int = 3) -> None:
        super().__init__()
        self.particles = particles
        pairs = particles * (particles - 1) // 2
        pairs_index = torch.triu_indices(particles, particles, offset=1)  # (2, pairs)
        self.register_buffer("pairs", pairs_index, persistent=False)
        self.net = dense_stack(
            [particles * STATE + pairs, *[hidden] * layers, particles * DIMENSIONS], nn.ReLU
        )

    def forward(self, state: Tensor, springs: Tensor) -> Tensor:
        systems = len(state)
        stiffness = springs[:, self.pairs[0], self.pairs[1]]  # (B, pairs): each spring once
        flat = torch.cat([state.reshape(systems, -1), stiffness], dim=1)  # (B, 4N + pairs)
        return self.net(flat).view(systems, self.particles, DIMENSIONS)


def mlp_parameters(widths: Sequence[int]) -> int:
    """The weights and biases of `dense_stack(widths, …)`: Σ (n_in + 1) · n_out."""
    return sum(linear_params(n_in, n_out) for n_in, n_out in pairwise(widths))


def interaction_network_parameters(hidden: int = 64, effect: int = 50) -> int:
    return mlp_parameters([RELATION_INPUTS, hidden, hidden, effect]) + mlp_parameters(
        [DIMENSIONS + effect, hidden, DIMENSIONS]
    )


def particle_mlp_parameters(particles: int, hidden: int = 256, layers: int = 3) -> int:
    pairs = particles * (particles - 1) // 2
    return mlp_parameters([particles * STATE + pairs, *[hidden] * layers, particles * DIMENSIONS])


TRAIN_DEFAULTS = {"epochs": 30, "batch_size": 100, "lr": 0.002}


@register_model(
    "interaction_network",
    ModelCard(
        task="physics",
        family="physics",
        paper=PAPER,
        concepts=("message passing", "relation model", "object model", "learned simulator"),
        input_size=None,
        num_classes=None,
        reference=ParameterCount(
            interaction_network_parameters(),
            (PARTICLES, STATE),
            None,
            "the layer formulas: φ_R 8 → 64 → 64 → 50, φ_O 52 → 64 → 2",
        ),
        train_defaults=TRAIN_DEFAULTS,
    ),
)
def interaction_network(
    num_classes: None = None,
    input_size: Sequence[int] = (PARTICLES, STATE),
    hidden: int = 64,
    effect: int = 50,
) -> InteractionNetwork:
    """Any number of particles: `input_size` only names the one counted."""
    return InteractionNetwork(hidden, effect)


@register_model(
    "particle_mlp",
    ModelCard(
        task="physics",
        family="physics",
        paper=PAPER + " (their MLP baseline on the concatenated objects)",
        concepts=("baseline", "fixed-size input", "learned simulator"),
        input_size=None,
        num_classes=None,
        reference=ParameterCount(
            particle_mlp_parameters(PARTICLES),
            (PARTICLES, STATE),
            None,
            "the layer formulas: 5 · 4 states + 10 springs → 256 → 256 → 256 → 10",
        ),
        train_defaults=TRAIN_DEFAULTS,
    ),
)
def particle_mlp(
    num_classes: None = None,
    input_size: Sequence[int] = (PARTICLES, STATE),
    hidden: int = 256,
    layers: int = 3,
) -> ParticleMLP:
    return ParticleMLP(input_size[0], hidden, layers)
