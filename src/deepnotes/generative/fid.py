"""FID with the features of a classifier this package trains on the same data.

The Fréchet Inception Distance (Heusel et al., NeurIPS 2017) embeds real and
generated images with a fixed network, fits a Gaussian to each cloud of
features and reports the squared Fréchet distance between the two Gaussians,

    FID = ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2}).

The published numbers use Inception-v3 trained on ImageNet. Digits are 8×8
greyscale and this machine has no ImageNet weights, so here the embedding is
the last hidden layer of an MLP classifier trained by the package on the same
data set's training split (`FeatureExtractor`). The numbers are therefore
*classifier-feature FIDs*: comparable with each other on one data set, not
with papers' Inception FIDs. Lower is better; 0 means the two Gaussians agree.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepnotes.generative.divergences import frechet_distance, gaussian_statistics


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


class FeatureExtractor(nn.Module):
    """The embedding of a trained classifier: its penultimate layer (timm's pre-logits),

        features(x) = classifier.forward_head(classifier.forward_features(x), pre_logits=True),

    with the classifier's test `accuracy`, reported beside the FIDs it makes. The
    classifier is trained where runs are made (`deepnotes.train.runs.feature_classifier`).
    """

    def __init__(self, classifier: nn.Module, accuracy: float) -> None:
        super().__init__()
        self.classifier = classifier
        self.accuracy = accuracy

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier.forward_head(self.classifier.forward_features(x), pre_logits=True)
