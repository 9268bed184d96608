"""RNN, LSTM, GRU and their cells against torch.nn: outputs, final states, every gradient.

Random sizes and settings (hypothesis), padded and packed batches; the harness
in `reference.py` copies torch's weights into ours and compares to 1e-5 relative
in float32 and 1e-10 in float64.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import deepnotes.nn as dn
from reference import compare_modules

KINDS = {
    "RNN_TANH": (dn.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "RNN_RELU": (dn.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "LSTM": (dn.LSTM, nn.LSTM, {}),
    "GRU": (dn.GRU, nn.GRU, {}),
}
DTYPES = st.sampled_from([torch.float32, torch.float64])


def pair(kind: str, *args, **kwargs) -> tuple[nn.Module, nn.Module]:
    ours, theirs, extra = KINDS[kind]
    torch.manual_seed(0)
    return ours(*args, **extra, **kwargs), theirs(*args, **extra, **kwargs)


def with_state(kind: str):
    """Call a layer with an initial state given as separate tensors (so they get gradients)."""
    if kind == "LSTM":
        return lambda module, x, h, c: module(x, (h, c))
    return lambda module, x, h: module(x, h)


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    sizes=st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 4), st.integers(1, 6)),
    given_state=st.booleans(),
    dtype=DTYPES,
)
def test_layers_equal_torch(
    kind, layers, bidirectional, batch_first, bias, sizes, given_state, dtype
):
    features, hidden, batch, steps = sizes
    settings = {"num_layers": layers, "bidirectional": bidirectional, "bias": bias}
    ours, theirs = pair(kind, features, hidden, batch_first=batch_first, **settings)
    x = torch.randn((batch, steps, features) if batch_first else (steps, batch, features))
    if not given_state:
        compare_modules(ours, theirs, [x], dtype)
        return
    state = (torch.randn(layers * (1 + bidirectional), batch, hidden),)
    if kind == "LSTM":
        state += (torch.randn(layers * (1 + bidirectional), batch, hidden),)
    compare_modules(ours, theirs, [[x, *state]], dtype, call=with_state(kind))


@settings(max_examples=20, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=5),
    given_state=st.booleans(),
    dtype=DTYPES,
)
def test_packed_sequences_equal_torch(
    kind, layers, bidirectional, batch_first, lengths, given_state, dtype
):
    """Unsorted lengths (enforce_sorted=False): outputs, final states in the caller's order,
    and the gradients reaching the padded input and the initial state."""
    ours, theirs = pair(kind, 3, 4, num_layers=layers, bidirectional=bidirectional)
    ours.batch_first = theirs.batch_first = batch_first
    steps, batch = max(lengths), len(lengths)
    x = torch.randn((batch, steps, 3) if batch_first else (steps, batch, 3))

    def packed(x):
        return pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)

    if not given_state:
        compare_modules(ours, theirs, [x], dtype, call=lambda m, x: m(packed(x)))
        return
    states = [torch.randn(layers * (1 + bidirectional), batch, 4)]
    if kind == "LSTM":
        states.append(torch.randn(layers * (1 + bidirectional), batch, 4))
        call = lambda m, x, h, c: m(packed(x), (h, c))  # noqa: E731
    else:
        call = lambda m, x, h: m(packed(x), h)  # noqa: E731
    compare_modules(ours, theirs, [[x, *states]], dtype, call=call)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unbatched_input(kind):
    ours, theirs = pair(kind, 3, 5, num_layers=2, bidirectional=True)
    compare_modules(ours, theirs, [torch.randn(6, 3)], torch.float64)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_dropout_between_layers_acts_in_training_only(kind):
    ours, theirs = pair(kind, 3, 5, num_layers=3, dropout=0.5)
    compare_modules(ours, theirs, [torch.randn(6, 2, 3)], torch.float64, modes=("eval",))
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    ours.train()
    first, second = ours(x)[0], ours(x)[0]
    assert not torch.equal(first, second)  # a fresh mask each call
    ours.eval()
    assert torch.equal(ours(x)[0], ours(x)[0])


@pytest.mark.parametrize(
    ("ours", "theirs", "extra"),
    [
        (dn.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
        (dn.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
        (dn.LSTMCell, nn.LSTMCell, {}),
        (dn.GRUCell, nn.GRUCell, {}),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cells_equal_torch(ours, theirs, extra, bias, dtype):
    torch.manual_seed(0)
    a, b = ours(4, 6, bias=bias, **extra), theirs(4, 6, bias=bias, **extra)
    x, h, c = torch.randn(3, 4), torch.randn(3, 6), torch.randn(3, 6)
    if ours is dn.LSTMCell:
        calls = [[x, h, c], [x[0], h[0], c[0]]]  # batched, unbatched

        def call(m, x, h, c):
            return m(x, (h, c))

        compare_modules(a, b, calls, dtype, call=call)
        compare_modules(a, b, [x], dtype)  # zero state
    else:
        compare_modules(a, b, [[x, h], [x[0], h[0]], [x]], dtype)


def test_state_dict_keys_and_initialisation_match_torch():
    """Same names in the same order, and the same weights from the same seed."""
    for kind, (ours, theirs, extra) in KINDS.items():
        torch.manual_seed(3)
        a = ours(3, 4, num_layers=2, bidirectional=True, **extra)
        torch.manual_seed(3)
        b = theirs(3, 4, num_layers=2, bidirectional=True, **extra)
        assert list(a.state_dict()) == list(b.state_dict()), kind
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(p, q), f"{kind} {name}"


def test_a_wrong_initial_state_is_refused():
    layer = dn.GRU(3, 4, num_layers=2)
    with pytest.raises(ValueError, match="hidden state of size"):
        layer(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))
