"""Exercises on generative models: the reparameterisation trick and a Gaussian's KL to the
prior, the VAE's ELBO, and the GAN's losses with one-sided label smoothing."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepnotes.exercises.base import Case, Exercise, Mistake, gradients, randn, register
from deepnotes.generative import divergences
from deepnotes.models import gan, vae

TOPIC = "7. Generative models"


# ----------------------------------------------------------------------------- KL and z

GAUSSIAN_STARTER = '''\
import torch
from torch import Tensor


def reparameterise_and_kl(mean: Tensor, log_var: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
    """The VAE encoder's two pieces of arithmetic (Kingma & Welling, "Auto-encoding
    variational Bayes", ICLR 2014, §2.4 and Appendix B), for q(z | x) = N(μ, diag σ²):

    - the reparameterisation trick: a sample z ~ q written as a function of μ and σ, so
      that gradients reach them,
          z = μ + σ ⊙ ε,    σ = exp(½ log σ²),    ε ~ N(0, I) given;
    - the KL divergence of q from the prior p(z) = N(0, I), summed over the latent
      dimensions (notes line 193: the KL regulariser of the VAE's loss),
          KL(q ‖ p) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)   (≥ 0, and 0 only at q = p).

    Shapes: mean, log_var, eps (B, D), log_var = log σ² (a log-variance). Return
    (z (B, D), kl (B,)). Gradients must flow to mean and log_var.
    """
    # TODO: σ from the log-variance, then z, then the KL per example
    raise NotImplementedError("reparameterise_and_kl")
'''


def reparameterise_and_kl(mean: Tensor, log_var: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
    """The package's answer: z as `VAE.reparameterize` draws it (with ε given), and the KL
    by `divergences.kl_gaussians`, the closed form between Gaussians, on diagonal covariances."""
    z = mean + (0.5 * log_var).exp() * eps  # (B, D)
    covariance = torch.diag_embed(log_var.exp())  # (B, D, D)
    identity = torch.eye(mean.shape[-1], dtype=mean.dtype).expand_as(covariance)
    kl = divergences.kl_gaussians(mean, covariance, torch.zeros_like(mean), identity)  # (B,)
    return z, kl


def reparameterise_and_kl_negated(
    mean: Tensor, log_var: Tensor, eps: Tensor
) -> tuple[Tensor, Tensor]:
    """−KL: ½ Σ (1 + log σ² − μ² − σ²), the term the ELBO adds, returned as the KL."""
    z = mean + (0.5 * log_var).exp() * eps
    return z, 0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(-1)


def reparameterise_and_kl_log_sigma(
    mean: Tensor, log_var: Tensor, eps: Tensor
) -> tuple[Tensor, Tensor]:
    """log σ² taken as log σ: σ = exp(log_var), z = μ + exp(log_var) ε, σ² = exp(2 log_var)."""
    sigma = log_var.exp()
    kl = 0.5 * (mean.pow(2) + sigma.pow(2) - 1 - 2 * log_var).sum(-1)
    return mean + sigma * eps, kl


def gaussian_cases(rng: random.Random) -> list[Case]:
    """Batches from 1, latent widths from 1, log-variances on both sides of 0."""
    cases = []
    for n in range(16):
        batch, latent = rng.randint(1, 1 + n // 3), rng.randint(1, 2 + n // 3)
        settings = {
            "mean": randn(rng, batch, latent),
            "log_var": randn(rng, batch, latent),
            "eps": randn(rng, batch, latent),
            "dz": randn(rng, batch, latent),  # the cotangents of z and of the KL
            "dkl": randn(rng, batch),
        }
        cases.append(Case(f"B={batch}, D={latent}", settings))
    return cases


def run_gaussian(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    given = case.inputs
    leaves = {k: given[k].clone().requires_grad_(True) for k in ("mean", "log_var")}
    z, kl = implementation(leaves["mean"], leaves["log_var"], given["eps"])
    d_mean, d_log_var = gradients(
        (z, kl), (leaves["mean"], leaves["log_var"]), (given["dz"], given["dkl"])
    )
    return {"z": z.detach(), "kl": kl.detach(), "d_mean": d_mean, "d_log_var": d_log_var}


register(
    "gaussian-kl-and-reparameterisation",
    Exercise(
        title="The reparameterisation trick and a diagonal Gaussian's KL to N(0, I)",
        topic=TOPIC,
        entry="reparameterise_and_kl",
        starter=GAUSSIAN_STARTER,
        reference=reparameterise_and_kl,
        cases=gaussian_cases,
        run=run_gaussian,
        solution=(
            "deepnotes.models.vae.VAE.reparameterize",
            "deepnotes.models.vae.VAE.kl_to_prior",
            "deepnotes.generative.divergences.kl_gaussians",
        ),
        hints=(
            "log_var is log σ², so σ = exp(log_var / 2) and σ² = exp(log_var).",
            "z = mean + σ * eps: the randomness is all in eps, so z is differentiable in mean "
            "and log_var.",
            "The KL of a diagonal Gaussian is a sum of D one-dimensional KLs: "
            "0.5 * (mean² + σ² − 1 − log_var), summed over the last dimension.",
        ),
        mistakes=(
            Mistake(
                "kl-gaussians-wrong",
                "The log-determinant term has the wrong sign: + log σ² where − log σ² belongs, "
                "so the KL is no longer 0 at q = p and no longer rises as σ shrinks to 0.",
                "Kingma & Welling (2014), Appendix B: −KL = ½ Σ (1 + log σ² − μ² − σ²)",
            ),
            Mistake(
                "kl-negated",
                "The KL's sign is flipped: ½ Σ (1 + log σ² − μ² − σ²) is −KL, the term the ELBO "
                "adds, not the KL, which is never negative.",
                "Kingma & Welling (2014), Appendix B: −KL(q ‖ p) = ½ Σ (1 + log σ² − μ² − σ²)",
                wrong=reparameterise_and_kl_negated,
            ),
            Mistake(
                "log-var-taken-as-log-sigma",
                "The log-variance is used as log σ: σ = exp(log σ²) where exp(½ log σ²) "
                "belongs, so both z's spread and the KL's σ² are wrong.",
                "Kingma & Welling (2014), §3: the encoder outputs μ and log σ²",
                wrong=reparameterise_and_kl_log_sigma,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- the ELBO

ELBO_STARTER = '''\
import math

import torch
import torch.nn.functional as F
from torch import Tensor


def elbo(
    x: Tensor,
    decoded: Tensor,
    mean: Tensor,
    log_var: Tensor,
    beta: float = 1.0,
    likelihood: str = "bernoulli",
    log_scale: float = 0.0,
) -> Tensor:
    """A VAE's one-sample evidence lower bound per example (Kingma & Welling, "Auto-encoding
    variational Bayes", ICLR 2014; β-VAE: Higgins et al., ICLR 2017):

        bound = log p(x | z) − β KL(q(z | x) ‖ N(0, I))        (notes line 193: the loss is a
                                                              reconstruction term and a KL)
        KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)                 summed over the latents

    log p(x | z) is summed over every pixel (the bound is in nats per example):
    - likelihood "bernoulli": decoded holds the logits, p(x_k | z) = Bernoulli(σ(decoded_k)),
      log p = x log σ(l) + (1 − x) log(1 − σ(l)) for pixels x in [0, 1];
    - likelihood "gaussian": decoded holds the means, p(x_k | z) = N(decoded_k, s²) with
      log s = log_scale, log p = −½ (log 2π + 2 log s + ((x − decoded)/s)²).

    Shapes: x and decoded (B, C, H, W) (decoded is the decoder's output at the sampled z);
    mean and log_var (B, D), q(z | x) = N(mean, diag exp(log_var)). Return (B,).
    Gradients must flow to decoded, mean and log_var.
    """
    # TODO: the reconstruction term, the KL, then the bound
    raise NotImplementedError("elbo")
'''


def elbo(
    x: Tensor,
    decoded: Tensor,
    mean: Tensor,
    log_var: Tensor,
    beta: float = 1.0,
    likelihood: str = "bernoulli",
    log_scale: float = 0.0,
) -> Tensor:
    """The package's answer: a `VAE`'s log-likelihood and KL, bound by `ELBOTerms.bound`."""
    model = vae.VAE(x.shape[1:], latent_dim=mean.shape[1], hidden=(1,), likelihood=likelihood)
    if model.log_scale is not None:  # the Gaussian's log s, learned in the model, given here
        with torch.no_grad():
            model.log_scale.fill_(log_scale)
    terms = vae.ELBOTerms(model.log_likelihood(x, decoded), vae.VAE.kl_to_prior(mean, log_var))
    return terms.bound(beta)


def elbo_reconstruction_averaged(
    x: Tensor,
    decoded: Tensor,
    mean: Tensor,
    log_var: Tensor,
    beta: float = 1.0,
    likelihood: str = "bernoulli",
    log_scale: float = 0.0,
) -> Tensor:
    """The reconstruction averaged over the pixels, beside a KL summed over the latents."""
    if likelihood == "bernoulli":
        per_pixel = -F.binary_cross_entropy_with_logits(decoded, x, reduction="none")
    else:
        scale = math.exp(log_scale)
        per_pixel = -0.5 * (vae.LOG_2PI + 2 * log_scale + ((x - decoded) / scale).pow(2))
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)
    return per_pixel.flatten(1).mean(1) - beta * kl


def elbo_cases(rng: random.Random) -> list[Case]:
    """Bernoulli and Gaussian decoders, batches from 1, images of one or more channels,
    β of 1 and not, log s on both sides of 0."""
    cases = []
    for n in range(16):
        batch, latent = rng.randint(1, 1 + n // 4), rng.randint(1, 4)
        shape = (rng.randint(1, 2), rng.randint(1, 4), rng.randint(1, 4))
        likelihood = ("bernoulli", "gaussian")[n % 2]
        x = randn(rng, batch, *shape)
        settings = {
            "x": torch.sigmoid(2 * x) if likelihood == "bernoulli" else x,
            "decoded": randn(rng, batch, *shape),
            "mean": randn(rng, batch, latent),
            "log_var": randn(rng, batch, latent),
            "beta": 1.0 if n % 4 < 2 else rng.choice((0.5, 2.0, 4.0)),
            "likelihood": likelihood,
            "log_scale": 0.0 if likelihood == "bernoulli" else rng.uniform(-1.0, 1.0),
            "cotangent": randn(rng, batch),
        }
        text = (
            f"B={batch}, (C, H, W)={shape}, D={latent}, likelihood={likelihood!r}, "
            f"beta={settings['beta']}, log_scale={settings['log_scale']:.3f}"
        )
        cases.append(Case(text, settings))
    return cases


def run_elbo(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    given = dict(case.inputs)
    cotangent = given.pop("cotangent")
    leaves = {k: given.pop(k).clone().requires_grad_(True) for k in ("decoded", "mean", "log_var")}
    bound = implementation(**given, **leaves)
    found = gradients([bound], list(leaves.values()), [cotangent])
    return {"bound": bound.detach()} | {
        f"d_{name}": grad for name, grad in zip(leaves, found, strict=True)
    }


register(
    "elbo",
    Exercise(
        title="A VAE's evidence lower bound per example, with β",
        topic=TOPIC,
        entry="elbo",
        starter=ELBO_STARTER,
        reference=elbo,
        cases=elbo_cases,
        run=run_elbo,
        solution=(
            "deepnotes.models.vae.VAE.log_likelihood",
            "deepnotes.models.vae.VAE.kl_to_prior",
            "deepnotes.models.vae.ELBOTerms.bound",
        ),
        hints=(
            "Both terms are sums: the log-likelihood over every pixel (flatten(1).sum(1)), the "
            "KL over every latent; the bound subtracts β times the KL.",
            "For Bernoulli pixels, log p(x | z) = −F.binary_cross_entropy_with_logits(decoded, "
            "x, reduction='none'), summed per example.",
            "For the Gaussian, s = exp(log_scale): −½ (log 2π + 2 log_scale + ((x − decoded)/s)²) "
            "per pixel, summed.",
        ),
        mistakes=(
            Mistake(
                "vae-kl-wrong-sign",
                "The KL is added to the reconstruction term instead of subtracted, so the "
                "'bound' rewards q for leaving the prior and is no lower bound.",
                "Kingma & Welling (2014), eq. 3: L = −KL(q ‖ p(z)) + E_q[log p(x | z)]",
            ),
            Mistake(
                "elbo-reconstruction-averaged",
                "The reconstruction term is averaged over the pixels instead of summed, so it "
                "is in nats per pixel beside a KL in nats per example, and the KL dominates.",
                "Kingma & Welling (2014), eq. 10: log p(x | z) of the whole x, a sum over its "
                "dimensions",
                wrong=elbo_reconstruction_averaged,
            ),
        ),
    ),
)


# ----------------------------------------------------------------------------- GAN losses

GAN_STARTER = '''\
import torch
import torch.nn.functional as F
from torch import Tensor


def gan_losses(
    real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0
) -> tuple[Tensor, Tensor]:
    """The discriminator's and the generator's losses of a GAN (Goodfellow et al.,
    "Generative adversarial nets", NeurIPS 2014), from D's logits l (D = σ(l)).

    Discriminator: binary cross-entropy, data labelled real_label, samples labelled 0,
        d_loss = mean_x BCE(l_real, real_label) + mean_z BCE(l_fake, 0),
        BCE(l, t) = −[t log σ(l) + (1 − t) log(1 − σ(l))].
    With real_label < 1 this is one-sided label smoothing (Salimans et al., "Improved
    techniques for training GANs", 2016, §3.4): only the data's target is smoothed,
    the samples' target stays 0.
    Generator: the non-saturating loss (Goodfellow et al. §3), whose gradient is strong
    when D rejects the samples (notes line 193: at the beginning the generated images are
    bad and easily recognised),
        g_loss = −mean_z log D(G(z)) = −mean_z log σ(l_fake).

    Shapes: real_logits (B,) for a batch of data, fake_logits (B,) for a batch of
    samples. Return (d_loss, g_loss), two
    scalars (0-dimensional tensors). Gradients must flow to both logits.
    """
    # TODO: d_loss from both batches, g_loss from the fake one
    raise NotImplementedError("gan_losses")
'''


def gan_losses(
    real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0
) -> tuple[Tensor, Tensor]:
    """The package's answer: a `GAN`'s own losses, its discriminator replaced by the
    identity so that it reads the given logits as its outputs."""
    model = gan.GAN(input_size=(1,), hidden=(1,), real_label=real_label)
    model.discriminator = nn.Identity()  # (B, 1) logits in, (B, 1) out
    d_loss, _ = model.discriminator_loss(real_logits[:, None], fake_logits[:, None])
    return d_loss, model.generator_loss(fake_logits[:, None])


def gan_losses_smoothing_both(
    real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Two-sided smoothing: the samples' target moved to 1 − real_label as well."""
    d_loss = F.binary_cross_entropy_with_logits(
        real_logits, torch.full_like(real_logits, real_label)
    ) + F.binary_cross_entropy_with_logits(
        fake_logits, torch.full_like(fake_logits, 1 - real_label)
    )
    return d_loss, F.softplus(-fake_logits).mean()


def gan_cases(rng: random.Random) -> list[Case]:
    """Batches of 1 and more, logits from confident to unsure, no smoothing and smoothing
    from 0.7 to 0.95."""
    cases = []
    for n in range(16):
        batch = rng.randint(1, 1 + n // 2)
        spread = rng.choice((0.5, 1.0, 3.0))
        label = 1.0 if n % 4 == 0 else rng.choice((0.7, 0.8, 0.9, 0.95))
        settings = {
            "real_logits": spread * randn(rng, batch),
            "fake_logits": spread * randn(rng, batch),
            "real_label": label,
            "d_cotangent": randn(rng, 1).reshape(()),
            "g_cotangent": randn(rng, 1).reshape(()),
        }
        text = f"B={batch}, logits' spread {spread}, real_label={label}"
        cases.append(Case(text, settings))
    return cases


def run_gan(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    given = case.inputs
    leaves = {k: given[k].clone().requires_grad_(True) for k in ("real_logits", "fake_logits")}
    d_loss, g_loss = implementation(**leaves, real_label=given["real_label"])
    real, fake = leaves["real_logits"], leaves["fake_logits"]
    d_real, d_fake = gradients([d_loss], [real, fake], [given["d_cotangent"]])
    (g_fake,) = gradients([g_loss], [fake], [given["g_cotangent"]])
    return {
        "d_loss": d_loss.detach(),
        "g_loss": g_loss.detach(),
        "d_loss: d_real_logits": d_real,
        "d_loss: d_fake_logits": d_fake,
        "g_loss: d_fake_logits": g_fake,
    }


register(
    "gan-losses",
    Exercise(
        title="A GAN's discriminator and non-saturating generator losses, with one-sided "
        "label smoothing",
        topic=TOPIC,
        entry="gan_losses",
        starter=GAN_STARTER,
        reference=gan_losses,
        cases=gan_cases,
        run=run_gan,
        solution=(
            "deepnotes.models.gan.GAN.discriminator_loss",
            "deepnotes.models.gan.GAN.targets",
            "deepnotes.models.gan.non_saturating_generator_loss",
        ),
        hints=(
            "F.binary_cross_entropy_with_logits(logits, targets) is BCE on logits, averaged; "
            "build the targets with torch.full_like.",
            "One-sided: the data's targets are real_label, the samples' targets stay 0.",
            "−log σ(l) = softplus(−l): the generator's loss is F.softplus(-fake_logits).mean() "
            "— not log(1 − σ(l)), the minimax game's own loss.",
        ),
        mistakes=(
            Mistake(
                "gan-minimax-generator",
                "The generator minimises the game's own loss, log(1 − D(G(z))), whose gradient "
                "vanishes when D rejects the samples, where −log D(G(z)) is meant.",
                "Goodfellow et al. (2014), §3: train G to maximise log D(G(z)) instead",
            ),
            Mistake(
                "gan-smoothing-on-fake-labels",
                "The samples' target is smoothed too (1 − real_label instead of 0): two-sided "
                "smoothing, which rewards D for calling samples partly real.",
                "Salimans et al. (2016), §3.4: smooth only the positive labels",
                wrong=gan_losses_smoothing_both,
            ),
        ),
    ),
)
