"""How well a generator covers a known target: modes covered and high-quality samples.

On the ring of 8 Gaussians (Metz et al., "Unrolled generative adversarial
networks", ICLR 2017; Srivastava et al., "VEEGAN", NeurIPS 2017) a sample is
*high quality* when it lies within 3σ of a mode's centre, and a mode is
*covered* when at least 1% of the samples are high-quality samples of it. A
generator that collapses onto a few modes scores few modes however good its
samples look; one that spreads between them scores a low high-quality share.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class ModeCoverage(NamedTuple):
    modes_covered: int  # modes holding at least `min_share` of the samples, near their centre
    high_quality: float  # share of samples within `radius` σ of their nearest centre
    shares: list[float]  # per mode: the share of all samples that are high quality there


def mode_coverage(
    samples: Tensor, centres: Tensor, std: float, radius: float = 3.0, min_share: float = 0.01
) -> ModeCoverage:
    """Score (n, d) samples against (k, d) mode centres of a mixture with component std `std`."""
    samples = torch.as_tensor(samples, dtype=torch.float64)
    centres = torch.as_tensor(centres, dtype=torch.float64)
    distances = torch.cdist(samples, centres)  # (n, k)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= radius * std
    shares = torch.bincount(nearest[good], minlength=len(centres)).double() / len(samples)
    return ModeCoverage(
        modes_covered=int((shares >= min_share).sum()),
        high_quality=float(good.double().mean()),
        shares=shares.tolist(),
    )
