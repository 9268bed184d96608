"""The variational autoencoder (notes, week 7): a latent-variable model trained by its ELBO.

Kingma & Welling, "Auto-encoding variational Bayes", ICLR 2014; Rezende,
Mohamed, Wierstra, "Stochastic backpropagation and approximate inference in
deep generative models", ICML 2014.

    p(z) = N(0, I),   p_θ(x | z) = Bernoulli(σ(decoder(z)))  or  N(decoder(z), s² I),
    q_φ(z | x) = N(μ_φ(x), diag σ²_φ(x))   (the encoder)

    log p(x) ≥ ELBO = E_q[log p_θ(x | z)] − KL(q_φ(z | x) ‖ p(z)),

the gap being KL(q ‖ p(z|x)). Both terms are sums over dimensions: the
reconstruction term over every pixel, the KL over every latent,

    KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²),

so the ELBO is in nats per example (never a pixel mean beside a latent sum).
The expectation is estimated with one sample drawn by the reparameterisation
z = μ + σ ⊙ ε, ε ~ N(0, I), which lets gradients reach μ and σ. β weights
the KL in training (β-VAE, Higgins et al., ICLR 2017); the reported ELBO always
uses β = 1.

For evaluation, the importance-weighted bound (Burda, Grosse, Salakhutdinov,
"Importance weighted autoencoders", ICLR 2016) with k samples,

    log p(x) ≥ IWAE_k = log (1/k) Σ_i p(x, z_i)/q(z_i | x),   z_i ~ q(z | x),

is tighter than the ELBO (IWAE_1 = ELBO in expectation) and approaches log p(x)
as k grows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.errors import UserError
from deepnotes.models.common import layers, register_model
from deepnotes.models.encoders import conv_decoder, conv_encoder, mlp_decoder, mlp_encoder

ARCHITECTURES = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")
LOG_2PI = math.log(2 * math.pi)


class ELBOTerms(NamedTuple):
    """Per-example terms, each (B,), in nats."""

    reconstruction: Tensor  # E_q[log p(x | z)], one sample
    kl: Tensor  # KL(q(z | x) ‖ p(z)), exact

    def bound(self, beta: float = 1.0) -> Tensor:
        """E_q[log p(x | z)] − β KL(q(z | x) ‖ p(z)): the ELBO at β = 1, what a β-VAE
        maximises otherwise. The KL is subtracted: q pays for leaving the prior."""
        return self.reconstruction - beta * self.kl

    @property
    def elbo(self) -> Tensor:
        return self.bound(1.0)


class VAE(nn.Module):
    """A VAE with an MLP or convolutional encoder and decoder.

    Args:
        input_size: (C, H, W) of the images. Default: (1, 28, 28).
        num_classes: unused (a VAE has no classes); accepted so every zoo model
            builds from the same arguments. Default: None.
        latent_dim: dimensions of z. Default: 8.
        hidden: widths of the MLP's hidden layers (the decoder mirrors them), or the
            channels of the two stride-2 convolutions. Default: (512, 256) for "mlp",
            (32, 64) for "conv".
        architecture: "mlp" or "conv" (H and W divisible by 4). Default: "mlp".
        likelihood: "bernoulli" (pixels in [0, 1]; the decoder gives logits) or
            "gaussian" (the decoder gives means; one learned log-scale). Default: "bernoulli".
        beta: weight of the KL in the training loss. Default: 1.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape: forward (B, C, H, W) → (B,) one-sample ELBO per example.
    """

    def __init__(
        self,
        input_size: Sequence[int] = (1, 28, 28),
        num_classes: int | None = None,
        latent_dim: int = 8,
        hidden: Sequence[int] | None = None,
        architecture: str = "mlp",
        likelihood: str = "bernoulli",
        beta: float = 1.0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise UserError(f"architecture must be one of {', '.join(ARCHITECTURES)}")
        if likelihood not in LIKELIHOODS:
            raise UserError(f"likelihood must be one of {', '.join(LIKELIHOODS)}")
        L = layers(impl)
        del num_classes  # see the docstring
        self.input_size, self.latent_dim = tuple(input_size), latent_dim
        self.architecture, self.likelihood, self.beta = architecture, likelihood, beta
        _, height, width = self.input_size
        if architecture == "mlp":
            hidden = tuple(hidden or (512, 256))
            self.encoder = mlp_encoder(self.input_size, hidden, 2 * latent_dim, L, L.ReLU)
            self.decoder = mlp_decoder(latent_dim, hidden[::-1], self.input_size, L)
        else:
            if height % 4 or width % 4:
                raise UserError(f"the conv VAE needs H and W divisible by 4, got {height}×{width}")
            hidden = tuple(hidden or (32, 64))
            self.encoder = conv_encoder(self.input_size, hidden, 2 * latent_dim, L, L.ReLU)
            self.decoder = conv_decoder(latent_dim, hidden, self.input_size, L)
        # the Gaussian likelihood's log s, one for all pixels, learned
        self.log_scale = nn.Parameter(torch.zeros(())) if likelihood == "gaussian" else None

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x): mean and log-variance, each (B, latent_dim)."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    @staticmethod
    def reparameterize(mean: Tensor, log_var: Tensor, samples: int | None = None) -> Tensor:
        """z = μ + σ ⊙ ε, ε ~ N(0, I): (B, latent) or, with `samples`, (samples, B, latent)."""
        shape = mean.shape if samples is None else (samples, *mean.shape)
        return mean + (0.5 * log_var).exp() * torch.randn(shape, device=mean.device)

    def log_likelihood(self, x: Tensor, decoded: Tensor) -> Tensor:
        """log p(x | z) summed over every pixel: (..., B) for decoded (..., B, C, H, W)."""
        if self.likelihood == "bernoulli":
            per_pixel = -F.binary_cross_entropy_with_logits(
                decoded, x.expand_as(decoded), reduction="none"
            )
        else:
            per_pixel = -0.5 * (
                LOG_2PI + 2 * self.log_scale + ((x - decoded) / self.log_scale.exp()).pow(2)
            )
        return per_pixel.flatten(-3).sum(-1)

    @staticmethod
    def kl_to_prior(mean: Tensor, log_var: Tensor) -> Tensor:
        """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²): (B,)."""
        return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)

    def elbo_terms(self, x: Tensor) -> ELBOTerms:
        mean, log_var = self.encode(x)
        z = self.reparameterize(mean, log_var)
        return ELBOTerms(self.log_likelihood(x, self.decoder(z)), self.kl_to_prior(mean, log_var))

    def forward(self, x: Tensor) -> Tensor:
        return self.elbo_terms(x).elbo

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x | z) + log N(z; 0, I) for x (B, C, H, W) and z (S, B, latent):
        (S, B). What an ELBO of any q averages, and what IWAE's weights divide by q."""
        decoded = self.decoder(z.flatten(0, 1)).unflatten(0, z.shape[:2])  # (S, B, C, H, W)
        return self.log_likelihood(x, decoded) - 0.5 * (LOG_2PI + z.pow(2)).sum(-1)

    @torch.no_grad()
    def iwae(self, x: Tensor, samples: int = 100, chunk: int = 25) -> Tensor:
        """The importance-weighted bound on log p(x) with `samples` draws: (B,).

        log w_i = log p(x | z_i) + log p(z_i) − log q(z_i | x); the bound is
        logsumexp_i log w_i − log k. Draws are made here, apart from any ELBO's.
        """
        mean, log_var = self.encode(x)
        log_weights = []
        for start in range(0, samples, chunk):
            z = self.reparameterize(mean, log_var, min(chunk, samples - start))  # (k, B, latent)
            log_q = -0.5 * (LOG_2PI + log_var + (z - mean).pow(2) / log_var.exp()).sum(-1)
            log_weights.append(self.log_joint(x, z) - log_q)
        return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(samples)

    @torch.no_grad()
    def mean_image(self, z: Tensor) -> Tensor:
        """The decoder's mean image for latent codes z: σ(logits), or the Gaussian's mean."""
        decoded = self.decoder(z)
        return decoded.sigmoid() if self.likelihood == "bernoulli" else decoded

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n mean images decoded from z ~ N(0, I): (n, C, H, W)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.mean_image(z)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, latent_dim={self.latent_dim}, "
            f"likelihood={self.likelihood!r}, beta={self.beta}"
        )


def independent_pixel_nll(train: Tensor, test: Tensor) -> float:
    """The baseline a VAE must beat: −log p(x) per test image, in nats, under independent
    Bernoulli pixels whose means are the training set's (clamped away from 0 and 1).

        −log p(x) = −Σ_j [x_j log p̂_j + (1 − x_j) log(1 − p̂_j)],   p̂_j = mean of pixel j
    """
    p = train.mean(0).clamp(1e-6, 1 - 1e-6)  # (C, H, W)
    return float(-(test * p.log() + (1 - test) * (1 - p).log()).flatten(1).sum(1).mean())


PAPER = (
    "Kingma, Welling, Auto-encoding variational Bayes, ICLR 2014; Rezende, Mohamed, Wierstra, "
    "Stochastic backpropagation and approximate inference in deep generative models, ICML 2014"
)


def mlp_vae_params(pixels: int, hidden: Sequence[int], latent: int) -> int:
    """Σ (n_in + 1)·n_out over the encoder's and the decoder's Linear layers."""
    encoder = [pixels, *hidden, 2 * latent]
    decoder = [latent, *reversed(hidden), pixels]
    return sum((a + 1) * b for sizes in (encoder, decoder) for a, b in itertools.pairwise(sizes))


def conv_vae_params(channels: int, side: int, widths: tuple[int, int], latent: int) -> int:
    """c_in·c_out·k² + c_out per (transposed) convolution, (n_in + 1)·n_out per Linear."""
    c1, c2 = widths
    small = c2 * (side // 4) ** 2
    convolutions = (channels * c1 + c1 * c2 + c2 * c1 + c1 * channels) * 16 + 2 * c1 + c2 + channels
    return convolutions + (small + 1) * 2 * latent + (latent + 1) * small


def vae_card(reference: int, source: str, concepts: tuple[str, ...]) -> ModelCard:
    """The card both VAEs share but for their parameter count and concepts: 1×28×28 images,
    no classes, 60 epochs of Adam."""
    return ModelCard(
        task="vae",
        family="vae",
        input_size=(1, 28, 28),
        num_classes=None,
        paper=PAPER,
        reference=ParameterCount(reference, (1, 28, 28), None, source),
        train_defaults={"epochs": 60, "batch_size": 64, "lr": 1e-3},
        concepts=concepts,
    )


@register_model(
    "vae",
    vae_card(
        mlp_vae_params(784, (512, 256), 8),
        "the layer formulas: Linear (n_in + 1)·n_out, encoder 784-512-256-16, decoder "
        "8-256-512-784",
        ("ELBO", "reparameterisation", "KL divergence", "IWAE"),
    ),
)
def vae(**kwargs: Any) -> VAE:
    """The MLP VAE: 784 → 512 → 256 → 2·8, decoder mirrored (at 1×28×28)."""
    return VAE(**kwargs)


@register_model(
    "vae_conv",
    vae_card(
        conv_vae_params(1, 28, (32, 64), 8),
        "the layer formulas: conv 4×4 1→32→64, Linear 64·7·7 → 16, Linear 8 → 64·7·7, "
        "transposed conv 4×4 64→32→1",
        ("ELBO", "reparameterisation", "transposed convolution"),
    ),
)
def vae_conv(**kwargs: Any) -> VAE:
    """The convolutional VAE: two stride-2 convolutions, two transposed ones."""
    return VAE(architecture="conv", **kwargs)
