"""Recurrent layers, step by step from their gate equations: RNN, LSTM, GRU and their cells.

A recurrent layer reads a sequence x₁ … x_T one step at a time and carries a
state h_t (and, for the LSTM, a cell c_t) from step to step, with the same
weights at every step (weight sharing through time):

RNN (Elman 1990):
    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)          (or ReLU)

LSTM (Hochreiter & Schmidhuber 1997; the forget gate of Gers et al. 2000):
    i, f, g, o = split₄(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)
    i, f, o = σ(i), σ(f), σ(o);   g = tanh(g)
    c_t = f ⊙ c_{t−1} + i ⊙ g        (an additive path: gradients through c do not vanish
    h_t = o ⊙ tanh(c_t)               as fast as through the RNN's repeated tanh)

GRU (Cho et al. 2014):
    r, z = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr), σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

The gates are stacked in each weight in torch's order (LSTM: i, f, g, o; GRU:
r, z, n), so `weight_ih_l0` has shape (gates·hidden, input) and the state-dict
keys are torch's: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
`bias_hh_l{k}`, with `_reverse` for the backward direction of a bidirectional
layer. Every weight starts from U(−1/√hidden, 1/√hidden), as in torch.

A stack of `num_layers` layers feeds each layer's outputs (both directions,
concatenated) to the next, with dropout between layers in training. A packed
batch (`torch.nn.utils.rnn.pack_padded_sequence`) holds sequences of different
lengths time step by time step, longest first: at step t only the first
batch_sizes[t] sequences are active, so a sequence's final state is the one at
its own last step, and the backward direction starts each sequence at its own
end. An ordinary tensor is the special case where every sequence is active at
every step.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

State = tuple[Tensor, ...]  # (h,) or, for the LSTM, (h, c)
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ----------------------------------------------------------------------------- one step


def rnn_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or ReLU): (B, hidden)."""
    pre = affine(x, w_ih, b_ih) + affine(h, w_hh, b_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """(h', c') from the input, forget, cell and output gates: each (B, hidden)."""
    h, c = state
    gates = affine(x, w_ih, b_ih) + affine(h, w_hh, b_hh)  # (B, 4·hidden)
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
) -> Tensor:
    """h' = (1 − z) ⊙ n + z ⊙ h, with the reset gate r inside n: (B, hidden)."""
    x_r, x_z, x_n = affine(x, w_ih, b_ih).chunk(3, dim=1)  # each (B, hidden)
    h_r, h_z, h_n = affine(h, w_hh, b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)  # r gates the state's contribution, bias included
    return (1 - z) * n + z * h


def affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x Wᵀ + b."""
    return x @ weight.T if bias is None else torch.addmm(bias, x, weight.T)


# ----------------------------------------------------------------------------- cells


class RNNCellBase(nn.Module):
    """One step of a recurrent layer: weights `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(rows)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(−1/√hidden, 1/√hidden), in torch's order."""
        bound = 1 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        with torch.no_grad():
            for weight in self.parameters():
                weight.uniform_(-bound, bound)

    def weights(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(*x.shape[:-1], self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


def one_step(cell: Callable[..., Tensor], x: Tensor, state: Tensor, *weights) -> Tensor:
    """Run `cell` on x (B, in) or an unbatched x (in,): the batch dimension added and removed."""
    if x.dim() == 1:
        return cell(x.unsqueeze(0), state.unsqueeze(0), *weights).squeeze(0)
    return cell(x, state, *weights)


class RNNCell(RNNCellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh); torch.nn.RNNCell's arguments and weights.

    Shape: x (B, input_size) or (input_size); h (B, hidden_size) → h' of h's shape.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; choose tanh or relu")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        h = self.zeros(x) if hx is None else hx
        step = functools.partial(rnn_cell, nonlinearity=self.nonlinearity)
        return one_step(step, x, h, *self.weights())


class LSTMCell(RNNCellBase):
    """(h', c') of the LSTM's gate equations; torch.nn.LSTMCell's arguments and weights.

    Shape: x (B, input_size); hx = (h, c), each (B, hidden_size) → (h', c').
    """

    gates = 4

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = (self.zeros(x), self.zeros(x)) if hx is None else hx
        if x.dim() == 1:
            h, c = lstm_cell(x.unsqueeze(0), (h.unsqueeze(0), c.unsqueeze(0)), *self.weights())
            return h.squeeze(0), c.squeeze(0)
        return lstm_cell(x, (h, c), *self.weights())


class GRUCell(RNNCellBase):
    """h' of the GRU's reset and update gates; torch.nn.GRUCell's arguments and weights.

    Shape: x (B, input_size); h (B, hidden_size) → h'.
    """

    gates = 3

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        h = self.zeros(x) if hx is None else hx
        return one_step(gru_cell, x, h, *self.weights())


# ----------------------------------------------------------------------------- layers


class RNNBase(nn.Module):
    """A stack of recurrent layers over a whole sequence, either direction.

    Args (torch.nn.RNN/LSTM/GRU's):
        input_size: features of x_t.
        hidden_size: features of h_t.
        num_layers: stacked layers. Default: 1
        bias: use b_ih and b_hh. Default: True
        batch_first: input and output are (N, L, features) instead of (L, N, features).
            Default: False
        dropout: dropout on each layer's output except the last, in training. Default: 0
        bidirectional: run a second layer from the end to the start. Default: False

    Shape: input (L, N, input_size) (or (N, L, ·) with batch_first, or (L, input_size)
    unbatched, or a PackedSequence); hx (D·num_layers, N, hidden_size), D = 2 if
    bidirectional else 1. Output (L, N, D·hidden_size) (or a PackedSequence) and the
    final state h_n of hx's shape (for the LSTM, (h_n, c_n)).
    """

    mode = "RNN_TANH"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        directions = 2 if bidirectional else 1
        rows = GATES[self.mode] * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else directions * hidden_size
            for suffix in ("", "_reverse")[:directions]:  # torch's order of registration
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", nn.Parameter(torch.empty(rows, width)))
                setattr(self, f"weight_hh_{name}", nn.Parameter(torch.empty(rows, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih_{name}", nn.Parameter(torch.empty(rows)))
                    setattr(self, f"bias_hh_{name}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    reset_parameters = RNNCellBase.reset_parameters

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def layer_weights(self, layer: int, reverse: bool) -> tuple[Tensor, ...]:
        """(W_ih, W_hh, b_ih, b_hh) of one layer and direction (biases None without bias)."""
        name = f"l{layer}{'_reverse' if reverse else ''}"
        return tuple(
            getattr(self, f"{kind}_{name}", None)
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )

    def cell(self, x: Tensor, state: State, *weights: Tensor | None) -> State:
        """One step of this layer's recurrence on the active rows: state → new state."""
        if self.mode == "LSTM":
            return lstm_cell(x, state, *weights)
        if self.mode == "GRU":
            return (gru_cell(x, state[0], *weights),)
        return (rnn_cell(x, state[0], *weights, nonlinearity=self.mode[4:].lower()),)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        packed = isinstance(input, PackedSequence)
        unbatched = not packed and input.dim() == 2
        if packed:
            data, batch_sizes = input.data, input.batch_sizes.tolist()  # (ΣL, in), (L,)
            batch = batch_sizes[0]
        else:
            x = input.unsqueeze(1) if unbatched else input  # (L, N, in)
            if self.batch_first and not unbatched:
                x = x.transpose(0, 1)  # (N, L, in) → (L, N, in)
            steps, batch = x.shape[:2]
            data, batch_sizes = x.reshape(steps * batch, -1), [batch] * steps  # (L·N, in)
        state = self.initial_state(hx, data, batch, unbatched)
        if packed and input.sorted_indices is not None:  # hx is in the caller's order
            state = tuple(s.index_select(1, input.sorted_indices) for s in state)
        output, final = self.run_layers(data, batch_sizes, state)
        if packed and input.unsorted_indices is not None:
            final = tuple(s.index_select(1, input.unsorted_indices) for s in final)
        if packed:
            output = PackedSequence(
                output, input.batch_sizes, input.sorted_indices, input.unsorted_indices
            )
        else:
            output = output.view(len(batch_sizes), batch, -1)  # (L, N, D·hidden)
            if self.batch_first and not unbatched:
                output = output.transpose(0, 1)
            if unbatched:
                output, final = output.squeeze(1), tuple(s.squeeze(1) for s in final)
        return output, (final if self.mode == "LSTM" else final[0])

    def initial_state(
        self, hx: Tensor | tuple[Tensor, Tensor] | None, data: Tensor, batch: int, unbatched: bool
    ) -> State:
        """hx as a tuple of (D·num_layers, N, hidden) tensors; zeros when not given."""
        size = (self.directions * self.num_layers, batch, self.hidden_size)
        if hx is None:
            zeros = data.new_zeros(size)
            return (zeros, zeros) if self.mode == "LSTM" else (zeros,)
        state = tuple(hx) if self.mode == "LSTM" else (hx,)
        if unbatched:
            state = tuple(s.unsqueeze(1) for s in state)
        for s in state:
            if tuple(s.shape) != size:
                raise ValueError(f"expected hidden state of size {size}, got {tuple(s.shape)}")
        return state

    def run_layers(
        self, data: Tensor, batch_sizes: Sequence[int], state: State
    ) -> tuple[Tensor, State]:
        """Every layer and direction in turn: packed-layout outputs (ΣL, D·hidden), final states."""
        finals: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                index = layer * self.directions + direction
                start = tuple(s[index] for s in state)  # (N, hidden) each
                weights = self.layer_weights(layer, reverse=direction == 1)
                out, final = self.run_direction(data, batch_sizes, start, weights, direction == 1)
                outputs.append(out)
                finals.append(final)
            data = torch.cat(outputs, dim=1)  # (ΣL, D·hidden): the next layer's input
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                data = nn.functional.dropout(data, self.dropout)
        final_state = tuple(torch.stack(parts) for parts in zip(*finals, strict=True))
        return data, final_state

    def run_direction(
        self,
        data: Tensor,
        batch_sizes: Sequence[int],
        state: State,
        weights: tuple[Tensor, ...],
        reverse: bool,
    ) -> tuple[Tensor, State]:
        """One direction of one layer, step by step over the packed layout.

        At step t the first batch_sizes[t] rows are active: they step, the rest keep
        their state. Forwards, a finished sequence keeps its last state; backwards,
        a sequence starts from its initial state at its own last step.
        """
        offsets = [0, *itertools.accumulate(batch_sizes)]  # where each step's rows start
        outputs: list[Tensor] = [data.new_empty(0)] * len(batch_sizes)
        order = reversed(range(len(batch_sizes))) if reverse else range(len(batch_sizes))
        for t in order:
            active = batch_sizes[t]
            x_t = data[offsets[t] : offsets[t] + active]  # (active, in)
            stepped = self.cell(x_t, tuple(s[:active] for s in state), *weights)
            outputs[t] = stepped[0]
            state = tuple(
                torch.cat([new, old[active:]]) if active < len(old) else new
                for new, old in zip(stepped, state, strict=True)
            )
        return torch.cat(outputs), state

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0}
        defaults["bidirectional"] = False
        for name, default in defaults.items():
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class RNN(RNNBase):
    """The Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) (see `RNNBase`).

    Extra argument: nonlinearity, "tanh" or "relu". Default: "tanh"
    """

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; choose tanh or relu")
        self.mode = f"RNN_{nonlinearity.upper()}"
        self.nonlinearity = nonlinearity
        super().__init__(*args, **kwargs)


class LSTM(RNNBase):
    """The LSTM: gates i, f, g, o, a cell c with an additive update (see `RNNBase`).

    hx and the final state are pairs (h, c). torch's `proj_size` is not offered.
    """

    mode = "LSTM"


class GRU(RNNBase):
    """The GRU: reset and update gates, no separate cell (see `RNNBase`)."""

    mode = "GRU"
