"""Weight sharing (notes, week 2): a convolution is a dense layer with a sparse, shared matrix.

A convolution of an H×W image with a k×k kernel is linear, so it is a matrix
multiply y = T·vec(x) with T of size (H'W') × (HW). T is sparse (each row holds
the k² weights, the rest are zeros: each output sees only its window) and
shared (every row holds the same k² numbers, shifted): a doubly block-Toeplitz
matrix. A dense layer between the same sizes would learn all (H'W')·(HW)
entries.

Deep-learning "convolution" is cross-correlation, y(i, j) = Σ_{a,b} w(a, b)
x(i + a, j + b); the mathematical convolution flips the kernel,
y(i, j) = Σ_{a,b} w(a, b) x(i − a, j − b). Both are measured against SciPy's
`correlate2d` and `convolve2d`, on `deepnotes.nn`'s convolution (the layers' own).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.signal import convolve2d, correlate2d

from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Context, Control
from deepnotes.nn import functional
from deepnotes.registry import EXPERIMENTS


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖ / ‖a‖."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def toeplitz_matrix(kernel: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The (H'W') × (HW) matrix T with T·vec(x) = the valid cross-correlation of x with kernel.

    Row (i, j) — output pixel i·W' + j — holds kernel[a, b] in column
    (i + a)·W + (j + b): the kernel laid over the input window of that output.
    """
    k_h, k_w = kernel.shape
    out_h, out_w = height - k_h + 1, width - k_w + 1
    matrix = kernel.new_zeros(out_h * out_w, height * width)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(k_h):
                for b in range(k_w):
                    matrix[i * out_w + j, (i + a) * width + (j + b)] = kernel[a, b]
    return matrix


@EXPERIMENTS.register(
    "weight-sharing",
    ExperimentCard(
        title="Weight sharing: a convolution is a sparse, shared (Toeplitz) dense layer",
        topic="2. Convolution arithmetic",
        concepts=["weight sharing", "sparse connectivity", "Toeplitz matrix", "cross-correlation"],
        formulas=(
            r"y = T \operatorname{vec}(x), \quad T \in \mathbb{R}^{H'W' \times HW}",
            r"y(i, j) = \sum_{a, b} w(a, b) \, x(i + a, j + b)",
            r"y(i, j) = \sum_{a, b} w(a, b) \, x(i - a, j - b)",
        ),
        code=(
            "deepnotes.experiments.weight_sharing.toeplitz_matrix",
            "deepnotes.nn.functional.conv",
            "deepnotes.nn.functional.im2col",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        37,
        "The weights of this network are sparse and spatially shared.",
    )
    generator = torch.Generator().manual_seed(ctx.seed)
    height, width, k = (6, 6, 3) if ctx.quick else (12, 12, 5)
    kernel = torch.randn(k, k, generator=generator, dtype=torch.float64)
    image = torch.randn(height, width, generator=generator, dtype=torch.float64)
    matrix = toeplitz_matrix(kernel, height, width)
    by_matrix = matrix @ image.flatten()  # (H'W',)
    by_conv = functional.conv(image[None, None], kernel[None, None]).flatten()  # (H'W',)
    ctx.claim(
        "conv-is-matrix-multiply",
        "A convolution equals a multiply by its Toeplitz matrix (‖T·x − conv(x)‖ / ‖conv(x)‖)",
        float((by_matrix - by_conv).norm() / by_conv.norm()),
        "<",
        1e-12,
    )
    nonzero_per_row = (matrix != 0).sum(dim=1)
    ctx.derived(
        "sparse-rows",
        f"Sparse: every row of T has k² = {k * k} nonzero entries of {height * width} "
        "(rows with another count)",
        int((nonzero_per_row != k * k).sum()),
        "each output reads its k × k window only (counted on T)",
    )
    ctx.derived(
        "shared-weights",
        f"Shared: T's {int(nonzero_per_row.sum())} nonzero entries take only k² = {k * k} "
        "distinct values (counted)",
        len(torch.unique(matrix[matrix != 0])),
        "every row holds the same kernel, shifted",
    )
    dense_params = matrix.numel()
    ctx.table(
        f"A {height}×{width} → {height - k + 1}×{width - k + 1} map",
        ["layer", "weights learned"],
        [["convolution (k×k, shared)", k * k], ["dense layer (one per entry of T)", dense_params]],
    )

    # convolution vs cross-correlation, against SciPy
    asymmetric = kernel.numpy()
    x = image.numpy()

    def correlate_and_convolve(w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """deepnotes.nn's conv with the kernel as it is, and rotated by 180°: (H', W') each."""
        as_is = functional.conv(image[None, None], w[None, None])[0, 0].numpy()
        return as_is, functional.conv(image[None, None], w.flip(0, 1)[None, None])[0, 0].numpy()

    conv_output, flipped_output = correlate_and_convolve(kernel)
    ctx.claim(
        "conv-is-correlation",
        "deepnotes.nn's convolution, as torch's conv2d, is cross-correlation "
        "(max |conv − scipy correlate2d|)",
        float(np.abs(conv_output - correlate2d(x, asymmetric, mode="valid")).max()),
        "<",
        1e-12,
    )
    ctx.claim(
        "flipped-kernel-is-convolution",
        "With the kernel flipped (rotated 180°) it is the mathematical convolution "
        "(max |conv(x, flip(w)) − scipy convolve2d(x, w)|)",
        float(np.abs(flipped_output - convolve2d(x, asymmetric, mode="valid")).max()),
        "<",
        1e-12,
    )
    symmetric = (kernel + kernel.flip(0, 1)) / 2  # equal to its own rotation
    ctx.claim(
        "flip-matters",
        "For a kernel that is not symmetric the two differ (relative difference)",
        relative_difference(conv_output, flipped_output),
        ">",
        0.1,
        control=Control(
            "a kernel symmetric under the rotation",
            relative_difference(*correlate_and_convolve(symmetric)),
        ),
    )

    fig, axes = plt.subplots(
        1, 3, figsize=(13, 4), gridspec_kw={"width_ratios": [1, 1, 3.2]}, layout="constrained"
    )
    limit = float(kernel.abs().max())
    for ax, shown, title in (
        (axes[0], kernel, "kernel w"),
        (axes[1], kernel.flip(0, 1), "flipped: convolution's kernel"),
    ):
        ax.imshow(shown.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    image_t = axes[2].imshow(matrix.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axes[2].set(xlabel=f"input pixel (of {height * width})", ylabel="output pixel")
    axes[2].set_title(f"T: the convolution as a {matrix.shape[0]}×{matrix.shape[1]} matrix")
    fig.colorbar(image_t, ax=axes[2], shrink=0.8)
    ctx.figure(
        fig,
        "toeplitz.png",
        "The convolution's matrix: each row is one output pixel and holds the same k² weights "
        "(the colours repeat along the diagonals), shifted one column per output step and one "
        "input row per output row; white is zero. A dense layer would learn every cell.",
    )
