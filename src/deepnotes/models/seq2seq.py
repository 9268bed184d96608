"""An encoder–decoder with attention (Bahdanau, Cho, Bengio, ICLR 2015): the translator.

The encoder, a bidirectional GRU (or LSTM), reads the source words and leaves
one vector h_j per word (both directions concatenated). The decoder writes the
translation one word at a time; before each word it *attends*: it scores every
h_j against its state s, turns the scores into weights by a softmax over the
source, and reads the weighted mean, the context c:

    additive (Bahdanau)   e_j = vᵀ tanh(W_s s + W_h h_j)
    dot (Luong, scaled)   e_j = (W_s s)ᵀ h_j / √d
    α = softmax(e) over the real (unpadded) words,   c = Σ_j α_j h_j

The decoder cell takes the previous word's embedding and c; the next word's
logits come from [s; c]. Training feeds the true previous word (teacher
forcing); translating feeds back its own choice, greedily or by beam search.
The α of each output word form the attention map: for numbers, French
"quatre-vingt-dix-sept" looks at English "ninety" and "seven".

Builders take the zoo's arguments: `num_classes` is the target vocabulary,
`input_size` is (source vocabulary,).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.data.translation import BOS, EOS, PAD
from deepnotes.errors import UserError
from deepnotes.models.common import layers, register_model

MAX_OUTPUT = 40  # words a translation may have (French numbers need at most 19)


class AdditiveAttention(nn.Module):
    """e_j = vᵀ tanh(W_s s + W_h h_j) (Bahdanau et al.)."""

    def __init__(self, query_size: int, key_size: int, hidden: int, L: Any) -> None:
        super().__init__()
        self.query = L.Linear(query_size, hidden, bias=False)
        self.key = L.Linear(key_size, hidden)
        self.score = L.Linear(hidden, 1, bias=False)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """(B, S) scores of keys (B, S, K) for queries (B, Q)."""
        return self.score(torch.tanh(self.query(query).unsqueeze(1) + self.key(keys))).squeeze(2)


class DotAttention(nn.Module):
    """e_j = (W_s s)ᵀ h_j / √d (Luong et al. 2015, scaled as in the Transformer)."""

    def __init__(self, query_size: int, key_size: int, hidden: int, L: Any) -> None:
        super().__init__()
        del hidden  # the key's own width is the product's
        self.query = L.Linear(query_size, key_size, bias=False)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        projected = self.query(query).unsqueeze(2)  # (B, K, 1)
        return (keys @ projected).squeeze(2) / math.sqrt(keys.shape[-1])  # (B, S)


ATTENTIONS = {"additive": AdditiveAttention, "dot": DotAttention}


class Encoded(NamedTuple):
    outputs: Tensor  # (B, S, 2H): one vector per source word
    mask: Tensor  # (B, S): True on real words, False on padding


class Seq2Seq(nn.Module):
    """A bidirectional recurrent encoder, an attentive recurrent decoder.

    Args:
        num_classes: the target vocabulary. Default: 31 (numbers-en-fr's French)
        input_size: (source vocabulary,). Default: (36,)
        cell: "gru" or "lstm". Default: "gru"
        attention: "additive" or "dot". Default: "additive"
        embedding_dim, hidden_size: Default: 64, 128
        impl: recurrent and linear layers from "torch" or "deepnotes". Default: "torch"

    Shape: forward(source (B, S), lengths (B,), decoder inputs (B, T)) → logits (B, T, V).
    """

    def __init__(
        self,
        num_classes: int = 31,
        input_size: Sequence[int] = (36,),
        cell: str = "gru",
        attention: str = "additive",
        embedding_dim: int = 64,
        hidden_size: int = 128,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise UserError(f"cell must be gru or lstm, got {cell!r}")
        if attention not in ATTENTIONS:
            raise UserError(f"attention must be one of {', '.join(ATTENTIONS)}, got {attention!r}")
        L = layers(impl)
        self.cell_type, hidden = cell, hidden_size
        recurrent, step = (L.GRU, L.GRUCell) if cell == "gru" else (L.LSTM, L.LSTMCell)
        self.source_embedding = nn.Embedding(input_size[0], embedding_dim, padding_idx=PAD)
        self.encoder = recurrent(embedding_dim, hidden, batch_first=True, bidirectional=True)
        self.bridge = L.Linear(2 * hidden, hidden)  # the encoder's last states → s₀
        self.target_embedding = nn.Embedding(num_classes, embedding_dim, padding_idx=PAD)
        self.attention = ATTENTIONS[attention](hidden, 2 * hidden, hidden, L)
        self.decoder = step(embedding_dim + 2 * hidden, hidden)
        self.output = L.Linear(hidden + 2 * hidden, num_classes)

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Encoded, Any]:
        """The source words' vectors and the decoder's first state."""
        packed = pack_padded_sequence(
            self.source_embedding(source), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, final = self.encoder(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        last = final[0] if self.cell_type == "lstm" else final  # (2, B, H): both directions
        state = torch.tanh(self.bridge(torch.cat([last[0], last[1]], dim=1)))  # (B, H)
        if self.cell_type == "lstm":
            state = (state, torch.zeros_like(state))
        return Encoded(outputs, source != PAD), state

    def attend(self, state: Any, encoded: Encoded) -> tuple[Tensor, Tensor]:
        """(context (B, 2H), weights (B, S)) for the decoder state."""
        query = state[0] if self.cell_type == "lstm" else state
        scores = self.attention.scores(query, encoded.outputs).masked_fill(
            ~encoded.mask, float("-inf")
        )
        weights = torch.softmax(scores, dim=1)  # padding gets weight 0
        return (weights.unsqueeze(1) @ encoded.outputs).squeeze(1), weights

    def step(self, previous: Tensor, state: Any, encoded: Encoded) -> tuple[Tensor, Any, Tensor]:
        """One output word: (logits (B, V), new state, attention weights (B, S))."""
        context, weights = self.attend(state, encoded)
        state = self.decoder(torch.cat([self.target_embedding(previous), context], dim=1), state)
        query = state[0] if self.cell_type == "lstm" else state
        return self.output(torch.cat([query, context], dim=1)), state, weights

    def forward(self, source: Tensor, lengths: Tensor, decoder_inputs: Tensor) -> Tensor:
        """Teacher forcing: logits for every target position given the true previous words."""
        encoded, state = self.encode(source, lengths)
        logits = []
        for t in range(decoder_inputs.shape[1]):
            step_logits, state, _ = self.step(decoder_inputs[:, t], state, encoded)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # (B, T, V)

    @torch.no_grad()
    def greedy(
        self, source: Tensor, lengths: Tensor, max_length: int = MAX_OUTPUT
    ) -> tuple[Tensor, Tensor]:
        """The likeliest word at each step: ids (B, T') and attention weights (B, T', S)."""
        encoded, state = self.encode(source, lengths)
        previous = torch.full((len(source),), BOS, dtype=torch.long, device=source.device)
        words, maps = [], []
        finished = torch.zeros(len(source), dtype=torch.bool, device=source.device)
        for _ in range(max_length):
            logits, state, weights = self.step(previous, state, encoded)
            previous = logits.argmax(dim=1).masked_fill(finished, PAD)
            words.append(previous)
            maps.append(weights)
            finished |= previous == EOS
            if finished.all():
                break
        return torch.stack(words, dim=1), torch.stack(maps, dim=1)

    @torch.no_grad()
    def beam_search(
        self, source: Tensor, length: int, beam: int = 5, max_length: int = MAX_OUTPUT
    ) -> list[int]:
        """The best of `beam` partial translations kept at each step, by total log-probability,
        for one source sentence (S,); the words up to <eos>."""
        encoded, state = self.encode(source[:length].unsqueeze(0), torch.tensor([length]))
        hypotheses = [(0.0, [BOS], state)]  # (log-probability, words, decoder state)
        done: list[tuple[float, list[int]]] = []
        for _ in range(max_length):
            candidates = []
            for score, words, state in hypotheses:
                previous = torch.tensor([words[-1]], device=source.device)
                logits, new_state, _ = self.step(previous, state, encoded)
                log_probs = torch.log_softmax(logits[0], dim=0)
                top = torch.topk(log_probs, beam)
                for value, word in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                    candidates.append((score + value, [*words, word], new_state))
            candidates.sort(key=lambda c: c[0], reverse=True)
            hypotheses = []
            for score, words, state in candidates[:beam]:
                (done if words[-1] == EOS else hypotheses).append(
                    (score, words) if words[-1] == EOS else (score, words, state)
                )
            if not hypotheses or (done and max(d[0] for d in done) >= hypotheses[0][0]):
                break  # no unfinished hypothesis can overtake the best finished one
        best = max(done or [(h[0], h[1]) for h in hypotheses], key=lambda d: d[0])[1]
        return [w for w in best[1:] if w != EOS]


PAPER = (
    "Bahdanau, Cho, Bengio, Neural machine translation by jointly learning to align and "
    "translate, ICLR 2015"
)


def seq2seq_params(source: int, target: int, embedding: int, hidden: int) -> int:
    """Embeddings (S + T)·e; the bidirectional GRU 2·3H(e + H + 2); the bridge (2H + 1)·H;
    additive attention H·H + (2H + 1)·H + H; the GRU cell 3H(e + 2H + H + 2); the read-out
    (3H + 1)·T."""
    encoder = 2 * 3 * hidden * (embedding + hidden + 2)
    attention = hidden * hidden + (2 * hidden + 1) * hidden + hidden
    decoder = 3 * hidden * (embedding + 2 * hidden + hidden + 2)
    bridge = (2 * hidden + 1) * hidden
    return (
        (source + target) * embedding
        + encoder
        + bridge
        + attention
        + decoder
        + (3 * hidden + 1) * target
    )


@register_model(
    "seq2seq",
    ModelCard(
        task="translation",
        family="seq2seq",
        input_size=(36,),
        num_classes=31,
        paper=PAPER,
        reference=ParameterCount(
            seq2seq_params(36, 31, 64, 128), (36,), 31, seq2seq_params.__doc__.replace("\n", " ")
        ),
        # one epoch already translates 99.9% of the validation numbers exactly
        train_defaults={"epochs": 3, "batch_size": 64, "lr": 2e-3, "grad_clip": 1.0},
        concepts=("encoder-decoder", "additive attention", "teacher forcing", "beam search"),
    ),
)
def seq2seq(**kwargs: Any) -> Seq2Seq:
    return Seq2Seq(**kwargs)
