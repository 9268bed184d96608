"""Generative tasks: models that learn the data's distribution and draw from it.

    vae   the negative ELBO (β-weighted KL); ELBO, its terms and the IWAE bound in nats
    gan   two players, two optimisers; modes, high-quality share, FID in classifier features

Images keep their [0, 1] pixels (no standardisation): a Bernoulli likelihood needs
them so, and a GAN's generator ends in a sigmoid. Labels are ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from deepnotes.data.base import DataBundle
from deepnotes.errors import UserError
from deepnotes.figures import image_grid, samples_figure
from deepnotes.generative.divergences import frechet_distance, gaussian_statistics
from deepnotes.generative.fid import feature_fid
from deepnotes.generative.metrics import mode_coverage
from deepnotes.registry import TASKS
from deepnotes.tasks.base import (
    Examples,
    Runs,
    SampleRequest,
    Samples,
    Shape,
    Task,
    Update,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


COLLAPSED_KL = 0.1  # nats per example: a VAE that encodes anything of x has KL far above this
# the mean slope of G's loss in D's logit (ring8, seeds 0–4): 0.36–0.52 in a balanced minimax
# game, 0.003–0.005 once D runs away (tests/models/test_gan.py)
SATURATED_SLOPE = 0.01


class GenerativeTask(Task):
    """What the VAE and the GAN share: no classes, raw pixels, samples from the model.

    A model of a generative task has `sample(n, generator)` → (n, *input_size) and its
    forward gives one number per example (an ELBO, the value of the game): (B,).
    """

    has_classes = False
    data_options: ClassVar[dict[str, Any]] = {"normalize": False}
    default_samples = 64

    def model_kwargs(self, bundle: DataBundle) -> dict[str, Any]:
        return {"input_size": bundle.input_size}

    def output_shape(self, examples: Examples) -> Shape:
        return (examples.batch,)

    def sample(self, model: nn.Module, bundle: DataBundle, request: SampleRequest) -> Samples:
        """`request.n` samples (default 64) as one figure: a grid of images or a scatter."""
        if request.prompt is not None:
            raise UserError("--prompt is for language models; this run holds a generative model")
        n = self.default_samples if request.n is None else request.n
        generator = torch.Generator().manual_seed(request.seed)
        try:
            figure = samples_figure(model.sample(n, generator), f"{n} samples, seed {request.seed}")
        except ValueError as e:  # samples that are neither images nor points of the plane
            raise UserError(str(e)) from None
        return Samples(figure=figure, count=n)


# ---------------------------------------------------------------------------------- VAE


@TASKS.register("vae")
class VAETask(GenerativeTask):
    """Train by the negative ELBO (β-weighted KL); report ELBO, its terms and IWAE in nats.

    loss = −(1/B) Σ_b [E_q log p(x_b | z) − β KL(q(z | x_b) ‖ p(z))]
    """

    name = "vae"
    data_kinds = ("images",)
    iwae_samples = 100

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        x = batch[0]
        terms = model.elbo_terms(x)
        loss = -terms.bound(model.beta).mean()  # −(E_q log p(x|z) − β KL)
        logs = {
            "loss": loss.detach(),
            "elbo": terms.elbo.detach().mean(),
            "reconstruction": terms.reconstruction.detach().mean(),
            "kl": terms.kl.detach().mean(),
        }
        return loss, logs

    def warnings(self, row: dict[str, float]) -> dict[str, str]:
        """Posterior collapse: KL(q(z|x) ‖ p(z)) near 0 means q is the prior for every x, so
        the decoder ignores z and every sample looks alike (Bowman et al., 2016)."""
        kl = row.get("val_kl", row.get("train_kl"))  # at the epoch's end where there is one
        if kl is None or kl >= COLLAPSED_KL:
            return {}
        return {
            "posterior-collapse": f"the VAE's KL is {kl:.3f} nats per example by epoch "
            f"{row['epoch']:.0f}: q(z|x) is the prior, the decoder ignores z and the samples "
            "look alike (posterior collapse); the usual remedies: a smaller β or a KL "
            "warm-up from β = 0, free bits, a weaker decoder, a lower learning rate"
        }

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """The mean ELBO terms over the split, and the IWAE bound with independent draws."""
        batches = list(batches)
        metrics = super().evaluate(model, batches)
        total = sum(float(model.iwae(b[0], self.iwae_samples).sum()) for b in batches)
        metrics["iwae"] = total / sum(len(b[0]) for b in batches)
        return metrics

    def figures(self, model: nn.Module, bundle: DataBundle) -> dict[str, Figure]:
        figures = {
            "samples.png": sample_grid(model),
            "reconstructions.png": reconstruction_grid(model, bundle),
        }
        if model.latent_dim == 2:
            figures["latent-map.png"] = latent_map(model)
        return figures


def sample_grid(model: nn.Module, n: int = 64) -> Figure:
    """Mean images of n draws from a VAE's prior."""
    images = model.sample(n, torch.Generator().manual_seed(0))
    return image_grid(images, 8, "Samples: decoder means for z ~ N(0, I)")


def reconstruction_grid(model: nn.Module, bundle: DataBundle, n: int = 16) -> Figure:
    """Test images (top rows) above a VAE's reconstructions from the posterior mean."""
    x = bundle.split("test")[:n][0].to(next(model.parameters()).device)  # (n, C, H, W)
    with torch.no_grad():
        mean, _ = model.encode(x)
    return image_grid(torch.cat([x, model.mean_image(mean)]), 4, "Test images, reconstructions")


def latent_map(model: nn.Module, steps: int = 15) -> Figure:
    """A VAE's decoded means over a grid of its 2-D latent space, at the prior's quantiles."""
    from scipy.stats import norm

    quantiles = torch.tensor(norm.ppf(torch.linspace(0.03, 0.97, steps).numpy()))
    grid = torch.cartesian_prod(quantiles.flip(0), quantiles).float()[:, [1, 0]]  # (z₁, z₂)
    images = model.mean_image(grid.to(next(model.parameters()).device))
    return image_grid(images, steps, "The latent plane: decoder means on a grid of z")


# ---------------------------------------------------------------------------------- GAN


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No parameter gradients for `module` inside (G's step needs D's input gradient only)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


@TASKS.register("gan")
class GANTask(GenerativeTask):
    """Two players, two optimisers: D steps on every batch, G on every `n_critic`-th.

    Per batch of data x:
        D: minimise the discriminator loss on x and G(z) (G's output detached);
           WGAN then clips D's weights
        G: every n_critic-th batch, minimise the generator loss on G(z') (D frozen)

    `loss` is the value of the game, −V(D, G) = −E[log D(x) + log(1 − D(G(z)))] (or the
    critic's −(f(x) − f(G(z)))): what D minimises in Goodfellow et al.'s eq. 1, with fresh
    z; training uses each player's own loss in `training_step`.

    Evaluation draws samples from fixed noise and scores them against the split:
    on data with known modes (ring8) the modes covered and the high-quality share
    of 2,500 samples; on images the FID in the features of a classifier trained by
    the package on the same data (`deepnotes.generative.fid`, not Inception FID); on
    other vectors the Fréchet distance of the raw features.
    """

    name = "gan"
    data_kinds = ("images", "vectors")
    scored_samples = 2500  # the Unrolled-GAN / VEEGAN protocol on the ring
    drop_last = True  # every step of the game on a full batch (and BatchNorm never sees one)

    def __init__(self) -> None:
        self.bundle: DataBundle | None = None
        self.runs: Runs | None = None

    def setup(self, bundle: DataBundle, runs: Runs) -> None:
        self.bundle, self.runs = bundle, runs

    def initialize(self, model: nn.Module) -> None:
        """G from a trained VAE's decoder, when the model names the VAE's run folder."""
        if model.generator_init is not None:
            vae = self.runs.load(model.generator_init)
            if not hasattr(vae, "decoder"):
                raise UserError(f"{model.generator_init} holds no VAE to initialise G from")
            model.initialize_from(vae)

    def optimizers(self, model: nn.Module) -> dict[str, Iterable]:
        """One optimiser per player; TTUR's learning rates and Adam's betas per group."""

        def group(params: Iterable[nn.Parameter], lr: float | None) -> list[dict[str, Any]]:
            settings = {"betas": model.betas} | ({"lr": lr} if lr is not None else {})
            return [{"params": list(params), **settings}]

        return {
            "discriminator": group(model.discriminator.parameters(), model.d_lr),
            "generator": group(model.generator.parameters(), model.g_lr),
        }

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        value = model(batch[0]).mean()
        return -value, {"value": value.detach()}

    def training_step(self, model: nn.Module, batch: Any, update: Update) -> dict[str, Tensor]:
        real = batch[0]
        fake = model.generator(model.noise(len(real))).detach()
        d_loss, logs = model.discriminator_loss(real, fake)
        update(d_loss, "discriminator")
        if model.loss == "wgan":
            model.clip_discriminator()
        if int(model.d_steps) % model.n_critic == 0:
            with frozen(model.discriminator):
                g_loss = model.generator_loss(model.generator(model.noise(len(real))))
            update(g_loss, "generator")
            model.last_g_loss.copy_(g_loss.detach())
        model.d_steps += 1
        return {"d_loss": d_loss.detach(), "g_loss": model.last_g_loss.clone(), **logs}

    def warnings(self, row: dict[str, float]) -> dict[str, str]:
        """A saturated generator: D rejects G's samples outright, D(G(z)) → 0, and the minimax
        loss log(1 − D(G(z))), whose slope in D's logit is D(G(z)), gives G no gradient —
        G stops moving while D wins (Goodfellow et al., 2014, §3; Arjovsky & Bottou, "Towards
        principled methods for training GANs", ICLR 2017). The slope is logged at every D
        step for the losses with labels; a critic's loss (WGAN, hinge) has a constant slope.
        Remedies: the non-saturating loss −log D(G(z)) (§3), a slower D (each player's own
        learning rate, as in Heusel et al.'s TTUR, 2017), a critic whose gradient does not
        saturate (WGAN-GP, Gulrajani et al., 2017)."""
        slope = row.get("train_g_loss_slope")
        # D(G(z)) near 1 with the non-saturating loss also flattens its slope 1 − D(G(z)),
        # but there D is fooled, not winning: only a D that rejects the samples is this case
        rejecting = row.get("train_d_fake", 1.0) < 0.5
        if slope is None or slope >= SATURATED_SLOPE or not rejecting:
            return {}
        return {
            "saturated-generator": f"the generator's loss has saturated by epoch "
            f"{row['epoch']:.0f}: its slope in D's logit averages {slope:.4f} (D(G(z)) under "
            "the minimax loss: D rejects the samples outright), so G's gradient vanishes and the "
            "generator stops moving; the usual remedies: the non-saturating loss "
            "(loss=non-saturating), a slower discriminator (a lower d_lr, n_critic=1), "
            "WGAN-GP (loss=wgan-gp)"
        }

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Sample-based scores of G against the split (see the class docstring)."""
        real = torch.cat([batch[0] for batch in batches])
        noise = torch.Generator().manual_seed(0)  # the same z every epoch, apart from training's
        info = self.bundle.info if self.bundle is not None else {}
        metrics: dict[str, float] = {}
        if "mode_centres" in info:
            samples = model.sample(self.scored_samples, noise)
            coverage = mode_coverage(samples, torch.tensor(info["mode_centres"]), info["mode_std"])
            metrics["modes"] = coverage.modes_covered
            metrics["high_quality"] = coverage.high_quality
        fake = model.sample(len(real), noise)
        if real.dim() == 4 and self.bundle is not None and self.bundle.num_classes:
            extractor = self.runs.feature_classifier(self.bundle)
            metrics["fid"] = feature_fid(extractor, real, fake)
            metrics["fid_classifier_acc"] = extractor.accuracy
        else:
            stats = (gaussian_statistics(x.flatten(1).double()) for x in (real, fake))
            metrics["frechet"] = float(frechet_distance(*next(stats), *next(stats)))
        return metrics

    def epoch_figures(self, model: nn.Module, epoch: int) -> dict[str, Figure]:
        return {"samples.png": self.samples_figure(model, f"Samples after epoch {epoch}")}

    def figures(self, model: nn.Module, bundle: DataBundle) -> dict[str, Figure]:
        return {"samples.png": self.samples_figure(model, "Samples G(z), z ~ N(0, I)")}

    def samples_figure(self, model: nn.Module, title: str) -> Figure:
        """64 images, or 2,500 points over the training data, from fixed noise."""
        model.eval()
        images = len(model.input_size) == 3
        samples = model.sample(
            64 if images else self.scored_samples, torch.Generator().manual_seed(0)
        )
        reference = None
        if not images and self.bundle is not None:
            reference = self.bundle.split("train")[:][0]  # (N, 2)
        return samples_figure(samples, title, reference)
