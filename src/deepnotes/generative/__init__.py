"""Latent-variable models and the divergences that score them (the course's topic 7).

gmm.py          a Gaussian mixture by EM, k-means++ initialisation
ppca.py         probabilistic PCA: closed form, EM, the exact posterior
divergences.py  KL (closed form, Monte Carlo), the Fréchet distance (FID)
variational.py  the choice of q: mean-field and full-covariance Gaussians fitted by the ELBO
"""

from deepnotes.generative.divergences import (
    MonteCarloEstimate,
    frechet_distance,
    gaussian_statistics,
    kl_gaussians,
    kl_monte_carlo,
)
from deepnotes.generative.gmm import GaussianMixture
from deepnotes.generative.metrics import ModeCoverage, mode_coverage
from deepnotes.generative.ppca import PPCA

__all__ = [
    "PPCA",
    "GaussianMixture",
    "ModeCoverage",
    "MonteCarloEstimate",
    "frechet_distance",
    "gaussian_statistics",
    "kl_gaussians",
    "kl_monte_carlo",
    "mode_coverage",
]
