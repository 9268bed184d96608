"""Transformer encoder and decoder layers against torch.nn's, and the position codes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import deepnotes.nn as dn
from deepnotes.nn.attention import causal_mask
from deepnotes.nn.transformer import sinusoidal_positions
from reference import compare_modules

LAYER_SETTINGS = {
    # d_model ≥ 8: LayerNorm's backward, g − mean(g) − x̂·mean(g x̂) over d features, cancels
    # digits when d is tiny (over 1 or 2 features its true input gradient is 0), so float32
    # comparisons of narrower layers measure rounding, not the layer
    "heads": st.integers(2, 3),
    "head_dim": st.integers(4, 6),
    # ≥ 4 hidden units: a gradient of one or two entries that are sums over positions can
    # cancel to a few ulps of its terms, which float32 cannot match to 1e-5 relative
    "feedforward": st.integers(4, 12),
    "activation": st.sampled_from(["relu", "gelu"]),
    "batch_first": st.booleans(),
    "norm_first": st.booleans(),
    "bias": st.booleans(),
    "causal": st.booleans(),
    "padding": st.booleans(),
    # (batch, length, memory length ≥ 2): over a single key the attention weight is 1 whatever
    # the query, so the query's gradients are exactly 0 and a relative error compares noise
    "sizes": st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(2, 5)),
    "dtype": st.sampled_from([torch.float32, torch.float64]),
    "seed": st.integers(0, 1000),
}


def layer_pair(kind, heads, head_dim, feedforward, **settings):
    settings = {"dim_feedforward": feedforward, "dropout": 0.0, **settings}
    return (
        getattr(dn, kind)(heads * head_dim, heads, **settings),
        getattr(nn, kind)(heads * head_dim, heads, **settings),
    )


def sequence(batch, length, width, batch_first, generator):
    shape = (batch, length, width) if batch_first else (length, batch, width)
    return torch.randn(shape, generator=generator)


def padding_mask(batch, length, generator, kept=1):
    """(N, S) bool, True = padding; the first `kept` positions are never padding."""
    mask = torch.rand(batch, length, generator=generator) < 0.3
    mask[:, :kept] = False
    return mask


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@settings(max_examples=60, deadline=None)
@given(**LAYER_SETTINGS)
def test_encoder_layer_equals_torch(heads, head_dim, causal, padding, sizes, dtype, seed, **kwargs):
    batch, length, _ = sizes
    # a single position in float32: in some draws the gradient reaching the FFN is below
    # float32's noise floor (torch's and ours both ~100% off the float64 value), so there
    # is nothing to compare; float64 checks it
    assume(dtype == torch.float64 or batch * length > 1)
    torch.manual_seed(seed)  # the weights too come from the example, so a failure replays
    ours, theirs = layer_pair("TransformerEncoderLayer", heads, head_dim, **kwargs)
    g = torch.Generator().manual_seed(seed)
    x = sequence(batch, length, heads * head_dim, kwargs["batch_first"], g)
    masks = {}
    if causal:
        masks.update(src_mask=~causal_mask(length, length), is_causal=True)
    if padding:
        masks["src_key_padding_mask"] = padding_mask(batch, length, g)
    compare_modules(ours, theirs, [x], dtype, call=lambda m, x: m(x, **masks))


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@settings(max_examples=60, deadline=None)
@given(**LAYER_SETTINGS)
def test_decoder_layer_equals_torch(heads, head_dim, causal, padding, sizes, dtype, seed, **kwargs):
    batch, length, memory_length = sizes
    assume(dtype == torch.float64 or batch * length > 1)  # as in the encoder's test
    torch.manual_seed(seed)
    ours, theirs = layer_pair("TransformerDecoderLayer", heads, head_dim, **kwargs)
    g = torch.Generator().manual_seed(seed)
    width = heads * head_dim
    tgt = sequence(batch, length, width, kwargs["batch_first"], g)
    memory = sequence(batch, memory_length, width, kwargs["batch_first"], g)
    masks = {}
    if causal:
        masks.update(tgt_mask=~causal_mask(length, length), tgt_is_causal=True)
    if padding:
        masks["memory_key_padding_mask"] = padding_mask(batch, memory_length, g, kept=2)
        masks["tgt_key_padding_mask"] = padding_mask(batch, length, g)
    compare_modules(ours, theirs, [[tgt, memory]], dtype, call=lambda m, t, mem: m(t, mem, **masks))


def test_layers_with_dropout_agree_in_eval_and_differ_between_training_calls():
    torch.manual_seed(0)
    ours, theirs = dn.TransformerEncoderLayer(8, 2, 16), nn.TransformerEncoderLayer(8, 2, 16)
    compare_modules(ours, theirs, [torch.randn(5, 2, 8)], torch.float64, modes=("eval",))
    x = torch.randn(5, 2, 8, dtype=torch.float64)
    ours.train()
    assert not torch.equal(ours(x), ours(x))


def test_sinusoidal_codes_follow_the_formula():
    table = sinusoidal_positions(50, 6)
    for p in (0, 7, 49):
        for i in range(3):
            angle = p / 10000 ** (2 * i / 6)
            assert table[p, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[p, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)
    odd = sinusoidal_positions(4, 5)  # an odd width ends on a sine
    assert odd.shape == (4, 5) and odd[1, 4] == pytest.approx(math.sin(1 / 10000 ** (4 / 5)))


def test_position_codes_are_added_and_make_order_visible():
    x = torch.zeros(2, 4, 6)
    encoded = dn.SinusoidalPositionalEncoding(6, max_len=10)(x)
    assert torch.equal(encoded[0], sinusoidal_positions(4, 6)) and torch.equal(
        encoded[0], encoded[1]
    )
    sequence_first = dn.SinusoidalPositionalEncoding(6, max_len=10, batch_first=False)
    assert torch.equal(sequence_first(x.transpose(0, 1)).transpose(0, 1), encoded)
    learned = dn.LearnedPositionalEncoding(6, max_len=4)
    assert torch.equal(learned(x)[1], learned.weight)
    with pytest.raises(ValueError, match="longer than max_len"):
        learned(torch.zeros(1, 5, 6))


def test_self_attention_without_positions_is_permutation_equivariant():
    """Permuting the positions permutes the outputs: without position codes, order is invisible."""
    torch.manual_seed(0)
    layer = dn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
    x, order = torch.randn(1, 6, 8), torch.randperm(6)
    torch.testing.assert_close(layer(x[:, order]), layer(x)[:, order])
    coded = dn.SinusoidalPositionalEncoding(8)
    assert not torch.allclose(layer(coded(x[:, order])), layer(coded(x))[:, order], atol=1e-4)
