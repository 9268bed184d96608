"""Faults in attention: the scale of the scores, the causal mask."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.nn import attention
from deepnotes.registry import FAULTS


def unscaled(dimensions: int) -> float:
    """1: the scores QKᵀ left unscaled."""
    return 1.0


@FAULTS.register(
    "attention-without-scale",
    FaultCard(
        mistake="Attention scores are QKᵀ, without the 1/√d",
        consequence="the scores of d-dimensional unit vectors have variance d, so the softmax "
        "saturates on one key and its gradient vanishes; the result is no longer "
        "F.scaled_dot_product_attention's",
        replaces="deepnotes.nn.attention.default_scale",
        targets=("attention/readable-attention-equals-torch",),
    ),
)
def attention_without_scale() -> AbstractContextManager[None]:
    return replaced(attention, "default_scale", unscaled)


def causal_mask_one_ahead(queries: int, keys: int, device: torch.device | None = None) -> Tensor:
    """True for j ≤ i + 1: the triangle one diagonal too wide, so each query sees the next key."""
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(diagonal=1)


@FAULTS.register(
    "causal-mask-off-by-one",
    FaultCard(
        mistake="The causal mask keeps the diagonal above the main one (tril(diagonal=1))",
        consequence="every position sees the next character, the one it is asked to predict: "
        "the readable attention no longer equals torch's causal attention, and a GPT's "
        "predictions change when the future does",
        replaces="deepnotes.nn.attention.causal_mask",
        targets=(
            "attention/readable-attention-equals-torch",
            "attention/causal-mask-hides-the-future",
        ),
    ),
)
def causal_mask_off_by_one() -> AbstractContextManager[None]:
    return replaced(attention, "causal_mask", causal_mask_one_ahead)
