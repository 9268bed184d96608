"""AlexNet: LeNet made deep, wide and trainable on ImageNet.

Krizhevsky, Sutskever, Hinton, "ImageNet classification with deep
convolutional neural networks", NeurIPS 2012. The widths are torchvision's,
the single-GPU version of Krizhevsky, "One weird trick for parallelizing
convolutional neural networks", arXiv:1404.5997, 2014.

    conv 11×11/4, 64  → ReLU → max pool 3×3/2          224 → 55 → 27
    conv  5×5,   192  → ReLU → max pool 3×3/2           27 → 27 → 13
    conv  3×3,   384  → ReLU                            13
    conv  3×3,   256  → ReLU                            13
    conv  3×3,   256  → ReLU → max pool 3×3/2           13 → 6
    adaptive average pool to 6×6, flatten              256·6·6 = 9,216
    dense 4,096 → ReLU → dropout
    dense 4,096 → ReLU → dropout
    dense num_classes

Sizes follow the notes' o = floor((i − k + 2p)/s) + 1: (224 − 11 + 4)/4 + 1 = 55.

The notes' lessons, against LeNet:
- ReLU instead of sigmoid: its gradient is 1 wherever the unit is active, so it
  does not vanish through depth as σ′ ≤ 1/4 does.
- Max pooling instead of average pooling: it keeps the strongest response in
  each window and gives some shift invariance.
- Dropout after the two hidden dense layers: these hold 54.5 million of the
  61.1 million parameters (the first alone 9,216·4,096 + 4,096 = 37,752,832,
  the notes' c·m_h·m_w·n), and dropout keeps them from co-adapting, a cheap
  ensemble of thinned networks.
- Heavy data augmentation and model ensembling complete the recipe; they live
  in training (the data pipeline, averaging several runs), not in this module.

torchvision applies each dropout *before* its dense layer (dropout, dense,
ReLU, ...); here it follows each hidden layer, as the notes, the paper ("dropout
in the first two fully-connected layers") and VGG's classifier have it. In
evaluation dropout is the identity, so the two compute the same function with
the same weights; only the dense layers' indices in `classifier` differ, which
`from_torchvision` maps.

`alexnet_small` keeps the widths and all three poolings but replaces the 11×11
stride-4 stem by a 3×3 stride-1 convolution, and averages the last map down to
1×1 (256 features into the first dense layer), so 16×16 images work:
16 → 16 → 7 → 7 → 3 → 3 → 1.

Shape: (B, C, H, W) → (B, num_classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from deepnotes.cards import imagenet_card, imagenet_count
from deepnotes.models.common import (
    CLASSIC_TRAIN_DEFAULTS,
    DenseHeadClassifier,
    Variant,
    dense_classifier,
    layers,
    register_model,
    stem_settings,
)

PAPER = (
    "Krizhevsky, Sutskever, Hinton, ImageNet classification with deep convolutional neural "
    "networks, NeurIPS 2012; widths as torchvision: Krizhevsky, One weird trick for "
    "parallelizing convolutional neural networks, arXiv:1404.5997"
)

# (kernel_size, stride, padding) of the first convolution.
STEMS = {"imagenet": (11, 4, 2), "small": (3, 1, 1)}


class AlexNet(DenseHeadClassifier):
    """AlexNet: five convolutions with ReLU and three max poolings, then three dense layers.

    The first convolution (the stem) downsamples by 4; the second is 5×5; the
    rest are 3×3 at padding 1. A max pooling 3×3/2 follows the first, the second
    and the last convolution. An adaptive average pooling fixes the map that
    enters the dense layers at `pool_size`², whatever the input size.

    Args:
        num_classes: outputs of the last dense layer. Default: 1000.
        input_size: (C, H, W) of the images; only C shapes the network. Default: (3, 224, 224).
        stem: "imagenet" (11×11, stride 4, padding 2) or "small" (3×3, stride 1,
            padding 1). Default: "imagenet".
        widths: output channels of the convolutions, stem first; the third and
            later are 3×3. Default: (64, 192, 384, 256, 256).
        hidden: width of the two hidden dense layers. Default: 4096.
        dropout: dropout probability after each hidden dense layer. Default: 0.5.
        pool_size: side of the averaged map that is flattened. Default: 6.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        - Input: (B, C, H, W), H and W at least 63 with the ImageNet stem, 15 with the small one.
        - Output: (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        input_size: Sequence[int] = (3, 224, 224),
        stem: str = "imagenet",
        widths: Sequence[int] = (64, 192, 384, 256, 256),
        hidden: int = 4096,
        dropout: float = 0.5,
        pool_size: int = 6,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        L = layers(impl)
        kernel_size, stride, padding = stem_settings(STEMS, stem)
        stem_width, second_width, *_ = widths
        features: list[nn.Module] = [
            L.Conv2d(input_size[0], stem_width, kernel_size, stride=stride, padding=padding),
            L.ReLU(inplace=True),
            L.MaxPool2d(kernel_size=3, stride=2),
            L.Conv2d(stem_width, second_width, kernel_size=5, padding=2),
            L.ReLU(inplace=True),
            L.MaxPool2d(kernel_size=3, stride=2),
        ]
        for c_in, c_out in pairwise(widths[1:]):
            features += [L.Conv2d(c_in, c_out, kernel_size=3, padding=1), L.ReLU(inplace=True)]
        features.append(L.MaxPool2d(kernel_size=3, stride=2))
        self.features = nn.Sequential(*features)
        self.avgpool = L.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = dense_classifier(
            L, widths[-1] * pool_size * pool_size, hidden, num_classes, dropout
        )


def from_torchvision(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """torchvision's AlexNet weights under our names.

    torchvision's classifier is (dropout, dense, ReLU, dropout, dense, ReLU,
    dense), ours (dense, ReLU, dropout, dense, ReLU, dropout, dense): its dense
    layers sit at indices 1, 4, 6, ours at 0, 3, 6. Every other key is the same.
    """
    renames = {"classifier.1.": "classifier.0.", "classifier.4.": "classifier.3."}

    def rename(key: str) -> str:
        for theirs, ours in renames.items():
            if key.startswith(theirs):
                return ours + key.removeprefix(theirs)
        return key

    return {rename(key): value for key, value in state_dict.items()}


@register_model(
    "alexnet",
    imagenet_card(
        family="alexnet",
        paper=PAPER,
        reference=imagenet_count(
            61_100_840,
            "torchvision.models.alexnet (AlexNet_Weights.IMAGENET1K_V1: 61,100,840 "
            "params): convolutions 2,469,696 + dense 37,752,832 + 16,781,312 + 4,097,000",
        ),
        train_defaults=CLASSIC_TRAIN_DEFAULTS,
        concepts=("ReLU", "max pooling", "dropout", "data augmentation", "ensembling"),
        torchvision="alexnet",
        from_torchvision=from_torchvision,
    ),
    variants={
        "alexnet_small": Variant("small", {"stem": "small", "pool_size": 1}, (3, 16, 16)),
        "alexnet_tiny": Variant(
            "tiny",
            {"stem": "small", "widths": (8, 16, 16), "hidden": 32, "pool_size": 1},
            (3, 16, 16),
        ),
    },
)
def alexnet(**kwargs) -> AlexNet:
    """AlexNet as torchvision builds it (61,100,840 parameters at 1000 classes)."""
    return AlexNet(**kwargs)
