"""Faults in speech: the MFCC's DCT without its orthonormal scaling, CTC's blank forgotten."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager

import torch
from torch import Tensor

from deepnotes import audio
from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.nn import ctc
from deepnotes.registry import FAULTS


def dct_matrix_unscaled(n_out: int, n_in: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """D[k, n] = cos(πk(2n + 1)/(2N)): the DCT-II without √(2/N) and row 0's 1/√2."""
    n = torch.arange(n_in, dtype=dtype)
    k = torch.arange(n_out, dtype=dtype)[:, None]
    return torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in))


@FAULTS.register(
    "dct-without-orthonormal-scaling",
    FaultCard(
        mistake="The MFCC's DCT-II is written as cos(πk(2n + 1)/2N), without the √(2/N) "
        "scaling and row 0's 1/√2",
        consequence="the transform is no longer orthonormal: it multiplies the log-mel energy "
        "by about √(N/2) (row 0 by √N), so the cepstral coefficients no longer keep the "
        "bands' energy and differ from librosa's and torchaudio's MFCCs",
        replaces="deepnotes.audio.dct_matrix",
        targets=("speech/dct-loses-nothing",),
        slow=True,
    ),
)
def dct_without_orthonormal_scaling() -> AbstractContextManager[None]:
    return replaced(audio, "dct_matrix", dct_matrix_unscaled)


def collapse_keeping_blanks(path: list[int], blank: int = 0) -> list[int]:
    """Repeated symbols merged, the blanks kept: B with its second half forgotten."""
    labels, previous = [], None
    for symbol in path:
        if symbol != previous:
            labels.append(symbol)
        previous = symbol
    return labels


@FAULTS.register(
    "ctc-blank-forgotten",
    FaultCard(
        mistake="CTC's greedy decoding merges the repeated symbols of the best path but "
        "forgets to drop the blanks",
        consequence="every stretch of blank between two digits is read as a symbol of its own: "
        "a recogniser whose frames say ‑7‑‑3‑ reads 'blank 7 blank 3 blank', and its digit "
        "error rate climbs above 1 however well it has learned",
        replaces="deepnotes.nn.ctc.collapse",
        targets=("speech/ctc-reads-digit-strings",),
        slow=True,
    ),
)
def ctc_blank_forgotten() -> AbstractContextManager[None]:
    return replaced(ctc, "collapse", collapse_keeping_blanks)
