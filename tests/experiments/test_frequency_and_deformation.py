"""The helpers of the image-frequency-and-deformation experiment: Parseval's weighted
spectrum, the band split, the warps and the parameter-matched MLP width."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepnotes.experiments.frequency_and_deformation import (
    band_energies,
    deform,
    difference_gain,
    elastic_field,
    gradient_energy,
    matching_width,
    power_spectrum,
    rotations,
    shifts,
    warp,
)
from deepnotes.models.mlp import MLP


@pytest.mark.parametrize("side", [7, 8, 16])
def test_gradient_energy_is_the_spectrum_weighted_by_the_differences_gain(side):
    images = np.random.default_rng(side).normal(size=(3, side, side))
    weighted = (power_spectrum(images) * difference_gain(side)).sum((1, 2))
    np.testing.assert_allclose(weighted, gradient_energy(images), rtol=1e-12)


def test_band_energies_split_the_image_energy_at_the_cutoff():
    images = np.random.default_rng(0).normal(size=(4, 8, 8))
    low, high = band_energies(images, 0.25)
    np.testing.assert_allclose(low + high, (images**2).sum((1, 2)), rtol=1e-12)  # Parseval
    columns = np.arange(16)
    for cycles, band in ((5, 0), (3, 1)):  # 5/16 cycle/pixel: none below ¼; 3/16: none above
        wave = np.cos(2 * np.pi * cycles / 16 * columns)[None, None, :].repeat(16, 1)
        assert band_energies(wave, 0.25)[band] == pytest.approx(0, abs=1e-12)


def test_warp_by_nothing_is_the_image_and_a_one_pixel_field_moves_it_one_pixel():
    images = torch.rand(2, 1, 6, 6)
    torch.testing.assert_close(warp(images), images)
    field = torch.zeros(2, 6, 6, 2)
    field[..., 0] = 1.0  # sample one pixel to the right: the image moves one pixel left
    moved = torch.zeros_like(images)
    moved[..., :-1] = images[..., 1:]
    torch.testing.assert_close(warp(images, field=field), moved)


def test_a_90_degree_rotation_is_rot90_and_a_shift_moves_by_its_length():
    images = torch.rand(8, 1, 6, 6)
    generator = torch.Generator().manual_seed(0)
    turned = warp(images, rotations(8, 90.0, generator))
    for image, result in zip(images, turned, strict=True):
        either = [image.rot90(k, (1, 2)) for k in (1, -1)]
        assert any(torch.allclose(result, r, atol=1e-5) for r in either)
    theta = shifts(8, 6, 2.0, generator)
    lengths = theta[:, :, 2].norm(dim=1) * 6 / 2  # normalised → pixels
    torch.testing.assert_close(lengths, torch.full((8,), 2.0))
    torch.testing.assert_close(theta[:, :, :2], torch.eye(2).expand(8, 2, 2))


def test_deform_refuses_a_kind_it_does_not_know():
    images = torch.zeros(2, 1, 8, 8)
    for kind in ("elastic", "rotation", "shift"):
        assert deform(kind, images, 1.0, torch.Generator().manual_seed(0)).shape == images.shape
    with pytest.raises(ValueError, match="no deformation 'shear'"):
        deform("shear", images, 1.0, torch.Generator().manual_seed(0))


def test_elastic_field_has_no_mean_and_the_rms_asked_for():
    field = elastic_field(5, 16, 1.5, torch.Generator().manual_seed(0))
    assert field.shape == (5, 16, 16, 2)
    torch.testing.assert_close(field.mean((1, 2)), torch.zeros(5, 2), atol=1e-6, rtol=0)
    rms = field.pow(2).sum(-1).mean((1, 2)).sqrt()
    torch.testing.assert_close(rms, torch.full((5,), 1.5))


@pytest.mark.parametrize(("parameters", "n_in"), [(21_386, 256), (9_930, 256), (5_000, 64)])
def test_matching_width_gives_an_mlp_with_about_the_same_parameters(parameters, n_in):
    width = matching_width(parameters, n_in, 10)
    mlp = MLP(input_size=(n_in,), hidden=(width,))
    count = sum(p.numel() for p in mlp.parameters())
    assert abs(count - parameters) <= (n_in + 10 + 1) / 2  # the nearest whole width
