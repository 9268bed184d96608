"""Transformer layers (Vaswani et al., "Attention is all you need", 2017) and position codes.

An encoder layer is two sub-layers, each wrapped in a residual connection and a
LayerNorm:

    post-norm (the paper):   x = LN(x + SelfAttn(x));      x = LN(x + FFN(x))
    pre-norm (GPT-2 on):     x = x + SelfAttn(LN(x));      x = x + FFN(LN(x))

FFN(x) = W₂ act(W₁ x + b₁) + b₂ acts on each position alone; attention is the only
place where positions meet. Pre-norm keeps an unnormalised residual path from
the input to the output, which lets deep stacks train without warm-up (Xiong et
al., "On layer normalization in the Transformer architecture", 2020). A decoder
layer adds a cross-attention sub-layer between the two, whose keys and values
are the encoder's output (the memory).

Attention sees a set, not a sequence: permuting the positions permutes the
outputs. Order enters through position codes added to the inputs:

    sinusoidal   PE[p, 2i] = sin(p / 10000^{2i/d}),  PE[p, 2i+1] = cos(p / 10000^{2i/d})
    learned      one trained vector per position (GPT)

Names, arguments and state-dict keys are torch.nn.TransformerEncoderLayer's and
TransformerDecoderLayer's (`self_attn`, `multihead_attn`, `linear1`, `linear2`,
`norm1`…`norm3`), so weights copy across and the tests compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from deepnotes.nn.activations import gelu, relu
from deepnotes.nn.attention import MultiheadAttention
from deepnotes.nn.dropout import Dropout
from deepnotes.nn.linear import Linear
from deepnotes.nn.norm import LayerNorm

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": relu, "gelu": gelu}


def activation_function(activation: str | Callable[[Tensor], Tensor]) -> Callable:
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation should be relu or gelu, not {activation!r}")
    return ACTIVATIONS[activation]


def sinusoidal_positions(length: int, d_model: int) -> Tensor:
    """(length, d_model): sin on even features, cos on odd, wavelengths 2π … 10000·2π."""
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)  # (L, 1)
    frequency = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model)
    )  # (⌈d/2⌉,) = 1 / 10000^{2i/d}
    table = torch.zeros(length, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
    return table.float()


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal code of each position (a buffer, not trained).

    Shape: (N, L, d_model) with batch_first, else (L, N, d_model) → the same.
    """

    def __init__(self, d_model: int, max_len: int = 5000, batch_first: bool = True) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.register_buffer("table", sinusoidal_positions(max_len, d_model), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1] if self.batch_first else x.shape[0]
        codes = self.table[:length].to(x.dtype)  # (L, d)
        return x + (codes if self.batch_first else codes.unsqueeze(1))


class LearnedPositionalEncoding(nn.Module):
    """Adds a trained vector per position, `weight` (max_len, d_model) (GPT's wpe).

    Shape: (N, L, d_model) → the same (batch first).
    """

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] > len(self.weight):
            raise ValueError(f"sequence of {x.shape[1]} is longer than max_len {len(self.weight)}")
        return x + self.weight[: x.shape[1]]


class TransformerLayerBase(nn.Module):
    """What the encoder and decoder layers share: residual self-attention and the FFN."""

    sublayers: int  # residual sub-layers: 2 in an encoder layer, 3 in a decoder layer

    def build_feed_forward_and_norms(
        self,
        d_model: int,
        dim_feedforward: int,
        dropout: float,
        activation: str | Callable[[Tensor], Tensor],
        layer_norm_eps: float,
        norm_first: bool,
        bias: bool,
    ) -> None:
        """The FFN, then one LayerNorm and one dropout per sub-layer, made after the attention
        modules so that the state-dict keys come in torch's order."""
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        for k in range(1, self.sublayers + 1):
            setattr(self, f"norm{k}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for k in range(1, self.sublayers + 1):
            setattr(self, f"dropout{k}", Dropout(dropout))
        self.activation = activation_function(activation)

    @property
    def last_dropout(self) -> nn.Module:
        """The FFN sub-layer's output dropout: the last sub-layer's."""
        return getattr(self, f"dropout{self.sublayers}")

    def self_attention(
        self, x: Tensor, mask: Tensor | None, padding: Tensor | None, is_causal: bool
    ) -> Tensor:
        attended, _ = self.self_attn(
            x,
            x,
            x,
            key_padding_mask=padding,
            attn_mask=mask,
            need_weights=False,
            is_causal=is_causal,
        )
        return self.dropout1(attended)

    def feed_forward(self, x: Tensor) -> Tensor:
        """W₂ act(W₁ x + b₁) + b₂ at every position alone, then the sub-layer's dropout."""
        return self.last_dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(TransformerLayerBase):
    """Self-attention and a feed-forward block, each residual, post- or pre-norm.

    Args: torch.nn.TransformerEncoderLayer's — d_model, nhead, dim_feedforward=2048,
    dropout=0.1, activation="relu" ("gelu" or a function), layer_norm_eps=1e-5,
    batch_first=False, norm_first=False (True: pre-norm), bias=True.

    Shape: src (L, N, d_model), or (N, L, d_model) with batch_first → the same.
    """

    sublayers = 2

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first
        )
        self.build_feed_forward_and_norms(
            d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first, bias
        )

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self.self_attention(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self.feed_forward(self.norm2(x))
        x = self.norm1(x + self.self_attention(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self.feed_forward(x))


class TransformerDecoderLayer(TransformerLayerBase):
    """Masked self-attention, cross-attention to the memory, a feed-forward block.

    Args: torch.nn.TransformerDecoderLayer's, as `TransformerEncoderLayer`.

    Shape: tgt (T, N, d_model), memory (S, N, d_model) (batch first if asked) → tgt's.
    """

    sublayers = 3

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        attention = {"dropout": dropout, "bias": bias, "batch_first": batch_first}
        self.self_attn = MultiheadAttention(d_model, nhead, **attention)
        self.multihead_attn = MultiheadAttention(d_model, nhead, **attention)
        self.build_feed_forward_and_norms(
            d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first, bias
        )

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x = tgt
        masks = (tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        cross = (memory, memory_mask, memory_key_padding_mask, memory_is_causal)
        if self.norm_first:
            x = x + self.self_attention(self.norm1(x), *masks)
            x = x + self.cross_attention(self.norm2(x), *cross)
            return x + self.feed_forward(self.norm3(x))
        x = self.norm1(x + self.self_attention(x, *masks))
        x = self.norm2(x + self.cross_attention(x, *cross))
        return self.norm3(x + self.feed_forward(x))

    def cross_attention(
        self,
        x: Tensor,
        memory: Tensor,
        mask: Tensor | None,
        padding: Tensor | None,
        is_causal: bool,
    ) -> Tensor:
        """Queries from the decoder, keys and values from the encoder's output."""
        attended, _ = self.multihead_attn(
            x,
            memory,
            memory,
            key_padding_mask=padding,
            attn_mask=mask,
            need_weights=False,
            is_causal=is_causal,
        )
        return self.dropout2(attended)
