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
read as it is (`read_wav`: PCM or float samples, any channels, 1–384 kHz, at most
ten minutes), mixed to mono and resampled to 8 kHz if needed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
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


MIN_RATE, MAX_RATE = 1_000, 384_000  # Hz: the sample rates a recording may declare
MAX_SECONDS = 600  # the longest recording read (ten minutes)
PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE  # WAV format tags


@dataclass(frozen=True)
class WavLayout:
    """Where a WAV file's samples are and how they are stored, from its header."""

    encoding: int  # PCM (integers) or IEEE_FLOAT
    channels: int
    rate: int  # frames per second
    width: int  # bytes per sample of one channel
    offset: int  # byte where the samples start
    frames: int  # samples per channel


def regular_file(path: Path) -> None:
    """Refuse anything but a regular file before it is opened: opening a named pipe (FIFO)
    waits for a writer forever."""
    try:
        is_regular = stat.S_ISREG(path.stat().st_mode)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    if not is_regular:
        raise UserError(f"{path} is not a regular file (a named pipe, folder or device?)")


def wav_layout(path: Path) -> WavLayout:
    """Read a WAV file's header and check it, before a single sample is read.

    A WAV file is a RIFF container: "RIFF", a size, "WAVE", then chunks, each a 4-byte
    name, a 4-byte little-endian length and that many bytes (plus one pad byte when the
    length is odd). The "fmt " chunk holds the format tag (1: PCM integers, 3: IEEE
    floats, 0xFFFE: "extensible", whose true tag starts its sub-format GUID at byte 24),
    the channels, the sample rate, the bytes per frame (block align) and the bits per
    sample; the "data" chunk holds the frames, each channel's sample in turn. Every other
    chunk (LIST, fact, JUNK, …) is skipped. Refused in one line: anything that is not
    RIFF/WAVE (RF64 and big-endian RIFX included), a header that ends early, compressed
    formats, no channels, a rate outside MIN_RATE–MAX_RATE (a file declaring 1 Hz would
    be resampled to 8,000 times its length), samples that do not fit their frame, a data
    chunk longer than the file (truncated, or an absurd size in the header), no samples,
    and more than MAX_SECONDS of sound. (The header is read here, not by scipy.io.wavfile,
    because scipy allocates whatever size a header declares before anything is checked.)
    """
    regular_file(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            riff = f.read(12)
            if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:] != b"WAVE":
                raise UserError(f"{path} is not a WAV file (it does not start RIFF….WAVE)")
            fmt = b""
            while True:
                head = f.read(8)
                if len(head) < 8:
                    missing = "data" if fmt else "fmt"
                    raise UserError(
                        f"{path} is truncated: its header ends before the {missing} chunk"
                    )
                name, length = struct.unpack("<4sI", head)
                if name == b"data":
                    break
                if name == b"fmt ":
                    fmt = f.read(min(length, 40))  # 40: the extensible format's; no more
                    if len(fmt) < 16:
                        raise UserError(
                            f"{path} is truncated: its fmt chunk is {len(fmt)} bytes, not 16"
                        )
                    f.seek(length - len(fmt) + length % 2, 1)
                else:
                    f.seek(length + length % 2, 1)
            if not fmt:
                raise UserError(f"{path} has its data chunk before its fmt chunk")
            offset = f.tell()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack("<H", fmt[24:26])
    if tag not in (PCM, IEEE_FLOAT):
        raise UserError(
            f"{path} holds format {tag:#06x} (compressed?); only PCM integers and IEEE "
            "floats are read: save it as 16-bit PCM"
        )
    if channels == 0:
        raise UserError(f"{path} declares 0 channels; a recording has at least 1")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(
            f"{path} declares a sample rate of {rate} Hz; "
            f"recordings of {MIN_RATE}–{MAX_RATE} Hz are read"
        )
    width = block // channels
    fits = block % channels == 0 and 1 <= width <= 8 and 1 <= bits <= 8 * width
    if (
        not fits
        or (tag == PCM and (bits <= 8) != (width == 1))
        or (tag == IEEE_FLOAT and (width not in (4, 8) or bits != 8 * width))
    ):
        raise UserError(
            f"{path} declares {bits}-bit {'floats' if tag == IEEE_FLOAT else 'integers'} "
            f"in frames of {block} bytes for {channels} channels, which do not fit"
        )
    available = size - offset
    if length > available:
        raise UserError(
            f"{path} is truncated or its header is wrong: it declares {length} bytes of "
            f"samples and holds {available}"
        )
    frames = length // block
    if frames == 0:
        raise UserError(f"{path} holds no samples")
    if frames > MAX_SECONDS * rate:
        raise UserError(
            f"{path} lasts {frames / rate:.0f} s; recordings longer than {MAX_SECONDS} s "
            "are not read"
        )
    return WavLayout(tag, channels, rate, width, offset, frames)


def channel_as_float(raw: np.ndarray, layout: WavLayout) -> np.ndarray:
    """One channel's stored bytes (frames, width) → float64 samples in [−1, 1].

    8-bit (and narrower) PCM is unsigned, centred on 128: (x − 128) / 128. Wider PCM is
    signed and left-justified in its bytes (a 20-bit sample fills the top of three), so
    dividing by 2^(8·width − 1) scales it whatever its significant bits; 24-bit samples
    are widened to 32 by a zero low byte first. Floats are read as they are.
    """
    if layout.encoding == IEEE_FLOAT:
        return np.ascontiguousarray(raw).view(f"<f{layout.width}")[:, 0].astype(np.float64)
    if layout.width == 1:
        return (raw[:, 0].astype(np.float64) - 128) / 128
    container = 1 << (layout.width - 1).bit_length()  # 2, 4 or 8 bytes
    widened = np.zeros((len(raw), container), dtype=np.uint8)
    widened[:, container - layout.width :] = raw  # little-endian: the low bytes first
    return widened.view(f"<i{container}")[:, 0] / 2.0 ** (8 * container - 1)


def read_wav(path: Path, sample_rate: int = audio.SAMPLE_RATE) -> torch.Tensor:
    """A mono waveform at `sample_rate`: every WAV a phone or a laptop writes.

    Mono or any number of channels; 8-bit unsigned, 16/24/32-bit signed PCM, 32/64-bit
    floats. Each channel is scaled to [−1, 1] (floats as stored) and the channels are
    averaged; a rate other than `sample_rate` is resampled by polyphase filtering
    (`scipy.signal.resample_poly`, the same as `librosa.load(res_type="polyphase")`).
    The header is checked first (`wav_layout`: 1–384 kHz, at most ten minutes, sizes
    that fit the file), so a bad file ends in one line, never in a hang or a huge
    allocation; samples that are NaN or infinite (as float32) are refused too. The file
    is mapped into memory, not read into it, and converted one channel at a time.
    """
    layout = wav_layout(path)
    frames = np.memmap(
        path,
        dtype=np.uint8,
        mode="r",
        offset=layout.offset,
        shape=(layout.frames, layout.channels, layout.width),
    )
    mono = np.zeros(layout.frames)
    for channel in range(layout.channels):
        mono += channel_as_float(frames[:, channel], layout)
    mono /= layout.channels
    if layout.rate != sample_rate:
        import scipy.signal  # on use: docs/ARCHITECTURE.md

        common = math.gcd(layout.rate, sample_rate)
        mono = scipy.signal.resample_poly(mono, sample_rate // common, layout.rate // common)
    waveform = torch.as_tensor(mono, dtype=torch.float32)
    if not torch.isfinite(waveform).all():
        raise UserError(f"{path} contains NaN or infinite samples")
    return waveform


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
        regular_file(path)  # before hashing: reading a named pipe would wait forever
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
        files=(f"{RECORDINGS.as_posix()}/*.wav",),
    ),
)
def fsdd(request: DataRequest) -> DataBundle:
    """Spoken digits, one per recording, as log-mel frames standardised by speaker."""
    root = request.find("fsdd")
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
        files=(f"{RECORDINGS.as_posix()}/*.wav",),
    ),
)
def fsdd_strings(request: DataRequest) -> DataBundle:
    """Connected digits: 2–5 recordings of one speaker from the same split, joined."""
    root = request.find("fsdd-strings")
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
