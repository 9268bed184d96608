"""Connectionist temporal classification (Graves et al., ICML 2006): training a network to
read a label sequence out of a longer sequence of frames, without knowing which frame says what.

The network gives, for every frame t, log-probabilities y_t(k) over the labels and
one extra "blank" (nothing said here). An *alignment* picks one symbol per frame; it
reads as a label sequence once repeats are merged and blanks removed
(B(‑aa‑‑b‑) = ab), so a blank between two equal labels is what keeps "aa" from
reading as "a". CTC's probability of a target l is the sum over every alignment
that reads as l:

    p(l | x) = Σ_{π : B(π) = l} Π_t y_t(π_t),      loss = −log p(l | x)

The forward algorithm sums those exponentially many paths in O(T · |l|). Write
the target with blanks around and between its labels, l' = (‑, l₁, ‑, l₂, …, ‑),
of length 2|l| + 1; α_t(s) is the log-probability of all partial paths that are
at position s of l' after frame t:

    α_0(0) = y_0(‑),  α_0(1) = y_0(l₁)
    α_t(s) = logsumexp(α_{t−1}(s), α_{t−1}(s−1), [α_{t−1}(s−2)]) + y_t(l'_s)

where the jump from s − 2 is allowed only onto a label that differs from the
label two places back (one cannot skip the blank between two equal labels).
A path must end on the last label or the blank after it:
−log p(l | x) = −logsumexp(α_{T−1}(2|l|), α_{T−1}(2|l| − 1)). Autograd through
this recursion gives the exact gradient, in log space so nothing underflows.

Decoding: `greedy_decode` takes the best symbol per frame and applies B;
`prefix_beam_search` keeps the `beam` most probable *label prefixes*, each with
the probability of its alignments ending in a blank and in a label (Hannun et
al., 2014), which the greedy path cannot sum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

REDUCTIONS = ("none", "mean", "sum")


def log_add(terms: Tensor) -> Tensor:
    """log Σ_k exp(terms[k]) over the first dimension, with a gradient of 0 (not NaN) where
    every term is −∞ (torch.logsumexp's is NaN there)."""
    largest = terms.max(0).values.detach()
    shift = torch.where(torch.isfinite(largest), largest, torch.zeros_like(largest))
    total = torch.exp(terms - shift).sum(0)
    reachable = total > 0
    return torch.where(reachable, torch.log(torch.where(reachable, total, 1.0)) + shift, -math.inf)


def padded_targets(targets: Tensor, target_lengths: Tensor) -> Tensor:
    """Targets as (N, S_max), from padded (N, S) or concatenated (Σ S_n,) form."""
    if targets.dim() == 2:
        return targets
    pieces = torch.split(targets, target_lengths.tolist())
    return nn.utils.rnn.pad_sequence(list(pieces), batch_first=True) if pieces else targets


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """CTC loss by the forward algorithm, as `torch.nn.functional.ctc_loss`.

    log_probs (T, N, C) log-softmax outputs; targets (N, S) padded or (Σ S_n,)
    concatenated; input_lengths and target_lengths (N,). 'mean' divides each
    sequence's loss by its target length, then averages over the batch.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction (one of {REDUCTIONS})")
    frames, batch, _ = log_probs.shape
    input_lengths = torch.as_tensor(input_lengths, device=log_probs.device).long()
    target_lengths = torch.as_tensor(target_lengths, device=log_probs.device).long()
    labels = padded_targets(targets, target_lengths).long()
    longest = int(target_lengths.max()) if batch else 0
    width = 2 * longest + 1
    extended = torch.full((batch, width), blank, dtype=torch.long, device=log_probs.device)
    extended[:, 1::2] = labels[:, :longest]  # l' = (‑, l₁, ‑, l₂, …, ‑)
    may_skip = torch.zeros(batch, width, dtype=torch.bool, device=log_probs.device)
    may_skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    emit = log_probs.gather(2, extended.unsqueeze(0).expand(frames, -1, -1))  # (T, N, 2S+1)
    minus_inf = torch.full((batch, 1), -math.inf, dtype=log_probs.dtype, device=log_probs.device)
    alpha = torch.cat([emit[0, :, :2], minus_inf.expand(-1, max(width - 2, 0))], dim=1)  # α_0
    for t in range(1, frames):
        stay = alpha
        step = torch.cat([minus_inf, alpha[:, :-1]], dim=1)  # from s − 1
        skip = torch.cat([minus_inf, minus_inf, alpha[:, :-2]], dim=1)[:, :width]  # from s − 2
        skip = torch.where(may_skip, skip, -math.inf)
        advanced = log_add(torch.stack([stay, step, skip])) + emit[t]
        still_reading = (t < input_lengths).unsqueeze(1)  # a shorter sequence keeps its α
        alpha = torch.where(still_reading, advanced, alpha)
    last = (2 * target_lengths).unsqueeze(1)  # the last blank; the last label is one before
    on_label = torch.where(last > 0, alpha.gather(1, (last - 1).clamp(min=0)), -math.inf)
    ends = torch.cat([alpha.gather(1, last), on_label], dim=1)  # (N, 2)
    loss = -log_add(ends.T)  # (N,)
    if zero_infinity:
        loss = torch.where(torch.isinf(loss), torch.zeros_like(loss), loss)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return (loss / target_lengths.clamp(min=1).to(loss.dtype)).mean()


class CTCLoss(nn.Module):
    """torch.nn.CTCLoss's interface over `ctc_loss`."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__()
        self.blank, self.reduction, self.zero_infinity = blank, reduction, zero_infinity

    def forward(
        self, log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor
    ) -> Tensor:
        return ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            self.blank,
            self.reduction,
            self.zero_infinity,
        )

    def extra_repr(self) -> str:
        return f"blank={self.blank}, reduction={self.reduction!r}"


def collapse(path: list[int], blank: int = 0) -> list[int]:
    """B: merge repeated symbols, then drop blanks."""
    labels, previous = [], None
    for symbol in path:
        if symbol != previous and symbol != blank:
            labels.append(symbol)
        previous = symbol
    return labels


def greedy_decode(log_probs: Tensor, blank: int = 0) -> list[int]:
    """The best symbol of each frame, collapsed: log_probs (T, C) of one sequence."""
    return collapse(log_probs.argmax(-1).tolist(), blank)


def prefix_beam_search(log_probs: Tensor, beam: int = 8, blank: int = 0) -> list[int]:
    """The most probable label sequence found keeping `beam` prefixes: log_probs (T, C).

    Each prefix carries log P(its alignments so far end in a blank) and log P(… end in its
    last label); a frame either extends a prefix by a new label, or leaves it as it is (a
    blank, or a repeat of its last label, which merges).
    """
    probs = log_probs.double().tolist()
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    for frame in probs:
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (ends_blank, ends_label) in beams.items():
            total = log_add_pair(ends_blank, ends_label)
            add_path(grown, prefix, 0, total + frame[blank])  # a blank: the prefix stays
            if prefix:  # its last label again, merged
                add_path(grown, prefix, 1, ends_label + frame[prefix[-1]])
            for symbol, log_p in enumerate(frame):
                if symbol == blank:
                    continue
                if prefix and symbol == prefix[-1]:  # a repeat counts only after a blank
                    add_path(grown, (*prefix, symbol), 1, ends_blank + log_p)
                else:
                    add_path(grown, (*prefix, symbol), 1, total + log_p)
        ranked = sorted(grown.items(), key=lambda item: -log_add_pair(*item[1]))
        beams = {prefix: (b, n) for prefix, (b, n) in ranked[:beam]}
    best = max(beams.items(), key=lambda item: log_add_pair(*item[1]))
    return list(best[0])


def add_path(
    beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], ending: int, log_p: float
) -> None:
    """Add probability exp(log_p) to `prefix`'s alignments ending in a blank (0) or a label (1)."""
    entry = beams.setdefault(prefix, [-math.inf, -math.inf])
    entry[ending] = log_add_pair(entry[ending], log_p)


def log_add_pair(a: float, b: float) -> float:
    """log(exp a + exp b) of two floats."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def decode(log_probs: Tensor, lengths: Tensor, beam: int | None = None) -> list[list[int]]:
    """Each sequence's labels from (T, B, C) log-probabilities: greedy, or prefix beam search."""
    sequences = []
    for i, length in enumerate(lengths.tolist()):
        frames = log_probs[:length, i]  # (T_i, C)
        found = greedy_decode(frames) if beam is None else prefix_beam_search(frames, beam)
        sequences.append(found)
    return sequences
