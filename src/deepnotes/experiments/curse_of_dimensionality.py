"""The curse of dimensionality (notes, week 2): why images need structure, not just neighbours.

Each of the notes' statements is simulated on uniform or Gaussian points:

- To hold a fraction r of uniform data, a neighbourhood (a sub-cube) needs edge
  e = r^(1/d): 0.2 of the range in 1-D, ≈ 0.45 in 2-D, ≈ 0.85 in 10-D, so a
  "local" neighbourhood spans most of every axis.
- Breiman's example: 100 points cover [0, 1] densely; the same density in 10-D
  takes 100^10 = 10^20 points. With a fixed sample, the share of occupied grid
  cells collapses as d grows.
- Distances concentrate: for random points, (max − min)/min of the distances
  from a query shrinks like 1/√d, so the nearest neighbour is hardly nearer
  than the farthest (Beyer et al., "When is nearest neighbor meaningful?", 1999).
- The ball inscribed in the cube holds a vanishing share of it,
  V_ball/V_cube = π^{d/2} / (2^d Γ(d/2 + 1)) → 0, and the volume of a ball lies
  mostly in a thin shell near its surface, 1 − (1 − ε)^d → 1: the orange is
  mostly skin.
- k-nearest-neighbours on digits loses accuracy as noise dimensions are added,
  though the signal is unchanged: the noise dominates the distances.
"""

from __future__ import annotations

import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Context, Control
from deepnotes.registry import EXPERIMENTS


def edge_for_fraction(points: np.ndarray, fraction: float) -> float:
    """Edge of the smallest cube centred in [0, 1]^d that holds `fraction` of the points.

    A point lies in the centred cube of edge e when its largest |x_i − ½| is at most
    e/2, so the edge is twice the `fraction` quantile of that distance.
    """
    half_widths = np.abs(points - 0.5).max(axis=1)  # (N,)
    return 2 * float(np.quantile(half_widths, fraction))


def occupied_share(points: np.ndarray, bins: int) -> float:
    """Share of the bins^d grid cells of [0, 1]^d holding at least one of the points."""
    d = points.shape[1]
    cells = np.minimum((points * bins).astype(np.int64), bins - 1)  # (N, d) cell indices
    occupied = len(np.unique(cells, axis=0))
    return occupied / float(bins) ** d


def distance_contrast(rng: np.random.Generator, d: int, n: int, queries: int) -> float:
    """Mean over queries of (max − min)/min of the distances to n uniform points in [0, 1]^d."""
    points = rng.random((n, d))
    contrasts = []
    for query in rng.random((queries, d)):
        distances = np.linalg.norm(points - query, axis=1)  # (n,)
        contrasts.append((distances.max() - distances.min()) / distances.min())
    return float(np.mean(contrasts))


def line_contrast(rng: np.random.Generator, d: int, n: int = 500, queries: int = 20) -> float:
    """`distance_contrast` for points on the cube's diagonal, x = t·(1, …, 1), t uniform: data
    of one dimension embedded in d, whose contrasts do not depend on d (the same t each d)."""
    points = np.outer(rng.random(n), np.ones(d))  # (n, d)
    contrasts = []
    for t in rng.random(queries):
        distances = np.linalg.norm(points - t, axis=1)
        contrasts.append((distances.max() - distances.min()) / distances.min())
    return float(np.mean(contrasts))


def ball_volume_share(d: int) -> float:
    """V_ball / V_cube for the ball inscribed in a cube: π^{d/2} / (2^d Γ(d/2 + 1))."""
    return math.pi ** (d / 2) / (2**d * math.gamma(d / 2 + 1))


def sampled_ball_share(rng: np.random.Generator, d: int, n: int) -> tuple[float, np.ndarray]:
    """Share of uniform points of [−1, 1]^d inside the unit ball, and those points' radii."""
    points = rng.uniform(-1, 1, size=(n, d))
    radii = np.linalg.norm(points, axis=1)
    inside = radii <= 1
    return float(inside.mean()), radii[inside]


def knn_accuracy_with_noise(noise_dims: int, seed: int, k: int = 5, scale: float = 1.0) -> float:
    """Test accuracy of k-NN on standardised digits with `noise_dims` Gaussian features of
    standard deviation `scale` added."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    x = StandardScaler().fit_transform(x)  # every informative pixel at unit variance
    x = np.hstack([x, scale * rng.standard_normal((len(x), noise_dims))])  # noise features
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=seed, stratify=y
    )
    return float(KNeighborsClassifier(k).fit(x_train, y_train).score(x_test, y_test))


@EXPERIMENTS.register(
    "curse-of-dimensionality",
    ExperimentCard(
        title="The curse of dimensionality: neighbourhoods, distances and volumes in high d",
        topic="2. Curse of dimensionality",
        concepts=["curse of dimensionality", "nearest neighbours", "distance concentration"],
        formulas=(
            r"e = r^{1/d}",
            r"\frac{\max_i \|x_i - q\| - \min_i \|x_i - q\|}{\min_i \|x_i - q\|} \to 0 \quad (d "
            r"\to \infty)",
            r"\frac{V_{\mathrm{ball}}}{V_{\mathrm{cube}}} = "
            r"\frac{\pi^{d/2}}{2^d \, \Gamma\left(\frac{d}{2} + 1\right)}, \quad 1 - (1 - "
            r"\epsilon)^d \to 1",
        ),
        code=(
            "deepnotes.experiments.curse_of_dimensionality.edge_for_fraction",
            "deepnotes.experiments.curse_of_dimensionality.distance_contrast",
            "deepnotes.experiments.curse_of_dimensionality.ball_volume_share",
        ),
    ),
)
def run(ctx: Context) -> None:
    ctx.quote(
        25,
        "1d的情况只需要0.2个单位, 但是如果是2d就需要0.45^2约等于0.2",
        english="in 1-D it takes only 0.2 of the range, but in 2-D an edge of 0.45: 0.45² ≈ 0.2",
    )
    rng = np.random.default_rng(ctx.seed)
    n = 20_000 if ctx.quick else 200_000
    neighbourhoods(ctx, rng, 5 * n)  # the edges' claims read quantiles: sampling error ∝ 1/√n
    distances(ctx, rng)
    volumes(ctx, rng, n)
    nearest_neighbours(ctx)


def neighbourhoods(ctx: Context, rng: np.random.Generator, n: int) -> None:
    """The edge that holds a fraction of the data, and grid cells a fixed sample can fill."""
    dims = [1, 2, 3, 5, 10, 20, 50]
    fractions = [0.01, 0.1, 0.2]
    measured = {
        r: [edge_for_fraction(rng.random((n, d)), r) for d in dims] for r in fractions
    }  # fraction → edge for each d
    ctx.claim(
        "edge-1d",
        "Holding 20% of uniform 1-D data takes 0.2 of the range (|simulated edge − 0.2|)",
        abs(measured[0.2][0] - 0.2),
        "<",
        0.01,
        control=Control("the 2-D edge", abs(measured[0.2][1] - 0.2)),
    )
    ctx.claim(
        "edge-2d",
        "…and in 2-D an edge of about 0.45 (|simulated edge − 0.45|; notes: √0.2 ≈ 0.45)",
        abs(measured[0.2][1] - 0.45),
        "<",
        0.01,
        control=Control("the 1-D edge", abs(measured[0.2][0] - 0.45)),
    )
    ctx.claim(
        "edge-10d",
        "In 10-D a neighbourhood holding only 1% of the data spans most of every axis "
        "(simulated edge > 0.6)",
        measured[0.01][dims.index(10)],
        ">",
        0.6,
        control=Control("the same 1% in 1-D", measured[0.01][0]),
    )

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for r, edges in measured.items():
        line = left.plot(dims, edges, "o", label=f"simulated, r = {r}")[0]
        left.plot(dims, [r ** (1 / d) for d in dims], "-", color=line.get_color(), alpha=0.5)
    left.set(xscale="log", xlabel="dimension d", ylabel="edge length", ylim=(0, 1.02))
    left.set_title("Edge of a cube holding a fraction r of the data\n(lines: r^(1/d))")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)

    sample = 1000
    grid_dims = list(range(1, 9))
    shares = [occupied_share(rng.random((sample, d)), bins=10) for d in grid_dims]
    ctx.derived(
        "grid-cells-empty",
        f"Breiman: {sample} points fill 10 cells per axis in 1-D, but in 6-D (10^6 cells) "
        "they occupy under 1% of them (simulated share of occupied cells)",
        shares[grid_dims.index(6)],
        f"at most {sample} of 10^6 cells can hold a point: a share of at most {sample / 1e6:g}",
    )
    right.plot(grid_dims, shares, "o-")
    right.set(yscale="log", xlabel="dimension d", ylabel="share of cells occupied")
    right.set_title(f"{sample} uniform points in a grid of 10 cells per axis")
    right.grid(alpha=0.3)
    ctx.figure(
        fig,
        "neighbourhoods.png",
        "Left: to hold a fixed fraction of uniform data a neighbourhood must grow to span "
        "almost the whole range as d grows. Right: a fixed sample leaves almost every cell "
        "of a grid empty in a few dimensions; covering [0, 1]^10 as densely as 100 points "
        "cover [0, 1] takes 100^10 = 10^20 points (Breiman).",
    )
    ctx.table(
        "Edge of a centred cube holding 20% of uniform data",
        ["d", "simulated", "0.2^(1/d)"],
        [
            [d, f"{edge:.3f}", f"{0.2 ** (1 / d):.3f}"]
            for d, edge in zip(dims, measured[0.2], strict=True)
        ],
    )


def steps_not_shrinking(values: list[float]) -> int:
    """How many steps of a sequence do not shrink it by more than round-off (1e-9 relative):
    the contrast on a line is the same in every d, equal up to the last bits."""
    return sum(b >= a * (1 - 1e-9) for a, b in itertools.pairwise(values))


def distances(ctx: Context, rng: np.random.Generator) -> None:
    """Relative contrast (max − min)/min of distances, against d."""
    dims = [2, 5, 10, 50, 100, 500, 1000]
    contrasts = [distance_contrast(rng, d, n=500, queries=20) for d in dims]
    on_a_line = [line_contrast(np.random.default_rng(ctx.seed), d) for d in dims]
    ctx.claim(
        "distances-concentrate",
        "Distances concentrate: (max − min)/min of the distances from a query to 500 uniform "
        "points shrinks at every step from d = 2 to d = 1000 (steps where it does not)",
        steps_not_shrinking(contrasts),
        "==",
        0,
        control=Control(
            "the same points on a line through the cube (one dimension, embedded in d)",
            steps_not_shrinking(on_a_line),
        ),
    )
    ctx.claim(
        "nearest-barely-nearer",
        "In 1000-D the farthest point is less than 25% farther than the nearest "
        "(simulated (max − min)/min)",
        contrasts[-1],
        "<",
        0.25,
        control=Control("the same in 2-D", contrasts[0]),
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(dims, contrasts, "o-", label="simulated")
    scale = contrasts[-1] * math.sqrt(dims[-1])
    ax.plot(dims, [scale / math.sqrt(d) for d in dims], "--", label="∝ 1/√d")
    ax.set(xscale="log", yscale="log", xlabel="dimension d", ylabel="(max − min) / min")
    ax.set_title("Distance concentration (500 uniform points, 20 queries)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    ctx.figure(
        fig,
        "distance-contrast.png",
        "How much farther the farthest point is than the nearest, relative to the nearest: "
        "it falls like 1/√d, so in high dimensions 'nearest' means little.",
    )


def volumes(ctx: Context, rng: np.random.Generator, n: int) -> None:
    """Ball inside cube, and the ball's volume near its surface, by Monte Carlo."""
    dims = list(range(1, 11))
    sampled = [sampled_ball_share(rng, d, n * 20) for d in dims]
    shares = [share for share, _ in sampled]
    ctx.claim(
        "ball-in-cube-2d",
        "In 2-D the inscribed disc holds π/4 of the square (|Monte Carlo − π/4|)",
        abs(shares[1] - math.pi / 4),
        "<",
        0.01,
        control=Control("the 10-D share", abs(shares[-1] - math.pi / 4)),
    )
    ctx.claim(
        "ball-in-cube-vanishes",
        "In 10-D the inscribed ball holds under 1% of the cube (Monte Carlo share)",
        shares[-1],
        "<",
        0.01,
        control=Control("the 2-D share", shares[1]),
    )
    epsilon = 0.1
    shells = [float((radii > 1 - epsilon).mean()) for _, radii in sampled]
    ctx.claim(
        "orange-mostly-skin",
        f"In 10-D most of a ball's volume lies in its outer {epsilon:.0%} of radius "
        "(Monte Carlo share of the ball's points there)",
        shells[-1],
        ">",
        0.5,
        control=Control("the 2-D disc", shells[1]),
    )

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(dims, shares, "o", label="ball / cube, Monte Carlo")
    ball_formula = [ball_volume_share(d) for d in dims]
    ax.plot(dims, ball_formula, "-", alpha=0.6, label="π^{d/2}/(2^d Γ(d/2+1))")
    ax.plot(dims, shells, "s", label=f"outer {epsilon:.0%} shell / ball, Monte Carlo")
    ax.plot(dims, [1 - (1 - epsilon) ** d for d in dims], "-", alpha=0.6, label="1 − (1 − ε)^d")
    ax.set(xlabel="dimension d", ylabel="share of volume", ylim=(0, 1.02))
    ax.set_title("The ball vanishes from the cube; the ball is mostly skin")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "volumes.png",
        "Uniform points in [−1, 1]^d: the share inside the unit ball (the inscribed ball) "
        "goes to 0, and of the points inside, the share in the outer 10% of radius goes to 1.",
    )


def nearest_neighbours(ctx: Context) -> None:
    """k-NN on digits with noise dimensions added."""
    noise_dims = [0, 16, 64, 256, 1024] if ctx.quick else [0, 16, 64, 256, 1024, 4096]
    accuracies = [knn_accuracy_with_noise(m, ctx.seed) for m in noise_dims]
    ctx.claim(
        "knn-drowns-in-noise",
        f"5-NN on digits (64 pixels) loses over 30 points of accuracy when {noise_dims[-1]} "
        "noise dimensions are added (measured accuracy drop)",
        accuracies[0] - accuracies[-1],
        ">",
        0.3,
        control=Control(
            f"{noise_dims[-1]} noise dimensions of standard deviation 0.01",
            accuracies[0] - knn_accuracy_with_noise(noise_dims[-1], ctx.seed, scale=0.01),
        ),
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([m + 1 for m in noise_dims], accuracies, "o-")
    ax.set(xscale="log", xlabel="noise dimensions added + 1", ylabel="test accuracy")
    ax.set(ylim=(0, 1), title="5-NN on digits: the signal drowns in added dimensions")
    ax.axhline(0.1, color="grey", ls=":", label="chance")
    ax.legend()
    ax.grid(alpha=0.3)
    ctx.figure(
        fig,
        "knn-noise.png",
        "The same 64 informative pixels, with Gaussian noise features of the same variance "
        "added: distances are soon dominated by the noise, and neighbours stop sharing labels.",
    )
