"""From a waveform to the features speech models read: frames, spectra, mel bands, MFCCs.

    waveform x[n]  ──frame + window──▶  frames (T, n_fft)  ──|rFFT|²──▶  power spectrum
    power (T, n_fft/2 + 1)  ──mel filterbank M──▶  mel power (T, n_mels)
    ──10·log10──▶  log-mel (dB)  ──DCT-II──▶  MFCCs (T, n_mfcc)

- Framing: the signal is cut into overlapping windows of `n_fft` samples every
  `hop` samples (25 ms every 10 ms is the usual choice for speech), each
  multiplied by a Hann window w[n] = ½(1 − cos(2πn/N)) so its edges do not
  leak energy across frequencies. With `center=True` the signal is first
  padded by n_fft/2 zeros at both ends so frame t is centred on sample t·hop.
- The power spectrum of a frame is |Σ_n x[n] w[n] e^{−2πikn/N}|².
- The mel scale follows the ear, linear below 1 kHz and logarithmic above
  (Slaney's version, as librosa: m = f / (200/3) below 1 kHz, 15 + ln(f/1000)
  / (ln 6.4 / 27) above; or HTK's m = 2595 log10(1 + f/700)). A bank of
  triangles, equally spaced on that scale, each normalised to unit area
  (2 / (f_{i+2} − f_i)), sums the power spectrum into n_mels bands.
- Log compression ≈ the ear's loudness: 10 log10(max(S, 10⁻¹⁰)), clipped to
  80 dB below the loudest value (librosa's `power_to_db`).
- The DCT-II (orthonormal) of the log-mel bands decorrelates them; the first
  13–20 coefficients are the MFCCs (Davis & Mermelstein, 1980).

`frames` + `torch.fft.rfft` is the readable path; `power_spectrum` uses
`torch.stft`, and a test checks they agree. Every function is checked against
librosa in `tests/test_speech.py`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

SAMPLE_RATE = 8000  # the Free Spoken Digit Dataset's


def hann_window(size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """w[n] = ½(1 − cos(2πn/N)), n = 0 … N−1: the periodic Hann window (for spectra)."""
    n = torch.arange(size, dtype=dtype)
    return 0.5 * (1 - torch.cos(2 * math.pi * n / size))


def frames(
    signal: Tensor, n_fft: int, hop: int, center: bool = True, window: bool = True
) -> Tensor:
    """The frames of a 1-D signal, each multiplied by the Hann window unless `window` is
    false: (T, n_fft), frame t starting at sample t·hop (after padding n_fft/2 zeros at each
    end when `center`)."""
    if center:
        signal = F.pad(signal, (n_fft // 2, n_fft // 2))
    windows = signal.unfold(0, n_fft, hop)  # (T, n_fft): overlapping views, no copy
    return windows * hann_window(n_fft, signal.dtype) if window else windows


def power_spectrum_by_frames(signal: Tensor, n_fft: int, hop: int, center: bool = True) -> Tensor:
    """|rFFT(frame)|² of every frame, the readable path: (T, n_fft/2 + 1)."""
    return torch.fft.rfft(frames(signal, n_fft, hop, center)).abs().pow(2)


def power_spectrum(signal: Tensor, n_fft: int, hop: int, center: bool = True) -> Tensor:
    """The same with `torch.stft` (one fused call; batches of signals (B, L) too):
    (…, T, n_fft/2 + 1)."""
    spectrum = torch.stft(
        signal,
        n_fft,
        hop_length=hop,
        window=hann_window(n_fft, signal.dtype),
        center=center,
        pad_mode="constant",
        return_complex=True,
    )  # (…, n_fft/2 + 1, T)
    return spectrum.abs().pow(2).transpose(-1, -2)


def hz_to_mel(frequency: Tensor, htk: bool = False) -> Tensor:
    """Hertz → mel: Slaney's scale (linear to 1 kHz, then logarithmic), or HTK's."""
    if htk:
        return 2595.0 * torch.log10(1.0 + frequency / 700.0)
    linear = frequency / (200.0 / 3)
    log_step = math.log(6.4) / 27.0
    logarithmic = 15.0 + torch.log(frequency.clamp(min=1e-10) / 1000.0) / log_step
    return torch.where(frequency >= 1000.0, logarithmic, linear)


def mel_to_hz(mel: Tensor, htk: bool = False) -> Tensor:
    """The inverse of `hz_to_mel`."""
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    log_step = math.log(6.4) / 27.0
    return torch.where(mel >= 15.0, 1000.0 * torch.exp(log_step * (mel - 15.0)), mel * 200.0 / 3)


def fft_frequencies(sample_rate: int, n_fft: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Each FFT bin's frequency in Hz, k·sample_rate/n_fft for k = 0 … ⌊n_fft/2⌋ (for an odd
    n_fft the last bin stops short of sample_rate/2), as numpy.fft.rfftfreq."""
    return torch.arange(n_fft // 2 + 1, dtype=dtype) * (sample_rate / n_fft)


def mel_edges(
    n_mels: int, f_min: float, f_max: float, htk: bool = False, dtype: torch.dtype = torch.float64
) -> Tensor:
    """The n_mels + 2 corners f_0 … f_{n_mels+1} of the filters, in Hz: equally spaced on
    the mel scale between f_min and f_max."""
    ends = hz_to_mel(torch.tensor([f_min, f_max], dtype=dtype), htk)
    return mel_to_hz(torch.linspace(float(ends[0]), float(ends[1]), n_mels + 2, dtype=dtype), htk)


def triangles(bins: Tensor, edges: Tensor) -> Tensor:
    """Triangle i over the frequencies `bins`: 0 up to edges[i], 1 at edges[i + 1], 0 again
    from edges[i + 2] on: (len(edges) − 2, len(bins))."""
    widths = edges.diff()  # (n_mels + 1,)
    rising = (bins[None, :] - edges[:-2, None]) / widths[:-1, None]  # (n_mels, bins)
    falling = (edges[2:, None] - bins[None, :]) / widths[1:, None]
    return torch.minimum(rising, falling).clamp(min=0)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 40,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Triangular filters equally spaced in mel, each of unit area: (n_mels, n_fft/2 + 1).

    Filter i rises from edge f_i to its peak f_{i+1} and falls to f_{i+2}, where
    f_0 … f_{n_mels+1} are equally spaced on the mel scale between f_min and f_max;
    Slaney's normalisation 2/(f_{i+2} − f_i) gives every filter the same area.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    bins = fft_frequencies(sample_rate, n_fft, dtype)  # (n_fft // 2 + 1,) Hz
    edges = mel_edges(n_mels, f_min, f_max, htk, dtype)  # (n_mels + 2,) Hz
    return triangles(bins, edges) * (2.0 / (edges[2:] - edges[:-2]))[:, None]  # unit area


def power_to_db(power: Tensor, amin: float = 1e-10, top_db: float | None = 80.0) -> Tensor:
    """10 log10(max(S, amin)), at most `top_db` below the largest value."""
    db = 10.0 * torch.log10(power.clamp(min=amin))
    return db if top_db is None else torch.maximum(db, db.max() - top_db)


def dct_matrix(n_out: int, n_in: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Rows of the orthonormal DCT-II: D[k, n] = √(2/N) cos(πk(2n + 1)/(2N)), row 0 × 1/√2."""
    n = torch.arange(n_in, dtype=dtype)
    k = torch.arange(n_out, dtype=dtype)[:, None]
    basis = math.sqrt(2.0 / n_in) * torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in))
    basis[0] /= math.sqrt(2.0)
    return basis


def log_mel_spectrogram(
    signal: Tensor,
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = 256,
    hop: int = 80,
    n_mels: int = 40,
    top_db: float | None = 80.0,
) -> Tensor:
    """Mel band energies in dB of a 1-D signal: (T, n_mels)."""
    power = power_spectrum(signal, n_fft, hop)  # (T, n_fft/2 + 1)
    bank = mel_filterbank(sample_rate, n_fft, n_mels, dtype=signal.dtype)
    return power_to_db(power @ bank.T, top_db=top_db)


def mfcc(
    signal: Tensor,
    sample_rate: int = SAMPLE_RATE,
    n_mfcc: int = 13,
    n_fft: int = 256,
    hop: int = 80,
    n_mels: int = 40,
    top_db: float | None = 80.0,
) -> Tensor:
    """Mel-frequency cepstral coefficients of a 1-D signal: (T, n_mfcc)."""
    log_mel = log_mel_spectrogram(signal, sample_rate, n_fft, hop, n_mels, top_db)
    return log_mel @ dct_matrix(n_mfcc, n_mels, signal.dtype).T


def normalize_utterance(features: Tensor, eps: float = 1e-5) -> Tensor:
    """Each feature standardised over the frames of its own utterance (cepstral mean and
    variance normalisation): removes the channel and the speaker's loudness. (T, F)."""
    return (features - features.mean(0)) / (features.std(0, unbiased=False) + eps)
