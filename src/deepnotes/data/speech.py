"""Spoken digits: the Free Spoken Digit Dataset as log-mel frames, one digit or a string of them.

    fsdd          ROOT/fsdd/recordings/{digit}_{speaker}_{index}.wav, 8 kHz mono: one
                  spoken digit per file, classified (2,500 files, 5 speakers, 50 of each
                  digit each). Splits (`--split`):
                    (default)      the dataset's own: indices 0–4 test, 5 and up train
                    speaker:NAME   leave one speaker out: NAME's recordings are the test
                                   set, everyone else's the training set
                    all            (for `deepnotes eval --split all`) every recording
    fsdd-strings  connected speech for CTC: 2–5 recordings of one speaker joined with
                  100–300 ms of faint noise between them; the target is the digit string.
                  Training strings are built from training recordings, test strings
                  from test recordings (the split above).

Each example is a log-mel spectrogram (frames, 40 bands, dB; 32 ms windows every
10 ms, `deepnotes.audio`), computed once per recording. `fsdd` standardises it
by speaker (`standardize_by_speaker`; raw dB with `DataRequest(normalize=False)`);
`fsdd-strings` gives raw dB and its model standardises each string. A batch pads
them to its longest: (frames (B, T, 40), lengths (B,), labels). Files listed in
`fsdd/SHA256SUMS` must match it; any other well-named WAV (a new speaker) is
read as it is, resampled to 8 kHz if needed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io.wavfile
import scipy.signal
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from deepnotes import audio
from deepnotes.cards import DataCard
from deepnotes.data.base import DataBundle, DataRequest
from deepnotes.errors import UserError
from deepnotes.registry import DATASETS

RECORDINGS = Path("fsdd") / "recordings"
NAME = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>[0-9]+)\.wav$")
TEST_INDICES = 5  # the dataset's own split: indices 0–4 are the test set
N_MELS = 40
DIGITS = [str(d) for d in range(10)]


@dataclass(frozen=True)
class Recording:
    path: Path
    digit: int
    speaker: str
    index: int


def fsdd_present(root: Path) -> bool:
    """Whether a data root holds fsdd/recordings with at least one WAV file."""
    folder = root / RECORDINGS
    return folder.is_dir() and any(folder.glob("*.wav"))


def read_wav(path: Path, sample_rate: int = audio.SAMPLE_RATE) -> torch.Tensor:
    """A mono waveform in [−1, 1] at `sample_rate` (polyphase resampling if it differs)."""
    try:
        rate, samples = scipy.io.wavfile.read(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path} as a WAV file: {e}") from None
    if samples.ndim == 2:
        samples = samples.mean(axis=1)  # stereo → mono
    if np.issubdtype(samples.dtype, np.integer):
        samples = samples / float(np.iinfo(samples.dtype).max + 1)
    if rate != sample_rate:
        common = math.gcd(rate, sample_rate)
        samples = scipy.signal.resample_poly(samples, sample_rate // common, rate // common)
    return torch.as_tensor(np.asarray(samples), dtype=torch.float32)


def features(waveform: torch.Tensor) -> torch.Tensor:
    """The log-mel frames every fsdd model reads: (T, 40) dB."""
    return audio.log_mel_spectrogram(waveform.double(), n_mels=N_MELS).float()


def listed_checksums(root: Path) -> dict[str, str]:
    """fsdd/SHA256SUMS as {file name: digest} (empty when there is no such file)."""
    sums = root / "fsdd" / "SHA256SUMS"
    if not sums.is_file():
        return {}
    listed = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            listed[Path(name.strip().lstrip("*")).name] = digest
    return listed


def find_recordings(root: Path) -> list[Recording]:
    """Every well-named WAV under ROOT/fsdd/recordings; listed files verified by SHA-256."""
    checksums = listed_checksums(root)
    found = []
    for path in sorted((root / RECORDINGS).glob("*.wav")):
        match = NAME.match(path.name)
        if match is None:
            continue  # not {digit}_{speaker}_{index}.wav
        expected = checksums.get(path.name)
        if expected is not None and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise UserError(f"{path} does not match its SHA-256 in fsdd/SHA256SUMS; get it again")
        found.append(Recording(path, int(match["digit"]), match["speaker"], int(match["index"])))
    if not found:
        raise UserError(f"no recordings named DIGIT_SPEAKER_INDEX.wav in {root / RECORDINGS}")
    return found


@functools.lru_cache(maxsize=4)
def load_recordings(root: Path) -> tuple[list[Recording], list[torch.Tensor], list[torch.Tensor]]:
    """(recordings, waveforms, log-mel frames) of a data root, read once per process."""
    recordings = find_recordings(root)
    waveforms = [read_wav(r.path) for r in recordings]
    return recordings, waveforms, [features(w) for w in waveforms]


def standardize_by_speaker(
    recordings: list[Recording], frames: list[torch.Tensor], eps: float = 1e-5
) -> list[torch.Tensor]:
    """Cepstral mean and variance normalisation by speaker (CMVN; Kaldi's default, `apply-cmvn
    --utt2spk`): each band of each recording standardised with the mean μ_s and standard
    deviation σ_s of that band over every frame of the same speaker's recordings,
    x ← (x − μ_s) / (σ_s + eps).

    It removes what is constant in a speaker (the voice's average spectrum, the
    microphone) and keeps what differs between their utterances: each digit's own
    spectrum, which standardising each utterance by itself would also remove. It
    reads no labels, and a speaker's statistics come from their recordings under
    the data root whatever the split: a new speaker's from their own recordings
    (with one recording, this is per-utterance standardisation).
    """
    by_speaker: dict[str, list[int]] = {}
    for i, recording in enumerate(recordings):
        by_speaker.setdefault(recording.speaker, []).append(i)
    standardized = list(frames)
    for indices in by_speaker.values():
        every_frame = torch.cat([frames[i] for i in indices])  # (Σ T, 40)
        mean, std = every_frame.mean(0), every_frame.std(0, unbiased=False)
        for i in indices:
            standardized[i] = (frames[i] - mean) / (std + eps)
    return standardized


def split_of(recording: Recording, scheme: str | None) -> str:
    """'train' or 'test' under a split scheme (None: the dataset's own)."""
    if scheme is None or scheme == "index":
        return "test" if recording.index < TEST_INDICES else "train"
    if scheme.startswith("speaker:"):
        return "test" if recording.speaker == scheme.removeprefix("speaker:") else "train"
    raise UserError(f"unknown split {scheme!r} for fsdd; use speaker:NAME or leave it out")


class Utterances(Dataset):
    """(frames (T, F), label) pairs; the label is a digit, or a tensor of digits."""

    def __init__(self, frames: list[torch.Tensor], labels: list[Any]) -> None:
        self.frames, self.labels = frames, labels

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        return self.frames[i], self.labels[i]


def pad_utterances(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, ...]:
    """Examples of different lengths → (frames (B, T_max, F) zero-padded, lengths (B,), y)."""
    frames, labels = zip(*batch, strict=True)
    lengths = torch.tensor([len(f) for f in frames])
    return pad_sequence(list(frames), batch_first=True), lengths, torch.tensor(labels)


def pad_strings(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
    """(frames (B, T_max, F), lengths (B,), digits (B, S_max) padded, digit counts (B,))."""
    frames, targets = zip(*batch, strict=True)
    lengths = torch.tensor([len(f) for f in frames])
    target_lengths = torch.tensor([len(t) for t in targets])
    return (
        pad_sequence(list(frames), batch_first=True),
        lengths,
        pad_sequence(list(targets), batch_first=True),
        target_lengths,
    )


def speakers_of(recordings: list[Recording]) -> list[str]:
    return sorted({r.speaker for r in recordings})


@DATASETS.register(
    "fsdd",
    DataCard(
        kind="audio",
        task="classification",
        input_size=(N_MELS,),
        num_classes=10,
        source="Free Spoken Digit Dataset (Jakobovski/free-spoken-digit-dataset), "
        "ROOT/fsdd/recordings",
        licence="CC BY-SA 4.0",
        present=fsdd_present,
    ),
)
def fsdd(request: DataRequest) -> DataBundle:
    """Spoken digits, one per recording, as log-mel frames standardised by speaker."""
    root = request.find("fsdd", fsdd_present)
    recordings, _, frames = load_recordings(root)
    if request.normalize:
        frames = standardize_by_speaker(recordings, frames)
    chosen: dict[str, list[int]] = {"train": [], "test": []}
    for i, recording in enumerate(recordings):
        chosen[split_of(recording, request.split)].append(i)
    if request.split and not chosen["test"]:
        known = ", ".join(speakers_of(recordings))
        raise UserError(f"no recordings for split {request.split!r}; speakers: {known}")
    splits = {
        name: Utterances([frames[i] for i in indices], [recordings[i].digit for i in indices])
        for name, indices in chosen.items()
        if indices
    }
    return DataBundle(
        name="fsdd",
        kind="audio",
        splits=splits,
        input_size=(N_MELS,),
        num_classes=10,
        classes=DIGITS,
        info={
            "speakers": speakers_of(recordings),
            "recordings": {s: len(d) for s, d in splits.items()},
            "split": request.split or "index (0–4 test)",
            "standardized": "by speaker" if request.normalize else "no (dB)",
        },
        collate_fn=pad_utterances,
    )


STRINGS = {"train": 2000, "test": 300}  # digit strings built per split


def join_recordings(
    waveforms: list[torch.Tensor], generator: torch.Generator, gaps_ms: tuple[int, int]
) -> torch.Tensor:
    """One waveform: the recordings in order, 100–300 ms of faint noise before, between and
    after them (a gap is needed: the same digit twice must be heard twice)."""
    pieces = []
    for waveform in [*waveforms, None]:
        gap_ms = int(torch.randint(gaps_ms[0], gaps_ms[1] + 1, (), generator=generator))
        samples = gap_ms * audio.SAMPLE_RATE // 1000
        pieces.append(1e-3 * torch.randn(samples, generator=generator))
        if waveform is not None:
            pieces.append(waveform)
    return torch.cat(pieces)


@DATASETS.register(
    "fsdd-strings",
    DataCard(
        kind="audio",
        task="ctc",
        input_size=(N_MELS,),
        num_classes=11,
        source="strings of 2–5 recordings of the Free Spoken Digit Dataset, joined",
        licence="CC BY-SA 4.0",
        present=fsdd_present,
    ),
)
def fsdd_strings(request: DataRequest) -> DataBundle:
    """Connected digits: 2–5 recordings of one speaker from the same split, joined."""
    root = request.find("fsdd-strings", fsdd_present)
    splits = digit_strings(root, request.split, request.seed)
    return DataBundle(
        name="fsdd-strings",
        kind="audio",
        splits=splits,
        input_size=(N_MELS,),
        num_classes=11,  # the blank and ten digits
        classes=["blank", *DIGITS],
        info={"strings": {s: len(d) for s, d in splits.items()}},
        collate_fn=pad_strings,
    )


@functools.lru_cache(maxsize=4)
def digit_strings(root: Path, scheme: str | None, seed: int) -> dict[str, Utterances]:
    """The strings of each split (their log-mel frames and digits), built once per process for
    a (data root, split scheme, seed)."""
    recordings, waveforms, _ = load_recordings(root)
    generator = torch.Generator().manual_seed(seed)
    splits = {}
    for split, count in STRINGS.items():
        pool: dict[str, list[int]] = {}
        for i, recording in enumerate(recordings):
            if split_of(recording, scheme) == split:
                pool.setdefault(recording.speaker, []).append(i)
        speakers = sorted(pool)
        if not speakers:
            continue
        frames, targets = [], []
        for _ in range(count):
            speaker = speakers[int(torch.randint(len(speakers), (), generator=generator))]
            length = int(torch.randint(2, 6, (), generator=generator))
            picks = torch.randint(len(pool[speaker]), (length,), generator=generator)
            chosen = [pool[speaker][int(k)] for k in picks]
            joined = join_recordings([waveforms[i] for i in chosen], generator, (100, 300))
            frames.append(features(joined))
            targets.append(torch.tensor([recordings[i].digit + 1 for i in chosen]))  # 0: blank
        splits[split] = Utterances(frames, targets)
    return splits
