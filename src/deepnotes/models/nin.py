"""Network in Network: a small MLP at every pixel, and no dense layers at the end.

Lin, Chen, Yan, "Network in network", ICLR 2014 (arXiv:1312.4400); the
configuration is d2l.ai §8.3's, which lays NiN over AlexNet's.

An mlpconv block is a k×k convolution followed by two 1×1 convolutions, each
with a ReLU. A 1×1 convolution from c_in to c_out channels is

    y[:, i, j] = W x[:, i, j] + b,    W ∈ R^{c_out × c_in},

the same dense layer applied to the channel vector of every pixel (i, j): the
two 1×1 layers are a two-layer MLP slid over the image like a kernel, which is
what the notes mean by "1×1 convolutions act as a per-pixel MLP". They mix
channels, never neighbouring pixels, and cost c_in·c_out weights each.

The head has no dense layers. The last block has one channel per class, and
global average pooling turns each channel into one number:

    logit_c = 1/(H·W) Σ_{i,j} y[c, i, j],

with no parameters at all (AlexNet's dense head holds 54.5 million), and a
direct link from each map to its class ("the average keeps the channel's
global information rather than its most salient value", say the notes).

    mlpconv 11×11/4,  96 → max pool 3×3/2             224 → 54 → 26
    mlpconv  5×5,    256 → max pool 3×3/2              26 → 12
    mlpconv  3×3,    384 → max pool 3×3/2 → dropout    12 → 5
    mlpconv  3×3, num_classes → global average pool    5 → 1

Parameters, Σ c_in·c_out·k² + c_out over the twelve convolutions, at 3 input
channels and 1000 classes: 53,568 + 746,240 + 1,180,800 + 5,459,000 = 7,439,608.
torchvision has no NiN.

Initialisation: He et al. 2015, weights ~ N(0, 2/fan_in) and zero biases, so
the signal keeps its scale through twelve ReLU convolutions. PyTorch's default
shrinks it layer by layer, and its biases, uniform in ±1/√fan_in, then
outweigh the tiny pre-activations of the narrow class layers and switch units
on or off whatever the input.

`nin_small` keeps every block and width of `features` and replaces the
11×11 stride-4 stem convolution by a 3×3 stride-1 one, so 16×16 images work:
16 → 16 → 7 → 7 → 3 → 3 → 1 → 1. Its head changes as the paper's own CIFAR-10
network has it (192, 192, 10 channels): the class block keeps the width of the
block before it (384) for its k×k and first 1×1 convolutions, and only its
last 1×1 narrows to one channel per class, here with no ReLU after it. With
10 classes d2l's class block squeezes everything through ReLU layers 10 units
wide, and a ReLU on the class maps clips every score at 0: a class whose unit
has died (the "dying ReLU" of the activations lesson) can never be predicted
again. On digits at 16×16, in ten epochs of Adam, d2l's head reached at best
about 50% test accuracy, with either initialisation (with He's, some runs lost
every class unit and stayed at 10%); this head, with He's, reached 97%.

Shape: (B, C, H, W) → (B, num_classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from types import ModuleType

from torch import Tensor, nn

from deepnotes.cards import imagenet_card, imagenet_count
from deepnotes.models.common import (
    CLASSIC_TRAIN_DEFAULTS,
    Variant,
    layers,
    register_model,
    stem_settings,
)

PAPER = "Lin, Chen, Yan, Network in network, ICLR 2014 (arXiv:1312.4400)"

# (kernel_size, stride, padding) of the first block's k×k convolution.
STEMS = {"imagenet": (11, 4, 0), "small": (3, 1, 1)}


class MLPConv(nn.Sequential):
    r"""An mlpconv block: a k×k convolution, then two 1×1 convolutions, each followed by ReLU.

    .. math::
        h = \mathrm{ReLU}(\mathrm{conv}_{k×k}(x)), \quad
        y[:, i, j] = \mathrm{ReLU}(W_2\, \mathrm{ReLU}(W_1 h[:, i, j] + b_1) + b_2)

    The k×k convolution looks at a neighbourhood; the two 1×1 convolutions are
    one two-layer MLP (W_1 ∈ R^{hidden × hidden}, W_2 ∈ R^{out × hidden}) shared
    by every pixel.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: side k of the first convolution.
        stride: stride of the first convolution. Default: 1.
        padding: padding of the first convolution. Default: 0.
        hidden_channels: channels of the first two convolutions. Default: out_channels.
        last_relu: a ReLU after the last convolution. Default: True.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        - Input: (B, in_channels, H, W).
        - Output: (B, out_channels, H', W'), H' = floor((H − k + 2·padding)/stride) + 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        hidden_channels: int | None = None,
        last_relu: bool = True,
        impl: str = "torch",
    ) -> None:
        L = layers(impl)
        hidden = hidden_channels or out_channels
        super().__init__(
            L.Conv2d(in_channels, hidden, kernel_size, stride=stride, padding=padding),
            L.ReLU(inplace=True),
            L.Conv2d(hidden, hidden, kernel_size=1),
            L.ReLU(inplace=True),
            L.Conv2d(hidden, out_channels, kernel_size=1),
            *([L.ReLU(inplace=True)] if last_relu else []),
        )


class NiN(nn.Module):
    """Network in Network: mlpconv blocks with max pooling, then an mlpconv block of one
    channel per class and global average pooling.

    The first block's k×k convolution is the stem; the second block's is 5×5
    and later ones 3×3 at padding 1, as in AlexNet. A max pooling 3×3/2 follows
    every block of `features`, and dropout the last one. `classifier` holds the
    class block (3×3, ending in `num_classes` channels), the global average
    pooling and the flattening; it has no dense layer.

    Args:
        num_classes: channels of the last convolution, one per class. Default: 1000.
        input_size: (C, H, W) of the images; only C shapes the network. Default: (3, 224, 224).
        stem: "imagenet" (11×11, stride 4, no padding) or "small" (3×3, stride 1,
            padding 1). Default: "imagenet".
        widths: channels of the mlpconv blocks of `features`. Default: (96, 256, 384).
        head_width: channels of the class block's first two convolutions.
            Default: None, num_classes (d2l's).
        head_relu: a ReLU on the class maps before the pooling. Default: True (d2l's).
        dropout: dropout probability before the class block. Default: 0.5.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        - Input: (B, C, H, W), H and W at least 67 with the ImageNet stem, 15 with the small one.
        - Output: (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        input_size: Sequence[int] = (3, 224, 224),
        stem: str = "imagenet",
        widths: Sequence[int] = (96, 256, 384),
        head_width: int | None = None,
        head_relu: bool = True,
        dropout: float = 0.5,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        L = layers(impl)
        kernel_size, stride, padding = stem_settings(STEMS, stem)
        features: list[nn.Module] = [
            MLPConv(input_size[0], widths[0], kernel_size, stride, padding, impl=impl),
            L.MaxPool2d(kernel_size=3, stride=2),
        ]
        for index, (c_in, c_out) in enumerate(pairwise(widths), start=1):
            k = 5 if index == 1 else 3
            features += [
                MLPConv(c_in, c_out, k, padding=k // 2, impl=impl),
                L.MaxPool2d(kernel_size=3, stride=2),
            ]
        features.append(L.Dropout(dropout))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            MLPConv(
                widths[-1],
                num_classes,
                kernel_size=3,
                padding=1,
                hidden_channels=head_width,
                last_relu=head_relu,
                impl=impl,
            ),
            L.AdaptiveAvgPool2d((1, 1)),  # (B, num_classes, 1, 1): one value per channel
            L.Flatten(),  # (B, num_classes)
        )
        self.initialize(L)

    def initialize(self, L: ModuleType) -> None:
        """He initialisation, weights ~ N(0, 2/fan_in), and zero biases, for every convolution."""
        for module in self.modules():
            if isinstance(module, L.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """The mlpconv blocks, poolings and dropout: (B, C, H, W) → (B, widths[-1], h, w)."""
        return self.features(x)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """The class block, global average pooling and flattening: (B, widths[-1], h, w) →
        (B, num_classes).

        NiN has no dense layer; its last 1×1 convolution plays the last one's part. With
        `pre_logits`, the (B, hidden) channel means of what that convolution reads (the
        class block's first two convolutions, each with its ReLU). Without a ReLU on the
        class maps (`head_relu=False`, the small variants) the logits are exactly that 1×1
        convolution applied to this vector as a dense layer: averaging over the pixels and
        a 1×1 convolution commute.
        """
        if not pre_logits:
            return self.classifier(features)
        class_block, pool, flatten = self.classifier
        x = features
        for layer in list(class_block)[:4]:  # k×k conv, ReLU, 1×1 conv, ReLU
            x = layer(x)  # (B, hidden, h, w)
        return flatten(pool(x))  # (B, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    "nin",
    imagenet_card(
        family="nin",
        # the ImageNet stem needs 67 at least: 96 → 22 → 10 → 4 → 1
        test_input_size=(3, 96, 96),
        paper=PAPER,
        reference=imagenet_count(
            7_439_608,
            "d2l.ai §8.3 (Network in Network) configuration — mlpconv blocks 96 (11×11/4), "
            "256 (5×5), 384 (3×3), num_classes (3×3) — counted as Σ c_in·c_out·k² + c_out: "
            "53,568 + 746,240 + 1,180,800 + 5,459,000; torchvision has no NiN",
        ),
        train_defaults=CLASSIC_TRAIN_DEFAULTS,
        concepts=("1×1 convolution", "per-pixel MLP", "global average pooling", "mlpconv"),
    ),
    variants={
        "nin_small": Variant(
            "small", {"stem": "small", "head_width": 384, "head_relu": False}, (3, 16, 16)
        ),
        "nin_tiny": Variant(
            "tiny",
            {"stem": "small", "widths": (16, 32), "head_width": 32, "head_relu": False},
            (3, 16, 16),
        ),
    },
)
def nin(**kwargs) -> NiN:
    """NiN in d2l.ai's configuration (7,439,608 parameters at 3 channels, 1000 classes)."""
    return NiN(**kwargs)
