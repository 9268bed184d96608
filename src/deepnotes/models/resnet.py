"""ResNet and ResNeXt: deep networks built from residual blocks.

He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR 2016;
Xie, Girshick, Dollár, Tu, He, "Aggregated residual transformations for deep
neural networks" (ResNeXt), CVPR 2017.

The residual block. A block does not learn its output H(x) outright but the
change F(x) = H(x) − x it makes to its input, and a shortcut adds the input back:

    y = ReLU(x + F(x))

The notes call this a "Taylor expansion" style parametrisation: the network is
the identity plus one correction per block, so a block added with F = 0 leaves
the outputs of the blocks before it unchanged, and a deeper network can always
do at least what a shallower one did. The gradient takes the same road:
∂y/∂x = I + ∂F/∂x (before the ReLU) reaches early layers through the shortcuts
however deep the network is. `zero_init_residual` starts every block at F = 0:
the last BatchNorm of its branch gets γ = 0 (and has β = 0), so on its input,
which is ≥ 0 after the previous ReLU, the block is exactly the identity.

Two kinds of block (c = the stage's width, "planes"):

    basic       3×3, c → BN → ReLU → 3×3, c → BN                        out c
    bottleneck  1×1, c → BN → ReLU → 3×3, c → BN → ReLU → 1×1, 4c → BN  out 4c

The bottleneck's first 1×1 conv shrinks the 4c channels it receives to c before
the costly 3×3 conv, the last one widens them back: about a basic block's cost
at four times the width.

Four stages. A stem (7×7 conv with stride 2, then 3×3 max pooling with stride
2: 224 → 56) feeds four stages of blocks, 64, 128, 256 and 512 wide (×4 out of
a bottleneck); stages 2 to 4 halve the resolution in their first block
(56 → 28 → 14 → 7); global average pooling and one dense layer make the head.

    model       block        blocks per stage   params (1000 classes)
    resnet18    basic        2, 2, 2, 2         11,689,512
    resnet34    basic        3, 4, 6, 3         21,797,672
    resnet50    bottleneck   3, 4, 6, 3         25,557,032
    resnet101   bottleneck   3, 4, 23, 3        44,549,160
    resnet152   bottleneck   3, 8, 36, 3        60,192,808

(The depth counts weighted layers on the main path: 18 = 1 + 2·8 + 1.)

The projection shortcut. The first block of a stage changes the shape of its
input: more channels (64 → 128, or 64 → 256 out of a bottleneck) and, from
stage 2 on, stride 2. x can no longer be added to F(x) as it is, so that
block's shortcut is a 1×1 convolution with the block's stride and a BatchNorm,
W_s·x ("option B" of the paper); every other shortcut is the identity.

ResNeXt splits the bottleneck's 3×3 conv into g groups (the cardinality), each
a convolution of its own d channels: "32x4d" is 32 groups of 4 channels in
stage 1 (width g·d = 128; each stage doubles d). The notes: slice the network
into 32 thin networks and stack their outputs. A conv from c to c channels in g
groups holds g·(c/g)·(c/g)·k² = c²k²/g weights, 1/g of the dense conv's, so
the block can be twice as wide for fewer parameters: resnext50_32x4d has
25,028,904 against resnet50's 25,557,032.

Details as in torchvision (its "ResNet v1.5"), whose module names this file
uses, so a torchvision state dict loads unchanged: a bottleneck that
downsamples puts the stride on its 3×3 conv (the paper put it on the first
1×1, which then skips three quarters of the pixels); convolutions start from
He's normal initialisation N(0, 2/fan_out) (He et al., "Delving deep into
rectifiers", 2015). `attention` places a module on the residual branch just
before the addition, y = ReLU(x + A(F(x))): Squeeze-and-Excitation
(`deepnotes.models.senet`) is passed in this way.

`stem="small"` (the `_small` variants) replaces the stem by a 3×3 conv with
stride 1 and no max pooling, for 16×16 to 32×32 images; adaptive average
pooling lets the head take any size.

Shape: (B, C, H, W) → (B, num_classes); stage s leaves (B, widths[s]·e, H/2^(s+1),
W/2^(s+1)) with the ImageNet stem (e = 1 basic, 4 bottleneck), (B, widths[s]·e,
H/2^(s−1), W/2^(s−1)) with the small one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from deepnotes.cards import ModelCard, imagenet_card, imagenet_count
from deepnotes.errors import UserError
from deepnotes.models.common import Variant, layers, register_model, same_names

Attention = Callable[[int], nn.Module]  # channels → module applied to the residual branch

# (kernel, stride, padding) of the first convolution, and whether max pooling follows
STEMS = {"imagenet": (7, 2, 3, True), "small": (3, 1, 1, False)}


class ResidualBlock(nn.Module):
    """What both blocks share: y = ReLU(A(F(x)) + shortcut(x)).

    A subclass builds the residual branch F (`residual`), its optional attention
    A (`se`) and the projection shortcut (`downsample`, None for the identity).
    """

    expansion: ClassVar[int]  # output channels per unit of `planes`
    in_channels: int
    planes: int
    stride: int
    se: nn.Module | None
    downsample: nn.Module | None
    relu: nn.Module

    def residual(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def last_bn(self) -> nn.Module:
        """The BatchNorm that ends the residual branch: γ = 0 there makes F(x) = 0."""
        raise NotImplementedError

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.last_bn().weight)

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)  # F(x), (B, planes·e, H/stride, W/stride)
        if self.se is not None:
            out = self.se(out)
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.planes}, stride={self.stride}"


class BasicBlock(ResidualBlock):
    r"""The residual block of ResNet-18 and ResNet-34: two 3×3 convolutions.

    .. math::
        F(x) = \mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x))), \quad
        y = \mathrm{ReLU}(x + F(x))

    Args:
        in_channels: channels of x.
        planes: width of both convolutions, and the block's output channels.
        stride: stride of the first convolution (2 halves H and W). Default: 1.
        downsample: the projection shortcut, or None for the identity. Default: None.
        groups, width_per_group: only 1 and 64: grouped basic blocks do not exist.
        attention: channels → module applied to F(x) before the addition. Default: None.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, planes, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        width_per_group: int = 64,
        attention: Attention | None = None,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise UserError("BasicBlock takes only groups=1 and width_per_group=64")
        L = layers(impl)
        self.in_channels, self.planes, self.stride = in_channels, planes, stride
        self.conv1 = L.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = L.BatchNorm2d(planes)
        self.relu = L.ReLU(inplace=True)
        self.conv2 = L.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = L.BatchNorm2d(planes)
        self.se = attention(planes) if attention else None
        self.downsample = downsample

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def last_bn(self) -> nn.Module:
        return self.bn2


class Bottleneck(ResidualBlock):
    r"""The residual block of ResNet-50/101/152 and ResNeXt: 1×1 → 3×3 (grouped) → 1×1.

    .. math::
        F(x) = \mathrm{BN}(W_3 * \mathrm{ReLU}(\mathrm{BN}(W_2 *_g
        \mathrm{ReLU}(\mathrm{BN}(W_1 * x))))), \quad y = \mathrm{ReLU}(x + F(x))

    The inner width is planes · (width_per_group / 64) · groups: `planes` for a
    ResNet (groups 1, width 64), 2·planes for ResNeXt 32x4d at every stage. The
    3×3 conv is split into `groups` convolutions of width/groups channels each
    (`*_g`), with 1/groups of the dense conv's weights. The stride sits on the
    3×3 conv (torchvision's v1.5), not on the first 1×1 conv (the paper's).

    Args:
        in_channels: channels of x.
        planes: base width; the block outputs planes · 4 channels.
        stride: stride of the 3×3 convolution. Default: 1.
        downsample: the projection shortcut, or None for the identity. Default: None.
        groups: groups of the 3×3 convolution (ResNeXt's cardinality). Default: 1.
        width_per_group: channels per group at planes = 64 (ResNeXt's d). Default: 64.
        attention: channels → module applied to F(x) before the addition. Default: None.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, 4·planes, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        width_per_group: int = 64,
        attention: Attention | None = None,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        L = layers(impl)
        width = planes * width_per_group // 64 * groups
        out_channels = planes * self.expansion
        self.in_channels, self.planes, self.stride = in_channels, planes, stride
        self.conv1 = L.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = L.BatchNorm2d(width)
        self.conv2 = L.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = L.BatchNorm2d(width)
        self.conv3 = L.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = L.BatchNorm2d(out_channels)
        self.relu = L.ReLU(inplace=True)
        self.se = attention(out_channels) if attention else None
        self.downsample = downsample

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, width, H/stride, W/stride)
        return self.bn3(self.conv3(out))  # (B, 4·planes, H/stride, W/stride)

    def last_bn(self) -> nn.Module:
        return self.bn3


def make_stage(
    block: type[ResidualBlock],
    in_channels: int,
    planes: int,
    num_blocks: int,
    stride: int,
    impl: str,
    **block_options: Any,
) -> nn.Sequential:
    """One stage: `num_blocks` blocks, the first with the stride and, if needed, a projection.

    The first block's shortcut must turn (in_channels, H, W) into
    (planes·e, H/stride, W/stride): a 1×1 conv with that stride and a BatchNorm.
    """
    L = layers(impl)
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            L.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            L.BatchNorm2d(out_channels),
        )
    first = block(in_channels, planes, stride, downsample, impl=impl, **block_options)
    rest = (block(out_channels, planes, impl=impl, **block_options) for _ in range(num_blocks - 1))
    return nn.Sequential(first, *rest)


class ResNet(nn.Module):
    """A stem, four stages of residual blocks, global average pooling and a dense layer.

    Stage s (1 to 4) holds blocks_per_stage[s−1] blocks of width widths[s−1]; stages
    2 to 4 halve the resolution in their first block, whose shortcut is then a
    1×1 projection (see the module docstring).

    Args:
        block: BasicBlock or Bottleneck.
        blocks_per_stage: the number of blocks in each of the four stages.
        num_classes: outputs of the dense layer. Default: 1000.
        input_size: (C, H, W) of the images; C sets the stem's input channels.
            Default: (3, 224, 224).
        zero_init_residual: start the last BatchNorm of every block at γ = 0, so that
            each block without projection starts as the identity. Default: False.
        groups: groups of the bottleneck's 3×3 conv (ResNeXt). Default: 1.
        width_per_group: its channels per group at width 64 (ResNeXt). Default: 64.
        widths: the base width ("planes") of each stage; the stem outputs widths[0].
            Default: (64, 128, 256, 512).
        stem: "imagenet" (7×7 stride-2 conv, 3×3 stride-2 max pooling) or "small"
            (3×3 stride-1 conv, no pooling). Default: "imagenet".
        attention: channels → module applied to every block's residual branch
            before the addition, e.g. Squeeze-and-Excitation. Default: None.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, C, H, W) → (B, num_classes).
    """

    def __init__(
        self,
        block: type[ResidualBlock],
        blocks_per_stage: Sequence[int],
        num_classes: int = 1000,
        input_size: tuple[int, int, int] = (3, 224, 224),
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        widths: Sequence[int] = (64, 128, 256, 512),
        stem: str = "imagenet",
        attention: Attention | None = None,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise UserError(f"stem must be one of {', '.join(STEMS)}, got {stem!r}")
        if len(blocks_per_stage) != 4 or len(widths) != 4:
            raise UserError("a ResNet has four stages: give four block counts and four widths")
        L = layers(impl)
        self.block_name, self.blocks_per_stage = block.__name__, tuple(blocks_per_stage)
        self.groups, self.width_per_group, self.stem = groups, width_per_group, stem
        kernel, stride, padding, pool = STEMS[stem]
        self.conv1 = L.Conv2d(input_size[0], widths[0], kernel, stride, padding, bias=False)
        self.bn1 = L.BatchNorm2d(widths[0])
        self.relu = L.ReLU(inplace=True)
        self.maxpool = L.MaxPool2d(3, stride=2, padding=1) if pool else L.Identity()
        in_channels, stages = widths[0], []
        for index, (planes, num_blocks) in enumerate(zip(widths, blocks_per_stage, strict=True)):
            stages.append(
                make_stage(
                    block,
                    in_channels,
                    planes,
                    num_blocks,
                    stride=1 if index == 0 else 2,
                    impl=impl,
                    groups=groups,
                    width_per_group=width_per_group,
                    attention=attention,
                )
            )
            in_channels = planes * block.expansion
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = L.AdaptiveAvgPool2d((1, 1))
        self.fc = L.Linear(in_channels, num_classes)

        for module in self.modules():
            if isinstance(module, L.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, ResidualBlock):
                    module.zero_init_last()

    def forward_features(self, x: Tensor) -> Tensor:
        """The stem and the four stages: (B, C, H, W) → (B, widths[3]·e, H/32, W/32) with the
        ImageNet stem, (B, widths[3]·e, H/8, W/8) with the small one."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, widths[0], H/4, W/4)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512·e, H/32, W/32)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the dense layer: (B, 512·e, h, w) → (B, num_classes);
        with `pre_logits` the pooled (B, 512·e) input of the dense layer."""
        x = torch.flatten(self.avgpool(features), 1)  # (B, 512·e, 1, 1) → (B, 512·e)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def extra_repr(self) -> str:
        grouping = f", groups={self.groups}, width_per_group={self.width_per_group}"
        return (
            f"block={self.block_name}, blocks_per_stage={self.blocks_per_stage}"
            f"{grouping if self.groups > 1 else ''}, stem={self.stem}"
        )


RESNET_PAPER = "He, Zhang, Ren, Sun, Deep residual learning for image recognition, CVPR 2016"
RESNET_CONCEPTS = (
    "residual connection",
    "identity shortcut",
    "projection shortcut",
    "batch normalization",
    "global average pooling",
)
BOTTLENECK_CONCEPTS = (*RESNET_CONCEPTS, "bottleneck")

# `_small` changes only the stem; `_tiny` also keeps the block type, with one block per
# stage at a quarter of the width.
SMALL = Variant("small", {"stem": "small"})
TINY = Variant(
    "tiny", {"stem": "small", "blocks_per_stage": (1, 1, 1, 1), "widths": (16, 32, 64, 128)}
)


def resnet_card(name: str, count: int, paper: str, concepts: tuple[str, ...]) -> ModelCard:
    """The card of a model torchvision shares: its name, its count at 1000 classes."""
    return imagenet_card(
        family="resnet",
        paper=paper,
        reference=imagenet_count(
            count,
            f"torchvision.models.{name}: num_params of its ImageNet weights "
            "(torchvision model docs), and sum(p.numel()) of the randomly initialised model",
        ),
        concepts=concepts,
        torchvision=name,
        from_torchvision=same_names,
    )


@register_model(
    "resnet18",
    resnet_card("resnet18", 11_689_512, RESNET_PAPER, RESNET_CONCEPTS),
    variants={"resnet18_small": SMALL, "resnet18_tiny": TINY},
)
def resnet18(**kwargs: Any) -> ResNet:
    return ResNet(**{"block": BasicBlock, "blocks_per_stage": (2, 2, 2, 2), **kwargs})


@register_model(
    "resnet34",
    resnet_card("resnet34", 21_797_672, RESNET_PAPER, RESNET_CONCEPTS),
    variants={"resnet34_small": SMALL, "resnet34_tiny": TINY},
)
def resnet34(**kwargs: Any) -> ResNet:
    return ResNet(**{"block": BasicBlock, "blocks_per_stage": (3, 4, 6, 3), **kwargs})


@register_model(
    "resnet50",
    resnet_card("resnet50", 25_557_032, RESNET_PAPER, BOTTLENECK_CONCEPTS),
    variants={"resnet50_small": SMALL, "resnet50_tiny": TINY},
)
def resnet50(**kwargs: Any) -> ResNet:
    return ResNet(**{"block": Bottleneck, "blocks_per_stage": (3, 4, 6, 3), **kwargs})


@register_model(
    "resnet101",
    resnet_card("resnet101", 44_549_160, RESNET_PAPER, BOTTLENECK_CONCEPTS),
    variants={"resnet101_small": SMALL, "resnet101_tiny": TINY},
)
def resnet101(**kwargs: Any) -> ResNet:
    return ResNet(**{"block": Bottleneck, "blocks_per_stage": (3, 4, 23, 3), **kwargs})


@register_model(
    "resnet152",
    resnet_card("resnet152", 60_192_808, RESNET_PAPER, BOTTLENECK_CONCEPTS),
    variants={"resnet152_small": SMALL, "resnet152_tiny": TINY},
)
def resnet152(**kwargs: Any) -> ResNet:
    return ResNet(**{"block": Bottleneck, "blocks_per_stage": (3, 8, 36, 3), **kwargs})


@register_model(
    "resnext50_32x4d",
    resnet_card(
        "resnext50_32x4d",
        25_028_904,
        "Xie, Girshick, Dollár, Tu, He, Aggregated residual transformations for deep neural "
        f"networks, CVPR 2017; {RESNET_PAPER}",
        (*BOTTLENECK_CONCEPTS, "grouped convolution", "cardinality"),
    ),
    variants={
        "resnext50_32x4d_small": SMALL,
        # 8 groups of 4 channels: at a quarter of the width, 32 groups would hold one channel
        # each (a depthwise conv, no longer ResNeXt's block)
        "resnext50_32x4d_tiny": Variant(
            "tiny",
            {
                "stem": "small",
                "blocks_per_stage": (1, 1, 1, 1),
                "widths": (16, 32, 64, 128),
                "groups": 8,
                "width_per_group": 16,
            },
        ),
    },
)
def resnext50_32x4d(**kwargs: Any) -> ResNet:
    return resnet50(**{"groups": 32, "width_per_group": 4, **kwargs})
