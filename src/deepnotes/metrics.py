"""Metrics computed from predictions: per pixel (the confusion matrix, mean IoU) and per
sequence (corpus BLEU, Papineni et al., ACL 2002; edit distance).

Mean IoU is a ratio of pixel counts over a whole split: one confusion matrix is
added up over every batch and the ratios are taken at the end (a mean of
per-batch IoUs would weigh a batch where a class has 3 pixels like one where it
has 3,000).

BLEU compares candidate token sequences with references by their shared n-grams:

    p_n = Σ_sentences Σ_{n-gram} min(count in candidate, count in reference)
          / Σ_sentences (n-grams in candidate)                       (clipped precision)
    BP  = 1 if c > r else exp(1 − r / c)    c, r: total candidate and reference lengths
    BLEU = BP · exp(Σ_{n=1..4} ¼ log p_n)

summed over the whole corpus before dividing (a corpus score, not a mean of
sentence scores). It is 0 when some p_n is 0, as in the paper and in NLTK's
`corpus_bleu` without smoothing, which the tests compare against.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import torch


def confusion_matrix(predicted: torch.Tensor, true: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts: entry [t, p] is the number of pixels of true class t predicted as p."""
    pairs = true.flatten() * num_classes + predicted.flatten()  # one bin per (t, p)
    counts = torch.bincount(pairs, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu()


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean intersection over union over the classes, from a (K, K) confusion matrix C.

        IoU_c = |pred_c ∩ true_c| / |pred_c ∪ true_c| = C_cc / (Σ_p C_cp + Σ_t C_tc − C_cc)

    averaged over every class, background included, that appears in the truth
    or the prediction; a class absent from both has 0/0 and is skipped (as
    scikit-learn's `jaccard_score(average="macro")` does with its default labels).
    """
    confusion = confusion.double()
    intersection = confusion.diagonal()  # (K,)
    union = confusion.sum(dim=1) + confusion.sum(dim=0) - intersection  # (K,)
    present = union > 0
    return float((intersection[present] / union[present]).mean())


def ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    candidates: Sequence[Sequence[Hashable]],
    references: Sequence[Sequence[Hashable]],
    max_n: int = 4,
) -> float:
    """BLEU-`max_n` of candidate token lists against one reference each, in [0, 1]."""
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
    matches, totals = [0] * max_n, [0] * max_n
    candidate_length = reference_length = 0
    for candidate, reference in zip(candidates, references, strict=True):
        candidate_length += len(candidate)
        reference_length += len(reference)
        for n in range(1, max_n + 1):
            mine, theirs = ngrams(candidate, n), ngrams(reference, n)
            matches[n - 1] += sum(min(count, theirs[gram]) for gram, count in mine.items())
            totals[n - 1] += max(len(candidate) - n + 1, 0)
    if candidate_length == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / max_n
    brevity = (
        1.0
        if candidate_length > reference_length
        else math.exp(1 - reference_length / candidate_length)
    )
    return brevity * math.exp(log_precision)


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions from a to b,
    by dynamic programming over prefixes, one row at a time."""
    previous = list(range(len(b) + 1))  # distances from a[:0] to every prefix of b
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]
