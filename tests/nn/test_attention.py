"""Attention against torch: the readable scaled dot-product attention against the fused
`F.scaled_dot_product_attention`, and MultiheadAttention against torch.nn's, with masks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import deepnotes.nn as dn
from deepnotes.nn.attention import ScaledDotProductAttention, causal_mask
from reference import TOLERANCE, compare_modules, rel_error

DTYPES = st.sampled_from([torch.float32, torch.float64])


ROUND_OFF = {torch.float32: 1e-6, torch.float64: 1e-15}


def allowed_mask(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """A random bool mask (True = may attend) that leaves every query at least key 0."""
    mask = torch.rand(shape, generator=generator) < 0.6
    mask[..., 0] = True
    return mask


@settings(max_examples=100, deadline=None)
@given(
    batch=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    sizes=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5)),
    mask=st.sampled_from(["none", "bool", "float", "causal"]),
    scale=st.sampled_from([None, 0.3]),
    dtype=DTYPES,
    seed=st.integers(0, 1000),
)
def test_readable_attention_equals_torchs_fused_kernel(batch, sizes, mask, scale, dtype, seed):
    queries, keys, d, d_v = sizes
    if mask == "causal":
        keys = queries
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, queries, d, generator=g, dtype=dtype, requires_grad=True)
    k = torch.randn(*batch, keys, d, generator=g, dtype=dtype, requires_grad=True)
    v = torch.randn(*batch, keys, d_v, generator=g, dtype=dtype, requires_grad=True)
    kwargs = {"scale": scale, "is_causal": mask == "causal"}
    if mask == "bool":
        kwargs["attn_mask"] = allowed_mask((queries, keys), g)
    elif mask == "float":
        kwargs["attn_mask"] = torch.randn(*batch, queries, keys, generator=g, dtype=dtype)
    ours = dn.scaled_dot_product_attention(q, k, v, **kwargs)
    theirs = F.scaled_dot_product_attention(q, k, v, **kwargs)
    assert rel_error(ours, theirs) <= TOLERANCE[dtype]
    weights = torch.randn(ours.shape, generator=g, dtype=dtype)
    ours_grads = torch.autograd.grad((ours * weights).sum(), (q, k, v))
    theirs_grads = torch.autograd.grad((theirs * weights).sum(), (q, k, v))
    for name, a, b in zip("qkv", ours_grads, theirs_grads, strict=True):
        if name in "qk" and not a.any():
            # every query may attend to one key only, so its softmax is 1 whatever the scores
            # are and ∂out/∂q = ∂out/∂k = 0 exactly: ours gives 0, torch's fused kernel
            # round-off (seen: up to 2e-7 in float32), which may be no more than a few times that
            assert float(b.abs().max()) <= ROUND_OFF[dtype]
            continue
        assert rel_error(a, b) <= TOLERANCE[dtype]


@pytest.mark.parametrize("is_causal", [False, True])
def test_the_attention_layer_is_the_fused_kernel_or_the_readable_formula(is_causal):
    """`ScaledDotProductAttention(fused)` calls torch's kernel or the readable formula: the
    two agree, and the readable one is what a fault in `causal_mask` reaches."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 5, generator=g, dtype=torch.float64) for _ in range(3))
    fused = ScaledDotProductAttention(fused=True)(q, k, v, is_causal=is_causal)
    readable = ScaledDotProductAttention(fused=False)(q, k, v, is_causal=is_causal)
    torch.testing.assert_close(fused, F.scaled_dot_product_attention(q, k, v, is_causal=is_causal))
    assert rel_error(readable, fused) <= TOLERANCE[torch.float64]


def test_causal_attention_never_looks_ahead():
    """The output at position i does not change with inputs after i: its gradient there is 0."""
    q, k, v = (torch.randn(1, 7, 4, requires_grad=True) for _ in range(3))
    out = dn.scaled_dot_product_attention(q, k, v, is_causal=True)
    for i in range(7):
        grad_k, grad_v = torch.autograd.grad(out[0, i].sum(), (k, v), retain_graph=True)
        assert torch.all(grad_k[0, i + 1 :] == 0) and torch.all(grad_v[0, i + 1 :] == 0)
        assert torch.all(grad_v[0, : i + 1].abs().sum(1) > 0)  # every earlier value is used
    assert torch.equal(causal_mask(3, 3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool())


def test_attention_is_a_weighted_mean_of_the_values():
    q, k, v = torch.randn(5, 3), torch.randn(6, 3), torch.randn(6, 2)
    weights = torch.softmax(q @ k.T / math.sqrt(3), dim=1)
    assert torch.allclose(weights.sum(1), torch.ones(5))
    assert torch.allclose(dn.scaled_dot_product_attention(q, k, v), weights @ v, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@settings(max_examples=100, deadline=None)
@given(
    heads=st.integers(1, 3),
    head_dim=st.integers(1, 4),
    other_dims=st.booleans(),
    bias=st.booleans(),
    add_bias_kv=st.booleans(),
    add_zero_attn=st.booleans(),
    layout=st.sampled_from(["batch_first", "sequence_first", "unbatched"]),
    attn_mask=st.sampled_from(["none", "bool", "float", "bool3d", "causal"]),
    padding=st.sampled_from(["none", "bool", "float"]),
    average=st.booleans(),
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
    dtype=DTYPES,
    seed=st.integers(0, 1000),
)
def test_multihead_attention_equals_torch(
    heads,
    head_dim,
    other_dims,
    bias,
    add_bias_kv,
    add_zero_attn,
    layout,
    attn_mask,
    padding,
    average,
    sizes,
    dtype,
    seed,
):
    batch, queries, keys = sizes
    if layout == "unbatched":
        batch = 1
        padding = "none" if padding != "none" else padding
    if attn_mask == "causal":
        keys = queries
    embed = heads * head_dim
    kdim, vdim = (embed + 1, embed + 2) if other_dims else (None, None)
    settings = {
        "bias": bias,
        "add_bias_kv": add_bias_kv,
        "add_zero_attn": add_zero_attn,
        "kdim": kdim,
        "vdim": vdim,
        "batch_first": layout == "batch_first",
    }
    torch.manual_seed(seed)
    ours, theirs = (
        dn.MultiheadAttention(embed, heads, **settings),
        nn.MultiheadAttention(embed, heads, **settings),
    )
    g = torch.Generator().manual_seed(seed)

    def tensor(length: int, width: int) -> torch.Tensor:
        if layout == "unbatched":
            return torch.randn(length, width, generator=g)
        shape = (batch, length, width) if layout == "batch_first" else (length, batch, width)
        return torch.randn(shape, generator=g)

    q, k, v = tensor(queries, embed), tensor(keys, kdim or embed), tensor(keys, vdim or embed)
    masks = {}
    if attn_mask == "bool":
        masks["attn_mask"] = ~allowed_mask((queries, keys), g)  # True = may NOT attend
    elif attn_mask == "bool3d":
        masks["attn_mask"] = ~allowed_mask((batch * heads, queries, keys), g)
    elif attn_mask == "float":
        masks["attn_mask"] = torch.randn(queries, keys, generator=g).to(dtype)
    elif attn_mask == "causal":
        masks["attn_mask"] = ~causal_mask(queries, keys)
        masks["is_causal"] = True
    if padding == "bool":
        masks["key_padding_mask"] = ~allowed_mask((batch, keys), g)
    elif padding == "float":
        masks["key_padding_mask"] = torch.randn(batch, keys, generator=g).to(dtype)

    def call(module, q, k, v):
        return module(q, k, v, average_attn_weights=average, **masks)

    compare_modules(ours, theirs, [[q, k, v]], dtype, call=call)


def test_multihead_attention_without_weights_and_its_initialisation():
    torch.manual_seed(4)
    ours = dn.MultiheadAttention(8, 2, add_bias_kv=True, kdim=5, vdim=3)
    torch.manual_seed(4)
    theirs = nn.MultiheadAttention(8, 2, add_bias_kv=True, kdim=5, vdim=3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(4, 2, 8)
    out, weights = dn.MultiheadAttention(8, 2)(x, x, x, need_weights=False)
    assert weights is None and out.shape == (4, 2, 8)


def test_multihead_attention_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="divisible"):
        dn.MultiheadAttention(10, 3)
    x = torch.randn(4, 2, 8)
    with pytest.raises(ValueError, match="is_causal"):
        dn.MultiheadAttention(8, 2)(x, x, x, is_causal=True)
