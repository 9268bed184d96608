"""Speech: the audio front end against librosa, CTC against torch, the spoken-digit data."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from deepnotes import audio
from deepnotes.data.base import DataRequest, load_data
from deepnotes.data.speech import Recording, read_wav, standardize_by_speaker
from deepnotes.errors import UserError
from deepnotes.experiments import speech as speech_experiment
from deepnotes.experiments.base import run_experiment
from deepnotes.models.speech import SpecAugment, frame_mask
from deepnotes.nn import CTCLoss
from deepnotes.nn.ctc import collapse, ctc_loss, greedy_decode, prefix_beam_search
from deepnotes.registry import MODELS
from reference import rel_error

# --- the front end against librosa -----------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    sample_rate=st.sampled_from([8000, 16000, 22050]),
    n_fft=st.sampled_from([128, 255, 256, 401, 512, 1024]),  # odd sizes: bins k·sr/n_fft
    n_mels=st.integers(8, 64),
    f_min=st.floats(0, 300),
    htk=st.booleans(),
)
def test_mel_filterbank_equals_librosa(sample_rate, n_fft, n_mels, f_min, htk):
    ours = audio.mel_filterbank(sample_rate, n_fft, n_mels, f_min=f_min, htk=htk)
    theirs = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, htk=htk, dtype=np.float64
    )
    assert rel_error(ours, torch.from_numpy(theirs)) <= 1e-10


def test_mel_scale_equals_librosa():
    hz = torch.linspace(0, 11025, 500, dtype=torch.float64)
    for htk in (False, True):
        mel = audio.hz_to_mel(hz, htk)
        assert rel_error(mel, torch.from_numpy(librosa.hz_to_mel(hz.numpy(), htk=htk))) <= 1e-12
        assert rel_error(audio.mel_to_hz(mel, htk), hz) <= 1e-12


def recordings(shared_data, count: int = 6) -> list[torch.Tensor]:
    files = sorted((shared_data / "fsdd" / "recordings").glob("*.wav"))[::400][:count]
    return [read_wav(path).double() for path in files]


@pytest.mark.parametrize(
    ("n_fft", "hop", "n_mels", "n_mfcc"), [(256, 80, 40, 13), (512, 128, 64, 20)]
)
def test_mfcc_and_log_mel_equal_librosa(shared_data, n_fft, hop, n_mels, n_mfcc):
    """Both sides in float64 throughout, so they differ by round-off alone.

    librosa builds its mel filterbank in float32 unless told otherwise, which alone puts
    ~1e-9 relative error into the dB values; with dtype=float64 the measured error over
    these signals is at most 1.7e-15 (MFCC) and 2.5e-15 (log-mel). The tolerance is ~100x
    that: far below any real difference (a 1e-6 change in the power is ~1e-7 here).
    """
    g = torch.Generator().manual_seed(0)
    signals = [*recordings(shared_data), 0.1 * torch.randn(3000, generator=g, dtype=torch.float64)]
    for signal in signals:
        y = signal.numpy()
        theirs = librosa.feature.mfcc(
            y=y,
            sr=8000,
            n_mfcc=n_mfcc,
            n_fft=n_fft,
            hop_length=hop,
            n_mels=n_mels,
            dtype=np.float64,
        )
        ours = audio.mfcc(signal, 8000, n_mfcc, n_fft, hop, n_mels)  # (T, n_mfcc)
        assert rel_error(ours.T, torch.from_numpy(theirs)) <= 3e-13
        mel = librosa.feature.melspectrogram(
            y=y, sr=8000, n_fft=n_fft, hop_length=hop, n_mels=n_mels, dtype=np.float64
        )
        theirs = librosa.power_to_db(mel)
        ours = audio.log_mel_spectrogram(signal, 8000, n_fft, hop, n_mels)
        assert rel_error(ours.T, torch.from_numpy(theirs)) <= 3e-13


@settings(max_examples=30, deadline=None)
@given(
    length=st.integers(600, 4000),
    n_fft=st.sampled_from([64, 200, 256]),
    hop=st.integers(16, 128),
    center=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_frames_and_rfft_equal_torch_stft(length, n_fft, hop, center, seed):
    signal = torch.randn(length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    readable = audio.power_spectrum_by_frames(signal, n_fft, hop, center)
    fused = audio.power_spectrum(signal, n_fft, hop, center)
    assert rel_error(readable, fused) <= 1e-12
    window = torch.from_numpy(np.asarray(librosa.filters.get_window("hann", n_fft), dtype=float))
    assert rel_error(audio.hann_window(n_fft, torch.float64), window) <= 1e-12


def test_dct_is_orthonormal_and_normalisation_standardises():
    basis = audio.dct_matrix(40, 40)
    assert rel_error(basis @ basis.T, torch.eye(40, dtype=torch.float64)) <= 1e-12
    features = audio.normalize_utterance(torch.randn(50, 13) * 7 + 3)
    assert (
        features.mean(0).abs().max() < 1e-5
        and (features.std(0, unbiased=False) - 1).abs().max() < 1e-3
    )


# --- CTC against torch -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(1, 40),
    batch=st.integers(1, 5),
    classes=st.integers(2, 9),
    longest=st.integers(0, 12),
    concatenated=st.booleans(),
    zero_infinity=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_ctc_loss_equals_torch(frames, batch, classes, longest, concatenated, zero_infinity, seed):
    """Values and gradients with respect to the logits (before log-softmax), every reduction,
    random input and target lengths (infeasible ones included: T too short for the labels)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(frames, batch, classes, generator=g, dtype=torch.float64)
    input_lengths = torch.randint(1, frames + 1, (batch,), generator=g)
    target_lengths = torch.randint(0, longest + 1, (batch,), generator=g)
    padded = torch.randint(1, classes, (batch, max(longest, 1)), generator=g)
    targets = (
        torch.cat([padded[i, : int(n)] for i, n in enumerate(target_lengths)])
        if concatenated
        else padded
    )
    for reduction in ("none", "mean", "sum"):
        results = []
        for loss_fn in (ctc_loss, F.ctc_loss):
            x = logits.clone().requires_grad_()
            args = (targets, input_lengths, target_lengths)
            loss = loss_fn(
                x.log_softmax(2), *args, reduction=reduction, zero_infinity=zero_infinity
            )
            finite = bool(torch.isfinite(loss).all())
            if finite:
                loss.sum().backward()
            results.append((loss.detach(), x.grad if finite else None))
        (ours, our_grad), (theirs, their_grad) = results
        assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
        finite = torch.isfinite(theirs)
        assert rel_error(ours[finite], theirs[finite]) <= 1e-10 if finite.any() else True
        if their_grad is not None:
            assert rel_error(our_grad, their_grad) <= 1e-10


def test_ctc_module_has_torchs_interface():
    log_probs = torch.randn(12, 3, 5).log_softmax(2)
    args = (
        torch.tensor([[1, 2, 2], [3, 4, 1], [2, 2, 2]]),
        torch.tensor([12, 10, 8]),
        torch.tensor([3, 2, 3]),
    )
    ours, theirs = (
        CTCLoss(reduction="sum")(log_probs, *args),
        torch.nn.CTCLoss(reduction="sum")(log_probs, *args),
    )
    assert rel_error(ours, theirs) <= 1e-5


def best_labelling_by_brute_force(log_probs: torch.Tensor) -> list[int]:
    """argmax over label sequences l of Σ over every alignment π with B(π) = l of p(π)."""
    totals: dict[tuple[int, ...], float] = {}
    frames, classes = log_probs.shape
    for path in itertools.product(range(classes), repeat=frames):
        labels = tuple(collapse(list(path)))
        p = math.exp(sum(float(log_probs[t, s]) for t, s in enumerate(path)))
        totals[labels] = totals.get(labels, 0.0) + p
    return list(max(totals, key=totals.get))


@pytest.mark.parametrize("seed", range(6))
def test_prefix_beam_search_finds_the_most_probable_labelling(seed):
    """With a beam as wide as every prefix, prefix beam search is exact; the greedy path
    (best symbol per frame) can miss the labelling whose alignments add up to most."""
    g = torch.Generator().manual_seed(seed)
    log_probs = (torch.randn(6, 3, generator=g, dtype=torch.float64) * 1.5).log_softmax(1)
    assert prefix_beam_search(log_probs, beam=10_000) == best_labelling_by_brute_force(log_probs)
    assert greedy_decode(log_probs) == collapse(log_probs.argmax(1).tolist())


def test_collapse_merges_repeats_then_drops_blanks():
    assert collapse([0, 1, 1, 0, 1, 2, 2, 0, 0, 3]) == [1, 1, 2, 3]


# --- training-time augmentation -------------------------------------------------------------


def padded(lengths: list[int], bands: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random frames (B, T_max, bands), zero beyond each length, and the lengths."""
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    x = torch.randn(len(lengths), max(lengths), bands, generator=g)
    return x * frame_mask(lengths_t, max(lengths)).unsqueeze(-1), lengths_t


def test_augmentation_is_the_identity_in_eval_mode_and_when_switched_off():
    x, lengths = padded([30, 17, 44])
    augment = SpecAugment(stretch=0.2).eval()
    same, same_lengths = augment(x, lengths)
    assert torch.equal(same, x) and torch.equal(same_lengths, lengths)
    off = SpecAugment(warp=0, band_masks=0, frame_masks=0, stretch=0).train()
    same, same_lengths = off(x, lengths)
    assert torch.equal(same, x) and torch.equal(same_lengths, lengths)


@settings(max_examples=30, deadline=None)
@given(warp=st.floats(0.01, 0.3), bands=st.integers(8, 64), seed=st.integers(0, 2**16))
def test_vocal_tract_warp_scales_the_band_axis(warp, bands, seed):
    """On a ramp x[b] = b each utterance's output is α·b (clamped at the top band) for one α
    in [1 − warp, 1 + warp]: the band axis is stretched by linear interpolation."""
    torch.manual_seed(seed)
    batch, frames = 5, 3
    ramp = torch.arange(bands, dtype=torch.float32).expand(batch, frames, bands)
    augment = SpecAugment(stretch=0, warp=warp, band_masks=0, frame_masks=0).train()
    warped, _ = augment(ramp.clone(), torch.full((batch,), frames))
    alpha = warped[:, 0, 1]  # band 1 reads the input at position α (never clamped)
    assert ((alpha >= 1 - warp - 1e-6) & (alpha <= 1 + warp + 1e-6)).all()
    expected = (torch.arange(bands) * alpha[:, None]).clamp(max=bands - 1)  # (B, bands)
    assert torch.allclose(warped, expected[:, None, :].expand_as(warped), atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=6),
    masks=st.integers(0, 3),
    width=st.integers(1, 10),
    seed=st.integers(0, 2**16),
)
def test_masks_zero_a_few_runs_inside_the_speech(lengths, masks, width, seed):
    torch.manual_seed(seed)
    x, lengths_t = padded(lengths, seed=seed)
    x = x + 10 * frame_mask(lengths_t, x.shape[1]).unsqueeze(-1)  # no true zeros in speech
    runs = {"band_masks": masks, "band_width": width, "frame_masks": masks, "frame_width": width}
    augment = SpecAugment(stretch=0, warp=0, **runs).train()
    masked, same_lengths = augment(x, lengths_t)
    assert torch.equal(same_lengths, lengths_t)
    zeroed = masked == 0
    assert ((masked == x) | zeroed).all()  # nothing else changes
    for i, n in enumerate(lengths):
        speech = zeroed[i, :n]  # (n, bands)
        frames_zeroed = speech.all(1)  # a masked frame is zero in every band
        bands_zeroed = speech[~frames_zeroed].all(0) & (~frames_zeroed).any()  # …in every frame
        assert int(bands_zeroed.sum()) <= masks * (width - 1)
        assert int(frames_zeroed.sum()) <= masks * (width - 1)
        assert (speech == (bands_zeroed[None, :] | frames_zeroed[:, None])).all()


@settings(max_examples=30, deadline=None)
@given(
    lengths=st.lists(st.integers(2, 60), min_size=1, max_size=6),
    stretch=st.floats(0.01, 0.4),
    seed=st.integers(0, 2**16),
)
def test_stretching_changes_the_speaking_rate_not_the_sound(lengths, stretch, seed):
    """Each utterance is resampled in time to round(length · r), r ∈ [1 − s, 1 + s]; an
    utterance holding one spectrum keeps it at every new frame, and padding stays zero."""
    torch.manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    spectra = torch.randn(len(lengths), 1, 40)
    x = spectra * frame_mask(lengths_t, max(lengths)).unsqueeze(-1).float()  # (B, T, 40)
    augment = SpecAugment(warp=0, band_masks=0, frame_masks=0, stretch=stretch).train()
    stretched, new_lengths = augment(x, lengths_t)
    assert stretched.shape[1] == int(new_lengths.max())
    for i, (n, m) in enumerate(zip(lengths, new_lengths.tolist(), strict=True)):
        assert math.floor(n * (1 - stretch)) <= m <= math.ceil(n * (1 + stretch))
        assert torch.allclose(stretched[i, :m], spectra[i].expand(m, 40), atol=1e-5)
        assert (stretched[i, m:] == 0).all()


def pad_with(x: torch.Tensor, lengths: torch.Tensor, value: float) -> torch.Tensor:
    """x (B, T, F) with every frame beyond each utterance's length set to `value`."""
    return x.masked_fill(~frame_mask(lengths, x.shape[1]).unsqueeze(-1), value)


def test_padding_never_reaches_the_real_frames():
    """NaN planted in every padded frame changes nothing, for either pooling of the GRU:

    - eval mode: each utterance's logits equal those of the utterance alone, unpadded;
    - training mode, where SpecAugment stretches each utterance to a new length: the
      logits equal eval mode's on the same augmented frames with the stretched lengths
      (NaN in their padding too), so the stretched lengths reach the recurrent layer and
      the pooling, and the loss and every gradient are finite.

    The CTC recogniser, which standardises each string over its real frames, gets 1e30
    in its padding (NaN would survive its masking, NaN · 0 = NaN, but pad_sequence
    only ever pads with zeros): each string's log-probabilities equal those of the string
    alone.

    The batch and the lone utterances run matrices of different shapes, so they agree to
    float32 round-off: measured ≤ 1.2e-7 (logits) and ≤ 4.8e-7 (log-probabilities near
    −2.4, two float32 steps) over seeds 0–4; the tolerances are 1e-6 and 2e-6. The replay
    runs the very same computation as training, so it is equal bit for bit.
    """
    sizes = [40, 23, 31]
    x, lengths = padded(sizes)
    poisoned = pad_with(x, lengths, float("nan"))
    for pooling in ("last", "attention"):
        torch.manual_seed(0)
        model = MODELS.create("speech_gru", pooling=pooling, hidden_size=16, num_layers=1).eval()
        alone = torch.cat(
            [model(x[i : i + 1, :n], lengths[i : i + 1]) for i, n in enumerate(sizes)]
        )
        assert torch.allclose(model(poisoned, lengths), alone, rtol=0, atol=1e-6)
        model.train()
        torch.manual_seed(1)
        logits = model(poisoned, lengths)
        torch.manual_seed(1)  # the same draws: SpecAugment is the model's first use of them
        augmented, stretched = model.encoder.augment(poisoned, lengths)
        assert not torch.equal(stretched, lengths)
        model.eval()
        replay = model(pad_with(augmented, stretched, float("nan")), stretched)
        assert torch.equal(logits, replay)
        loss = F.cross_entropy(logits, torch.tensor([3, 1, 4]))
        loss.backward()
        assert loss.isfinite()
        assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
    torch.manual_seed(0)
    ctc = MODELS.create("speech_ctc", hidden_size=16, num_layers=1).eval()
    log_probs, steps = ctc(pad_with(x, lengths, 1e30), lengths)
    for i, n in enumerate(sizes):
        lone, _ = ctc(x[i : i + 1, :n], lengths[i : i + 1])
        assert torch.allclose(log_probs[: int(steps[i]), i], lone[:, 0], rtol=0, atol=2e-6)


# --- the spoken-digit data -------------------------------------------------------------------


def test_fsdd_splits(shared_data):
    own = load_data("fsdd", DataRequest(roots=(shared_data,)))
    assert {s: len(d) for s, d in own.splits.items()} == {"train": 2250, "test": 250}
    theo = load_data("fsdd", DataRequest(roots=(shared_data,), split="speaker:theo"))
    assert {s: len(d) for s, d in theo.splits.items()} == {"train": 2000, "test": 500}
    assert len(own.split("all")) == 2500
    frames, lengths, labels = next(iter(own.loader("test", 8)))
    assert frames.shape[0] == 8 and frames.shape[2] == 40 and frames.shape[1] == int(lengths.max())
    assert labels.tolist() == [own.splits["test"][i][1] for i in range(8)]
    with pytest.raises(UserError, match="speakers: george"):
        load_data("fsdd", DataRequest(roots=(shared_data,), split="speaker:nobody"))


def test_standardizing_by_speaker_equals_scikit_learn_and_removes_the_microphone():
    """Each speaker's frames standardised with that speaker's band statistics (scikit-learn's
    StandardScaler fitted on all their frames); a microphone that changes one speaker's bands
    by a gain (dB added), a tilt across the bands and a wider range changes nothing after."""
    g = torch.Generator().manual_seed(0)
    speakers = ["ann", "bob", "ann", "cy", "bob", "ann"]
    recordings = [Recording(Path(f"{i}.wav"), i % 10, s, i) for i, s in enumerate(speakers)]
    frames = [torch.randn(int(n), 40, generator=g) * 7 - 40 for n in torch.randint(5, 30, (6,))]
    ours = standardize_by_speaker(recordings, frames)
    for speaker in set(speakers):
        mine = [i for i, s in enumerate(speakers) if s == speaker]
        scaler = StandardScaler().fit(torch.cat([frames[i] for i in mine]).double().numpy())
        for i in mine:
            expected = torch.from_numpy(scaler.transform(frames[i].double().numpy()))
            assert torch.allclose(ours[i].double(), expected, atol=1e-4)
    microphone_gain, microphone_slope = 6.0, torch.linspace(-3, 3, 40)
    recorded = [
        f * 1.5 + microphone_gain + microphone_slope if s == "bob" else f
        for f, s in zip(frames, speakers, strict=True)
    ]
    for before, after in zip(ours, standardize_by_speaker(recordings, recorded), strict=True):
        assert torch.allclose(before, after, atol=1e-4)


def small_root(shared_data, tmp_path, names: dict[str, str]):
    """A data root holding some recordings, renamed; with the shared SHA256SUMS."""
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for new, old in names.items():
        shutil.copy(shared_data / "fsdd" / "recordings" / old, folder / new)
    shutil.copy(shared_data / "fsdd" / "SHA256SUMS", tmp_path / "fsdd" / "SHA256SUMS")
    return tmp_path


def test_a_recording_that_fails_its_checksum_is_refused(shared_data, tmp_path):
    root = small_root(shared_data, tmp_path, {"0_george_0.wav": "0_george_1.wav"})
    with pytest.raises(UserError, match="does not match its SHA-256"):
        load_data("fsdd", DataRequest(roots=(root,)))


def test_a_new_speaker_is_evaluated_with_split_all(shared_data, tmp_path):
    """`deepnotes eval RUN --data fsdd --data-dir ROOT --split all` reads every well-named
    recording of ROOT, whatever its speaker or index (not listed in SHA256SUMS)."""
    run = tmp_path / "run"
    trained = subprocess.run(
        [sys.executable, "-m", "deepnotes", "train", "speech_cnn", "--data", "fsdd",
         "--data-dir", str(shared_data), "--max-steps", "3", "--out", str(run), "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    names = {
        "3_newbie_0.wav": "3_theo_7.wav",
        "7_newbie_61.wav": "7_nicolas_12.wav",
        "notes.wav": "1_george_3.wav",
    }
    root = small_root(shared_data, tmp_path / "new", names)
    evaluated = subprocess.run(
        [sys.executable, "-m", "deepnotes", "eval", str(run), "--data", "fsdd",
         "--data-dir", str(root), "--split", "all", "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["examples"] == 2  # notes.wav is not a recording's name


def test_digit_strings_for_ctc(shared_data):
    strings = load_data("fsdd-strings", DataRequest(roots=(shared_data,)))
    assert {s: len(d) for s, d in strings.splits.items()} == {"train": 2000, "test": 300}
    _, lengths, targets, target_lengths = next(iter(strings.loader("test", 16)))
    assert ((target_lengths >= 2) & (target_lengths <= 5)).all()
    assert ((targets >= 1) & (targets <= 10) | (targets == 0)).all()  # digits + 1; 0 pads
    assert (lengths >= 20 * target_lengths).all()  # every digit at least 0.2 s of frames


# --- the acceptance runs (slow) ----------------------------------------------------------------


def train(shared_data, tmp_path, *args: str) -> dict:
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "deepnotes", "train", *args, "--data-dir", str(shared_data),
         "--out", str(out), "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads((out / "summary.json").read_text())["metrics"]


@pytest.mark.slow
def test_the_gru_hears_97_percent_of_the_test_recordings(shared_data, tmp_path):
    assert train(shared_data, tmp_path, "speech_gru", "--data", "fsdd")["test_acc"] >= 0.97


@pytest.mark.slow
def test_the_ctc_recogniser_reads_digit_strings(shared_data, tmp_path):
    metrics = train(shared_data, tmp_path, "speech_ctc", "--data", "fsdd-strings")
    assert metrics["test_label_error_rate"] <= 0.10


@pytest.mark.slow
def test_the_gru_hears_speakers_it_never_heard(shared_data, tmp_path):
    """Leave one speaker out, for each of the five: the mean accuracy is at least 0.80 (the
    CNN's is reported by `deepnotes run speech --full`)."""
    speakers = ["george", "jackson", "nicolas", "theo", "yweweler"]
    accuracy = [
        train(shared_data, tmp_path / s, "speech_gru", "--data", "fsdd", "--split", f"speaker:{s}")
        for s in speakers
    ]
    assert sum(m["test_acc"] for m in accuracy) / len(speakers) >= 0.80


def test_the_experiment_says_when_the_recordings_are_missing(tmp_path, monkeypatch):
    """No recordings under any data root: the front end runs on a chirp, the report carries a
    note, and nothing fails."""
    monkeypatch.setattr(speech_experiment, "data_roots", lambda data_dir=None: (tmp_path,))
    result = run_experiment("speech", tmp_path / "report", quick=True)
    assert result.error is None, result.error
    assert [(c.id, c.passed) for c in result.claims] == [
        ("frames-equal-stft", True),
        ("dct-loses-nothing", True),
    ]
    # the classifiers could not run: the section says "skipped" with the reason, not "pass"
    assert result.status == "skipped" and result.passed
    assert (
        len(result.skipped) == 1
        and "Free Spoken Digit Dataset was not found" in (result.skipped[0])
    )
    assert (tmp_path / "report" / "speech" / "front-end.png").is_file()


@pytest.mark.parametrize("stack", [1, 4])
def test_the_ctc_model_keeps_one_step_per_stacked_frames(stack: int):
    """Stacking `stack` frames leaves ⌈T/stack⌉ steps per utterance: the log-probabilities
    span the longest, and each utterance's step count is its own frames over `stack`."""
    model = MODELS.create("speech_ctc", stack=stack).eval()
    lengths = torch.tensor([30, 17, 1])
    log_probs, steps = model(torch.randn(3, 30, 40), lengths)
    assert steps.tolist() == [-(-int(n) // stack) for n in lengths]
    assert log_probs.shape == (-(-30 // stack), 3, 11)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]), atol=1e-5)
