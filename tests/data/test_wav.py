"""Reading recordings (`deepnotes.data.speech.read_wav`): every WAV flavour a phone or a laptop
writes, against librosa; and every malformed file ends in one line, never in a hang or a huge
allocation.

Well-formed files are written by scipy and soundfile (24-bit and "extensible" headers);
malformed ones are crafted byte by byte.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.io.wavfile
import soundfile

from deepnotes.data.speech import MAX_SECONDS, RECORDINGS, load_recordings, read_wav
from deepnotes.errors import UserError

RATE = 8000
FLAVOURS = ["u8", "i16", "i24", "i32", "f32", "f64", "i16 extensible", "f32 extensible"]
LAYOUTS = [(1, 8000), (2, 16000), (1, 22050), (2, 44100), (6, 48000)]  # (channels, rate)
BITS = {"u8": 8, "i16": 16, "i24": 24, "i32": 32}
CASES = list(itertools.product(FLAVOURS, LAYOUTS))
CASE_IDS = [f"{f}-{c}ch-{r}Hz" for f, (c, r) in CASES]
EDGE = 80  # samples (10 ms) at each end where two resamplers' filters start and stop differently


def write(path: Path, signal: np.ndarray, rate: int, flavour: str) -> None:
    """Samples in [−1, 1] (frames,) or (frames, channels) as a WAV file of one flavour; integers
    are rounded here, so the file holds exactly round(x · 2^(bits−1)) (+128 for 8-bit)."""
    kind = flavour.split()[0]
    if kind == "u8":
        scipy.io.wavfile.write(path, rate, (128 + np.round(128 * signal)).astype(np.uint8))
    elif kind in ("i16", "i32"):
        full = 2.0 ** (BITS[kind] - 1)
        samples = np.round(signal * full).clip(-full, full - 1).astype(f"int{BITS[kind]}")
        if flavour.endswith("extensible"):
            soundfile.write(path, samples, rate, subtype=f"PCM_{BITS[kind]}", format="WAVEX")
        else:
            scipy.io.wavfile.write(path, rate, samples)
    elif kind == "i24":  # soundfile takes the top 24 bits of int32 samples, exactly
        samples = np.round(signal * 2.0**23).clip(-(2**23), 2**23 - 1).astype(np.int32) << 8
        soundfile.write(path, samples, rate, subtype="PCM_24")
    elif flavour == "f32 extensible":
        soundfile.write(path, signal.astype(np.float32), rate, subtype="FLOAT", format="WAVEX")
    else:
        scipy.io.wavfile.write(
            path, rate, signal.astype({"f32": np.float32, "f64": np.float64}[kind])
        )


def tones(rate: int, channels: int, hz: list[float], seconds: float = 0.25) -> np.ndarray:
    """Half-scale sines, the c-th channel at hz[c]: (frames,) for one channel, else (frames, C)."""
    t = np.arange(int(seconds * rate)) / rate
    signal = np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in hz[:channels]], axis=1)
    return signal[:, 0] if channels == 1 else signal


@pytest.mark.parametrize(("flavour", "layout"), CASES, ids=CASE_IDS)
def test_a_half_scale_sine_comes_back_at_half_scale(tmp_path, flavour, layout):
    """Every channel holds 0.5 sin(2π · 500 Hz · t): the waveform read is that sine at 8 kHz,
    whatever the sample format, the channels or the rate (a stereo 16-bit file once came
    back as ±16383, never scaled; an 8-bit one in [0.25, 0.75], never centred).

    The tolerance is half a quantisation step (2^−bits; 0 for floats), plus, when the file
    is resampled, twice the largest error measured for scipy's polyphase filter on these
    rates (≤ 6.0e-4: its passband ripple at 500 Hz), plus float32 round-off.
    """
    channels, rate = layout
    path = tmp_path / "sine.wav"
    write(path, tones(rate, channels, [500.0] * channels), rate, flavour)
    waveform = read_wav(path).double().numpy()
    assert len(waveform) == RATE // 4
    ideal = 0.5 * np.sin(2 * np.pi * 500 * np.arange(len(waveform)) / RATE)
    quantisation = 2.0 ** -BITS.get(flavour.split()[0], np.inf)
    tolerance = quantisation + (1.2e-3 if rate != RATE else 0.0) + 1e-7
    inner = slice(EDGE, -EDGE)
    assert abs(waveform[inner].max() - 0.5) <= tolerance
    assert np.abs(waveform[inner] - ideal[inner]).max() <= tolerance


@pytest.mark.parametrize(("flavour", "layout"), CASES, ids=CASE_IDS)
def test_every_flavour_reads_as_librosa_reads_it(tmp_path, flavour, layout):
    """Channels carrying different tones (300, 750, 1200 … Hz), compared with `librosa.load(mono=
    True)` three ways:

    - at the file's own rate (sr=None): scaling and mixing alone, equal up to one float32
      step below 1 (2^−24; measured ≤ 3.0e-8, librosa works in float32, we in float64);
    - at 8 kHz with res_type="polyphase", which is scipy's `resample_poly` as ours: within
      2^−21 ≈ 4.8e-7 (measured ≤ 2.1e-7, float32 input round-off through the filter);
    - at 8 kHz with librosa's default soxr_hq, a different low-pass filter: within 2.5e-3
      away from the first and last 10 ms (measured ≤ 1.1e-3 on these tones), and equal when
      no resampling is needed.
    """
    channels, rate = layout
    path = tmp_path / "tones.wav"
    write(path, tones(rate, channels, [300.0 + 450 * c for c in range(channels)]), rate, flavour)
    native, _ = librosa.load(path, sr=None, mono=True)
    assert np.abs(read_wav(path, sample_rate=rate).numpy() - native).max() <= 2.0**-24
    ours = read_wav(path).numpy()
    polyphase, _ = librosa.load(path, sr=RATE, mono=True, res_type="polyphase")
    assert np.abs(ours - polyphase).max() <= 2.0**-21
    soxr, _ = librosa.load(path, sr=RATE, mono=True)
    difference = np.abs(ours - soxr)[EDGE:-EDGE]
    assert difference.max() <= (2.5e-3 if rate != RATE else 0.0)


def wav_bytes(
    samples: bytes = b"\x00\x00" * 8,
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = RATE,
    bits: int = 16,
    block: int | None = None,
    declared: int | None = None,
    before_fmt: bytes = b"",
    before_data: bytes = b"",
) -> bytes:
    """A WAV file, byte by byte: RIFF header, optional chunks, fmt (16 bytes), data. Any field
    may lie: `declared` is the data chunk's length as written, `block` the bytes per frame."""
    block = channels * (bits // 8) if block is None else block
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    data_length = len(samples) if declared is None else declared
    body = (
        b"WAVE"
        + before_fmt
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + before_data
        + b"data"
        + struct.pack("<I", data_length)
        + samples
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(name: bytes, payload: bytes) -> bytes:
    """A RIFF chunk: name, length, payload, and the pad byte an odd length needs."""
    return name + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) % 2)


def test_chunks_other_than_fmt_and_data_are_skipped(tmp_path):
    """JUNK before fmt, an odd-length LIST (with its pad byte) and a fact chunk before the data:
    the samples read are those of the data chunk."""
    samples = np.array([0, 16384, -16384, 32767, -32768], dtype="<i2")
    path = tmp_path / "chunks.wav"
    path.write_bytes(
        wav_bytes(
            samples.tobytes(),
            before_fmt=chunk(b"JUNK", b"\x00" * 28),
            before_data=chunk(b"LIST", b"INFOabc") + chunk(b"fact", struct.pack("<I", 5)),
        )
    )
    assert read_wav(path).tolist() == (samples / 32768).tolist()


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (0, "is not a WAV file"),
        (11, "is not a WAV file"),
        (16, "truncated: its header ends before the fmt chunk"),
        (30, "truncated: its fmt chunk is 10 bytes, not 16"),
        (40, "truncated: its header ends before the data chunk"),
        (44, "truncated or its header is wrong: it declares 16 bytes of samples and holds 0"),
        (50, "truncated or its header is wrong: it declares 16 bytes of samples and holds 6"),
    ],
)
def test_a_truncated_file_is_refused_in_one_line(tmp_path, cut, message):
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_bytes()[:cut])
    with pytest.raises(UserError, match=message):
        read_wav(path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channels": 0, "block": 2}, "declares 0 channels"),
        ({"rate": 0}, "sample rate of 0 Hz; recordings of 1000–384000 Hz"),
        ({"rate": 1}, "sample rate of 1 Hz"),
        ({"rate": 999}, "sample rate of 999 Hz"),
        ({"rate": 384_001}, "sample rate of 384001 Hz"),
        ({"rate": 2**31 - 1}, "sample rate of 2147483647 Hz"),
        ({"tag": 7}, r"format 0x0007 \(compressed\?\)"),  # μ-law
        ({"tag": 3}, "16-bit floats in frames of 2 bytes"),
        ({"channels": 2, "block": 3}, "16-bit integers in frames of 3 bytes for 2 channels"),
        ({"bits": 8, "block": 2}, "8-bit integers in frames of 2 bytes"),
        ({"declared": 2**32 - 1}, "declares 4294967295 bytes of samples and holds 16"),
        ({"samples": b""}, "holds no samples"),
        ({"samples": b"\x00"}, "holds no samples"),  # less than one frame
    ],
)
def test_a_header_that_lies_is_refused_in_one_line(tmp_path, fields, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(wav_bytes(**fields))
    with pytest.raises(UserError, match=message) as refused:
        read_wav(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)


@pytest.mark.parametrize("rate", [1000, 384_000])
def test_the_slowest_and_fastest_rates_are_read(tmp_path, rate):
    path = tmp_path / "edge.wav"
    write(path, tones(rate, 1, [300.0], seconds=0.05), rate, "i16")
    assert len(read_wav(path)) == 400  # 50 ms at 8 kHz


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_nan_or_infinite_samples_are_refused(tmp_path, bad):
    """A float file holding NaN or ±∞ (or a float64 beyond float32's range, ∞ once read)."""
    samples = np.linspace(-0.5, 0.5, 100)
    samples[37] = bad
    path = tmp_path / "nan.wav"
    scipy.io.wavfile.write(path, RATE, samples)
    with pytest.raises(UserError, match="contains NaN or infinite samples"):
        read_wav(path)


def test_a_recording_too_long_is_refused_before_its_samples_are_read(tmp_path):
    """A sparse file holding MAX_SECONDS + 1 s of 48 kHz 16-bit samples (58 MB of zeros that
    take no disk): refused from its header, with less than 1 MB allocated (reading it would
    allocate 230 MB of float64)."""
    rate, frames = 48_000, (MAX_SECONDS + 1) * 48_000
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(b"", rate=rate, declared=2 * frames))
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size + 2 * frames)
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match=f"lasts 601 s; recordings longer than {MAX_SECONDS}"):
            read_wav(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@contextlib.contextmanager
def released(fifo: Path) -> Iterator[None]:
    """While the body runs, open the named pipe for writing and close it again every second:
    code that opened it to read (and so waits for a writer) gets an empty file and goes on,
    so a missing guard fails the test instead of hanging it."""
    done = threading.Event()

    def release() -> None:
        while not done.wait(1.0):
            with contextlib.suppress(OSError):  # ENXIO: nobody is reading it
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.mark.parametrize("reader", ["read_wav", "load_recordings", "listed in SHA256SUMS"])
def test_a_named_pipe_among_the_recordings_is_refused_not_waited_on(tmp_path, reader):
    """A FIFO named like a recording: read directly, found in the recordings folder, or listed
    in fsdd/SHA256SUMS (whose files are hashed before they are read)."""
    folder = tmp_path / RECORDINGS
    folder.mkdir(parents=True)
    fifo = folder / "0_x_0.wav"
    os.mkfifo(fifo)
    if reader == "listed in SHA256SUMS":
        (tmp_path / "fsdd" / "SHA256SUMS").write_text(f"{'0' * 64}  recordings/{fifo.name}\n")
    with released(fifo), pytest.raises(UserError, match=r"0_x_0\.wav is not a regular file"):
        read_wav(fifo) if reader == "read_wav" else load_recordings(tmp_path)


def test_a_folder_named_like_a_recording_is_refused(tmp_path):
    folder = tmp_path / RECORDINGS / "0_x_0.wav"
    folder.mkdir(parents=True)
    with pytest.raises(UserError, match=r"0_x_0\.wav is not a regular file"):
        load_recordings(tmp_path)
