"""DenseNet: every layer's output is concatenated to the inputs of all later layers.

Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017. Where a ResNet adds a block's output to its input, a
dense block concatenates: layer ℓ sees the feature maps of the block's input
and of every layer before it,

    x_ℓ = H_ℓ([x_0, x_1, …, x_{ℓ−1}]),   H_ℓ = BN → ReLU → 1×1 conv (4k) → BN → ReLU → 3×3 conv (k)

Each layer adds only k new channels (the growth rate), so a layer can be
narrow: the block's "collective knowledge" is all of its inputs. Layer ℓ
reads c_0 + ℓ·k channels and a block of L layers outputs c_0 + L·k. The 1×1
"bottleneck" to 4k channels (DenseNet-B) keeps the 3×3's cost independent of
how many channels have piled up. Gradients reach every layer directly through
the concatenations, and features are reused rather than relearned.

Between blocks, a transition layer halves the channels and the resolution:
BN → ReLU → 1×1 conv to ⌊θ·m⌋ channels (compression θ = 0.5, DenseNet-C) →
2×2 average pool. With both, the paper calls it DenseNet-BC.

DenseNet-121 (k = 32; output sizes at 224×224; the names count the
convolutional and dense layers: 1 + 2·(6 + 12 + 24 + 16) + 3 + 1 = 121):

    stem          7×7/2 conv 64 → BN → ReLU → 3×3/2 max pool       64 × 56 × 56
    dense block 1   6 layers: 64 + 6·32 = 256   → transition 128   128 × 28 × 28
    dense block 2  12 layers: 128 + 12·32 = 512 → transition 256   256 × 14 × 14
    dense block 3  24 layers: 256 + 24·32 = 1024 → transition 512  512 × 7 × 7
    dense block 4  16 layers: 512 + 16·32 = 1024                  1024 × 7 × 7
    head          BN → ReLU → global average pool → fc             1024 → classes

For small images (`densenet121_small`, from 16×16) the 7×7/2 convolution
becomes a 3×3 stride-1 one and the max pool stays: the dense blocks run on
8, 4, 2 and 1 pixels a side (the digits are 8×8 images upsampled, so 8×8
keeps their detail), and a forward costs 0.06 GMACs instead of the 0.22 it
would cost with no stem pooling at all.

DenseNet-169 has 6, 12, 32, 32 layers (block 4 ends with 1664 channels).
The module names are torchvision's (features.conv0, features.denseblock1.
denselayer1.norm1, features.transition1, features.norm5, classifier), so its
state dict loads unchanged.

Shape: (B, C, H, W) → (B, num_classes).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.cards import ModelCard, imagenet_card, imagenet_count
from deepnotes.models.common import Variant, layers, register_model, same_names

PAPER = (
    "Huang, Liu, van der Maaten, Weinberger, Densely Connected Convolutional Networks, CVPR 2017"
)


class DenseLayer(nn.Sequential):
    r"""One layer of a dense block: BN → ReLU → 1×1 conv → BN → ReLU → 3×3 conv, k new channels.

    .. math::
        H(x) = W_2 \star \mathrm{ReLU}(\mathrm{BN}_2(W_1 \star \mathrm{ReLU}(\mathrm{BN}_1(x))))

    Pre-activation order (BN and ReLU before each convolution), no biases. The
    1×1 convolution is the bottleneck, to bn_size·k channels; the 3×3 then
    produces the k = growth_rate channels the layer adds to the block.

    Args:
        num_input_features: channels of the concatenated input, c_0 + ℓ·k.
        growth_rate: output channels k.
        bn_size: bottleneck width as a multiple of k. Default: 4.
        drop_rate: dropout probability on the output. Default: 0.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, num_input_features, H, W) → (B, growth_rate, H, W).
    """

    def __init__(
        self,
        num_input_features: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        impl: str = "torch",
    ) -> None:
        L = layers(impl)
        bottleneck = bn_size * growth_rate
        modules = OrderedDict(
            norm1=L.BatchNorm2d(num_input_features),
            relu1=L.ReLU(inplace=True),
            conv1=L.Conv2d(num_input_features, bottleneck, kernel_size=1, bias=False),
            norm2=L.BatchNorm2d(bottleneck),
            relu2=L.ReLU(inplace=True),
            conv2=L.Conv2d(bottleneck, growth_rate, kernel_size=3, padding=1, bias=False),
        )
        if drop_rate > 0:
            modules["dropout"] = L.Dropout(drop_rate)
        super().__init__(modules)
        self.num_input_features, self.growth_rate, self.bn_size = (
            num_input_features,
            growth_rate,
            bn_size,
        )

    def extra_repr(self) -> str:
        return (
            f"num_input_features={self.num_input_features}, growth_rate={self.growth_rate}, "
            f"bn_size={self.bn_size}"
        )


class DenseBlock(nn.ModuleDict):
    r"""`num_layers` dense layers, each fed the block's input and all earlier layers' outputs.

    .. math::
        x_\ell = H_\ell([x_0, x_1, \dots, x_{\ell-1}]), \qquad
        \text{out} = [x_0, x_1, \dots, x_L]

    The channels grow by the growth rate k per layer: layer ℓ reads
    c_0 + ℓ·k channels and the block returns c_0 + L·k.

    Args:
        num_layers: L.
        num_input_features: c_0.
        growth_rate: k.
        bn_size: bottleneck width as a multiple of k. Default: 4.
        drop_rate: dropout probability after each layer. Default: 0.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, c_0, H, W) → (B, c_0 + L·k, H, W).
    """

    def __init__(
        self,
        num_layers: int,
        num_input_features: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(
                num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate, impl
            )
            self.add_module(f"denselayer{i + 1}", layer)
        self.num_layers, self.num_input_features = num_layers, num_input_features
        self.growth_rate = growth_rate
        self.out_channels = num_input_features + num_layers * growth_rate

    def extra_repr(self) -> str:
        return (
            f"num_layers={self.num_layers}, num_input_features={self.num_input_features}, "
            f"growth_rate={self.growth_rate}, out_channels={self.out_channels}"
        )

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            # (B, c_0 + ℓ·k, H, W) → (B, k, H, W), kept for every later layer
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)  # (B, c_0 + L·k, H, W)


class Transition(nn.Sequential):
    """Between dense blocks: BN → ReLU → 1×1 conv (compress the channels) → 2×2 average pool.

    Args:
        num_input_features: m, the channels the dense block produced.
        num_output_features: ⌊θ·m⌋ for compression θ.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, m, H, W) → (B, num_output_features, ⌊H/2⌋, ⌊W/2⌋).
    """

    def __init__(
        self, num_input_features: int, num_output_features: int, impl: str = "torch"
    ) -> None:
        L = layers(impl)
        super().__init__(
            OrderedDict(
                norm=L.BatchNorm2d(num_input_features),
                relu=L.ReLU(inplace=True),
                conv=L.Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False),
                pool=L.AvgPool2d(kernel_size=2, stride=2),
            )
        )


class DenseNet(nn.Module):
    """DenseNet-BC: a stem, dense blocks joined by compressing transitions, BN-ReLU, pool, fc.

    Args:
        growth_rate: k, channels each dense layer adds. Default: 32.
        block_config: layers per dense block. Default: (6, 12, 24, 16), DenseNet-121.
        num_init_features: channels out of the stem. Default: 64.
        bn_size: bottleneck width as a multiple of k. Default: 4.
        drop_rate: dropout after each dense layer. Default: 0.
        compression: θ, the fraction of channels a transition keeps. Default: 0.5.
        num_classes: outputs. Default: 1000.
        in_channels: input image channels. Default: 3.
        stem: "imagenet" (7×7/2 conv and 3×3/2 max pool: 224 → 56) or "small"
            (3×3 stride-1 conv and the max pool: 16 → 8). Default: "imagenet".
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, num_classes).
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        compression: float = 0.5,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: str = "imagenet",
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        L = layers(impl)
        self.growth_rate, self.block_config = growth_rate, tuple(block_config)
        self.bn_size, self.compression, self.stem = bn_size, compression, stem

        if stem == "imagenet":
            conv0 = L.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False)
        else:
            conv0 = L.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False)
        self.features = nn.Sequential(
            OrderedDict(
                conv0=conv0,
                norm0=L.BatchNorm2d(num_init_features),
                relu0=L.ReLU(inplace=True),
                pool0=L.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        )

        channels = num_init_features
        for i, num_layers in enumerate(block_config, start=1):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate, impl)
            self.features.add_module(f"denseblock{i}", block)
            channels = block.out_channels
            if i < len(block_config):
                compressed = math.floor(compression * channels)
                self.features.add_module(f"transition{i}", Transition(channels, compressed, impl))
                channels = compressed
        self.features.add_module("norm5", L.BatchNorm2d(channels))

        self.relu = L.ReLU(inplace=True)
        self.avgpool = L.AdaptiveAvgPool2d((1, 1))
        self.flatten = L.Flatten()
        self.classifier = L.Linear(channels, num_classes)
        self.reset_parameters(L)

    def reset_parameters(self, L: ModuleType) -> None:
        """torchvision's initialisation: He-normal convolutions, BN γ=1 β=0, zero dense bias."""
        for m in self.modules():
            if isinstance(m, L.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, L.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, L.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """The stem, the dense blocks and transitions, and the last BN-ReLU:
        (B, in_channels, H, W) → (B, C_final, h, w)."""
        return self.relu(self.features(x))

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the dense layer: (B, C_final, h, w) → (B, num_classes);
        with `pre_logits` the pooled (B, C_final) input of the dense layer."""
        x = self.flatten(self.avgpool(features))  # (B, C_final)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def extra_repr(self) -> str:
        return (
            f"growth_rate={self.growth_rate}, block_config={self.block_config}, "
            f"bn_size={self.bn_size}, compression={self.compression}, stem={self.stem!r}"
        )


def densenet(
    block_config: tuple[int, ...],
    num_classes: int = 1000,
    input_size: tuple[int, int, int] = (3, 224, 224),
    impl: str = "torch",
    **kwargs: Any,
) -> DenseNet:
    """A DenseNet with `block_config` layers per dense block for `input_size` images."""
    return DenseNet(
        num_classes=num_classes,
        in_channels=input_size[0],
        impl=impl,
        block_config=block_config,
        **kwargs,
    )


# `_small` changes only the stem; `_tiny` also grows by 8 maps a layer from 16, with fewer layers
SMALL = Variant("small", {"stem": "small"})


def tiny(block_config: tuple[int, ...]) -> Variant:
    """The tiny variant with `block_config` layers per dense block."""
    settings = {"stem": "small", "growth_rate": 8, "num_init_features": 16}
    return Variant("tiny", {**settings, "block_config": block_config})


def densenet_card(torchvision: str, count: int) -> ModelCard:
    """The card both DenseNets share, with torchvision's name and its count at 1000 classes."""
    return imagenet_card(
        family="densenet",
        paper=PAPER,
        reference=imagenet_count(
            count,
            f"torchvision {torchvision.replace('densenet', 'DenseNet')}_Weights."
            "IMAGENET1K_V1 num_params",
        ),
        concepts=(
            "dense connectivity",
            "concatenation of all earlier feature maps",
            "growth rate",
            "bottleneck 1×1 convolution",
            "transition layers and compression",
            "pre-activation BatchNorm-ReLU-conv",
            "global average pooling",
        ),
        torchvision=torchvision,
        from_torchvision=same_names,
    )


@register_model(
    "densenet121",
    densenet_card("densenet121", 7_978_856),
    variants={"densenet121_small": SMALL, "densenet121_tiny": tiny((2, 2, 2, 2))},
)
def densenet121(**kwargs: Any) -> DenseNet:
    """DenseNet-121: k = 32, blocks of 6, 12, 24, 16 layers (a variant's kwargs may override)."""
    return densenet(**{"block_config": (6, 12, 24, 16), **kwargs})


@register_model(
    "densenet169",
    densenet_card("densenet169", 14_149_480),
    variants={"densenet169_small": SMALL, "densenet169_tiny": tiny((2, 2, 3, 3))},
)
def densenet169(**kwargs: Any) -> DenseNet:
    """DenseNet-169: k = 32, blocks of 6, 12, 32, 32 layers (a variant's kwargs may override)."""
    return densenet(**{"block_config": (6, 12, 32, 32), **kwargs})
