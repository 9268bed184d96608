"""Attention, read as the lesson: scaled dot-product attention and multi-head attention.

Scaled dot-product attention (Vaswani et al., "Attention is all you need", 2017):
every query q_i scores every key k_j, the scores become weights by a softmax over
the keys, and the output is the weighted mean of the values:

    A = softmax(Q Kᵀ / √d + M),    output = A V,

Q: (…, L, d) queries, K: (…, S, d) keys, V: (…, S, d_v) values; M adds −∞ where a
query may not look (a causal mask: key j > query i; padding), so those weights
are 0. Dividing by √d keeps the scores' variance near 1 when q and k have unit
variance entries, so the softmax does not saturate as d grows.

Multi-head attention projects queries, keys and values h times into d = E/h
dimensions, attends in each head separately, concatenates the heads and projects
back: MultiHead(Q, K, V) = concat(head₁ … head_h) W_O, head_i = A_i V W_V^i.

`scaled_dot_product_attention` is the readable path; torch's fused
`F.scaled_dot_product_attention` is the fast path, and a test shows the two agree.
`MultiheadAttention` has torch.nn's arguments, weights and masks:

    attn_mask          (L, S) or (N·h, L, S): bool True = may NOT attend, or floats added
    key_padding_mask   (N, S): bool True = this key is padding, or floats added

(note that torch's `F.scaled_dot_product_attention` reads a boolean mask the other
way round: True = may attend; `scaled_dot_product_attention` here follows it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepnotes.nn.functional import linear
from deepnotes.nn.linear import Linear


def causal_mask(queries: int, keys: int, device: torch.device | None = None) -> Tensor:
    """(L, S) bool, True where query i may attend to key j ≤ i (the lower triangle)."""
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril()


def default_scale(dimensions: int) -> float:
    """1/√d: the scores' scale, so that q·k of unit-variance vectors has unit variance
    (a sum of d products of variance 1 has variance d) and the softmax does not saturate."""
    return 1 / math.sqrt(dimensions)


def additive_mask(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """A mask as the M added to the scores: bool True (may attend) → 0, False → −∞."""
    if mask is None or mask.is_floating_point():
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
        ~mask, float("-inf")
    )


def attention_weights(
    query: Tensor,
    key: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """A = softmax(Q Kᵀ · scale + M) over the keys: (…, L, S). scale defaults to 1/√d."""
    scale = default_scale(query.shape[-1]) if scale is None else scale
    scores = query @ key.transpose(-2, -1) * scale  # (…, L, S)
    if is_causal:
        scores = scores + additive_mask(
            causal_mask(*scores.shape[-2:], scores.device), scores.dtype
        )
    mask = additive_mask(attn_mask, scores.dtype)
    if mask is not None:
        scores = scores + mask
    return torch.softmax(scores, dim=-1)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(Q Kᵀ/√d + M) V, as `F.scaled_dot_product_attention` (the readable path).

    attn_mask: bool (True = may attend) or floats added to the scores, broadcast to
    (…, L, S). Dropout, when asked for, drops attention weights (before A V).
    """
    weights = attention_weights(query, key, attn_mask, is_causal, scale)  # (…, L, S)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p)
    return weights @ value  # (…, L, d_v)


class ScaledDotProductAttention(nn.Module):
    """softmax(Q Kᵀ/√d + M) V as a layer without weights, so that a model's summary counts
    its two products (Q Kᵀ and A V, d per query–key pair each) where it is called.

    `fused` picks torch's kernel (`F.scaled_dot_product_attention`, which never builds the
    (L, S) weights) or the readable `scaled_dot_product_attention` above, whose causal mask
    is `causal_mask`'s; the two agree (`tests/nn/test_attention.py`).

    Shape: query (…, L, d), key (…, S, d), value (…, S, d_v) → (…, L, d_v).
    """

    def __init__(self, fused: bool = True) -> None:
        super().__init__()
        self.fused = fused

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        dropout_p: float = 0.0,
        is_causal: bool = False,
    ) -> Tensor:
        attend = F.scaled_dot_product_attention if self.fused else scaled_dot_product_attention
        return attend(query, key, value, dropout_p=dropout_p, is_causal=is_causal)

    def extra_repr(self) -> str:
        return f"fused={self.fused}"


class MultiheadAttention(nn.Module):
    """Multi-head attention with torch.nn.MultiheadAttention's arguments, weights and masks.

    Args:
        embed_dim: E, the model's width; each of the num_heads heads has E/num_heads.
        num_heads: h.
        dropout: dropout on the attention weights, in training. Default: 0
        bias: biases in the input and output projections. Default: True
        add_bias_kv: learn one extra key and value appended to every sequence. Default: False
        add_zero_attn: append an all-zero key and value (after the projections). Default: False
        kdim, vdim: the keys' and values' own widths. Default: E
        batch_first: (N, L, E) instead of (L, N, E). Default: False

    Weights: `in_proj_weight` (3E, E) holding W_Q, W_K, W_V stacked when the keys and
    values are E wide, else `q_proj_weight` (E, E), `k_proj_weight` (E, kdim),
    `v_proj_weight` (E, vdim); `in_proj_bias` (3E); `out_proj` (E → E); `bias_k`,
    `bias_v` (1, 1, E). Initialised as torch does: Xavier-uniform projections, zero
    biases, the output projection as a Linear layer.

    Shape: query (L, N, E), key (S, N, kdim), value (S, N, vdim), or unbatched (L, E) …;
    output (L, N, E) and the weights (N, L, S), averaged over heads unless
    average_attn_weights=False ((N, h, L, S)); None with need_weights=False.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first, self.add_zero_attn = dropout, batch_first, add_zero_attn
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, embed_dim))
            self.bias_v = nn.Parameter(torch.empty(1, 1, embed_dim))
        else:
            self.bias_k = self.bias_v = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self._qkv_same_embed_dim:
                nn.init.xavier_uniform_(self.in_proj_weight)
            else:
                for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                    nn.init.xavier_uniform_(weight)
            if self.in_proj_bias is not None:
                self.in_proj_bias.zero_()
                self.out_proj.bias.zero_()
            for extra in (self.bias_k, self.bias_v):
                if extra is not None:
                    nn.init.xavier_normal_(extra)

    def projection_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """W_Q, W_K, W_V, each (E, width of its input)."""
        if self._qkv_same_embed_dim:
            return self.in_proj_weight.chunk(3)
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        if is_causal and attn_mask is None:
            raise ValueError("is_causal is a hint about attn_mask: pass the causal mask as well")
        unbatched = query.dim() == 2
        if unbatched:  # (L, E) → (L, 1, E)
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:  # (N, L, E) → (L, N, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        queries, batch, _ = query.shape
        biases = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)
        w_q, w_k, w_v = self.projection_weights()
        q = linear(query, w_q, biases[0])  # (L, N, E)
        k = linear(key, w_k, biases[1])  # (S, N, E)
        v = linear(value, w_v, biases[2])
        mask = self.merged_mask(attn_mask, key_padding_mask, batch, queries, q.dtype)
        if self.bias_k is not None:  # one learned key and value more: S → S + 1
            k = torch.cat([k, self.bias_k.expand(1, batch, -1)])
            v = torch.cat([v, self.bias_v.expand(1, batch, -1)])
            mask = None if mask is None else F.pad(mask, (0, 1))
        q, k, v = (self.split_heads(t, batch) for t in (q, k, v))  # (N, h, ·, d)
        if self.add_zero_attn:  # an all-zero key and value: S → S + 1
            k = torch.cat([k, k.new_zeros(batch, self.num_heads, 1, self.head_dim)], dim=2)
            v = torch.cat([v, v.new_zeros(batch, self.num_heads, 1, self.head_dim)], dim=2)
            mask = None if mask is None else F.pad(mask, (0, 1))
        weights = attention_weights(q, k, mask)  # (N, h, L, S)
        if self.training and self.dropout > 0:
            weights_dropped = F.dropout(weights, self.dropout)
        else:
            weights_dropped = weights
        heads = weights_dropped @ v  # (N, h, L, d)
        merged = heads.permute(2, 0, 1, 3).reshape(queries, batch, self.embed_dim)  # (L, N, E)
        output = self.out_proj(merged)
        if unbatched:
            output, weights = output.squeeze(1), weights.squeeze(0)
        elif self.batch_first:
            output = output.transpose(0, 1)
        if not need_weights:
            return output, None
        return output, weights.mean(dim=-3) if average_attn_weights else weights

    def split_heads(self, x: Tensor, batch: int) -> Tensor:
        """(T, N, E) → (N, h, T, d): each head's slice of the features."""
        return x.view(x.shape[0], batch, self.num_heads, self.head_dim).permute(1, 2, 0, 3)

    def merged_mask(
        self,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        batch: int,
        queries: int,
        dtype: torch.dtype,
    ) -> Tensor | None:
        """attn_mask and key_padding_mask as one additive (N, h, L, S) mask, or None.

        Both use torch.nn.MultiheadAttention's convention: bool True = may not attend.
        """
        mask = None
        if attn_mask is not None:
            mask = additive_mask(~attn_mask if attn_mask.dtype == torch.bool else attn_mask, dtype)
            if mask.dim() == 3:  # (N·h, L, S) → (N, h, L, S)
                mask = mask.view(batch, self.num_heads, queries, -1)
        if key_padding_mask is not None:
            padding = key_padding_mask
            padding = additive_mask(~padding if padding.dtype == torch.bool else padding, dtype)
            padding = padding.view(batch, 1, 1, -1)  # the same keys hidden for every query
            mask = padding if mask is None else mask + padding
        return mask

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
