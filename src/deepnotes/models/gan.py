"""Generative adversarial networks (notes, week 7), with every training trick as a switch.

Goodfellow et al., "Generative adversarial nets", NeurIPS 2014: a generator G
maps noise z ~ N(0, I) to samples, a discriminator D tells them from data, and
the two play

    min_G max_D  E_x[log D(x)] + E_z[log(1 − D(G(z)))].

D outputs a logit l (D = σ(l)), so every loss below is written on logits:

    loss             discriminator (critic) loss                  generator loss
    minimax          softplus(−l_real) + softplus(l_fake)         −softplus(l_fake) = log(1 − D)
    non-saturating   the same                                     softplus(−l_fake) = −log D
    wgan             f_fake − f_real, weights clipped to ±c       −f_fake
    wgan-gp          f_fake − f_real + λ(‖∇f(x̂)‖ − 1)²            −f_fake
    hinge            relu(1 − f_real) + relu(1 + f_fake)          −f_fake

(means over the batch). The minimax generator's gradient vanishes exactly when
D confidently rejects its samples, early in training; the non-saturating loss
has the same fixed point and a strong gradient there (Goodfellow et al. §3).
WGAN (Arjovsky, Chintala, Bottou, ICML 2017) trains a critic f towards the
Wasserstein-1 distance, keeping f 1-Lipschitz by clipping its weights; WGAN-GP
(Gulrajani et al., NeurIPS 2017) penalises the gradient norm instead, at
x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]. The hinge loss is that of SAGAN / BigGAN.

The tricks (the notes; Salimans et al., "Improved techniques for training
GANs", 2016; Chintala et al., "How to train a GAN", 2016; Sønderby et al.,
"Amortised MAP inference", 2017; Heusel et al., "GANs trained by a two
time-scale update rule", 2017), each an argument of `GAN`:

    real_label=0.9              one-sided label smoothing (D's target for data)
    fake_label=0.1              two-sided smoothing (D's target for samples)
    label_flip=0.05             noisy labels: each of D's targets swapped with this probability
    swap_labels=True            the notes' "Real=False, fake=True": D's logit l scores fakeness,
                                so every labelled loss reads −l where it read l (both players)
    instance_noise=0.1          N(0, σ²) added to everything D sees, σ decaying
                                linearly to 0 over `instance_noise_steps` D steps
    d_lr, g_lr                  TTUR: separate learning rates (None: the run's --lr)
    n_critic=5                  D steps per G step
    d_activation="leaky_relu"   LeakyReLU(0.2) in D, or "relu"
    g_activation="leaky_relu"   LeakyReLU(0.2) in G (default "relu", as DCGAN's generator)
    first_kernel=6              the first convolutions' kernel (D's on the image, G's nearest z),
                                4 by default; with more channels in `hidden` the notes' "more and
                                larger kernels in the first convolutions"
    d_dropout=0.3               dropout after D's hidden layers
    betas=(0.5, 0.999)          Adam's betas for both players (DCGAN's β₁ = 0.5)
    generator_init=RUN_DIR      start G from a trained VAE's decoder (same widths and latent)

The learning-rate schedule is the run's `--scheduler`, applied to both players.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.errors import UserError
from deepnotes.models.common import layers, register_model
from deepnotes.models.encoders import conv_decoder, conv_encoder, mlp_decoder, mlp_encoder

LOSSES = ("minimax", "non-saturating", "wgan", "wgan-gp", "hinge")
LABELLED_LOSSES = ("minimax", "non-saturating")  # the losses with targets to smooth or flip
ARCHITECTURES = ("mlp", "dcgan")
LEAKY_SLOPE = 0.2  # DCGAN's
ACTIVATIONS = ("leaky_relu", "relu")


def minimax_generator_loss(l_fake: Tensor) -> Tensor:
    """E log(1 − D(G(z))) = −E softplus(l) on D's logits l: G's side of the game itself.

    Its slope in l is −σ(l) = −D: when D confidently rejects the samples (D ≈ 0, early in
    training) G's gradient vanishes — the loss saturates.
    """
    return -nn.functional.softplus(l_fake).mean()


def non_saturating_generator_loss(l_fake: Tensor) -> Tensor:
    """−E log D(G(z)) = E softplus(−l): the same fixed point, and a slope −(1 − D) that is
    largest exactly where the minimax loss's vanishes (Goodfellow et al. §3)."""
    return nn.functional.softplus(-l_fake).mean()


def generator_loss_slope(loss: str, l_fake: Tensor) -> Tensor:
    """|∂ℓ/∂l| for each sample of G's loss ℓ on D's logit l: σ(l) = D(G(z)) for the minimax
    loss, 1 − σ(l) for the non-saturating one. G's gradient is the mean over its samples of
    this slope times ∂l/∂θ_G, so a mean slope near 0 means G's loss has saturated and G
    learns almost nothing from D (Goodfellow et al. §3): (B,) → (B,)."""
    d = torch.sigmoid(l_fake)
    return d if loss == "minimax" else 1 - d


class GAN(nn.Module):
    """A generator and a discriminator, with the settings of their game.

    Args:
        input_size: shape of one sample: (F,) vectors, or (C, H, W) images with pixels
            in [0, 1] (the generator ends in a sigmoid). Default: (2,).
        num_classes: unused (a GAN has no classes); accepted so every zoo model builds
            from the same arguments. Default: None.
        latent_dim: dimensions of z. Default: as many as a vector's features (2 on the
            ring, where a wider z only slows the fit), 8 for images.
        hidden: the generator's widths from z outwards (D mirrors them): MLP widths, or
            the channels (c1, c2) of DCGAN's two transposed convolutions, c2 nearest z.
            Default: (128, 128) for vectors, (256, 512) for images (the MLP VAE's decoder,
            so a VAE can initialise G), (64, 128) for "dcgan".
        architecture: "mlp" or "dcgan" (H and W divisible by 4). Default: "mlp".
        loss: one of `LOSSES`. Default: "non-saturating".
        g_batchnorm, d_batchnorm: BatchNorm in G's and D's hidden layers. Default: False.
        gp_weight: λ of WGAN-GP. Default: 10 (Gulrajani et al.).
        clip_value: c of WGAN's weight clipping. Default: 0.01 (Arjovsky et al.).
        The tricks: see the module's docstring.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape: `generator` (B, latent_dim) → (B, *input_size); `discriminator`
    (B, *input_size) → (B, 1); forward (B, *input_size) → (B,), the value of the game.
    """

    def __init__(
        self,
        input_size: Sequence[int] = (2,),
        num_classes: int | None = None,
        latent_dim: int | None = None,
        hidden: Sequence[int] | None = None,
        architecture: str = "mlp",
        loss: str = "non-saturating",
        g_batchnorm: bool = False,
        d_batchnorm: bool = False,
        gp_weight: float = 10.0,
        clip_value: float = 0.01,
        real_label: float = 1.0,
        fake_label: float = 0.0,
        label_flip: float = 0.0,
        instance_noise: float = 0.0,
        instance_noise_steps: int = 2000,
        d_lr: float | None = None,
        g_lr: float | None = None,
        n_critic: int = 1,
        d_activation: str = "leaky_relu",
        d_dropout: float = 0.0,
        betas: Sequence[float] = (0.5, 0.999),
        generator_init: str | None = None,
        swap_labels: bool = False,
        g_activation: str = "relu",
        first_kernel: int = 4,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        del num_classes  # see the docstring
        check_settings(
            architecture, loss, real_label, fake_label, label_flip, n_critic, d_activation
        )
        if g_activation not in ACTIVATIONS:
            raise UserError(f"g_activation must be leaky_relu or relu, got {g_activation!r}")
        if swap_labels and loss not in LABELLED_LOSSES:
            raise UserError(f"swap_labels needs a loss with labels; {loss} has none")
        if d_batchnorm and architecture == "mlp":
            raise UserError("d_batchnorm is for the dcgan architecture")
        if first_kernel != 4 and architecture == "mlp":
            raise UserError("first_kernel is for the dcgan architecture (an MLP has no kernels)")
        if first_kernel < 2 or first_kernel % 2:
            raise UserError(f"first_kernel must be even and at least 2, got {first_kernel!r}")
        L = layers(impl)
        images = len(input_size) == 3
        if latent_dim is None:
            latent_dim = 8 if images else input_size[0]
        self.input_size, self.latent_dim = tuple(input_size), latent_dim
        self.architecture, self.loss = architecture, loss
        self.gp_weight, self.clip_value = gp_weight, clip_value
        self.real_label, self.fake_label, self.label_flip = real_label, fake_label, label_flip
        self.instance_noise, self.instance_noise_steps = instance_noise, instance_noise_steps
        self.d_lr, self.g_lr, self.n_critic, self.betas = d_lr, g_lr, n_critic, tuple(betas)
        self.generator_init, self.swap_labels = generator_init, swap_labels

        def activation(name: str) -> Callable[[], nn.Module]:
            return (lambda: L.LeakyReLU(LEAKY_SLOPE)) if name == "leaky_relu" else L.ReLU

        d_act, g_act = activation(d_activation), activation(g_activation)
        if architecture == "mlp":
            hidden = (
                tuple((256, 512) if images else (128, 128)) if hidden is None else tuple(hidden)
            )
            body = mlp_decoder(latent_dim, hidden, self.input_size, L, g_batchnorm, g_act)
            self.discriminator = mlp_encoder(self.input_size, hidden[::-1], 1, L, d_act, d_dropout)
        else:
            if not images or self.input_size[1] % 4 or self.input_size[2] % 4:
                raise UserError(f"DCGAN needs images with H and W divisible by 4, got {input_size}")
            hidden = (64, 128) if hidden is None else tuple(hidden)
            body = conv_decoder(
                latent_dim, hidden, self.input_size, L, g_batchnorm, g_act, first_kernel
            )
            self.discriminator = conv_encoder(
                self.input_size, hidden, 1, L, d_act, d_batchnorm, d_dropout, first_kernel
            )
        self.hidden = hidden
        # images: pixels in [0, 1], the mean of a Bernoulli VAE's decoder (σ of its logits)
        self.generator = nn.Sequential(body, L.Sigmoid()) if images else body
        # discriminator steps taken, for n_critic and the noise schedule (saved in checkpoints)
        self.register_buffer("d_steps", torch.zeros((), dtype=torch.long))
        # the generator's last loss, logged on the batches where only D steps (kept on resume)
        self.register_buffer("last_g_loss", torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        """The value of the game on a batch of data, per example, with fresh z:
        V = log D(x) + log(1 − D(G(z))) for the losses with labels, f(x) − f(G(z)) for a critic.

        D maximises V and G minimises it (Goodfellow et al., eq. 1). Training uses the
        losses below, which add each loss's own terms (labels, penalty, hinge).
        """
        l_real = self.discriminate(x)
        l_fake = self.discriminate(self.generator(self.noise(len(x))))
        if self.loss in LABELLED_LOSSES:  # log σ(l) = −softplus(−l), log(1 − σ(l)) = −softplus(l)
            l_real, l_fake = self.realness(l_real), self.realness(l_fake)
            return -nn.functional.softplus(-l_real) - nn.functional.softplus(l_fake)
        return l_real - l_fake

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I): (n, latent_dim), on the model's device."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        return z.to(self.d_steps.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples G(z): (n, *input_size)."""
        return self.generator(self.noise(n, generator))

    def instance_noise_std(self) -> float:
        """σ_t = σ₀ · max(0, 1 − t / T) after t discriminator steps (Sønderby et al.)."""
        if self.instance_noise == 0:
            return 0.0
        progress = int(self.d_steps) / max(1, self.instance_noise_steps)
        return self.instance_noise * max(0.0, 1.0 - progress)

    def discriminate(self, x: Tensor) -> Tensor:
        """D's logit (or critic value) for each sample, with instance noise: (B,)."""
        std = self.instance_noise_std() if self.training else 0.0
        if std > 0:
            x = x + std * torch.randn_like(x)
        return self.discriminator(x).squeeze(1)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss D minimises on a batch of data and a batch of (detached) samples."""
        l_real, l_fake = self.discriminate(real), self.discriminate(fake)
        # D's mean logit of "real" on each batch, the same in the swapped game
        logs = {
            "d_real": self.realness(l_real).detach().mean(),
            "d_fake": self.realness(l_fake).detach().mean(),
        }
        if self.loss in LABELLED_LOSSES:  # binary cross-entropy with (smoothed, noisy) targets
            # how much G's loss still responds to D on these samples (G's own batch is fresh)
            slope = generator_loss_slope(self.loss, self.realness(l_fake))
            logs["g_loss_slope"] = slope.detach().mean()
            real_target, fake_target = self.targets(l_real)
            loss = nn.functional.binary_cross_entropy_with_logits(
                l_real, real_target
            ) + nn.functional.binary_cross_entropy_with_logits(l_fake, fake_target)
        elif self.loss == "hinge":
            loss = torch.relu(1 - l_real).mean() + torch.relu(1 + l_fake).mean()
        else:  # the critic's estimate of −W₁(data, model)
            loss = l_fake.mean() - l_real.mean()
            logs["wasserstein"] = -loss.detach()
            if self.loss == "wgan-gp":
                penalty = self.gradient_penalty(real, fake)
                logs["gradient_penalty"] = penalty.detach()
                loss = loss + self.gp_weight * penalty
        return loss, logs

    def realness(self, logit: Tensor) -> Tensor:
        """The logit of "real" that D's output l stands for: l, or −l when the labels are
        swapped ("Real=False, fake=True": σ(l) is then D's probability of fake)."""
        return -logit if self.swap_labels else logit

    def targets(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """D's targets for data and samples: smoothed, mirrored (t → 1 − t) when the labels are
        swapped, then each exchanged with probability `label_flip`."""
        real = torch.full_like(like, self.real_label)
        fake = torch.full_like(like, self.fake_label)
        if self.swap_labels:  # BCE(l, 1 − t) = BCE(−l, t): the same game on D's fakeness
            real, fake = 1 - real, 1 - fake
        if self.label_flip > 0:
            flip = torch.rand_like(like) < self.label_flip
            real, fake = torch.where(flip, fake, real), torch.where(flip, real, fake)
        return real, fake

    def gradient_penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        """E[(‖∇_x̂ f(x̂)‖₂ − 1)²] at x̂ = εx + (1 − ε)x̃, one ε ~ U[0, 1] per sample."""
        shape = (len(real),) + (1,) * (real.dim() - 1)  # (B, 1, …): one ε per sample
        epsilon = torch.rand(shape, device=real.device)
        between = (epsilon * real + (1 - epsilon) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.discriminate(between).sum(), between, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def generator_loss(self, fake: Tensor) -> Tensor:
        """The loss G minimises on a batch of its samples (gradients flow through D)."""
        l_fake = self.discriminate(fake)
        if self.loss == "minimax":
            return minimax_generator_loss(self.realness(l_fake))
        if self.loss == "non-saturating":
            return non_saturating_generator_loss(self.realness(l_fake))
        return -l_fake.mean()

    def initialize_from(self, vae: nn.Module) -> None:
        """Copy a trained VAE's decoder into G: both map z to the same image (σ of the logits)."""
        body = self.generator[0] if len(self.input_size) == 3 else self.generator  # images: σ last
        theirs, ours = vae.decoder.state_dict(), body.state_dict()
        if vae.latent_dim != self.latent_dim or {k: v.shape for k, v in theirs.items()} != {
            k: v.shape for k, v in ours.items()
        }:
            raise UserError(
                "the VAE's decoder does not fit this generator: build the GAN with the VAE's "
                f"latent_dim ({vae.latent_dim}) and mirrored widths, without g_batchnorm"
            )
        body.load_state_dict(theirs)

    @torch.no_grad()
    def clip_discriminator(self) -> None:
        """WGAN: keep every critic weight in [−c, c], a crude Lipschitz constraint."""
        for p in self.discriminator.parameters():
            p.clamp_(-self.clip_value, self.clip_value)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, latent_dim={self.latent_dim}, "
            f"architecture={self.architecture!r}, loss={self.loss!r}"
        )


def check_settings(
    architecture: str,
    loss: str,
    real_label: float,
    fake_label: float,
    label_flip: float,
    n_critic: int,
    d_activation: str,
) -> None:
    """One clear error for a setting out of range or a trick that does not fit the loss."""
    if architecture not in ARCHITECTURES:
        raise UserError(f"architecture must be one of {', '.join(ARCHITECTURES)}")
    if loss not in LOSSES:
        raise UserError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if d_activation not in ACTIVATIONS:
        raise UserError(f"d_activation must be leaky_relu or relu, got {d_activation!r}")
    if not isinstance(n_critic, int) or n_critic < 1:
        raise UserError(f"n_critic must be a positive integer, got {n_critic!r}")
    if not 0 <= label_flip < 0.5:
        raise UserError(f"label_flip must be in [0, 0.5), got {label_flip!r}")
    labels_changed = (real_label, fake_label, label_flip) != (1.0, 0.0, 0.0)
    if labels_changed and loss not in LABELLED_LOSSES:
        raise UserError(
            f"label smoothing and flipping need a loss with labels ({', '.join(LABELLED_LOSSES)}); "
            f"{loss} has none"
        )


PAPER = "Goodfellow et al., Generative adversarial nets, NeurIPS 2014"
DCGAN_PAPER = "Radford, Metz, Chintala, Unsupervised representation learning with DCGANs, ICLR 2016"
WGAN_GP_PAPER = "Gulrajani et al., Improved training of Wasserstein GANs, NeurIPS 2017"


def conv_gan_params(channels: int, side: int, widths: tuple[int, int], latent: int) -> int:
    """Both networks' convolutions (c_in·c_out·16 + c_out), Linear layers and BatchNorm (2 per
    channel in G, and in D's second block for DCGAN), at DCGAN's default widths."""
    c1, c2 = widths
    small = c2 * (side // 4) ** 2
    d = channels * c1 * 16 + c1 + c1 * c2 * 16 + c2 + small + 1
    g = (latent + 1) * small + c2 * c1 * 16 + c1 + c1 * channels * 16 + channels
    return d + g + 2 * (small + c1)


def gan_card(
    paper: str,
    input_size: tuple[int, ...] | None,
    reference: ParameterCount,
    defaults: dict[str, Any],
    concepts: tuple[str, ...],
) -> ModelCard:
    """The card every GAN shares but for these: the gan task, no classes."""
    return ModelCard(
        task="gan",
        family="gan",
        input_size=input_size,
        num_classes=None,
        paper=paper,
        reference=reference,
        train_defaults=defaults,
        concepts=concepts,
    )


def dcgan_count(batchnorm_d: bool) -> ParameterCount:
    """DCGAN's networks counted by `conv_gan_params` at 1×28×28, latent 64, channels 64 and
    128, with D's BatchNorm2d(128) when `batchnorm_d`."""
    value = conv_gan_params(1, 28, (64, 128), 64) + (2 * 128 if batchnorm_d else 0)
    source = "the layer formulas, at 1×28×28, latent 64, channels 64 and 128"
    return ParameterCount(value, (1, 28, 28), None, source)


@register_model(
    "gan_mlp",
    gan_card(
        PAPER,
        None,
        # G 2→128→128→2 and D 2→128→128→1 on 2-D data: Σ (n_in + 1)·n_out
        ParameterCount(
            3 * 128 + 129 * 128 + 129 * 2 + 3 * 128 + 129 * 128 + 129,
            (2,),
            None,
            "Σ (n_in + 1)·n_out",
        ),
        {"epochs": 250, "batch_size": 128, "lr": 5e-4},
        ("minimax game", "non-saturating loss", "mode collapse"),
    ),
)
def gan_mlp(**kwargs: Any) -> GAN:
    """MLP generator and discriminator: the ring of 8 Gaussians and small images."""
    return GAN(**kwargs)


@register_model(
    "dcgan",
    gan_card(
        DCGAN_PAPER,
        (1, 28, 28),
        dcgan_count(batchnorm_d=True),
        {"epochs": 30, "batch_size": 64, "lr": 2e-4},
        ("transposed convolution", "BatchNorm", "LeakyReLU"),
    ),
)
def dcgan(**kwargs: Any) -> GAN:
    """DCGAN (Radford, Metz, Chintala, ICLR 2016) for 28×28: BatchNorm, LeakyReLU D,
    transposed convolutions in G, non-saturating loss, Adam β₁ = 0.5."""
    settings = {"g_batchnorm": True, "d_batchnorm": True, "latent_dim": 64}
    return GAN(**{"architecture": "dcgan", **settings, **kwargs})


@register_model(
    "wgan_gp",
    gan_card(
        WGAN_GP_PAPER,
        (1, 28, 28),
        dcgan_count(batchnorm_d=False),
        # the paper's lr 1e-4 needs far more steps than a CPU run takes; 5e-4 gets there
        {"epochs": 40, "batch_size": 64, "lr": 5e-4},
        ("Wasserstein distance", "gradient penalty", "Lipschitz"),
    ),
)
def wgan_gp(**kwargs: Any) -> GAN:
    """WGAN-GP (Gulrajani et al., NeurIPS 2017) on the DCGAN networks: no BatchNorm in the
    critic (the penalty is per sample), five critic steps per generator step, β = (0.5, 0.9)."""
    settings = {"loss": "wgan-gp", "n_critic": 5, "betas": (0.5, 0.9), "latent_dim": 64}
    return GAN(**{"architecture": "dcgan", "g_batchnorm": True, **settings, **kwargs})
