"""Exercises on speech features: the mel filterbank."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from deepnotes import audio
from deepnotes.exercises.base import Case, Exercise, Mistake, register

MEL_STARTER = '''\
import math

import torch
from torch import Tensor


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
) -> Tensor:
    """The mel filterbank that sums a power spectrum into n_mels bands, equal to
    librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min,
    fmax=f_max, htk=htk) (norm="slaney", its default).

    The mel scale follows the ear, finer at low frequencies; the features that speech
    models read are summed in its bands (notes line 224: applications of RNNs in speech
    analysis):
    - Slaney's scale (htk=False; Slaney, "Auditory Toolbox", 1998): linear below 1 kHz,
      logarithmic above,  m = f / (200/3)  for f < 1000 Hz,
                          m = 15 + ln(f / 1000) / (ln 6.4 / 27)  for f ≥ 1000 Hz;
    - HTK's scale (htk=True): m = 2595 log10(1 + f / 700).

    1. Take n_mels + 2 points f_0 … f_{n_mels+1} equally spaced on the mel scale from
       mel(f_min) to mel(f_max) (f_max defaults to sample_rate / 2), back in Hz.
    2. Filter i is a triangle over the FFT bins' frequencies k · sample_rate / n_fft,
       k = 0 … ⌊n_fft/2⌋: 0 up to f_i, rising to 1 at f_{i+1}, falling to 0 at f_{i+2},
       0 beyond:  max(0, min((f − f_i)/(f_{i+1} − f_i), (f_{i+2} − f)/(f_{i+2} − f_{i+1}))).
    3. Slaney's area normalisation: filter i is multiplied by 2 / (f_{i+2} − f_i), so
       every triangle has the same area (a wide band does not gather more energy).

    Return (n_mels, n_fft // 2 + 1), float64.
    """
    # TODO: the mel points, the triangles, the normalisation
    raise NotImplementedError("mel_filterbank")
'''


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
) -> Tensor:
    """The package's answer: `audio.mel_filterbank`."""
    return audio.mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, htk)


def mel_filterbank_spaced_in_hz(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
) -> Tensor:
    """The triangles' corners spaced equally in Hz: a linear filterbank, the mel scale unused."""
    f_max = sample_rate / 2 if f_max is None else f_max
    edges = torch.linspace(f_min, f_max, n_mels + 2, dtype=torch.float64)  # (n_mels + 2,) Hz
    area = 2.0 / (edges[2:] - edges[:-2])
    return audio.triangles(audio.fft_frequencies(sample_rate, n_fft), edges) * area[:, None]


def mel_filterbank_without_area_normalisation(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
) -> Tensor:
    """Every triangle left with a peak of 1 (librosa's norm=None), its area not made equal."""
    f_max = sample_rate / 2 if f_max is None else f_max
    edges = audio.mel_edges(n_mels, f_min, f_max, htk)
    return audio.triangles(audio.fft_frequencies(sample_rate, n_fft), edges)


def mel_cases(rng: random.Random) -> list[Case]:
    """Speech's and music's sample rates, FFTs from 15 to 1024 points (odd ones too), a few
    bands to 64, f_min and f_max given or not, both scales."""
    cases = []
    for n in range(14):
        sample_rate = rng.choice((8000, 16000, 22050))
        n_fft = rng.choice((15, 16, 32, 63)) if n < 4 else rng.choice((128, 255, 400, 401, 1024))
        n_mels = rng.randint(1, 6) if n < 4 else rng.randint(8, 64)
        f_min = 0.0 if n % 3 == 0 else rng.choice((20.0, 60.0, 300.0))
        f_max = None if n % 2 == 0 else rng.choice((3000.0, sample_rate / 2 - 100))
        settings = {
            "sample_rate": sample_rate,
            "n_fft": n_fft,
            "n_mels": n_mels,
            "f_min": f_min,
            "f_max": f_max,
            "htk": n % 4 >= 2,
        }
        cases.append(Case(", ".join(f"{k}={v!r}" for k, v in settings.items()), settings))
    return cases


def run_mel(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    return {"filterbank": implementation(**case.inputs)}


register(
    "mel-filterbank",
    Exercise(
        title="The mel filterbank, on Slaney's or HTK's scale",
        topic="8. Sequence models",
        entry="mel_filterbank",
        starter=MEL_STARTER,
        reference=mel_filterbank,
        cases=mel_cases,
        run=run_mel,
        solution=(
            "deepnotes.audio.mel_filterbank",
            "deepnotes.audio.hz_to_mel",
            "deepnotes.audio.mel_to_hz",
        ),
        hints=(
            "Write hz_to_mel and mel_to_hz first (torch.where picks the linear or the "
            "logarithmic part of Slaney's scale), then torch.linspace between mel(f_min) and "
            "mel(f_max) with n_mels + 2 points, mapped back to Hz.",
            "The bins' frequencies are torch.arange(n_fft // 2 + 1) * sample_rate / n_fft; "
            "broadcast the rising and falling edges to (n_mels, bins) and take their minimum, "
            "clamped at 0.",
            "Multiply row i by 2 / (f_{i+2} − f_i), the corners two apart, in Hz.",
        ),
        mistakes=(
            Mistake(
                "mel-triangles-spaced-in-hz",
                "The triangles' corners are spaced equally in Hz instead of in mel, so the "
                "bands are as wide at 4 kHz as at 100 Hz: a linear filterbank.",
                "Slaney (1998), Auditory Toolbox: filters equally spaced on the mel scale",
                wrong=mel_filterbank_spaced_in_hz,
            ),
            Mistake(
                "mel-without-area-normalisation",
                "The triangles keep a peak of 1, without Slaney's 2 / (f_{i+2} − f_i), so "
                "the wide high bands gather more energy than the narrow low ones.",
                "librosa.filters.mel's documentation: norm='slaney' divides the triangular "
                "weights by the width of the mel band (area normalization)",
                wrong=mel_filterbank_without_area_normalisation,
            ),
        ),
    ),
)
