"""VGG: deep and narrow, built from one block — 3×3 convolutions, then a 2×2 max pooling.

Simonyan, Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015. The `_bn` variants put a BatchNorm after every
convolution (Ioffe, Szegedy, ICML 2015), as torchvision does.

The notes: deep and narrow is better — "a larger number of compositions of
simple functions turns out to be more expressive [...] than a small number of
shallower and more complicated functions". VGG keeps every convolution 3×3
(padding 1, so a block keeps the size) and lets depth do the rest:

- Two stacked 3×3 convolutions see what one 5×5 sees (receptive field
  r = 1 + 2 + 2 = 5) with 2·3² = 18 instead of 5² = 25 weights per pair of
  channels, and a ReLU between them; three see 7×7 with 27 instead of 49.
- Five stages, each ending in a 2×2/2 max pooling that halves the size while
  the width doubles from 64 up to 512: 224 → 112 → 56 → 28 → 14 → 7.

The paper's table 1, as 3×3 convolutions per stage (widths 64, 128, 256, 512, 512):

    vgg11 (A)   1 1 2 2 2        vgg16 (D)   2 2 3 3 3
    vgg13 (B)   2 2 2 2 2        vgg19 (E)   2 2 4 4 4

After the stages comes AlexNet's classifier on 512·7·7 = 25,088 features:
dense 4,096 → ReLU → dropout → dense 4,096 → ReLU → dropout → dense
num_classes. Its first layer alone has 25,088·4,096 + 4,096 = 102,764,544 of
vgg16's 138,357,544 parameters; the thirteen convolutions have 14,714,688.

Initialisation (torchvision's): He et al. 2015, weights ~ N(0, 2/fan_out), keep
the signal's scale through a deep stack of ReLU layers; dense weights
~ N(0, 0.01²); biases 0. The paper had no such rule yet and trained the
shallow configuration A first, then started the deeper ones from it. In the
`_bn` variants each convolution keeps its bias, as torchvision's do, though the
BatchNorm that follows subtracts it again.

`<name>_small` keeps every block and width (VGG's stem already is a 3×3
stride-1 convolution) and averages the last map to 1×1 (512 features into the
first dense layer); the five poolings need 32×32 inputs: 32 → 16 → 8 → 4 → 2 → 1.

Shape: (B, C, H, W) → (B, num_classes), H and W at least 32.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from torch import nn

from deepnotes.cards import ModelCard, imagenet_card, imagenet_count
from deepnotes.models.common import (
    CLASSIC_TRAIN_DEFAULTS,
    DenseHeadClassifier,
    Variant,
    dense_classifier,
    layers,
    register_model,
    same_names,
)

PAPER = (
    "Simonyan, Zisserman, Very deep convolutional networks for large-scale image recognition, "
    "ICLR 2015"
)
BN_PAPER = (
    "; BatchNorm: Ioffe, Szegedy, Batch normalization: accelerating deep network training by "
    "reducing internal covariate shift, ICML 2015"
)

WIDTHS = (64, 128, 256, 512, 512)

# 3×3 convolutions per stage: the paper's configurations A (vgg11), B (vgg13), D (vgg16)
# and E (vgg19).
DEPTHS_A = (1, 1, 2, 2, 2)
DEPTHS_B = (2, 2, 2, 2, 2)
DEPTHS_D = (2, 2, 3, 3, 3)
DEPTHS_E = (2, 2, 4, 4, 4)


class VGG(DenseHeadClassifier):
    """VGG: stages of 3×3 convolutions (+ BatchNorm) + ReLU, each closed by a 2×2 max pooling,
    then three dense layers.

    `features` is one flat `nn.Sequential`, as torchvision's, so that the two
    share state-dict keys: stage by stage, `depths[i]` times (conv 3×3 →
    [BatchNorm →] ReLU) at width `widths[i]`, then max pooling 2×2/2.

    Args:
        num_classes: outputs of the last dense layer. Default: 1000.
        input_size: (C, H, W) of the images; only C shapes the network. Default: (3, 224, 224).
        depths: 3×3 convolutions per stage. Default: (1, 1, 2, 2, 2), vgg11.
        widths: output channels of each stage. Default: (64, 128, 256, 512, 512).
        batch_norm: a BatchNorm2d after each convolution. Default: False.
        hidden: width of the two hidden dense layers. Default: 4096.
        dropout: dropout probability after each hidden dense layer. Default: 0.5.
        pool_size: side of the averaged map that is flattened. Default: 7.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        - Input: (B, C, H, W), H and W at least 2^len(depths).
        - Output: (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        input_size: Sequence[int] = (3, 224, 224),
        depths: Sequence[int] = DEPTHS_A,
        widths: Sequence[int] = WIDTHS,
        batch_norm: bool = False,
        hidden: int = 4096,
        dropout: float = 0.5,
        pool_size: int = 7,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        L = layers(impl)
        features: list[nn.Module] = []
        c_in = input_size[0]
        for depth, width in zip(depths, widths, strict=True):
            for _ in range(depth):
                features.append(L.Conv2d(c_in, width, kernel_size=3, padding=1))
                if batch_norm:
                    features.append(L.BatchNorm2d(width))
                features.append(L.ReLU(inplace=True))
                c_in = width
            features.append(L.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*features)
        self.avgpool = L.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = dense_classifier(
            L, c_in * pool_size * pool_size, hidden, num_classes, dropout
        )
        self.initialize(L)

    def initialize(self, L: ModuleType) -> None:
        """torchvision's initialisation: He for the convolutions, N(0, 0.01²) for dense layers."""
        for module in self.modules():
            if isinstance(module, L.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, L.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)


def vgg_card(name: str, count: int, batch_norm: bool) -> ModelCard:
    """The card of one configuration of the table; `count` is torchvision's at 1000 classes."""
    return imagenet_card(
        family="vgg",
        paper=PAPER + BN_PAPER * batch_norm,
        reference=imagenet_count(
            count,
            f"torchvision.models.{name} ({name.upper()}_Weights.IMAGENET1K_V1: {count:,} params)",
        ),
        concepts=("3×3 convolutions", "deep and narrow", "receptive field", "max pooling")
        + ("batch normalization",) * batch_norm,
        train_defaults=CLASSIC_TRAIN_DEFAULTS,  # AlexNet's: the same dense head, the same data
        torchvision=name,
        from_torchvision=same_names,  # features, avgpool, classifier: torchvision's names
    )


# `_small`: every block and width, the last map averaged to 1×1.
SMALL = Variant("small", {"pool_size": 1}, (3, 32, 32))


def tiny(depths: Sequence[int]) -> Variant:
    """`_tiny`: the first three stages of the configuration, an eighth as wide."""
    return Variant(
        "tiny",
        {"depths": tuple(depths[:3]), "widths": (8, 16, 32), "hidden": 32, "pool_size": 1},
        (3, 32, 32),
    )


@register_model(
    "vgg11",
    vgg_card("vgg11", 132_863_336, batch_norm=False),
    variants={"vgg11_small": SMALL, "vgg11_tiny": tiny(DEPTHS_A)},
)
def vgg11(**kwargs) -> VGG:
    """VGG-11, configuration A."""
    return VGG(**{"depths": DEPTHS_A, "batch_norm": False, **kwargs})


@register_model(
    "vgg11_bn",
    vgg_card("vgg11_bn", 132_868_840, batch_norm=True),
    variants={"vgg11_bn_small": SMALL, "vgg11_bn_tiny": tiny(DEPTHS_A)},
)
def vgg11_bn(**kwargs) -> VGG:
    """VGG-11, configuration A, with BatchNorm."""
    return VGG(**{"depths": DEPTHS_A, "batch_norm": True, **kwargs})


@register_model(
    "vgg13",
    vgg_card("vgg13", 133_047_848, batch_norm=False),
    variants={"vgg13_small": SMALL, "vgg13_tiny": tiny(DEPTHS_B)},
)
def vgg13(**kwargs) -> VGG:
    """VGG-13, configuration B."""
    return VGG(**{"depths": DEPTHS_B, "batch_norm": False, **kwargs})


@register_model(
    "vgg13_bn",
    vgg_card("vgg13_bn", 133_053_736, batch_norm=True),
    variants={"vgg13_bn_small": SMALL, "vgg13_bn_tiny": tiny(DEPTHS_B)},
)
def vgg13_bn(**kwargs) -> VGG:
    """VGG-13, configuration B, with BatchNorm."""
    return VGG(**{"depths": DEPTHS_B, "batch_norm": True, **kwargs})


@register_model(
    "vgg16",
    vgg_card("vgg16", 138_357_544, batch_norm=False),
    variants={"vgg16_small": SMALL, "vgg16_tiny": tiny(DEPTHS_D)},
)
def vgg16(**kwargs) -> VGG:
    """VGG-16, configuration D."""
    return VGG(**{"depths": DEPTHS_D, "batch_norm": False, **kwargs})


@register_model(
    "vgg16_bn",
    vgg_card("vgg16_bn", 138_365_992, batch_norm=True),
    variants={"vgg16_bn_small": SMALL, "vgg16_bn_tiny": tiny(DEPTHS_D)},
)
def vgg16_bn(**kwargs) -> VGG:
    """VGG-16, configuration D, with BatchNorm."""
    return VGG(**{"depths": DEPTHS_D, "batch_norm": True, **kwargs})


@register_model(
    "vgg19",
    vgg_card("vgg19", 143_667_240, batch_norm=False),
    variants={"vgg19_small": SMALL, "vgg19_tiny": tiny(DEPTHS_E)},
)
def vgg19(**kwargs) -> VGG:
    """VGG-19, configuration E."""
    return VGG(**{"depths": DEPTHS_E, "batch_norm": False, **kwargs})


@register_model(
    "vgg19_bn",
    vgg_card("vgg19_bn", 143_678_248, batch_norm=True),
    variants={"vgg19_bn_small": SMALL, "vgg19_bn_tiny": tiny(DEPTHS_E)},
)
def vgg19_bn(**kwargs) -> VGG:
    """VGG-19, configuration E, with BatchNorm."""
    return VGG(**{"depths": DEPTHS_E, "batch_norm": True, **kwargs})
