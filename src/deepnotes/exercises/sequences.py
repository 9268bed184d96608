"""Exercises on sequence models: one LSTM step, scaled dot-product attention, multi-head
attention and CTC's forward algorithm."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from deepnotes.exercises.base import Case, Exercise, Mistake, gradients, randn, register
from deepnotes.nn import attention, ctc, rnn

TOPIC = "8. Sequence models"


def leaves(tensors: Mapping[str, Tensor | None]) -> dict[str, Tensor]:
    """The given tensors as fresh leaves that require grad (the Nones left out)."""
    return {k: t.detach().clone().requires_grad_(True) for k, t in tensors.items() if t is not None}


# ----------------------------------------------------------------------------- LSTM cell

LSTM_STARTER = '''\
import torch
from torch import Tensor


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One step of an LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of
    Gers et al. 2000; notes line 223: RNNs, LSTMs, GRUs), as torch.nn.LSTMCell computes it.

        i, f, g, o = split into 4 (x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)    (in this order)
        i, f, o = σ(i), σ(f), σ(o);   g = tanh(g)
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')

    Shapes: x (B, input), state = (h, c) each (B, hidden), w_ih (4·hidden, input),
    w_hh (4·hidden, hidden), b_ih and b_hh (4·hidden,) or None (no bias). The four
    gates are stacked in the weights' rows in torch's order: input, forget, cell, output.

    Return (h', c'), each (B, hidden). Gradients must flow to every input.
    """
    # TODO: the gates, then the new cell, then the new hidden state
    raise NotImplementedError("lstm_cell")
'''


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The package's answer: `rnn.lstm_cell`, the step its LSTM and LSTMCell take."""
    return rnn.lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh)


def lstm_cell_gates_ifog(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The gates read in the order i, f, o, g: the cell candidate taken from o's rows."""
    h, c = state
    gates = rnn.affine(x, w_ih, b_ih) + rnn.affine(h, w_hh, b_hh)  # (B, 4·hidden)
    i, f, o, g = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_cell_without_input_gate(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """c' = f ⊙ c + g: the candidate added to the cell without the input gate."""
    h, c = state
    gates = rnn.affine(x, w_ih, b_ih) + rnn.affine(h, w_hh, b_hh)  # (B, 4·hidden)
    _, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_cases(rng: random.Random) -> list[Case]:
    """Batches from 1, odd input and hidden sizes, with and without biases."""
    cases = []
    for n in range(16):
        batch, inputs, hidden = rng.randint(1, 1 + n // 3), rng.randint(1, 5), rng.randint(1, 5)
        bias = n % 4 != 3
        rows = 4 * hidden
        settings = {
            "x": randn(rng, batch, inputs),
            "h": randn(rng, batch, hidden),
            "c": randn(rng, batch, hidden),
            "w_ih": randn(rng, rows, inputs),
            "w_hh": randn(rng, rows, hidden),
            "b_ih": randn(rng, rows) if bias else None,
            "b_hh": randn(rng, rows) if bias else None,
            "dh": randn(rng, batch, hidden),  # the cotangents of h' and c'
            "dc": randn(rng, batch, hidden),
        }
        text = f"B={batch}, input={inputs}, hidden={hidden}, bias={bias}"
        cases.append(Case(text, settings))
    return cases


def run_lstm(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    given = case.inputs
    names = ("x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh")
    grads = leaves({k: given[k] for k in names})
    h, c = implementation(
        grads["x"],
        (grads["h"], grads["c"]),
        grads["w_ih"],
        grads["w_hh"],
        grads.get("b_ih"),
        grads.get("b_hh"),
    )
    found = gradients((h, c), list(grads.values()), (given["dh"], given["dc"]))
    return {"h'": h.detach(), "c'": c.detach()} | {
        f"d_{name}": grad for name, grad in zip(grads, found, strict=True)
    }


register(
    "lstm-cell",
    Exercise(
        title="One step of an LSTM cell, with its gradients",
        topic=TOPIC,
        entry="lstm_cell",
        starter=LSTM_STARTER,
        reference=lstm_cell,
        cases=lstm_cases,
        run=run_lstm,
        solution=("deepnotes.nn.rnn.lstm_cell", "deepnotes.nn.rnn.affine"),
        hints=(
            "Compute all four gates at once: one (B, 4·hidden) pre-activation from the input "
            "and one from the state, added; a missing bias adds nothing.",
            "torch's rows come in the order input, forget, cell (g), output: "
            "gates.chunk(4, dim=1) gives i, f, g, o.",
            "c' = σ(f)·c + σ(i)·tanh(g) and h' = σ(o)·tanh(c'); autograd gives the gradients "
            "as long as you never leave torch.",
        ),
        mistakes=(
            Mistake(
                "lstm-without-forget-bias",
                "The forget gate is computed without its bias, f = σ(W_if x + W_hf h), so it "
                "ignores the bias that should keep the cell's memory.",
                "Gers, Schmidhuber & Cummins (2000), the forget gate f = σ(W_f [x, h] + b_f); "
                "Jozefowicz et al. (2015) on its bias of 1",
            ),
            Mistake(
                "lstm-gates-in-order-ifog",
                "The four gates are read from the weights in the order i, f, o, g, where "
                "torch stacks them i, f, g, o: the cell candidate and the output gate swap.",
                "torch.nn.LSTMCell's documentation: weight_ih is (W_ii|W_if|W_ig|W_io)",
                wrong=lstm_cell_gates_ifog,
            ),
            Mistake(
                "lstm-without-input-gate",
                "The cell adds its candidate without the input gate, c' = f ⊙ c + g, so "
                "every step writes all of g into the memory.",
                "Hochreiter & Schmidhuber (1997): c' = f ⊙ c + i ⊙ g, the input gate guards "
                "the cell's writes",
                wrong=lstm_cell_without_input_gate,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- attention

ATTENTION_STARTER = '''\
import math

import torch
from torch import Tensor


def attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    causal: bool = False,
    mask: Tensor | None = None,
) -> Tensor:
    """Scaled dot-product attention (Vaswani et al., "Attention is all you need", 2017),
    as torch.nn.functional.scaled_dot_product_attention(query, key, value,
    attn_mask=mask, is_causal=causal) computes it.

        A = softmax(Q Kᵀ / √d + M)   (a softmax over the keys: each query's weights sum to 1)
        output = A V

    Each query scores every key; the scores become weights, and the output is the
    weighted mean of the values (notes line 188: attention gates how an average is
    computed). Dividing by √d keeps the scores' variance near 1.

    Shapes: query (B, H, L, d), key (B, H, S, d), value (B, H, S, d_v): B batches, H
    heads, L queries, S keys (L and S may differ). Output (B, H, L, d_v).

    M is −∞ where a query may not look, 0 elsewhere:
    - causal=True: query i may look at the keys j ≤ i only (the lower triangle of an
      (L, S) matrix, starting from its top-left corner, as torch does when L ≠ S);
    - mask: a bool tensor that broadcasts to (B, H, L, S), True where the query MAY
      look at the key (torch's convention for this function).
    causal and mask are never given together, and every query may look at one key at least.
    Gradients must flow to query, key and value.
    """
    # TODO: the scores, the mask, the softmax, the weighted values
    raise NotImplementedError("attention")
'''


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    causal: bool = False,
    mask: Tensor | None = None,
) -> Tensor:
    """The package's answer: `attention.scaled_dot_product_attention`, the readable path."""
    return attention.scaled_dot_product_attention(query, key, value, mask, is_causal=causal)


def attention_softmax_over_queries(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    causal: bool = False,
    mask: Tensor | None = None,
) -> Tensor:
    """The softmax taken over the queries (dim −2): each key's weights sum to 1, not each
    query's."""
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])  # (B, H, L, S)
    if causal:
        scores = scores.masked_fill(~attention.causal_mask(*scores.shape[-2:]), -math.inf)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf)
    return torch.softmax(scores, dim=-2) @ value


def attention_cases(rng: random.Random) -> list[Case]:
    """Batches and heads from 1, queries and keys of different lengths, d and d_v apart;
    plain, causal, and with a mask of (L, S) or (B, 1, L, S)."""
    cases = []
    for n in range(18):
        grow = 2 + n // 4
        b, h = rng.randint(1, grow), rng.randint(1, grow)
        length, keys = rng.randint(1, 2 + grow), rng.randint(1, 2 + grow)
        d, d_v = rng.randint(1, 5), rng.randint(1, 5)
        kind = ("plain", "causal", "mask")[n % 3]
        mask = None
        if kind == "mask":
            shape = (length, keys) if rng.random() < 0.5 else (b, 1, length, keys)
            mask = randn(rng, *shape) > 0
            first = torch.tensor([rng.randrange(keys) for _ in range(length)])
            mask[..., torch.arange(length), first] = True  # every query sees one key at least
        settings = {
            "query": randn(rng, b, h, length, d),
            "key": randn(rng, b, h, keys, d),
            "value": randn(rng, b, h, keys, d_v),
            "causal": kind == "causal",
            "mask": mask,
            "cotangent": randn(rng, b, h, length, d_v),
        }
        shown = "" if mask is None else f", mask of shape {tuple(mask.shape)}"
        text = f"B={b}, H={h}, L={length}, S={keys}, d={d}, d_v={d_v}, causal={kind == 'causal'}"
        cases.append(Case(text + shown, settings))
    return cases


def run_attention(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    given = case.inputs
    grads = leaves({k: given[k] for k in ("query", "key", "value")})
    output = implementation(**grads, causal=given["causal"], mask=given["mask"])
    found = gradients([output], list(grads.values()), [given["cotangent"]])
    return {"output": output.detach()} | {
        f"d_{name}": grad for name, grad in zip(grads, found, strict=True)
    }


register(
    "scaled-dot-product-attention",
    Exercise(
        title="Scaled dot-product attention, with a causal mask or a given one",
        topic=TOPIC,
        entry="attention",
        starter=ATTENTION_STARTER,
        reference=scaled_dot_product_attention,
        cases=attention_cases,
        run=run_attention,
        solution=(
            "deepnotes.nn.attention.scaled_dot_product_attention",
            "deepnotes.nn.attention.attention_weights",
            "deepnotes.nn.attention.causal_mask",
            "deepnotes.nn.attention.default_scale",
        ),
        hints=(
            "The scores are one batched matrix product, query @ key.transpose(-2, -1): "
            "(B, H, L, S), scaled by 1/√d with d the queries' last dimension.",
            "Masking means −∞ before the softmax: scores.masked_fill(~allowed, -inf), with "
            "allowed = torch.ones(L, S, dtype=torch.bool).tril() for the causal case.",
            "The softmax runs over the keys, the last dimension (dim=-1), so each query's "
            "weights sum to 1; then multiply by value.",
        ),
        mistakes=(
            Mistake(
                "attention-without-scale",
                "The scores are QKᵀ without the 1/√d, so the softmax is sharper than "
                "attention's as soon as d > 1.",
                "Vaswani et al. (2017), eq. 1: softmax(QKᵀ/√d_k) V",
            ),
            Mistake(
                "causal-mask-off-by-one",
                "The causal mask keeps one diagonal too many (tril(diagonal=1)), so each query "
                "also sees the next key, the one it should predict.",
                "Vaswani et al. (2017), §3.2.3: the decoder masks the positions after i",
            ),
            Mistake(
                "attention-softmax-over-queries",
                "The softmax runs over the queries (dim −2) instead of the keys, so a key's "
                "weights sum to 1 and a query's output is no weighted mean of the values.",
                "notes line 188: attention gates how an average is computed — each query's "
                "weights over the keys",
                wrong=attention_softmax_over_queries,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- multi-head

MULTI_HEAD_STARTER = '''\
import math

import torch
from torch import Tensor


def multi_head_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor | None,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
) -> Tensor:
    """Multi-head attention (Vaswani et al., "Attention is all you need", 2017, §3.2.2), as
    torch.nn.MultiheadAttention(E, num_heads, batch_first=True) computes its output with
    these weights:

        Q = query W_Qᵀ + b_Q,  K = key W_Kᵀ + b_K,  V = value W_Vᵀ + b_V      (each E wide)
        head_i = softmax(Q_i K_iᵀ / √d) V_i     Q_i: the i-th slice of d = E / h features
        output = concat(head_1 … head_h) W_Oᵀ + b_O

    W_Q, W_K, W_V are in_proj_weight's three (E, E) blocks, in that order (b_Q, b_K, b_V
    in_proj_bias's); W_O = out_proj_weight, b_O = out_proj_bias. Head i owns the features
    i·d … (i + 1)·d − 1 of Q, K and V, and its output goes back to the same features.
    Self-attention passes the same tensor as query, key and value; cross-attention passes
    keys and values of another length S.

    Shapes: query (B, L, E), key and value (B, S, E), in_proj_weight (3E, E), in_proj_bias
    (3E,), out_proj_weight (E, E), out_proj_bias (E,); the biases both given or both None.
    E is divisible by num_heads. Output (B, L, E). Gradients must flow to every input.
    """
    # TODO: project, split the heads, attend in each, merge the heads, project back
    raise NotImplementedError("multi_head_attention")
'''


def multi_head_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor | None,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
) -> Tensor:
    """The package's answer: `attention.MultiheadAttention` run with the given weights."""
    width = query.shape[-1]
    bias = in_proj_bias is not None
    layer = attention.MultiheadAttention(width, num_heads, bias=bias, batch_first=True)
    parameters = {"in_proj_weight": in_proj_weight, "out_proj.weight": out_proj_weight}
    if bias:
        parameters |= {"in_proj_bias": in_proj_bias, "out_proj.bias": out_proj_bias}
    output, _ = torch.func.functional_call(
        layer, parameters, (query, key, value), {"need_weights": False}
    )
    return output


def heads_by_view(x: Tensor, heads: int) -> Tensor:
    """(B, T, E) → (B, h, T, d) by a view alone: the memory read as if heads came first."""
    batch, length, width = x.shape
    return x.reshape(batch, heads, length, width // heads)


def heads_by_transpose(x: Tensor, heads: int) -> Tensor:
    """(B, T, E) → (B, h, T, d): each head's slice of the features."""
    batch, length, width = x.shape
    return x.reshape(batch, length, heads, width // heads).transpose(1, 2)


def attend_in_heads(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor | None,
    split: Callable[[Tensor, int], Tensor],
) -> Tensor:
    """The heads' outputs merged back to (B, L, E), before the output projection, with the
    heads split by `split` (and merged by its inverse)."""
    biases = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    projected = [
        torch.nn.functional.linear(x, w, b)
        for x, w, b in zip((query, key, value), in_proj_weight.chunk(3), biases, strict=True)
    ]
    q, k, v = (split(x, num_heads) for x in projected)  # (B, h, ·, d)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    heads = weights @ v  # (B, h, L, d)
    batch, _, length, _ = heads.shape
    if split is heads_by_view:
        return heads.reshape(batch, length, -1)
    return heads.transpose(1, 2).reshape(batch, length, -1)


def multi_head_attention_heads_by_view(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor | None,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
) -> Tensor:
    """Heads split by x.view(B, h, T, d) without the transpose (and merged back alike)."""
    merged = attend_in_heads(
        query, key, value, num_heads, in_proj_weight, in_proj_bias, heads_by_view
    )
    return torch.nn.functional.linear(merged, out_proj_weight, out_proj_bias)


def multi_head_attention_without_output_projection(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor | None,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
) -> Tensor:
    """The concatenated heads returned as they are: W_O and b_O forgotten."""
    return attend_in_heads(
        query, key, value, num_heads, in_proj_weight, in_proj_bias, heads_by_transpose
    )


def multi_head_cases(rng: random.Random) -> list[Case]:
    """Self- and cross-attention, batches and heads from 1 (from 4 to 6 in every other case
    from the ninth), head widths from 1, keys and values of another length, with and
    without biases."""
    cases = []
    for n in range(16):
        heads = (
            rng.randint(1, 3) if n < 8 else rng.randint(4, 6) if n % 2 == 0 else rng.randint(1, 6)
        )
        head_width = rng.randint(1, 3)
        width = heads * head_width
        batch, length = rng.randint(1, 1 + n // 4), rng.randint(1, 2 + n // 3)
        cross = n % 2 == 1
        keys = rng.randint(1, 2 + n // 3) if cross else length
        bias = n % 4 != 3
        settings = {
            "query": randn(rng, batch, length, width),
            "key": randn(rng, batch, keys, width) if cross else None,
            "value": randn(rng, batch, keys, width) if cross else None,
            "num_heads": heads,
            "in_proj_weight": randn(rng, 3 * width, width) / math.sqrt(width),
            "in_proj_bias": randn(rng, 3 * width) if bias else None,
            "out_proj_weight": randn(rng, width, width) / math.sqrt(width),
            "out_proj_bias": randn(rng, width) if bias else None,
            "cotangent": randn(rng, batch, length, width),
        }
        kind = f"cross-attention, S={keys}" if cross else "self-attention"
        text = f"B={batch}, L={length}, E={width}, num_heads={heads}, {kind}, bias={bias}"
        cases.append(Case(text, settings))
    return cases


def run_multi_head(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """Self-attention passes the query as key and value (one leaf, its gradient summed)."""
    given = case.inputs
    names = ("query", "key", "value", "in_proj_weight", "in_proj_bias")
    grads = leaves({k: given[k] for k in (*names, "out_proj_weight", "out_proj_bias")})
    query = grads["query"]
    output = implementation(
        query,
        grads.get("key", query),
        grads.get("value", query),
        given["num_heads"],
        grads["in_proj_weight"],
        grads.get("in_proj_bias"),
        grads["out_proj_weight"],
        grads.get("out_proj_bias"),
    )
    found = gradients([output], list(grads.values()), [given["cotangent"]])
    return {"output": output.detach()} | {
        f"d_{name}": grad for name, grad in zip(grads, found, strict=True)
    }


register(
    "multi-head-attention",
    Exercise(
        title="Multi-head attention with its input and output projections",
        topic=TOPIC,
        entry="multi_head_attention",
        starter=MULTI_HEAD_STARTER,
        reference=multi_head_attention,
        cases=multi_head_cases,
        run=run_multi_head,
        solution=(
            "deepnotes.nn.attention.MultiheadAttention.forward",
            "deepnotes.nn.attention.MultiheadAttention.split_heads",
            "deepnotes.nn.attention.attention_weights",
        ),
        hints=(
            "in_proj_weight.chunk(3) gives W_Q, W_K, W_V; F.linear(query, W_Q, b_Q) projects.",
            "Split (B, T, E) into heads with .view(B, T, h, d).transpose(1, 2) → (B, h, T, d): "
            "the heads are slices of the features, so T must stay next to B until the view.",
            "Attend in every head at once (the batched formula of scaled dot-product attention "
            "with d = E/h), merge with .transpose(1, 2).reshape(B, L, E), then F.linear with "
            "W_O and b_O.",
        ),
        mistakes=(
            Mistake(
                "attention-without-scale",
                "The heads' scores are QKᵀ without the 1/√d (d = E/h), so each head's softmax "
                "is sharper than attention's.",
                "Vaswani et al. (2017), eq. 1: softmax(QKᵀ/√d_k) V, d_k = d_model/h",
            ),
            Mistake(
                "mha-heads-split-without-transpose",
                "The heads are split by x.view(B, h, T, d) without the transpose, so a head "
                "reads a block of positions' features, mixing positions, not a slice of "
                "every position's features.",
                "Vaswani et al. (2017), §3.2.2: head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V), "
                "each head a projection of every position",
                wrong=multi_head_attention_heads_by_view,
            ),
            Mistake(
                "mha-without-output-projection",
                "The concatenated heads are returned without the output projection W_O (and "
                "its bias).",
                "Vaswani et al. (2017), §3.2.2: MultiHead(Q, K, V) = Concat(head_1 … head_h) W^O",
                wrong=multi_head_attention_without_output_projection,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- CTC

CTC_STARTER = '''\
import math

import torch
from torch import Tensor


def ctc_forward(
    log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor
) -> Tensor:
    """CTC's loss by the forward algorithm (Graves et al., "Connectionist temporal
    classification", ICML 2006, §4.1), as torch.nn.functional.ctc_loss(log_probs,
    targets, input_lengths, target_lengths, blank=0, reduction="none") computes it.

    p(l | x) sums over every alignment π (one symbol per frame) that reads as l once
    repeats are merged and blanks (symbol 0) removed. Write the target with blanks around
    and between its labels, l' = (0, l_1, 0, l_2, …, l_S, 0), of length 2S + 1, and let
    α_t(s) be the log-probability of the partial alignments at l'_s after frame t:

        α_0(0) = y_0(0),   α_0(1) = y_0(l_1),   α_0(s) = −∞ for s ≥ 2
        α_t(s) = logsumexp(α_{t−1}(s), α_{t−1}(s − 1), α_{t−1}(s − 2)) + y_t(l'_s)

    where the jump from s − 2 is allowed only when l'_s is a label that differs from
    l'_{s−2} (between two equal labels, the blank cannot be skipped). An alignment ends on
    the last blank or the last label:  loss = −logsumexp(α_{T−1}(2S), α_{T−1}(2S − 1)).

    Shapes: log_probs (T, N, C): log-softmax outputs of N sequences, blank = 0;
    targets (N, S_max) long, labels 1 … C − 1, row n padded after its target_lengths[n]
    labels (ignore the padding); input_lengths (N,): sequence n has its first
    input_lengths[n] frames; target_lengths (N,), a target may be empty (S = 0). Every
    target can be aligned within its frames. Return the N losses, (N,), in float64.
    Work in log space (probabilities underflow). Gradients must flow to log_probs and
    be finite: torch.logsumexp of terms that are all −∞ returns −∞ with a NaN gradient,
    so stand in a large negative number (−1e30) for −∞, or guard those terms.
    """
    # TODO: l' for each sequence, then α frame by frame, then the two ends
    raise NotImplementedError("ctc_forward")
'''


def ctc_forward(
    log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor
) -> Tensor:
    """The package's answer: `ctc.ctc_loss`, unreduced."""
    return ctc.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")


def ctc_by_alpha(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    skip_between_repeats: bool,
    blanks_at_the_ends: bool,
) -> Tensor:
    """The forward algorithm one sequence at a time, with either mistake made: the blank
    between two equal labels skippable, or l' without its first and last blank."""
    losses = []
    for n in range(log_probs.shape[1]):
        labels = targets[n, : int(target_lengths[n])].tolist()
        frames = log_probs[: int(input_lengths[n]), n]  # (T_n, C)
        extended = [0] + [symbol for label in labels for symbol in (label, 0)]  # l'
        if not blanks_at_the_ends:
            extended = extended[1:-1]
        may_skip = torch.tensor(
            [
                s >= 2
                and extended[s] != 0
                and (skip_between_repeats or extended[s] != extended[s - 2])
                for s in range(len(extended))
            ]
        )
        emit = frames[:, extended]  # (T_n, |l'|)
        starts = 2 if blanks_at_the_ends else 1  # α_0 is −∞ past the starts
        alpha = emit[0].masked_fill(torch.arange(len(extended)) >= starts, -math.inf)
        for t in range(1, len(frames)):
            step = torch.cat([alpha.new_full((1,), -math.inf), alpha[:-1]])
            skip = torch.cat([alpha.new_full((2,), -math.inf), alpha[:-2]])[: len(alpha)]
            skip = torch.where(may_skip, skip, -math.inf)
            alpha = ctc.log_add(torch.stack([alpha, step, skip])) + emit[t]
        ends = alpha[-2:] if blanks_at_the_ends else alpha[-1:]
        losses.append(-ctc.log_add(ends))
    return torch.stack(losses)


def ctc_skipping_between_repeats(
    log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor
) -> Tensor:
    """The jump from s − 2 allowed onto every label, equal neighbours too."""
    return ctc_by_alpha(log_probs, targets, input_lengths, target_lengths, True, True)


def ctc_without_blanks_at_the_ends(
    log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor
) -> Tensor:
    """l' = (l_1, 0, l_2, …, 0, l_S): alignments start on the first label and end on the last."""
    return ctc_by_alpha(log_probs, targets, input_lengths, target_lengths, False, False)


def ctc_cases(rng: random.Random) -> list[Case]:
    """Batches from 1, 2 to 5 symbols with the blank (so labels repeat), targets from empty
    to 6 labels, a repeat in many, spare frames from none to several, shorter sequences in a
    batch, padding of random labels."""
    cases = []
    for n in range(16):
        batch, classes = rng.randint(1, 1 + n // 5), rng.randint(2, 5)
        labels = []
        for _ in range(batch):
            target = [
                rng.randint(1, classes - 1)
                for _ in range(rng.randint(0 if n > 3 else 1, 2 + n // 4))
            ]
            if target and rng.random() < 0.5:
                target.insert(rng.randrange(len(target)), target[0])  # a repeat, maybe adjacent
            labels.append(target)
        needed = [len(t) + sum(a == b for a, b in itertools.pairwise(t)) for t in labels]  # frames
        lengths = [max(1, k + rng.randint(0, 3)) for k in needed]
        frames = max(lengths) + rng.randint(0, 1)
        width = max(1, max(len(t) for t in labels))
        padded = [t + [rng.randint(0, classes - 1) for _ in range(width - len(t))] for t in labels]
        settings = {
            "log_probs": (2 * randn(rng, frames, batch, classes)).log_softmax(-1),
            "targets": torch.tensor(padded, dtype=torch.long),
            "input_lengths": torch.tensor(lengths),
            "target_lengths": torch.tensor([len(t) for t in labels]),
            "cotangent": randn(rng, batch),
        }
        text = f"T={frames}, N={batch}, C={classes}, targets {labels}, input_lengths {lengths}"
        cases.append(Case(text, settings))
    return cases


def run_ctc(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """The gradient is taken through a log-softmax (a no-op on log-probabilities), with
    respect to the logits, as torch's ctc_loss reports it."""
    given = case.inputs
    logits = given["log_probs"].clone().requires_grad_(True)
    loss = implementation(
        logits.log_softmax(-1), given["targets"], given["input_lengths"], given["target_lengths"]
    )
    (grad,) = gradients([loss], [logits], [given["cotangent"]])
    return {"loss": loss.detach(), "d_logits": grad}


register(
    "ctc-forward",
    Exercise(
        title="CTC's loss by the forward algorithm",
        topic=TOPIC,
        entry="ctc_forward",
        starter=CTC_STARTER,
        reference=ctc_forward,
        cases=ctc_cases,
        run=run_ctc,
        solution=("deepnotes.nn.ctc.ctc_loss", "deepnotes.nn.ctc.log_add"),
        hints=(
            "Loop over the sequences and over the frames; keep α as a vector over the 2S + 1 "
            "positions of l', filled with −∞ where no alignment has arrived yet.",
            "Each step, shift α right by 1 and by 2 (padding with −∞), keep the shift by 2 only "
            "where l'_s is a label unlike l'_{s−2}, and combine the three with torch.logsumexp "
            "over a stacked dimension.",
            "Start α from −1e30 rather than −∞ (torch.logsumexp of all −∞ has a NaN gradient); "
            "α after frame input_lengths[n] − 1 ends on its last two entries: the loss is "
            "−logsumexp of them.",
        ),
        mistakes=(
            Mistake(
                "ctc-skips-the-blank-between-repeats",
                "The jump over a blank is allowed between two equal labels, so an alignment "
                "that reads 'aa' as 'a' is counted for the target 'aa'.",
                "Graves et al. (2006), eq. 7: the skip from s − 2 only when l'_s ≠ l'_{s−2}",
                wrong=ctc_skipping_between_repeats,
            ),
            Mistake(
                "ctc-without-blanks-at-the-ends",
                "The extended target has no blank before its first label and after its last, "
                "so no alignment may start or end with a blank.",
                "Graves et al. (2006), §4.1: l' has blanks added to the beginning and the end, "
                "and eq. 6 and 8 start and end on them",
                wrong=ctc_without_blanks_at_the_ends,
            ),
        ),
    ),
)
