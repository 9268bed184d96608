"""Faults in Lipschitz bounds: power iteration that never turns its right vector."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch.nn.functional as F
from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.nn import spectral
from deepnotes.registry import FAULTS


def power_iteration_v_never_updated(
    matrix: Tensor, v: Tensor, iterations: int, eps: float = 1e-12
) -> tuple[Tensor, Tensor]:
    """u ← Wv/‖Wv‖ each round, but v left at its start (the line v ← Wᵀu/‖Wᵀu‖ forgotten):
    uᵀWv is then ‖Wv₀‖, the stretch of the one direction the iteration started from."""
    for _ in range(iterations):
        u = F.normalize(matrix @ v, dim=0, eps=eps)  # (h,)
    return u, v


@FAULTS.register(
    "power-iteration-v-never-updated",
    FaultCard(
        mistake="Power iteration updates u ← Wv/‖Wv‖ but never v ← Wᵀu/‖Wᵀu‖",
        consequence="σ is read as ‖Wv₀‖, the stretch of a random start direction, well below "
        "the largest stretch: the product of the layers' 'norms' falls below slopes the "
        "network really has, so it bounds nothing; and spectral normalisation divides by "
        "that stretch alone, so the network grows its weights along every other direction "
        "and its layers' norms leave 1 far behind",
        replaces="deepnotes.nn.spectral.power_iteration",
        targets=(
            "lipschitz/power-iteration-equals-svd",
            "lipschitz/slope-below-bound",
            "lipschitz/sn-equals-torch",
            "lipschitz/sn-layers-at-most-one",
        ),
    ),
)
def power_iteration_never_turning_v() -> AbstractContextManager[None]:
    return replaced(spectral, "power_iteration", power_iteration_v_never_updated)
