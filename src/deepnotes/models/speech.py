"""Speech models over log-mel frames: recurrent and convolutional digit classifiers, and a CTC
recogniser of digit strings.

    speech_gru    MFCCs (a fixed DCT of the log-mel bands) → bidirectional GRU (2 layers,
                  128) → the last states of both directions, or attention pooling over
                  every frame (`pooling="attention"`); `bidirectional=false` reads only
                  forwards → 10 digits
    speech_lstm   the same with an LSTM
    speech_cnn    the log-mel spectrogram as a 1-channel image (40 bands × T frames):
                  3 × (3×3 conv, BatchNorm, ReLU, 2×2 max-pool) → per channel and
                  frequency row, the mean over the frames that are speech (not
                  padding) → 10 digits
    speech_ctc    MFCCs, 4 frames stacked → bidirectional LSTM (2 layers, 96) → log-
                  probabilities of the blank and ten digits every 40 ms, trained with CTC
                  (Graves et al. 2006)

Every model takes (frames (B, T, 40), lengths (B,)). The classifiers read `fsdd`'s
frames standardised by speaker (`deepnotes.data.speech.standardize_by_speaker`):
the voice and the microphone are removed, each digit's own spectrum is kept.
`utterance_norm=true` also standardises each utterance over its own frames, which
removes that spectrum too (the `speech` experiment measures what it costs on
speakers never heard); the CTC recogniser standardises each string by itself, as a
string holds several digits whose spectra average out. In training the classifiers
see their frames distorted (`SpecAugment`: speaking rate, vocal tract length, masked
bands and frames; `augment=false` turns it off). The recurrent layers read packed
sequences, so padding never enters a state.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from deepnotes import audio
from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.errors import UserError
from deepnotes.models.common import layers, register_model

N_MELS, N_MFCC, DIGITS = 40, 13, 10


def frame_mask(lengths: Tensor, frames: int) -> Tensor:
    """(B, T) True on each utterance's real frames, False on its padding."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def normalize_frames(x: Tensor, lengths: Tensor, eps: float = 1e-5) -> Tensor:
    """Each utterance's features standardised over its own frames; padding set to 0.
    x (B, T, F) → (B, T, F); the masked form of `deepnotes.audio.normalize_utterance`."""
    mask = frame_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    count = mask.sum(1, keepdim=True).clamp(min=1)
    mean = (x * mask).sum(1, keepdim=True) / count
    std = (((x - mean) * mask).pow(2).sum(1, keepdim=True) / count).sqrt()
    return (x - mean) / (std + eps) * mask


class SpecAugment(nn.Module):
    """Training-time distortions of standardised log-mel frames that keep the digit but change
    the voice; the identity in eval mode. With four speakers to learn from, a model
    otherwise learns their voices; these make the voices vary.

    - Speaking rate (time stretch; speed perturbation without the pitch change, Ko et
      al., Interspeech 2015): each utterance is resampled in time to round(T·r) frames,
      r ∈ [1 − stretch, 1 + stretch] (linear interpolation).
    - Vocal tract length perturbation (Jaitly & Hinton, ICML workshop 2013): a longer
      vocal tract lowers every formant by the same factor, so each utterance's band
      axis is stretched by a random α ∈ [1 − warp, 1 + warp]: band b reads the
      input at position α·b (linear interpolation, clamped at the top band).
    - Frequency and time masks (SpecAugment, Park et al., Interspeech 2019): a few
      runs of up to `band_width` − 1 bands and `frame_width` − 1 frames are set to
      0, the mean of standardised frames, so no single band or moment can carry
      the decision.
    """

    def __init__(
        self,
        stretch: float = 0.2,
        warp: float = 0.1,
        band_masks: int = 2,
        band_width: int = 6,
        frame_masks: int = 2,
        frame_width: int = 8,
    ) -> None:
        super().__init__()
        self.stretch, self.warp = stretch, warp
        self.band_masks, self.band_width = band_masks, band_width
        self.frame_masks, self.frame_width = frame_masks, frame_width

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(x (B, T, bands) standardised, lengths (B,)) → the same, distorted when training
        (T and the lengths change with the speaking rate)."""
        if not self.training:
            return x, lengths
        if self.stretch > 0:
            x, lengths = self.change_rate(x, lengths)
        if self.warp > 0:
            x = self.warp_bands(x)
        batch, frames, bands = x.shape
        keep = torch.ones_like(x)
        for _ in range(self.band_masks):
            keep = keep * self.runs_kept(batch, bands, self.band_width, x.device).unsqueeze(1)
        for _ in range(self.frame_masks):
            kept = self.runs_kept(batch, frames, self.frame_width, x.device, lengths)
            keep = keep * kept.unsqueeze(2)
        return x * keep, lengths

    def change_rate(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        rate = 1 + self.stretch * (2 * torch.rand(len(x)) - 1)
        stretched = (lengths.cpu() * rate).round().long().clamp(min=1)
        pieces = [
            F.interpolate(x[i, :n].T[None], size=m, mode="linear")[0].T  # (n, F) → (m, F)
            for i, (n, m) in enumerate(zip(lengths.tolist(), stretched.tolist(), strict=True))
        ]
        return pad_sequence(pieces, batch_first=True), stretched.to(lengths.device)

    def warp_bands(self, x: Tensor) -> Tensor:
        batch, frames, bands = x.shape
        alpha = 1 + self.warp * (2 * torch.rand(batch, 1, device=x.device) - 1)  # (B, 1)
        position = (torch.arange(bands, device=x.device) * alpha).clamp(max=bands - 1)
        below = position.floor().long()  # (B, bands)
        above = (below + 1).clamp(max=bands - 1)
        share = (position - below).unsqueeze(1)  # (B, 1, bands)
        below, above = (i.unsqueeze(1).expand(batch, frames, bands) for i in (below, above))
        return x.gather(2, below) * (1 - share) + x.gather(2, above) * share

    @staticmethod
    def runs_kept(
        batch: int, size: int, width: int, device: torch.device, lengths: Tensor | None = None
    ) -> Tensor:
        """(B, size) with one run of 0 … width − 1 zeros per row, starting inside the row's
        length (its real frames), ones elsewhere."""
        limit = torch.full((batch,), size, device=device) if lengths is None else lengths
        widths = torch.randint(0, width, (batch, 1), device=device)
        starts = (torch.rand(batch, 1, device=device) * limit.to(device)[:, None]).long()
        steps = torch.arange(size, device=device)[None, :]
        return ((steps < starts) | (steps >= starts + widths)).float()


class MFCC(nn.Module):
    """log-mel (…, 40) → MFCCs (…, n_mfcc): the orthonormal DCT-II, a fixed linear map."""

    def __init__(self, n_mels: int = N_MELS, n_mfcc: int = N_MFCC) -> None:
        super().__init__()
        self.register_buffer("dct", audio.dct_matrix(n_mfcc, n_mels, torch.float32))

    def forward(self, log_mel: Tensor) -> Tensor:
        return log_mel @ self.dct.T


class RecurrentEncoder(nn.Module):
    """MFCCs of standardised frames → a (bi)directional GRU/LSTM over the packed sequence.

    With `stack` = k, each k consecutive frames are joined into one (k × 13 features):
    the recurrent layers run k times fewer steps (frame stacking, as in speech
    recognisers; 20 ms steps still leave a spoken digit about 20 of them).
    """

    def __init__(
        self,
        n_mels: int,
        cell: str,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        impl: str,
        stack: int = 1,
        augment: bool = False,
        utterance_norm: bool = False,
    ) -> None:
        super().__init__()
        cells = {"gru": "GRU", "lstm": "LSTM"}
        if cell not in cells:
            raise UserError(f"cell must be gru or lstm, got {cell!r}")
        self.augment = SpecAugment() if augment else None
        self.mfcc = MFCC(n_mels)
        self.utterance_norm = utterance_norm
        self.stack = stack
        self.rnn = getattr(layers(impl), cells[cell])(
            N_MFCC * stack,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.width = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(states (B, T', width) with zeros on padding, each utterance's steps (B,), final
        state (B, width)); T' = T / stack, or the stretched length when augmenting."""
        if self.augment is not None:
            x, lengths = self.augment(x, lengths)
        features = self.mfcc(x)  # (B, T, 13)
        if self.utterance_norm:
            features = normalize_frames(features, lengths)
        if self.stack > 1:
            batch, frames, width = features.shape
            features = F.pad(features, (0, 0, 0, -frames % self.stack))
            features = features.reshape(batch, -1, width * self.stack)  # (B, T/k, k·13)
            lengths = self.output_lengths(lengths)
        packed = pack_padded_sequence(
            features, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        states, final = self.rnn(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=features.shape[1])
        h_n = final[0] if isinstance(final, tuple) else final  # LSTM: (h, c)
        layers_and_directions = h_n.view(self.rnn.num_layers, -1, *h_n.shape[1:])
        last = layers_and_directions[-1]  # (directions, B, hidden): the top layer
        return states, lengths, last.transpose(0, 1).reshape(x.shape[0], self.width)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Steps per utterance after stacking: ⌈T / stack⌉."""
        return -(-lengths // self.stack)


class SpeechRNN(nn.Module):
    """A digit classifier over frames: recurrent encoder, then the last state or attention.

    Attention pooling (additive): e_t = vᵀ tanh(W h_t), α = softmax over real frames,
    summary = Σ_t α_t h_t — every frame may contribute, not only the last.
    """

    def __init__(
        self,
        num_classes: int = DIGITS,
        input_size: Sequence[int] = (N_MELS,),
        cell: str = "gru",
        hidden_size: int = 128,
        num_layers: int = 2,
        bidirectional: bool = True,
        pooling: str = "last",
        dropout: float = 0.1,
        impl: str = "torch",
        augment: bool = True,
        utterance_norm: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("last", "attention"):
            raise UserError(f"pooling must be last or attention, got {pooling!r}")
        self.encoder = RecurrentEncoder(
            input_size[0],
            cell,
            hidden_size,
            num_layers,
            bidirectional,
            dropout,
            impl,
            augment=augment,
            utterance_norm=utterance_norm,
        )
        self.n_mels, self.pooling = input_size[0], pooling
        width = self.encoder.width
        if pooling == "attention":
            self.score = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
        self.head = nn.Linear(width, num_classes)

    def forward_features(self, x: Tensor, lengths: Tensor) -> Tensor:
        """One vector per recording, pooled over its real frames (the pooling needs the
        lengths, so it belongs to the features): (B, T, bands), (B,) → (B, width)."""
        states, steps, last = self.encoder(x, lengths)
        if self.pooling == "last":
            return last
        scores = self.score(states).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~frame_mask(steps, states.shape[1]), float("-inf"))
        weights = scores.softmax(dim=1)  # α over the real frames
        return (weights.unsqueeze(-1) * states).sum(1)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """The linear read-out: (B, width) → (B, num_classes); `pre_logits` keeps (B, width)."""
        return features if pre_logits else self.head(features)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x, lengths))


class SpeechCNN(nn.Module):
    """The standardised log-mel spectrogram as an image → conv blocks → the mean over real
    frames of each (channel, frequency row) → linear."""

    def __init__(
        self,
        num_classes: int = DIGITS,
        input_size: Sequence[int] = (N_MELS,),
        channels: Sequence[int] = (32, 64, 128),
        dropout: float = 0.2,
        augment: bool = True,
        utterance_norm: bool = False,
    ) -> None:
        super().__init__()
        self.augment = SpecAugment() if augment else None
        self.utterance_norm = utterance_norm
        blocks: list[nn.Module] = []
        previous = 1
        for width in channels:
            blocks += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            previous = width
        self.features = nn.Sequential(*blocks)
        self.n_mels, self.pools = input_size[0], len(channels)
        bands = -(-self.n_mels // 2**self.pools)  # frequency rows left after the pools (ceil)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(previous * bands, num_classes)

    def forward_features(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The conv blocks' maps averaged over each recording's real frames (the pooling needs
        the lengths, so it belongs to the features): (B, T, 40), (B,) → (B, C · bands)."""
        if self.utterance_norm:
            x = normalize_frames(x, lengths)
        if self.augment is not None:
            x, lengths = self.augment(x, lengths)
        image = x.transpose(1, 2).unsqueeze(1)  # (B, 1, 40, T)
        maps = self.features(image)  # (B, C, 40 / 2^pools, T / 2^pools)
        maps = maps.flatten(1, 2)  # (B, C · bands, T'): where in frequency stays known
        kept = -(-lengths // 2**self.pools)  # frames of speech after the pools (ceil)
        mask = frame_mask(kept, maps.shape[-1]).unsqueeze(1).to(maps.dtype)  # (B, 1, T')
        return (maps * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (B, C · bands)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Dropout and the linear read-out: (B, C · bands) → (B, num_classes); `pre_logits`
        keeps the pooled (B, C · bands)."""
        return features if pre_logits else self.head(self.dropout(features))

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x, lengths))


class SpeechCTC(nn.Module):
    """MFCCs, 4 frames stacked (40 ms steps) → bidirectional LSTM → log-probabilities of the
    blank and the 10 digits at every step: returns ((T/4, B, 11), the steps of each
    utterance (B,))."""

    def __init__(
        self,
        num_classes: int = DIGITS + 1,
        input_size: Sequence[int] = (N_MELS,),
        hidden_size: int = 96,
        num_layers: int = 2,
        dropout: float = 0.1,
        stack: int = 4,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        self.encoder = RecurrentEncoder(
            input_size[0],
            "lstm",
            hidden_size,
            num_layers,
            True,
            dropout,
            impl,
            stack,
            utterance_norm=True,
        )
        self.head = nn.Linear(self.encoder.width, num_classes)
        self.n_mels = input_size[0]

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        states, steps, _ = self.encoder(x, lengths)  # (B, T/4, width), (B,)
        log_probs = self.head(states).log_softmax(-1).transpose(0, 1)  # (T/4, B, C)
        return log_probs, steps


def recurrent_params(cell: str, inputs: int, hidden: int, layers: int, directions: int) -> int:
    """Parameters of a GRU (3 gates) or LSTM (4): per layer and direction, gates × (W_ih: in × h,
    W_hh: h × h, two biases of h); layers above the first read directions × hidden."""
    gates = {"gru": 3, "lstm": 4}[cell]
    total = 0
    for layer in range(layers):
        width = inputs if layer == 0 else hidden * directions
        total += directions * gates * (width * hidden + hidden * hidden + 2 * hidden)
    return total


def cnn_params(channels: Sequence[int], classes: int, bands: int = N_MELS) -> int:
    """3×3 convolutions without bias, BatchNorm's γ and β, the linear head over every
    channel × remaining frequency row."""
    widths = [1, *channels]
    convs = sum(9 * a * b + 2 * b for a, b in itertools.pairwise(widths))
    rows = -(-bands // 2 ** len(channels))
    return convs + widths[-1] * rows * classes + classes


def speech_card(
    task: str, classes: int, paper: str, reference: int, concepts: tuple[str, ...]
) -> ModelCard:
    """The card every speech model shares but for these: log-mel frames in, 15 epochs."""
    return ModelCard(
        task=task,
        family="speech",
        input_size=(N_MELS,),
        num_classes=classes,
        paper=paper,
        reference=ParameterCount(
            reference, (N_MELS,), classes, "the layer formulas (recurrent_params, cnn_params)"
        ),
        train_defaults={**TRAIN_DEFAULTS, **({"epochs": 12} if task == "ctc" else {})},
        concepts=concepts,
    )


TRAIN_DEFAULTS = {"epochs": 15, "batch_size": 32, "lr": 2e-3, "scheduler": "cosine"}


@register_model(
    "speech_gru",
    speech_card(
        "audio-classification",
        DIGITS,
        "Cho et al., Learning phrase representations using RNN encoder-decoder, EMNLP 2014",
        recurrent_params("gru", N_MFCC, 128, 2, 2) + 256 * DIGITS + DIGITS,
        ("MFCC", "GRU", "packed sequences", "attention pooling"),
    ),
)
def speech_gru(**kwargs: Any) -> SpeechRNN:
    return SpeechRNN(**{"cell": "gru", **kwargs})


@register_model(
    "speech_lstm",
    speech_card(
        "audio-classification",
        DIGITS,
        "Hochreiter & Schmidhuber, Long short-term memory, Neural Computation 1997",
        recurrent_params("lstm", N_MFCC, 128, 2, 2) + 256 * DIGITS + DIGITS,
        ("MFCC", "LSTM", "packed sequences"),
    ),
)
def speech_lstm(**kwargs: Any) -> SpeechRNN:
    return SpeechRNN(**{"cell": "lstm", **kwargs})


@register_model(
    "speech_cnn",
    speech_card(
        "audio-classification",
        DIGITS,
        "Sainath et al., Deep convolutional neural networks for LVCSR, ICASSP 2013",
        cnn_params((32, 64, 128), DIGITS),
        ("log-mel spectrogram", "convolution over time and frequency", "masked pooling"),
    ),
)
def speech_cnn(**kwargs: Any) -> SpeechCNN:
    return SpeechCNN(**kwargs)


@register_model(
    "speech_ctc",
    speech_card(
        "ctc",
        DIGITS + 1,
        "Graves et al., Connectionist temporal classification, ICML 2006",
        recurrent_params("lstm", 4 * N_MFCC, 96, 2, 2) + 192 * (DIGITS + 1) + DIGITS + 1,
        ("CTC", "bidirectional LSTM", "forward algorithm", "beam search"),
    ),
)
def speech_ctc(**kwargs: Any) -> SpeechCTC:
    return SpeechCTC(**kwargs)
