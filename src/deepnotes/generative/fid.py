"""FID with the features of a classifier this package trains on the same data.

The Fréchet Inception Distance (Heusel et al., NeurIPS 2017) embeds real and
generated images with a fixed network, fits a Gaussian to each cloud of
features and reports the squared Fréchet distance between the two Gaussians,

    FID = ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2}).

The published numbers use Inception-v3 trained on ImageNet. Digits are 8×8
greyscale and this machine has no ImageNet weights, so here the embedding is
the last hidden layer of an MLP classifier trained by the package on the same
data set's training split (`ClassifierFeatures`). The numbers are therefore
*classifier-feature FIDs*: comparable with each other on one data set, not
with papers' Inception FIDs. Lower is better; 0 means the two Gaussians agree.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepnotes.data.base import DataBundle
from deepnotes.generative.divergences import frechet_distance, gaussian_statistics

CLASSIFIER_HIDDEN = (256, 128)  # the embedding is the 128 ReLU features before the last layer
CLASSIFIER_EPOCHS = 30


@torch.no_grad()
def embed(extractor: nn.Module, x: Tensor, batch_size: int = 512) -> Tensor:
    """Features of every row of x, in batches, in float64: (N, d)."""
    extractor.to(x.device).eval()
    parts = [extractor(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(parts).double()


def feature_fid(extractor: nn.Module, real: Tensor, fake: Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to the features of real and fake samples."""
    return float(
        frechet_distance(
            *gaussian_statistics(embed(extractor, real)),
            *gaussian_statistics(embed(extractor, fake)),
        )
    )


class ClassifierFeatures(nn.Module):
    """The feature extractor of an MLP classifier trained on a data set's training split.

    Trained once per (data set, input size) in a process, with its own seed, so
    every GAN scored on that data set is scored by the same network; `accuracy`
    is its test accuracy, reported beside the FIDs it makes.
    """

    def __init__(self, classifier: nn.Module, accuracy: float) -> None:
        super().__init__()
        self.features = classifier.layers[:-1]  # all but the last Linear: (B, …) → (B, 128)
        self.accuracy = accuracy

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


_CLASSIFIERS: dict[tuple, ClassifierFeatures] = {}  # trained ones, by (data set, size, seed)


def classifier_features(bundle: DataBundle, seed: int = 0) -> ClassifierFeatures:
    """A `ClassifierFeatures` for `bundle`, trained on first use (kept per data set and size)."""
    key = (bundle.name, tuple(bundle.input_size), seed)
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = train_classifier_features(bundle, seed)
    return _CLASSIFIERS[key]


def train_classifier_features(bundle: DataBundle, seed: int = 0) -> ClassifierFeatures:
    """Train the MLP classifier on the bundle's training split with the package's trainer."""
    from deepnotes.registry import MODELS
    from deepnotes.train.config import TrainConfig
    from deepnotes.train.tasks import ClassificationTask
    from deepnotes.train.trainer import Trainer

    # its own random stream, and gradients on even when asked for inside an evaluation
    with torch.random.fork_rng(), torch.enable_grad():
        torch.manual_seed(seed)
        model = MODELS.create(
            "mlp",
            num_classes=bundle.num_classes,
            input_size=bundle.input_size,
            hidden=CLASSIFIER_HIDDEN,
        )
        config = TrainConfig(
            model="mlp",
            data=bundle.name,
            epochs=CLASSIFIER_EPOCHS,
            batch_size=64,
            lr=1e-3,
            scheduler="cosine",
            seed=seed,
            progress=False,
        )
        trainer = Trainer(model, ClassificationTask(), bundle, config, torch.device("cpu"))
        metrics = trainer.fit()
    accuracy = metrics.get("test_acc", metrics.get("val_acc", float("nan")))
    return ClassifierFeatures(model, accuracy)
