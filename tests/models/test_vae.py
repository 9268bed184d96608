"""The VAE: each term of the ELBO against torch.distributions, the IWAE bound, and training."""

from __future__ import annotations

import json

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from deepnotes.cli import main
from deepnotes.data.base import DataRequest
from deepnotes.errors import UserError
from deepnotes.models.vae import VAE, conv_vae_params, independent_pixel_nll, mlp_vae_params
from deepnotes.registry import DATASETS, MODELS


@pytest.fixture
def model() -> VAE:
    torch.manual_seed(0)
    return VAE(input_size=(1, 8, 8), latent_dim=3, hidden=(32, 16))


def test_kl_to_the_prior_equals_torch_distributions():
    torch.manual_seed(1)
    mean, log_var = torch.randn(5, 4), torch.randn(5, 4)
    theirs = kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(VAE.kl_to_prior(mean, log_var), theirs)


def test_bernoulli_log_likelihood_sums_every_pixel(model):
    logits = torch.randn(4, 1, 8, 8)
    x = torch.rand(4, 1, 8, 8).round()
    theirs = Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(model.log_likelihood(x, logits), theirs)


def test_gaussian_log_likelihood_sums_every_pixel():
    torch.manual_seed(2)
    model = VAE(input_size=(1, 8, 8), likelihood="gaussian")
    with torch.no_grad():
        model.log_scale.fill_(-0.7)
    means, x = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    theirs = Normal(means, torch.tensor(-0.7).exp()).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(model.log_likelihood(x, means), theirs)


def test_reparameterisation_draws_from_q_and_passes_gradients():
    mean = torch.tensor([[1.0, -2.0]], requires_grad=True)
    log_var = torch.tensor([[0.0, 2 * torch.tensor(0.5).log().item()]], requires_grad=True)
    torch.manual_seed(3)
    z = VAE.reparameterize(mean, log_var, samples=200_000)  # (k, 1, 2)
    torch.testing.assert_close(z.mean((0, 1)), torch.tensor([1.0, -2.0]), atol=0.01, rtol=0)
    torch.testing.assert_close(z.std((0, 1)), torch.tensor([1.0, 0.5]), atol=0.01, rtol=0)
    z.sum().backward()
    assert mean.grad is not None and log_var.grad is not None


def test_elbo_terms_equal_torch_distributions(model):
    """Each term of elbo_terms, rebuilt from the encoder and decoder with torch.distributions.

    The same seed gives the same ε, so z = μ + σ ε is the draw elbo_terms made; the
    reconstruction is then log Bernoulli(x | decoder(z)) and the KL is to N(0, I).
    """
    x = torch.rand(6, 1, 8, 8).round()
    torch.manual_seed(4)
    terms = model.elbo_terms(x)
    torch.manual_seed(4)
    with torch.no_grad():
        mean, log_var = model.encode(x)
        std = (0.5 * log_var).exp()
        z = mean + std * torch.randn(mean.shape)
        reconstruction = Bernoulli(logits=model.decoder(z)).log_prob(x).sum((1, 2, 3))
        kl = kl_divergence(Normal(mean, std), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(terms.reconstruction, reconstruction)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.elbo, reconstruction - kl)
    assert terms.elbo.shape == (6,)


def test_iwae_is_tighter_than_the_elbo_and_grows_with_k(model):
    """E[ELBO] ≤ E[IWAE_k] ≤ E[IWAE_k'] for k ≤ k' (Burda et al., Theorem 1)."""
    x = torch.rand(8, 1, 8, 8).round()
    with torch.no_grad():  # a decoder that depends strongly on z: q is far from p(z | x)
        model.decoder[-2].weight.mul_(10)  # the last Linear, before Unflatten
    torch.manual_seed(5)
    with torch.no_grad():
        elbo = torch.stack([model(x) for _ in range(400)]).mean(0)  # E[ELBO] per example
    iwae_10 = torch.stack([model.iwae(x, 10) for _ in range(40)]).mean(0)
    iwae_1000 = model.iwae(x, 1000)
    assert (iwae_10 > elbo).all()
    assert (iwae_1000 > iwae_10).all()


def test_log_joint_is_the_likelihood_and_prior_of_torch_distributions(model):
    x = torch.rand(4, 1, 8, 8).round()
    z = torch.randn(6, 4, 3)  # (S, B, latent)
    with torch.no_grad():
        logits = model.decoder(z.flatten(0, 1)).unflatten(0, (6, 4))
        theirs = Bernoulli(logits=logits).log_prob(x).sum((-3, -2, -1))
        theirs = theirs + Normal(0.0, 1.0).log_prob(z).sum(-1)
        torch.testing.assert_close(model.log_joint(x, z), theirs)


def test_iwae_with_one_sample_is_an_elbo_draw(model):
    x = torch.rand(8, 1, 8, 8)
    torch.manual_seed(6)
    one = torch.stack([model.iwae(x, 1) for _ in range(2000)]).mean(0)
    with torch.no_grad():
        elbo = torch.stack([model(x) for _ in range(2000)]).mean(0)
    torch.testing.assert_close(one, elbo, atol=0.05, rtol=0)


def test_parameter_counts_by_the_formulas():
    assert sum(p.numel() for p in MODELS.create("vae").parameters()) == mlp_vae_params(
        784, (512, 256), 8
    )
    conv = MODELS.create("vae_conv", input_size=(3, 16, 16), latent_dim=4)
    assert sum(p.numel() for p in conv.parameters()) == conv_vae_params(3, 16, (32, 64), 4)


def test_from_scratch_layers_build_the_same_vae():
    torch.manual_seed(7)
    ours = VAE(input_size=(1, 8, 8), architecture="conv", impl="deepnotes")
    theirs = VAE(input_size=(1, 8, 8), architecture="conv")
    theirs.load_state_dict(ours.state_dict())
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        mean_ours, _ = ours.encode(x)
        mean_theirs, _ = theirs.encode(x)
        torch.testing.assert_close(mean_ours, mean_theirs)
        torch.testing.assert_close(ours.mean_image(mean_ours), theirs.mean_image(mean_ours))


def test_bad_settings_are_refused():
    with pytest.raises(UserError, match="divisible by 4"):
        VAE(input_size=(1, 10, 10), architecture="conv")
    with pytest.raises(UserError, match="likelihood"):
        VAE(likelihood="poisson")


def test_training_raises_the_elbo_and_reports_iwae(tmp_path):
    """A short run through the command line: every metric in summary.json, and figures."""
    out = tmp_path / "run"
    args = ["train", "vae", "--data", "digits", "--image-size", "8", "--epochs", "3"]
    assert main([*args, "--model-arg", "latent_dim=2", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    metrics = summary["metrics"]
    assert {"test_elbo", "test_iwae", "test_kl", "test_reconstruction"} <= set(metrics)
    assert metrics["test_iwae"] >= metrics["test_elbo"] - 0.5  # tighter, up to sampling noise
    assert summary["figures"] == ["latent-map.png", "reconstructions.png", "samples.png"]

    grid = tmp_path / "grid.png"
    assert main(["sample", str(out), "--n", "9", "--out", str(grid)]) == 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    untrained = MODELS.create("vae", input_size=(1, 8, 8), latent_dim=2)
    bundle = DATASETS.get("digits").builder(
        DataRequest(roots=(), normalize=False, image_size=(8, 8))
    )
    with torch.no_grad():
        before = float(untrained(bundle.split("test")[:][0]).mean())
    assert metrics["test_elbo"] > before


def test_independent_pixel_nll_is_the_bernoulli_log_likelihood():
    train = torch.rand(50, 1, 4, 4)
    test = torch.rand(7, 1, 4, 4).round()
    means = train.mean(0).expand_as(test)
    expected = -Bernoulli(probs=means).log_prob(test).flatten(1).sum(1).mean()
    assert independent_pixel_nll(train, test) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.slow
def test_vae_beats_the_independent_pixel_baseline(tmp_path):
    """The issue's bar: −ELBO on test at least 15% below the per-pixel Bernoulli baseline."""
    out = tmp_path / "run"
    assert main(["train", "vae", "--data", "digits", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    bundle = DATASETS.get("digits").builder(
        DataRequest(roots=(), normalize=False, image_size=(28, 28))
    )
    baseline = independent_pixel_nll(bundle.split("train")[:][0], bundle.split("test")[:][0])
    assert -metrics["test_elbo"] <= 0.85 * baseline
    assert metrics["test_iwae"] > metrics["test_elbo"]


def test_sample_refuses_a_classifier_and_a_missing_folder(tmp_path, capsys):
    run = tmp_path / "mlp"
    assert (
        main(
            [
                "train",
                "mlp",
                "--data",
                "digits",
                "--max-steps",
                "1",
                "--out",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 2
    assert "draws no samples" in capsys.readouterr().err
    assert main(["sample", str(run), "--out", str(tmp_path / "nowhere" / "s.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_collapsed_vae_is_warned_about_once_with_its_remedies(tmp_path, capsys):
    """β = 50 drives q(z|x) to the prior within an epoch: the run says so, once, on stderr
    and in summary.json; the same run with β = 0.1, whose q keeps what it encodes, says
    nothing."""
    out = tmp_path / "collapsed"
    args = ["train", "vae", "--data", "digits", "--epochs", "2", "--no-progress"]
    assert main([*args, "--out", str(out), "--model-arg", "beta=50"]) == 0
    err = capsys.readouterr().err
    assert err.count("posterior collapse") == 1 and "KL warm-up" in err
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["warnings"]) == ["posterior-collapse"]
    assert main([*args, "--out", str(tmp_path / "healthy"), "--model-arg", "beta=0.1"]) == 0
    assert "posterior collapse" not in capsys.readouterr().err
    healthy = json.loads((tmp_path / "healthy" / "summary.json").read_text())
    assert healthy["warnings"] == {} and healthy["metrics"]["test_kl"] > 1.0
