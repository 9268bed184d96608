"""The noise injected into a large batch's gradient: its weights, and the scale that gives it
the noise of a smaller batch."""

from __future__ import annotations

import itertools

import pytest
import torch

from deepnotes.experiments.minibatch_noise import (
    InjectedNoiseTask,
    matching_scale,
    noise_weights,
)


def test_noise_weights_sum_to_the_batch_with_covariance_s2_centred():
    """w = 1 + s(z − z̄): Σ w = B on every draw (the batch's own gradient kept), and
    Cov(w) = s² (I − 11ᵀ/B)."""
    generator = torch.Generator().manual_seed(0)
    batch, scale = 5, 2.0
    draws = torch.stack([noise_weights(batch, scale, generator) for _ in range(20_000)])
    torch.testing.assert_close(draws.sum(dim=1), torch.full((20_000,), float(batch)))
    expected = scale**2 * (torch.eye(batch) - torch.ones(batch, batch) / batch)
    torch.testing.assert_close(draws.T.cov(), expected, atol=0.1, rtol=0)


@pytest.mark.parametrize(("batch", "smaller", "n"), [(4, 2, 8), (6, 1, 9), (5, 3, 7)])
def test_matching_scale_gives_the_smaller_batch_its_noise_exactly(batch, smaller, n):
    """Over every batch of `batch` of n per-example gradients, E‖ḡ_B − g‖² plus the weights'
    noise E‖n‖² = (s²/B²) Σ_i ‖g_i − ḡ_B‖² is the mean of ‖ḡ_B′ − g‖² over every batch of
    `smaller`: exact, enumerated, for any gradients."""
    gradients = torch.randn(n, 3, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    full = gradients.mean(dim=0)
    s2 = matching_scale(batch, smaller) ** 2

    def mean_over_batches(size: int, injected: float) -> float:
        errors = []
        for members in itertools.combinations(range(n), size):
            chosen = gradients[list(members)]  # (size, 3)
            mean = chosen.mean(dim=0)
            noise = injected / size**2 * (chosen - mean).pow(2).sum()
            errors.append(float((mean - full).pow(2).sum() + noise))
        return sum(errors) / len(errors)

    assert mean_over_batches(batch, s2) == pytest.approx(mean_over_batches(smaller, 0.0))


def test_isotropic_noise_has_the_shaped_noise_size_on_average():
    """One step of the isotropic task moves the gradient off the batch's own by a vector as
    long, on average, as the shaped noise drawn in the same step (E‖ξ‖²/P = 1)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    x, y = torch.randn(32, 6), torch.randint(3, (32,))
    task = InjectedNoiseTask(scale=3.0, seed=0, isotropic=True)
    shaped = InjectedNoiseTask(scale=3.0, seed=0)
    clean = torch.autograd.grad(
        torch.nn.functional.cross_entropy(model(x), y), list(model.parameters())
    )

    def added(noisy: InjectedNoiseTask) -> torch.Tensor:
        """‖gradient of one training step − the clean gradient‖²."""

        def update(loss: torch.Tensor) -> None:
            model.zero_grad()
            loss.backward()

        noisy.training_step(model, (x, y), update)
        return sum(
            (p.grad - g).pow(2).sum() for p, g in zip(model.parameters(), clean, strict=True)
        )

    isotropic = torch.stack([added(task) for _ in range(400)]).mean()
    shaped_size = torch.stack([added(shaped) for _ in range(400)]).mean()
    assert float(isotropic / shaped_size) == pytest.approx(1.0, abs=0.1)
