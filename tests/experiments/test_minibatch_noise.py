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
    batch, scale, n = 5, 2.0, 50_000
    draws = torch.stack([noise_weights(batch, scale, generator) for _ in range(n)])
    torch.testing.assert_close(draws.sum(dim=1), torch.full((n,), float(batch)))
    expected = scale**2 * (torch.eye(batch) - torch.ones(batch, batch) / batch)
    # a sample variance of n Gaussian draws has standard error σ²√(2/n): 3.2·√(2/50,000) = 0.020
    # on the diagonal (less off it); 0.1 is 5 of them, and the mistakes this guards against
    # (z left uncentred: s²I; s for s²) move entries by 0.8 or more
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
    """Each step of the isotropic task adds ‖n‖ ξ/√P to the gradient, n the shaped noise that
    the step's weights give: ‖added‖²/‖n‖² = ‖ξ‖²/P, distributed as χ²_P/P, of mean 1."""
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    params = list(model.parameters())
    count = sum(p.numel() for p in params)  # P = 21
    x, y = torch.randn(32, 6), torch.randint(3, (32,))
    task = InjectedNoiseTask(scale=3.0, seed=0, isotropic=True)
    clean = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), params)

    def update(loss: torch.Tensor) -> None:
        model.zero_grad()
        loss.backward()

    def ratio() -> float:
        """‖gradient of one training step − the clean gradient‖² / ‖that step's shaped noise‖²."""
        redrawn = torch.Generator().set_state(task.generator.get_state())
        weights = noise_weights(len(y), task.scale, redrawn)  # the step's own weights, drawn first
        losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")  # (B,)
        shaped = torch.autograd.grad(((weights - 1) * losses).mean(), params)
        task.training_step(model, (x, y), update)
        added = sum((p.grad - g).pow(2).sum() for p, g in zip(params, clean, strict=True))
        return float(added / sum(n.pow(2).sum() for n in shaped))

    draws = 400
    ratios = torch.tensor([ratio() for _ in range(draws)])
    # χ²_P/P has standard deviation √(2/P) = 0.31: the mean of 400 has standard error 0.015,
    # and 4 of them allow 0.062 (a noise scaled by 1/P instead of 1/√P gives 1/21)
    assert float(ratios.mean()) == pytest.approx(1.0, abs=4 * (2 / count / draws) ** 0.5)
