"""Faults in generative models: KL, PPCA's N, GMM's E-step, the full-covariance q, the VAE's
ELBO, the GAN's loss."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.generative import divergences, gmm, ppca, variational
from deepnotes.models import gan, vae
from deepnotes.registry import FAULTS


def kl_gaussians_log_det_flipped(
    mean0: Tensor, cov0: Tensor, mean1: Tensor, cov1: Tensor
) -> Tensor:
    """½ [tr(Σ₁⁻¹Σ₀) + (μ₁ − μ₀)ᵀ Σ₁⁻¹ (μ₁ − μ₀) − k + ln(|Σ₀|/|Σ₁|)]: the log term upside down."""
    k = mean0.shape[-1]
    diff = (mean1 - mean0).unsqueeze(-1)
    trace = torch.linalg.solve(cov1, cov0).diagonal(dim1=-2, dim2=-1).sum(-1)
    mahalanobis = (diff * torch.linalg.solve(cov1, diff)).sum((-2, -1))
    log_ratio = torch.linalg.slogdet(cov0).logabsdet - torch.linalg.slogdet(cov1).logabsdet
    return 0.5 * (trace + mahalanobis - k + log_ratio)


@FAULTS.register(
    "kl-gaussians-wrong",
    FaultCard(
        mistake="The closed-form KL between Gaussians takes the log-determinant ratio upside "
        "down, ln(|Σ₀|/|Σ₁|) for ln(|Σ₁|/|Σ₀|)",
        consequence="the formula is off by ln(|Σ₁|/|Σ₀|) whenever the covariances differ in "
        "volume: a Monte-Carlo estimate of E_p[log p − log q] disagrees with it by many "
        "standard errors, and the ELBO's gap is no longer the KL to the posterior",
        replaces="deepnotes.generative.divergences.kl_gaussians",
        targets=(
            "latent-variable-models/kl-monte-carlo-agrees",
            "latent-variable-models/elbo-gap-is-kl",
        ),
    ),
)
def kl_gaussians_wrong() -> AbstractContextManager[None]:
    return replaced(divergences, "kl_gaussians", kl_gaussians_log_det_flipped)


PPCA_CLAIMS = (
    "latent-variable-models/ppca-equals-sklearn-pca",
    "latent-variable-models/ppca-noise-variance",
)


def sample_covariance_unbiased(centred: Tensor) -> Tensor:
    """(1/(N − 1)) Σ (x − x̄)(x − x̄)ᵀ: the unbiased covariance (torch.cov's, np.cov's)."""
    return centred.T @ centred / (len(centred) - 1)


@FAULTS.register(
    "ppca-n-minus-1-where-n-belongs",
    FaultCard(
        mistake="PPCA's maximum-likelihood fit starts from the unbiased sample covariance, "
        "divided by N − 1 (torch.cov's default) where maximum likelihood divides by N",
        consequence="every variance comes out N/(N − 1) too large: the fit is no longer the "
        "maximum of the likelihood, and scikit-learn's PCA (which divides by N − 1) is met "
        "without the conversion, so converting overshoots",
        replaces="deepnotes.generative.ppca.sample_covariance",
        targets=PPCA_CLAIMS,
    ),
)
def ppca_n_minus_1_where_n_belongs() -> AbstractContextManager[None]:
    return replaced(ppca, "sample_covariance", sample_covariance_unbiased)


def no_conversion(n: int) -> float:
    """N/N: a variance divided by N left as it is where N − 1 belongs."""
    return 1.0


@FAULTS.register(
    "ppca-n-where-n-minus-1-belongs",
    FaultCard(
        mistake="PPCA's variances, divided by N, are compared with scikit-learn's PCA without "
        "the factor N/(N − 1): N where N − 1 belongs",
        consequence="scikit-learn's PCA divides by N − 1, so its covariance and noise variance "
        "are N/(N − 1) times PPCA's; without the conversion the two models differ by 1/(N − 1) "
        "— invisible in the average log-likelihood, which is flat in the scale at its maximum, "
        "but not in the covariances",
        replaces="deepnotes.generative.ppca.unbiased_factor",
        targets=PPCA_CLAIMS,
    ),
)
def ppca_n_where_n_minus_1_belongs() -> AbstractContextManager[None]:
    return replaced(ppca, "unbiased_factor", no_conversion)


def squared_error_at_the_mean(residual: Tensor, W: Tensor, q_covariance: Tensor) -> Tensor:
    """‖x − μ − Wm‖²: E_q‖x − μ − Wz‖² taken at z's mean, q's spread forgotten."""
    return residual @ residual


@FAULTS.register(
    "elbo-expectation-at-the-mean",
    FaultCard(
        mistake="PPCA's ELBO takes E_q‖x − μ − Wz‖² at z = m, the term tr(W V Wᵀ) from q's "
        "spread forgotten",
        consequence="the expected reconstruction error is too small by tr(W V Wᵀ), so a wide "
        "q is not charged for its uncertainty: the 'bound' rises above log p(x), and the gap "
        "log p(x) − ELBO is no longer KL(q ‖ p(z|x))",
        replaces="deepnotes.generative.ppca.expected_squared_error",
        targets=(
            "latent-variable-models/elbo-gap-is-kl",
            "latent-variable-models/elbo-below-log-likelihood",
        ),
    ),
)
def elbo_expectation_at_the_mean() -> AbstractContextManager[None]:
    return replaced(ppca, "expected_squared_error", squared_error_at_the_mean)


@FAULTS.register(
    "full-covariance-q-diagonal",
    FaultCard(
        mistake="The full-covariance Gaussian q builds its Cholesky factor L from the diagonal "
        "only (raw.diagonal().exp() on the diagonal, the strict lower triangle dropped)",
        consequence="q = N(m, L Lᵀ) can no longer tilt: the 'full-covariance' q is a mean-field "
        "q, and on a posterior whose latents are correlated it leaves mean field's gap "
        "½ (Σ log Λ_ii − log det Λ) instead of closing it",
        replaces="deepnotes.generative.variational.full_covariance_scale",
        targets=("latent-variable-models/full-covariance-q-closes-elbo-gap",),
    ),
)
def full_covariance_q_diagonal() -> AbstractContextManager[None]:
    return replaced(variational, "full_covariance_scale", variational.mean_field_scale)


def log_joint_as_responsibilities(log_joint: Tensor) -> Tensor:
    """log π_k N(x_n; μ_k, Σ_k): the joint taken for the posterior, never divided by its sum."""
    return log_joint


@FAULTS.register(
    "gmm-responsibilities-unnormalised",
    FaultCard(
        mistake="The E-step takes π_k N(x_n; μ_k, Σ_k) as the responsibility, without dividing "
        "by Σ_j π_j N(x_n; μ_j, Σ_j)",
        consequence="a point's responsibilities no longer sum to 1 (they are densities, tiny "
        "or huge), so the M-step weighs the points in dense regions above the rest and its "
        "weights π_k = N_k / N no longer sum to 1: EM stops maximising the likelihood, the "
        "covariances shrink round the densest points until one is no longer positive "
        "definite, and EM breaks down",
        replaces="deepnotes.generative.gmm.log_responsibilities",
        targets=(
            "latent-variable-models/gmm-equals-scikit-learn",
            "latent-variable-models/em-never-decreases",
        ),
    ),
)
def gmm_responsibilities_unnormalised() -> AbstractContextManager[None]:
    return replaced(gmm, "log_responsibilities", log_joint_as_responsibilities)


def bound_adding_the_kl(self: vae.ELBOTerms, beta: float = 1.0) -> Tensor:
    """E_q[log p(x | z)] + β KL(q ‖ p(z)): the KL added instead of subtracted."""
    return self.reconstruction + beta * self.kl


@FAULTS.register(
    "vae-kl-wrong-sign",
    FaultCard(
        mistake="The VAE's ELBO adds the KL term instead of subtracting it: "
        "E_q log p(x|z) + KL(q ‖ p(z))",
        consequence="the objective is no longer a lower bound on log p(x): training rewards "
        "the encoder for moving q away from the prior, so the posterior means drift off to "
        "huge values where the digits no longer sort and samples drawn from N(0, I) decode "
        "to nothing; the reported 'ELBO' is not the one torch.distributions computes and "
        "lies far above the IWAE bound",
        replaces="deepnotes.models.vae.ELBOTerms.bound",
        targets=(
            "vae/vae-elbo-equals-torch-distributions",
            "vae/elbo-above-entropy-floor",
            "vae/iwae-tighter-than-elbo",
            "vae/latent-sorts-digits",
        ),
    ),
)
def vae_kl_wrong_sign() -> AbstractContextManager[None]:
    return replaced(vae.ELBOTerms, "bound", bound_adding_the_kl)


def minimax_as_non_saturating(l_fake: Tensor) -> Tensor:
    """E log(1 − D(G(z))): the minimax loss where the non-saturating −E log D(G(z)) is meant."""
    return gan.minimax_generator_loss(l_fake)


@FAULTS.register(
    "gan-minimax-generator",
    FaultCard(
        mistake="The generator is trained on the game's own loss, log(1 − D(G(z))), where the "
        "non-saturating −log D(G(z)) is meant",
        consequence="its slope in D's logit is −D(G(z)), which vanishes when D rejects the "
        "samples confidently — at the start of training: G gets almost no gradient and "
        "stalls, as the notes warn; the 'non-saturating' gradient then vanishes as D grows "
        "confident like the minimax one",
        replaces="deepnotes.models.gan.non_saturating_generator_loss",
        targets=("gan-tricks/non-saturating-gradient", "gan-tricks/minimax-gradient-vanishes"),
        slow=True,
    ),
)
def gan_minimax_generator() -> AbstractContextManager[None]:
    return replaced(gan, "non_saturating_generator_loss", minimax_as_non_saturating)


def realness_unswapped(self: gan.GAN, logit: Tensor) -> Tensor:
    """D's logit taken as realness even when the labels are swapped: only D's targets swap."""
    return logit


@FAULTS.register(
    "gan-labels-swapped-for-d-only",
    FaultCard(
        mistake="The notes' \"Real=False, fake=True\" applied to the discriminator's targets "
        "only: the generator is still trained to be called 1",
        consequence="1 now means fake, so the generator is trained to look fake: it runs from "
        "the data instead of towards it, and the swapped game is no longer the usual one on "
        "D's negated logit",
        replaces="deepnotes.models.gan.GAN.realness",
        targets=("gan-coursework/swapped-labels-are-the-same-game",),
    ),
)
def gan_labels_swapped_for_d_only() -> AbstractContextManager[None]:
    return replaced(gan.GAN, "realness", realness_unswapped)
