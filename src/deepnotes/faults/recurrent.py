"""Faults in recurrent cells: the LSTM's forget gate."""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.nn import rnn
from deepnotes.registry import FAULTS


def lstm_cell_without_forget_bias(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """The LSTM step with the forget gate's bias left out: f = σ(W_if x + W_hf h)."""
    hidden = w_hh.shape[1]

    def without_f(bias: Tensor | None) -> Tensor | None:
        if bias is None:
            return None
        kept = bias.clone()
        kept[hidden : 2 * hidden] = 0  # gates i, f, g, o: f is the second block
        return kept

    h, c = state
    gates = rnn.affine(x, w_ih, without_f(b_ih)) + rnn.affine(h, w_hh, without_f(b_hh))
    i, f, g, o = gates.chunk(4, dim=1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


@FAULTS.register(
    "lstm-without-forget-bias",
    FaultCard(
        mistake="The LSTM's forget gate is computed without its bias",
        consequence="the forget gate starts at σ(0) = 1/2 whatever its bias says, so the cell "
        "halves its memory at every step: the forget bias of 1 that Jozefowicz et al. advise "
        "no longer lets the gradient travel far back",
        replaces="deepnotes.nn.rnn.lstm_cell",
        targets=("rnn-gradients/lstm-keeps-the-gradient",),
    ),
)
def lstm_without_forget_bias() -> AbstractContextManager[None]:
    return replaced(rnn, "lstm_cell", lstm_cell_without_forget_bias)
