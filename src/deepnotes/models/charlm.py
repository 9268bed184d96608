"""Character language models (notes, week 8): recurrent networks and a GPT, one interface.

Each maps a block of character ids (B, T) to the logits of the next character at
every position (B, T, V), trained by the language-model task in nats per
character, and samples text one character at a time:

    x_{t+1} ~ softmax(logits_t / temperature), restricted to the top k

char_rnn, char_lstm, char_gru   embedding → a 2-layer recurrent network → linear
gpt_char                        a decoder-only Transformer (Radford et al., "Improving
                                language understanding by generative pre-training",
                                2018; GPT-2, 2019), as nanoGPT builds it: learned
                                positions, pre-norm blocks with causal self-attention
                                and a GELU MLP, a final LayerNorm, and the output
                                layer tied to the token embedding (Press & Wolf 2017)

The builders take the zoo's arguments: `num_classes` is the vocabulary (the next
character is the class to predict) and `input_size` is (block size,).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.errors import UserError
from deepnotes.models.common import layers, register_model
from deepnotes.nn import attention
from deepnotes.nn.transformer import LearnedPositionalEncoding

SHAKESPEARE_VOCABULARY = 65
PAPER_GPT = "Radford et al., Improving language understanding by generative pre-training, 2018"


class CharLanguageModel(nn.Module):
    """What every character model shares: its context length and sampling."""

    block_size: int

    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        new_characters: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The prompt (T,) followed by `new_characters` sampled ids, each from the last
        `block_size` characters' prediction."""
        if temperature <= 0:
            raise UserError(f"temperature must be positive, got {temperature}")
        was_training = self.training
        self.eval()
        ids = prompt.to(self.device()).unsqueeze(0)  # (1, T)
        for _ in range(new_characters):
            logits = self(ids[:, -self.block_size :])[:, -1] / temperature  # (1, V)
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probabilities = torch.softmax(logits, dim=-1).cpu()
            following = torch.multinomial(probabilities, 1, generator=generator)  # (1, 1)
            ids = torch.cat([ids, following.to(ids.device)], dim=1)
        self.train(was_training)
        return ids[0]


class CharRNN(CharLanguageModel):
    """Embedding → RNN, LSTM or GRU (`cell`) → a linear read-out at every step.

    Args:
        num_classes: the vocabulary size. Default: 65 (tiny-shakespeare)
        input_size: (block size,), the characters of context in training. Default: (64,)
        cell: "rnn", "lstm" or "gru". Default: "lstm"
        embedding_dim, hidden_size, num_layers, dropout: the recurrent network's shape.
            Default: 64, 256, 2, 0.0
        impl: the recurrent layer from "torch" or "deepnotes". Default: "torch"
    """

    def __init__(
        self,
        num_classes: int = SHAKESPEARE_VOCABULARY,
        input_size: Sequence[int] = (64,),
        cell: str = "lstm",
        embedding_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        recurrent = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
        if cell not in recurrent:
            raise UserError(f"cell must be rnn, lstm or gru, got {cell!r}")
        L = layers(impl)
        self.block_size = input_size[0]
        self.embedding = nn.Embedding(num_classes, embedding_dim)
        self.rnn = getattr(L, recurrent[cell])(
            embedding_dim, hidden_size, num_layers, batch_first=True, dropout=dropout
        )
        self.head = L.Linear(hidden_size, num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        states, _ = self.rnn(self.embedding(ids))  # (B, T, hidden)
        return self.head(states)  # (B, T, V)


class TiedReadout(nn.Module):
    """logits = h Eᵀ: the output layer is the token embedding E, one matrix used twice
    (weight tying). It owns no parameter, so the weights are saved once."""

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        object.__setattr__(self, "embedding", embedding)  # a reference, not a submodule
        self.in_features, self.out_features = embedding.embedding_dim, embedding.num_embeddings

    def forward(self, h: Tensor) -> Tensor:
        return h @ self.embedding.weight.T  # (…, d) → (…, V)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t sees positions ≤ t only (Vaswani et
    al. 2017, §3.2; the decoder's mask):

        [Q K V] = x W_qkv,   headᵢ = softmax(Qᵢ Kᵢᵀ/√d + M) Vᵢ,   y = [head₁ … head_h] W_o

    One matrix makes the three projections (GPT-2's c_attn), and the heads are the last
    dimension cut in h, so nothing is copied that the products do not need: the same
    arithmetic as `nn.MultiheadAttention` with `is_causal`, without its transposes to
    sequence-first and back (which made a training step 54 ms instead of 47 on a CPU,
    benchmarks/CHARLM.md).
    `fused` picks torch's attention kernel or deepnotes's readable one.

    Shape: (B, T, C) → (B, T, C).
    """

    def __init__(
        self, L: ModuleType, n_embd: int, n_head: int, dropout: float, bias: bool, fused: bool
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd {n_embd} is not divisible by n_head {n_head}")
        self.n_head, self.dropout = n_head, dropout
        self.qkv = L.Linear(n_embd, 3 * n_embd, bias=bias)
        self.attend = attention.ScaledDotProductAttention(fused)
        self.out_proj = L.Linear(n_embd, n_embd, bias=bias)  # into the residual stream

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)  # each (B, T, C)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = self.attend(q, k, v, dropout_p=p, is_causal=True)  # (B, h, T, C/h)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))  # heads side by side


class GPTBlock(nn.Module):
    """A pre-norm Transformer block (GPT-2): x + attention(LN(x)), then x + MLP(LN(x)), the
    MLP C → 4C → C with a GELU. Its weights are named as `nn.TransformerEncoderLayer`'s
    (norm1, self_attn.out_proj, linear1, linear2, norm2).

    Shape: (B, T, C) → (B, T, C).
    """

    def __init__(
        self, L: ModuleType, n_embd: int, n_head: int, dropout: float, bias: bool, fused: bool
    ) -> None:
        super().__init__()
        self.norm1 = L.LayerNorm(n_embd, bias=bias)
        self.self_attn = CausalSelfAttention(L, n_embd, n_head, dropout, bias, fused)
        self.norm2 = L.LayerNorm(n_embd, bias=bias)
        self.linear1 = L.Linear(n_embd, 4 * n_embd, bias=bias)
        self.activation = L.GELU()
        self.linear2 = L.Linear(4 * n_embd, n_embd, bias=bias)  # into the residual stream
        self.dropout = L.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.dropout(self.self_attn(self.norm1(x)))
        return x + self.dropout(self.linear2(self.activation(self.linear1(self.norm2(x)))))


class GPT(CharLanguageModel):
    """A decoder-only Transformer over characters.

    Args:
        num_classes: the vocabulary size. Default: 65
        input_size: (block size,), the longest context. Default: (64,)
        n_layer, n_head, n_embd: depth, heads, width. Default: 4, 4, 128 (nanoGPT's
            Shakespeare model for a CPU)
        dropout: after the embeddings, in attention and in each residual branch. Default: 0
        bias: biases in the linear layers and LayerNorms. Default: False (nanoGPT's: a
            little better and faster; benchmarks/CHARLM.md)
        impl: the layers of "torch" (with its attention kernel) or of "deepnotes" (with
            the readable attention). Default: "torch"

    Initialised as GPT-2: N(0, 0.02) weights, zero biases, and the projections into
    the residual stream scaled by 1/√(2·n_layer), so its variance does not grow with
    depth.
    """

    def __init__(
        self,
        num_classes: int = SHAKESPEARE_VOCABULARY,
        input_size: Sequence[int] = (64,),
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
        bias: bool = False,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        L = layers(impl)
        self.block_size = input_size[0]
        self.token_embedding = nn.Embedding(num_classes, n_embd)
        self.position = LearnedPositionalEncoding(n_embd, self.block_size)
        self.dropout = L.Dropout(dropout)
        fused = impl == "torch"  # torch's attention kernel, or deepnotes's readable one
        self.blocks = nn.ModuleList(
            GPTBlock(L, n_embd, n_head, dropout, bias, fused) for _ in range(n_layer)
        )
        self.norm = L.LayerNorm(n_embd, bias=bias)
        self.head = TiedReadout(self.token_embedding)
        self.initialize(n_layer)

    def initialize(self, n_layer: int) -> None:
        residual_std = 0.02 / math.sqrt(2 * n_layer)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif "norm" in name:
                    p.fill_(1.0)
                elif name.endswith(("out_proj.weight", "linear2.weight")):
                    p.normal_(0.0, residual_std)
                else:
                    p.normal_(0.0, 0.02)

    def forward(self, ids: Tensor) -> Tensor:
        x = self.dropout(self.position(self.token_embedding(ids)))  # (B, T, n_embd)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (B, T, V)


def gpt_params(vocabulary: int, block: int, layers_: int, width: int, bias: bool = False) -> int:
    """Embeddings V·d + T·d; per block two LayerNorms 2d, attention 4d², MLP 8d², and with
    biases 2d + 4d + 5d more; the final LayerNorm d (2d); the head is the embedding (tied)."""
    per_block = 2 * width + 4 * width * width + 8 * width * width + bias * 11 * width
    return vocabulary * width + block * width + layers_ * per_block + (1 + bias) * width


def char_rnn_params(vocabulary: int, embedding: int, hidden: int, gates: int) -> int:
    """Embedding V·e; layer 1 gates·h(e + h + 2); layer 2 gates·h(2h + 2); read-out (h + 1)·V."""
    recurrent = gates * hidden * (embedding + hidden + 2) + gates * hidden * (2 * hidden + 2)
    return vocabulary * embedding + recurrent + (hidden + 1) * vocabulary


LM_DEFAULTS = {
    "batch_size": 12,
    "block_size": 64,
    "max_steps": 2000,
    "optimizer": "adamw",
    "weight_decay": 0.1,
    "scheduler": "warmup-cosine",
    "warmup_steps": 100,
    "grad_clip": 1.0,
}


# Measured one change at a time against nanoGPT's recipe (lr 2e-3, a floor of 1e-4: 1.817
# nats/char on seed 0): 3e-3 1.781, 4e-3 1.763, 6e-3 1.779; decaying to 0 instead of the
# floor costs 0.015 at 4e-3 (benchmarks/CHARLM.md)
GPT_DEFAULTS = {"lr": 4e-3, "min_lr": 1e-4}


def char_card(
    paper: str, reference: int, source: str, concepts: tuple[str, ...], **defaults: Any
) -> ModelCard:
    """The card every character model shares but for these: 64 characters of context,
    tiny-shakespeare's 65 characters, nanoGPT's schedule (`defaults` over it)."""
    return ModelCard(
        task="language-model",
        family="charlm",
        input_size=(64,),
        num_classes=SHAKESPEARE_VOCABULARY,
        paper=paper,
        reference=ParameterCount(reference, (64,), SHAKESPEARE_VOCABULARY, source),
        train_defaults={**LM_DEFAULTS, **defaults},
        concepts=concepts,
    )


@register_model(
    "gpt_char",
    char_card(
        PAPER_GPT,
        gpt_params(SHAKESPEARE_VOCABULARY, 64, 4, 128),
        gpt_params.__doc__.split("\n")[0],
        ("self-attention", "causal mask", "positional encoding", "weight tying"),
        **GPT_DEFAULTS,
    ),
)
def gpt_char(**kwargs: Any) -> GPT:
    return GPT(**kwargs)


RECURRENT = {"weight_decay": 0.0, "lr": 3e-3}
RECURRENT_CONCEPTS = ("recurrence", "backpropagation through time", "gates")


@register_model(
    "char_rnn",
    char_card(
        "Elman, Finding structure in time, Cognitive Science 1990",
        char_rnn_params(SHAKESPEARE_VOCABULARY, 64, 256, 1),
        char_rnn_params.__doc__,
        RECURRENT_CONCEPTS,
        **RECURRENT,
    ),
)
def char_rnn(**kwargs: Any) -> CharRNN:
    return CharRNN(cell="rnn", **kwargs)


@register_model(
    "char_lstm",
    char_card(
        "Hochreiter, Schmidhuber, Long short-term memory, Neural Computation 1997",
        char_rnn_params(SHAKESPEARE_VOCABULARY, 64, 256, 4),
        char_rnn_params.__doc__,
        RECURRENT_CONCEPTS,
        **RECURRENT,
    ),
)
def char_lstm(**kwargs: Any) -> CharRNN:
    return CharRNN(cell="lstm", **kwargs)


@register_model(
    "char_gru",
    char_card(
        "Cho et al., Learning phrase representations using RNN encoder-decoder, 2014",
        char_rnn_params(SHAKESPEARE_VOCABULARY, 64, 256, 3),
        char_rnn_params.__doc__,
        RECURRENT_CONCEPTS,
        **RECURRENT,
    ),
)
def char_gru(**kwargs: Any) -> CharRNN:
    return CharRNN(cell="gru", **kwargs)
