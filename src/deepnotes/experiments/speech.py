"""Speech (notes: RNNs in speech analysis): from a recorded waveform to a recognised digit string.

- A recording becomes frames, a power spectrum, 40 mel bands and 13 MFCCs; the
  readable path (cut frames, window, FFT) equals torch's fused STFT, and the
  DCT that turns log-mel bands into MFCCs is orthonormal (it loses nothing,
  it only reorders the information so the first coefficients carry the most).
- A GRU over MFCC frames and a CNN over the log-mel image both learn the
  spoken digits of the Free Spoken Digit Dataset; on speakers they never
  heard (leave one speaker out) both do worse: speakers differ. Standardising
  the frames by speaker (the voice and the microphone removed) rather than
  utterance by utterance (each digit's own spectrum removed too) is what
  brings the unheard speakers closer.
- Joined recordings make connected speech; a bidirectional LSTM trained with
  CTC reads the digit strings without ever being told where a digit starts
  (the same recogniser untrained, the control, cannot), and its per-frame
  outputs show the alignment it found: spikes of one digit among long
  stretches of blank.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from deepnotes import audio
from deepnotes.cards import ExperimentCard
from deepnotes.data.base import DataBundle, DataRequest, load_data
from deepnotes.data.speech import (
    load_recordings,
    speakers_of,
    standardize_by_speaker,
)
from deepnotes.experiments.base import Context, Control
from deepnotes.io import data_roots
from deepnotes.metrics import edit_distance
from deepnotes.nn.ctc import decode, prefix_beam_search
from deepnotes.registry import DATASETS, EXPERIMENTS
from deepnotes.train.fit import build_registered, fit_registered


@EXPERIMENTS.register(
    "speech",
    ExperimentCard(
        title="Speech: spectrograms, MFCCs, recurrent and convolutional digit classifiers, CTC",
        topic="8. Sequence models",
        concepts=["spectrogram", "mel scale", "MFCC", "GRU", "CTC", "beam search"],
        formulas=(
            r"P_t(k) = \left| \sum_{n=0}^{N-1} w(n) \, x(tH + n) \, e^{-2 \pi i k n / N} \right|^2",
            r"D_{kn} = c_k \sqrt{\frac{2}{N}} \cos \frac{\pi k (2n + 1)}{2N}, \quad c_0 = "
            r"\frac{1}{\sqrt{2}}, \ c_{k > 0} = 1, \quad D D^\top = I",
            r"p(y \mid x) = \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_{t=1}^{T} p_t(\pi_t \mid x)",
        ),
        code=(
            "deepnotes.audio.power_spectrum_by_frames",
            "deepnotes.audio.dct_matrix",
            "deepnotes.nn.ctc.ctc_loss",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        224,
        "Applications on RNNs in speech analysis and machine translation",
    )
    roots = data_roots(ctx.data_dir)
    root = DATASETS.card("fsdd").first_root(roots)
    front_end(ctx, root)
    if root is None:
        ctx.skip(
            "The Free Spoken Digit Dataset was not found under the data roots "
            "(ROOT/fsdd/recordings; give --data-dir or DEEPNOTES_DATA): the classifiers and "
            "the recogniser are skipped; the front end ran on a synthetic chirp."
        )
        return
    speaker_and_digit_spectra(ctx, root)
    ctx.stage("the classifiers: MFCC + MLP, the CNN, the GRU")
    classifiers(ctx, root)
    ctx.stage("the CTC recogniser of digit strings")
    recogniser(ctx, root)


def front_end(ctx: Context, root) -> None:
    if root is None:
        t = torch.arange(4000, dtype=torch.float64) / audio.SAMPLE_RATE
        signal, label = torch.sin(2 * torch.pi * (200 + 800 * t) * t), "a chirp"
    else:
        recordings, waveforms, _ = load_recordings(root)
        chosen = next(i for i, r in enumerate(recordings) if r.path.name == "7_jackson_3.wav")
        signal, label = waveforms[chosen].double(), "'seven', spoken by jackson"
    n_fft, hop = 256, 80
    readable = audio.power_spectrum_by_frames(signal, n_fft, hop)
    fused = audio.power_spectrum(signal, n_fft, hop)
    unwindowed = torch.fft.rfft(audio.frames(signal, n_fft, hop, window=False)).abs().pow(2)
    ctx.claim(
        "frames-equal-stft",
        "cutting frames, windowing and taking |FFT|² by hand equals torch.stft (relative error)",
        measured=float((readable - fused).norm() / fused.norm()),
        op="<=",
        target=1e-12,
        control=Control(
            "the same frames without the Hann window",
            float((unwindowed - fused).norm() / fused.norm()),
        ),
    )
    log_mel = audio.log_mel_spectrogram(signal)  # (T, 40)
    all_coefficients = log_mel @ audio.dct_matrix(40, 40).T
    ctx.claim(
        "dct-loses-nothing",
        "the DCT-II is orthonormal: all 40 cepstral coefficients keep the log-mel energy "
        "(relative difference of the norms)",
        measured=float((all_coefficients.norm() - log_mel.norm()).abs() / log_mel.norm()),
        op="<=",
        target=1e-12,
    )
    mfcc = audio.mfcc(signal)
    fig, axes = plt.subplots(4, 1, figsize=(8, 9))
    seconds = np.arange(len(signal)) / audio.SAMPLE_RATE
    axes[0].plot(seconds, signal.numpy(), linewidth=0.6)
    axes[0].set(title=f"Waveform of {label}", xlabel="seconds")
    panels = [
        (audio.power_to_db(fused).T, "Power spectrogram (dB), 32 ms windows every 10 ms", "Hz bin"),
        (log_mel.T, "40 mel bands (dB)", "mel band"),
        (
            audio.normalize_utterance(mfcc).T,
            "13 MFCCs, each standardised over the utterance",
            "coefficient",
        ),
    ]
    for ax, (image, title, ylabel) in zip(axes[1:], panels, strict=True):
        ax.imshow(image.numpy(), origin="lower", aspect="auto", cmap="magma")
        ax.set(title=title, ylabel=ylabel, xlabel="frame")
    fig.tight_layout()
    ctx.figure(fig, "front-end.png", "From waveform to MFCCs")


def speaker_and_digit_spectra(ctx: Context, root) -> None:
    """What standardising by speaker removes (each voice's mean spectrum) and keeps (each
    digit's); standardising each utterance by itself would set the digits' to 0 as well."""
    recordings, _, frames = load_recordings(root)
    standardized = standardize_by_speaker(recordings, frames)
    first = recordings[0].speaker

    def mean_spectrum(chosen: list[torch.Tensor], speaker: str, digit: int | None = None):
        """(40,): the mean over every frame of the speaker's recordings (of one digit)."""
        kept = [
            f
            for f, r in zip(chosen, recordings, strict=True)
            if r.speaker == speaker and digit in (None, r.digit)
        ]
        return torch.cat(kept).mean(0).numpy()

    fig, (voices, digits) = plt.subplots(1, 2, figsize=(10, 3.6))
    for speaker in speakers_of(recordings):
        voices.plot(mean_spectrum(frames, speaker), label=speaker)
    voices.set(
        title="Each speaker's mean log-mel spectrum (dB):\nremoved by standardising by speaker",
        xlabel="mel band",
        ylabel="dB",
    )
    for digit in range(10):
        digits.plot(mean_spectrum(standardized, first, digit), label=str(digit))
    digits.set(
        title=f"Each digit's mean spectrum ({first}, standardised by speaker):\n"
        "kept; standardising each utterance sets it to 0",
        xlabel="mel band",
    )
    voices.legend(fontsize=7)
    digits.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    ctx.figure(fig, "speaker-and-digit-spectra.png", "What standardising by speaker removes, keeps")


# quick mode: smaller models for fewer epochs (the full mode trains the registered ones)
QUICK_SIZES = {
    "speech_gru": {"hidden_size": 64, "num_layers": 1},
    "speech_cnn": {"channels": [16, 32, 64]},
    "speech_ctc": {"hidden_size": 64, "num_layers": 1},
}


# the quick recogniser's digit error rate, at most: 0.05–0.13 on seeds 0–4 (0.26 at worst on
# seeds 5–9); reading nothing scores 1, the untrained recogniser 5–7 (it inserts symbols)
QUICK_CTC_ERRORS = 0.4


def sizes(name: str, ctx: Context) -> dict:
    return QUICK_SIZES[name] if ctx.quick else {}


CLASSIFIERS = {  # row of the table → (registered model, model arguments beyond its size)
    "speech_gru": ("speech_gru", {}),
    "speech_cnn": ("speech_cnn", {}),
    "speech_gru, each utterance standardised": ("speech_gru", {"utterance_norm": True}),
}
# quick mode: two speakers left out (one is too few: how much a speaker loses varies), for
# the two GRU rows only
QUICK_UNHEARD = 2
QUICK_UNHEARD_ROWS = ("speech_gru", "speech_gru, each utterance standardised")
QUICK_HARDER = 0.05  # accuracy lost on unheard speakers, at least (quick mode)
QUICK_BY_SPEAKER = 0.04  # accuracy gained by standardising by speaker, at least (quick mode)


def untrained_metrics(
    name: str, bundle: DataBundle, seed: int, model_args: dict[str, Any]
) -> dict[str, float]:
    """The test metrics of registered model `name` as `fit_registered` would build it with
    `seed`, before any step: the control that a trained model must beat."""
    model, task = build_registered(name, bundle, seed, model_args)
    return task.evaluate(model.eval(), bundle.loader("test", 64))


def classifiers(ctx: Context, root) -> None:
    epochs = 4 if ctx.quick else 15
    own = load_data("fsdd", DataRequest(roots=(root,)))
    speakers = own.info["speakers"][:QUICK_UNHEARD] if ctx.quick else own.info["speakers"]
    splits = {"own split": own} | {
        speaker: load_data("fsdd", DataRequest(roots=(root,), split=f"speaker:{speaker}"))
        for speaker in speakers
    }
    accuracy: dict[tuple[str, str], float] = {}
    untrained: dict[str, float] = {}
    for row, (name, args) in CLASSIFIERS.items():
        for split, bundle in splits.items():
            if split == "own split" and args:
                continue  # the variant is measured on unheard speakers only
            if split != "own split" and ctx.quick and row not in QUICK_UNHEARD_ROWS:
                continue  # quick: the unheard speakers for the GRU rows the claims compare
            model, task, metrics = fit_registered(
                name, bundle, ctx.seed, {**sizes(name, ctx), **args}, epochs=epochs
            )
            accuracy[row, split] = metrics["test_acc"]
            if split == "own split":  # the control: the same model as initialised
                untrained[row] = untrained_metrics(name, bundle, ctx.seed, sizes(name, ctx))["acc"]
            if (row, split) == ("speech_gru", "own split"):
                gru, gru_task = model, task
    unheard = {
        row: float(np.mean([accuracy[row, s] for s in speakers]))
        for row in CLASSIFIERS
        if all((row, s) in accuracy for s in speakers)
    }
    shape = (
        "small models (GRU 64 × 1 layer, CNN 16-32-64 channels; the CNN on the dataset's split "
        "only), "
        if ctx.quick
        else ""
    )
    ctx.table(
        f"Test accuracy, {shape}{epochs} epochs: the dataset's split (indices 0–4 of every "
        "speaker) and speakers left out of training; frames standardised by speaker unless "
        "said",
        ["model", "own split", *(f"without {s}" for s in speakers), "mean, unheard speakers"],
        [
            [row, f"{accuracy[row, 'own split']:.3f}" if (row, "own split") in accuracy else ""]
            + [f"{accuracy[row, s]:.3f}" if (row, s) in accuracy else "" for s in speakers]
            + [f"{unheard[row]:.3f}" if row in unheard else ""]
            for row in CLASSIFIERS
        ],
    )
    ctx.claim(
        "gru-hears-digits",
        "a GRU over MFCC frames recognises the test recordings of the dataset's split "
        "(accuracy; at least 0.97 for the registered model after 15 epochs, 0.85 for the "
        "quick one)",
        measured=accuracy["speech_gru", "own split"],
        op=">=",
        target=0.85 if ctx.quick else 0.97,
        control=Control("the same GRU untrained", untrained["speech_gru"]),
    )
    ctx.claim(
        "cnn-hears-digits",
        "a CNN over the log-mel image does too (accuracy)",
        measured=accuracy["speech_cnn", "own split"],
        op=">=",
        target=0.85 if ctx.quick else 0.95,
        control=Control("the same CNN untrained", untrained["speech_cnn"]),
    )
    ctx.claim(
        "new-speakers-are-harder",
        "a speaker never heard in training is recognised less well than new recordings of "
        "known speakers (GRU: own-split accuracy − mean accuracy on left-out speakers; by "
        f"more than {QUICK_HARDER} in quick mode)",
        measured=accuracy["speech_gru", "own split"] - unheard["speech_gru"],
        op=">",
        target=QUICK_HARDER if ctx.quick else 0.0,
    )
    ctx.claim(
        "standardize-by-speaker",
        "standardising each utterance by itself removes the digit's own spectrum with the "
        "voice: on unheard speakers the GRU does better with frames standardised by speaker "
        f"(mean accuracy, by speaker − by utterance; by more than {QUICK_BY_SPEAKER} in quick "
        "mode)",
        measured=unheard["speech_gru"] - unheard["speech_gru, each utterance standardised"],
        op=">",
        target=QUICK_BY_SPEAKER if ctx.quick else 0.0,
    )
    if not ctx.quick:
        ctx.claim(
            "gru-hears-new-speakers",
            "leaving each of the five speakers out in turn, the GRU recognises the one it "
            "never heard (mean accuracy over the five)",
            measured=unheard["speech_gru"],
            op=">=",
            target=0.80,
        )
    predicted, true = gru_task.predict(gru.eval(), own.loader("test", 256))
    confusion = torch.zeros(10, 10, dtype=torch.long)
    confusion.index_put_((true, predicted), torch.ones_like(true), accumulate=True)
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.imshow(confusion.numpy(), cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion.numpy()):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
    ax.set(xlabel="predicted digit", ylabel="spoken digit", xticks=range(10), yticks=range(10))
    ax.set_title("GRU on the test recordings")
    ctx.figure(fig, "confusion.png", "Confusion matrix of the GRU, dataset split")


def recogniser(ctx: Context, root) -> None:
    epochs = 4 if ctx.quick else 12
    strings = load_data("fsdd-strings", DataRequest(roots=(root,), seed=ctx.seed))
    pushed = {"lr": 1e-2} if ctx.quick else {}  # the small quick model, for its few steps
    model, _, metrics = fit_registered(
        "speech_ctc", strings, ctx.seed, sizes("speech_ctc", ctx), epochs=epochs, **pushed
    )
    model.eval()
    untrained_rate = untrained_metrics("speech_ctc", strings, ctx.seed, sizes("speech_ctc", ctx))[
        "label_error_rate"
    ]
    frames, lengths, targets, target_lengths = next(iter(strings.loader("test", 64)))
    with torch.no_grad():
        log_probs, steps = model(frames, lengths)
    greedy = decode(log_probs, steps)
    beam = [prefix_beam_search(log_probs[: int(n), i], beam=8) for i, n in enumerate(steps)]
    truths = [targets[i, : int(n)].tolist() for i, n in enumerate(target_lengths)]
    beam_errors = sum(edit_distance(b, t) for b, t in zip(beam, truths, strict=True))
    greedy_errors = sum(edit_distance(g, t) for g, t in zip(greedy, truths, strict=True))
    digits = sum(len(t) for t in truths)
    ctx.table(
        f"CTC recogniser (bidirectional LSTM{', 64 × 1 layer' if ctx.quick else ''}, "
        f"{epochs} epochs) on strings of 2–5 test recordings",
        ["decoding", "digit error rate", "strings read exactly"],
        [
            [
                "greedy (whole test set)",
                f"{metrics['test_label_error_rate']:.3f}",
                f"{metrics['test_exact']:.3f}",
            ],
            [f"greedy, first {len(truths)}", f"{greedy_errors / digits:.3f}", ""],
            [f"prefix beam 8, first {len(truths)}", f"{beam_errors / digits:.3f}", ""],
            ["greedy, the same recogniser untrained", f"{untrained_rate:.3f}", ""],
        ],
    )
    ctx.claim(
        "ctc-reads-digit-strings",
        "the CTC recogniser reads unseen digit strings (digit error rate of greedy decoding; "
        "at most 0.10 for the registered model after 12 epochs; the quick one, 4 epochs of a "
        f"small model, at most {QUICK_CTC_ERRORS}, where reading nothing scores 1 and the same "
        "recogniser untrained, inserting symbols, far more)",
        measured=metrics["test_label_error_rate"],
        op="<=",
        target=QUICK_CTC_ERRORS if ctx.quick else 0.10,
        control=Control("the same recogniser untrained", untrained_rate),
    )
    shown = 0
    posteriors = log_probs[: int(steps[shown]), shown].exp().numpy()  # (T', 11)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(posteriors[:, 0], color="0.7", label="blank")
    for digit in range(1, 11):
        if posteriors[:, digit].max() > 0.2:
            ax.plot(posteriors[:, digit], label=str(digit - 1))
    said = "".join(str(d - 1) for d in truths[shown])
    read = "".join(str(d - 1) for d in greedy[shown])
    ax.set(
        xlabel="step (40 ms)",
        ylabel="p(symbol)",
        title=f"CTC alignment: said {said}, read {read}",
    )
    ax.legend(ncol=6, fontsize=8, loc="upper right")
    ctx.figure(
        fig,
        "ctc-alignment.png",
        "Per-step probabilities of one test string: each digit is a spike, blank elsewhere",
    )
