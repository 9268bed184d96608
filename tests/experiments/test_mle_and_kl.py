"""Helpers of the sections "MLE is minimising KL" (latent-variable-models) and "the
generator's early gradient" (gan-tricks): the fit, its standard errors, the entropy by
quadrature, the gradient norm reaching G."""

from __future__ import annotations

import math

import pytest
import torch

from deepnotes.experiments.gan_tricks import generator_gradient_norm
from deepnotes.experiments.latent_variable_models import (
    data_distribution,
    data_entropy,
    fit_gaussian,
    fit_standard_errors,
)
from deepnotes.models.gan import GAN


def test_the_fit_reaches_the_closed_form_mle():
    """A Gaussian's maximum-likelihood estimate is the sample mean and the 1/n standard
    deviation (a fit stopped early, or σ taken as 1/(n − 1), misses by more than 1e-6)."""
    x = torch.randn(500, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3 + 1
    mu, sigma = fit_gaussian(lambda model: -model.log_prob(x).mean())
    assert mu == pytest.approx(float(x.mean()), abs=1e-6)
    assert sigma == pytest.approx(float(x.std(unbiased=False)), abs=1e-6)


def test_the_standard_errors_are_the_spread_of_repeated_fits():
    """Over 400 data sets of 200 points from p_data, the spread of (μ̂, σ̂) is the delta
    method's standard error, within 15% (its own sampling error is about 4%)."""
    torch.manual_seed(1)
    samples = data_distribution().sample((400, 200))  # (repeats, n)
    centred = samples - samples.mean(1, keepdim=True)
    mus, sigmas = samples.mean(1), centred.pow(2).mean(1).sqrt()  # (repeats,) each
    predicted = fit_standard_errors(data_distribution().sample((200_000,)))
    big = math.sqrt(200_000 / 200)  # the errors scale as 1/√n
    assert float(mus.std()) == pytest.approx(predicted[0] * big, rel=0.15)
    assert float(sigmas.std()) == pytest.approx(predicted[1] * big, rel=0.15)


def test_the_entropy_by_quadrature_is_the_monte_carlo_one():
    """H(p_data) = −E log p_data(x): the quadrature within 4 standard errors of 10⁶ samples."""
    torch.manual_seed(2)
    p = data_distribution()
    log_p = p.log_prob(p.sample((1_000_000,)))
    error = float(log_p.std()) / 1000
    assert abs(data_entropy() + float(log_p.mean())) < 4 * error


def test_the_gradient_norm_is_that_of_every_generator_parameter():
    """‖∇_θ L_G‖ over all of G's parameters, D's left out (D's weights get gradients too,
    through the same backward pass: counting them would change the norm)."""
    torch.manual_seed(3)
    model = GAN()
    z = model.noise(64)
    parameters = list(model.generator.parameters())
    gradients = torch.autograd.grad(model.generator_loss(model.generator(z)), parameters)
    expected = float(torch.cat([g.flatten() for g in gradients]).norm())
    assert generator_gradient_norm(model, z) == pytest.approx(expected, rel=1e-6)
    # called twice, the gradients must not accumulate
    assert generator_gradient_norm(model, z) == pytest.approx(expected, rel=1e-6)
