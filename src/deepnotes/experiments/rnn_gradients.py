"""Gradients through time (notes, week 8): why plain RNNs forget, and what clipping is for.

Backpropagation through time multiplies one Jacobian per step,

    ∂L/∂h_t = ∂L/∂h_T · Π_{s=t+1..T} ∂h_s/∂h_{s−1},   ∂h_s/∂h_{s−1} = diag(tanh′) W_hh,

so the gradient reaching a step k steps back shrinks or grows roughly like the
k-th power of the Jacobians' size (Bengio, Simard, Frasconi 1994; Pascanu,
Mikolov, Bengio 2013). Measured here with the package's own cells, step by step:
- at initialisation, ‖∂L/∂h_t‖ against the number of steps back, for the tanh
  RNN, the LSTM (forget-gate bias 0, and 1 as Jozefowicz et al. 2015 advise) and
  the GRU: the gated cells' additive paths let the gradient travel much further;
- an RNN whose recurrent weights are too large (3 × an orthogonal matrix) at a
  high learning rate: without clipping the loss becomes NaN; with the gradient's
  norm clipped to 1 (`clip_grad_norm_`) the same run trains.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import deepnotes.nn as dn
from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Context, Control
from deepnotes.registry import EXPERIMENTS

FEATURES, HIDDEN = 8, 32
CELLS = {  # the cell, and the bias set on the gate that decides what is carried over
    "RNN (tanh)": (dn.RNNCell, None),
    "LSTM, forget bias 0": (dn.LSTMCell, 0.0),
    "LSTM, forget bias 1": (dn.LSTMCell, 1.0),
    "GRU": (dn.GRUCell, None),
    "GRU, update gate shut": (dn.GRUCell, -20.0),  # z = σ(−20) ≈ 0: h' = n, nothing carried
}
LOOKBACK = 40


@EXPERIMENTS.register(
    "rnn-gradients",
    ExperimentCard(
        title="Gradients through time: vanishing in the RNN, kept by LSTM and GRU; clipping",
        topic="8. Sequence models",
        concepts=["backpropagation through time", "vanishing gradients", "gradient clipping"],
        formulas=(
            r"\frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial h_T} \prod_{s=t+1}^{T} "
            r"\frac{\partial h_s}{\partial h_{s-1}}, \quad \frac{\partial h_s}{\partial h_{s-1}} "
            r"= \operatorname{diag}\left(\tanh'(a_s)\right) W_{hh}",
            r"c_t = f_t \odot c_{t-1} + i_t \odot g_t",
            r"g \leftarrow g \cdot \min\left(1, \frac{\tau}{\|g\|}\right)",
        ),
        code=(
            "deepnotes.nn.rnn.rnn_cell",
            "deepnotes.nn.rnn.lstm_cell",
            "deepnotes.nn.rnn.gru_cell",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        223,
        "Recurrent neural networks (RNN), long-short term memory (LSTM), gated recurrent units "
        "(GRU)",
    )
    steps, trials = (60, 5) if ctx.quick else (100, 20)
    vanishing(ctx, steps, trials)
    clipping(ctx, 150 if ctx.quick else 400)


def gradient_norms(cell: nn.Module, carry_bias: float | None, steps: int, seed: int) -> np.ndarray:
    """‖∂L/∂h_t‖ for t = 1 … steps, with L = Σ h_T, for one random input sequence; with
    `carry_bias`, the bias of the gate that carries the state over (the LSTM's forget gate f
    of i, f, g, o; the GRU's update gate z of r, z, n: the second block both times)."""
    if carry_bias is not None:
        with torch.no_grad():
            cell.bias_ih[HIDDEN : 2 * HIDDEN].fill_(carry_bias)
            cell.bias_hh[HIDDEN : 2 * HIDDEN].zero_()
    x = torch.randn(steps, 1, FEATURES, generator=torch.Generator().manual_seed(seed))
    state, hidden = None, []
    for t in range(steps):
        state = cell(x[t], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()  # keep ∂L/∂h_t of this intermediate tensor
        hidden.append(h)
    hidden[-1].sum().backward()
    return np.array([float(h.grad.norm()) for h in hidden])


def vanishing(ctx: Context, steps: int, trials: int) -> None:
    curves = {}
    for name, (cell_class, carry_bias) in CELLS.items():
        runs = []
        for trial in range(trials):
            torch.manual_seed(ctx.seed + trial)
            runs.append(gradient_norms(cell_class(FEATURES, HIDDEN), carry_bias, steps, trial))
        curves[name] = np.exp(np.mean(np.log(np.array(runs) + 1e-300), axis=0))  # geometric mean
    ratios = {name: curve[-1 - LOOKBACK] / curve[-1] for name, curve in curves.items()}
    fig, ax = plt.subplots(figsize=(7, 4))
    back = np.arange(steps)[::-1]  # steps back from the last
    for name, curve in curves.items():
        ax.semilogy(back, curve, label=name)
    ax.set(xlabel="steps back from the loss", ylabel="‖∂L/∂h_t‖ (geometric mean)")
    ax.set_title(f"Gradient reaching earlier steps at initialisation (hidden {HIDDEN})")
    ax.invert_xaxis()
    ax.legend()
    ctx.figure(fig, "gradient-norms.png", "How much gradient reaches each earlier step")
    ctx.table(
        f"‖∂L/∂h‖ {LOOKBACK} steps back over its value at the last step",
        ["cell", "ratio", "per step (geometric)"],
        [[n, f"{r:.2e}", f"{r ** (1 / LOOKBACK):.3f}"] for n, r in ratios.items()],
    )
    ctx.claim(
        "rnn-gradient-vanishes",
        f"in the tanh RNN, less than a millionth of the gradient reaches {LOOKBACK} steps back",
        measured=float(ratios["RNN (tanh)"]),
        op="<",
        target=1e-6,
        control=Control("the LSTM with forget bias 1", float(ratios["LSTM, forget bias 1"])),
    )
    ctx.claim(
        "lstm-keeps-the-gradient",
        f"the LSTM with forget bias 1 keeps over 1000× more gradient {LOOKBACK} steps back "
        "than the RNN (ratio of ratios)",
        measured=float(ratios["LSTM, forget bias 1"] / ratios["RNN (tanh)"]),
        op=">",
        target=1000,
    )
    ctx.claim(
        "gru-keeps-more-than-rnn",
        f"the GRU keeps more gradient {LOOKBACK} steps back than the RNN (ratio of ratios)",
        measured=float(ratios["GRU"] / ratios["RNN (tanh)"]),
        op=">",
        target=10,
        control=Control(
            "the GRU with its update gate held shut (z ≈ 0, nothing carried over)",
            float(ratios["GRU, update gate shut"] / ratios["RNN (tanh)"]),
        ),
    )


def clipping(ctx: Context, steps: int) -> None:
    runs = {clip: train_exploding(clip, steps, ctx.seed) for clip in (None, 1.0)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for clip, (losses, norms) in runs.items():
        label = "no clipping" if clip is None else f"norm clipped to {clip}"
        left.semilogy(losses, label=label)
        right.semilogy(norms, label=label)
    left.set(xlabel="step", ylabel="loss (NaN not drawn)", title="Training loss")
    right.set(xlabel="step", ylabel="‖g‖ before clipping", title="Gradient norm")
    left.legend()
    fig.tight_layout()
    ctx.figure(fig, "clipping.png", "A tanh RNN with recurrent weights 3 × orthogonal, SGD lr 0.5")
    unclipped, clipped = runs[None][0], runs[1.0][0]
    ctx.claim(
        "unclipped-diverges",
        "without clipping the loss becomes NaN or infinite (1 = it did)",
        measured=diverged(unclipped),
        op="==",
        target=1,
        control=Control("the same run with the norm clipped to 1", diverged(clipped)),
    )
    ctx.claim(
        "clipped-trains",
        "with the norm clipped to 1 the same run learns: the median loss of its second half is "
        "under 3/4 of the median of its first 10 steps (the loss jumps from step to step, so "
        "medians, not the last value)",
        measured=progress(clipped),
        op="<",
        target=0.75,
        control=Control("the same run without clipping", progress(unclipped)),
    )


def diverged(losses: list[float]) -> int:
    """1 if a loss became NaN or infinite, else 0."""
    return int(not all(math.isfinite(v) for v in losses))


def progress(losses: list[float]) -> float:
    """The median loss of the second half over the median of the first 10 steps (∞ once a
    loss was not finite: the run did not learn)."""
    if diverged(losses):
        return math.inf
    return float(np.median(losses[len(losses) // 2 :]) / np.median(losses[:10]))


def train_exploding(clip: float | None, steps: int, seed: int) -> tuple[list[float], list[float]]:
    """Regress the mean of a sequence's first input from the last state; SGD at lr 0.5.

    The loop is written out here, not run by the package's trainer, because it is the
    lesson: it records every step's gradient norm before clipping, and it lets the unclipped
    run's loss overflow to NaN, where the trainer would stop the run."""
    torch.manual_seed(seed)
    rnn, head = dn.RNN(2, HIDDEN), nn.Linear(HIDDEN, 1)
    with torch.no_grad():
        orthogonal, _ = torch.linalg.qr(torch.randn(HIDDEN, HIDDEN))
        rnn.weight_hh_l0.copy_(3.0 * orthogonal)  # spectral radius 3
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.5)
    generator = torch.Generator().manual_seed(seed)
    losses, norms = [], []
    for _ in range(steps):
        x = torch.randn(30, 64, 2, generator=generator)  # (T, B, features)
        target = x[:, :, 0].mean(0).unsqueeze(1)  # (B, 1)
        output, _ = rnn(x)
        loss = ((head(output[-1]) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(params, clip if clip is not None else math.inf)
        optimizer.step()
        losses.append(float(loss.detach()))
        norms.append(float(norm))
    return losses, norms
