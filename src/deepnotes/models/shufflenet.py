"""ShuffleNet v1 and v2: grouped 1×1 convolutions, and a channel shuffle so the groups talk.

ShuffleNet v1 (Zhang, Zhou, Lin, Sun, "ShuffleNet: an extremely efficient
convolutional neural network for mobile devices", CVPR 2018). In a bottleneck
block the 1×1 convolutions do almost all the work, so ShuffleNet groups them:
a 1×1 convolution in g groups costs 1/g of the dense one (`arith.conv_params`:
c_in·c_out/g weights). For c input channels, m bottleneck channels, h×w pixels
(paper §3.2), one unit costs

    ResNet bottleneck   hw(2cm + 9m²)       1×1, 3×3, 1×1, all dense
    ResNeXt             hw(2cm + 9m²/g)     grouped 3×3
    ShuffleNet          hw(2cm/g + 9m)      grouped 1×1s, depthwise 3×3

The price: stacked grouped convolutions keep each group to itself, every
output group computed from one input group only. The channel shuffle fixes it
for free: with C = g·n channels in g groups of n, write channel k = i·n + j
(group i, place j), lay the channels out as a g × n matrix, transpose it and
read it back, so channel i·n + j moves to place j·g + i. Each group of the
next grouped convolution then holds one channel from every group before.

    x → 1×1 GConv (g) → BN → ReLU → shuffle → 3×3 DWConv (stride s) → BN
      → 1×1 GConv (g) → BN → merge with the shortcut → ReLU

Stride 1: the shortcut is x and the merge adds. Stride 2: the shortcut is a
3×3 average pooling with stride 2 and the merge concatenates, so the branch's
last convolution outputs the new channels only (c_out − c_in) and the channels
grow at no cost. No ReLU follows the depthwise convolution (as in Xception).
The bottleneck is a quarter of the unit's output width, and the first unit's
first 1×1 convolution is dense: its 24 input channels are too few to split.
Table 1 of the paper, g = 3, width 1×:

    layer       output   kernel, stride   repeat   channels
    conv1       112²     3×3, 2           1        24
    maxpool     56²      3×3, 2
    stage2      28²      unit, 2 then 1   1 + 3    240
    stage3      14²      unit, 2 then 1   1 + 7    480
    stage4      7²       unit, 2 then 1   1 + 3    960
    pool, fc    1²       global average            1000
    complexity 137 million multiply-adds (the paper's "FLOPs")

ShuffleNet v2 (Ma, Zhang, Zheng, Sun, "ShuffleNet V2: practical guidelines for
efficient CNN architecture design", ECCV 2018) measures speed rather than
FLOPs and sets four guidelines (§2). For a 1×1 convolution with c₁ input and
c₂ output channels on h×w pixels, B = hw·c₁c₂ multiply-adds and the memory
access cost MAC = hw(c₁ + c₂) + c₁c₂/g:

    G1  equal channel widths minimise MAC: MAC ≥ 2√(hwB) + B/(hw), equality at c₁ = c₂;
    G2  excessive group convolution increases MAC: at fixed B it grows with g;
    G3  network fragmentation (many small branches) reduces parallelism;
    G4  element-wise operations (ReLU, addition, bias) are not negligible.

Its unit follows them. A channel split sends half the channels through
unchanged (G3: no work on that branch) and the other half through 1×1 conv →
BN → ReLU → 3×3 DWConv → BN → 1×1 conv → BN → ReLU, every width equal (G1) and
the 1×1 convolutions dense (G2: the split already makes two groups). The halves
are concatenated, not added (G4), then shuffled with 2 groups so the next split
mixes them. The stride-2 unit does not split: both branches see the whole input
(the left one 3×3 DWConv with stride 2 → BN → 1×1 conv → BN → ReLU) and the
channels double. Table 5, width 1.0×: conv1 24, stage2 116, stage3 232,
stage4 464 channels (4, 8, 4 units), conv5 1×1 to 1024, pool, fc; 146 million
multiply-adds, 2.3 million parameters (torchvision: 2,278,604).

The modules carry torchvision's names (conv1, maxpool, stage2…stage4, conv5,
fc; branch1, branch2 in a v2 unit), so torchvision's state dict loads as it is.
`stem="small"` makes conv1 stride 1 and drops the max pooling, for 16×16 to
32×32 images; the head is global average pooling, whatever the size.

Shape: (B, C, H, W) → (B, num_classes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from types import ModuleType

import torch
from torch import Tensor, nn

from deepnotes.cards import imagenet_card, imagenet_count
from deepnotes.errors import UserError
from deepnotes.models.common import Variant, layers, register_model

STEMS = ("imagenet", "small")

# SGD with momentum and weight decay, as both papers train (their rate decays linearly; a
# cosine here). With `deepnotes train`'s Adam at 1e-3 the small v2 overfits the training
# digits (train accuracy 1.0, test 0.925–0.953 on seeds 0 and 1, constant or cosine rate);
# with these, 10 epochs reach 0.972–0.981 on seeds 0–2 (tests/models/test_zoo_training.py).
SHUFFLENET_TRAIN_DEFAULTS = {
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "scheduler": "cosine",
}


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave `groups` groups of channels: channel i·n + j moves to place j·g + i.

    With n = C/g channels per group, a view as a g × n matrix, a transpose and a
    view back: afterwards any g consecutive channels hold one from each group.
    A permutation of the channels, nothing computed.
    """
    batch, channels, height, width = x.shape
    if channels % groups:
        raise UserError(f"channel shuffle: groups={groups} must divide the {channels} channels")
    x = x.view(batch, groups, channels // groups, height, width)  # (B, g, C/g, H, W)
    x = x.transpose(1, 2).contiguous()  # (B, C/g, g, H, W)
    return x.view(batch, channels, height, width)  # (B, C, H, W)


def conv_bn(
    lib: ModuleType,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 1,
    stride: int = 1,
    groups: int = 1,
) -> list[nn.Module]:
    """A convolution without bias (the BatchNorm's β is the bias) and its BatchNorm.

    `groups=in_channels=out_channels` is a depthwise convolution. The padding
    keeps the size at stride 1 (k // 2 for odd k).
    """
    conv = lib.Conv2d(
        in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False
    )
    return [conv, lib.BatchNorm2d(out_channels)]


class ShuffleUnitV1(nn.Module):
    """The ShuffleNet v1 unit: grouped 1×1, shuffle, depthwise 3×3, grouped 1×1, merge.

        branch(x) = BN(GConv₁ₓ₁(BN(DWConv₃ₓ₃(shuffle(ReLU(BN(GConv₁ₓ₁(x))))))))
        y = ReLU(x + branch(x))                         at stride 1
        y = ReLU([AvgPool₃ₓ₃,s₂(x), branch(x)])         at stride 2

    ([·, ·] is concatenation along the channels.)
    The bottleneck has out_channels/4 channels. At stride 2 the branch outputs
    out_channels − in_channels channels, which the concatenation completes.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output; equal to in_channels at stride 1.
        stride: 1 (residual unit) or 2 (downsampling unit).
        groups: groups of the 1×1 convolutions (g), and of the shuffle. Default: 3.
        first_groups: groups of the first 1×1 convolution; 1 in the network's
            first unit, whose input is too narrow to split. Default: `groups`.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, out_channels, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        groups: int = 3,
        first_groups: int | None = None,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if stride not in (1, 2) or (stride == 1 and in_channels != out_channels):
            raise UserError(
                f"a ShuffleNet unit has stride 1 with equal widths or stride 2, got "
                f"{in_channels} → {out_channels} channels at stride {stride}"
            )
        lib = layers(impl)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.groups = groups
        self.first_groups = groups if first_groups is None else first_groups
        mid = out_channels // 4
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        self.gconv1 = nn.Sequential(
            *conv_bn(lib, in_channels, mid, groups=self.first_groups), lib.ReLU()
        )
        self.dwconv = nn.Sequential(*conv_bn(lib, mid, mid, 3, stride, groups=mid))
        self.gconv2 = nn.Sequential(*conv_bn(lib, mid, branch_out, groups=groups))
        self.shortcut = lib.AvgPool2d(3, stride=2, padding=1) if stride == 2 else lib.Identity()
        self.relu = lib.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.gconv1(x)  # (B, m, H, W), m = out_channels/4
        # Mix the groups for gconv2 (after a dense gconv1 a harmless fixed permutation).
        out = channel_shuffle(out, self.groups)
        out = self.gconv2(self.dwconv(out))  # (B, branch_out, H/s, W/s)
        if self.stride == 1:
            return self.relu(self.shortcut(x) + out)
        return self.relu(torch.cat([self.shortcut(x), out], dim=1))  # (B, out_channels, H/2, W/2)

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, stride={self.stride}, groups={self.groups}"
        )
        if self.first_groups != self.groups:
            text += f", first_groups={self.first_groups}"
        return text


class ShuffleUnitV2(nn.Module):
    """The ShuffleNet v2 unit: channel split, one half transformed, concatenate, shuffle.

        branch2(x) = ReLU(BN(Conv₁ₓ₁(BN(DWConv₃ₓ₃(ReLU(BN(Conv₁ₓ₁(x))))))))
        y = shuffle₂([x₁, branch2(x₂)]),  [x₁, x₂] = split(x)   at stride 1
        y = shuffle₂([branch1(x), branch2(x)])                   at stride 2

    with branch1 = 3×3 DWConv (stride 2) → BN → 1×1 conv → BN → ReLU. Each branch
    has out_channels/2 channels; at stride 1 the first half passes unchanged. The
    modules are named as torchvision's `InvertedResidual` names them.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (even); equal to in_channels at stride 1.
        stride: 1 (split unit) or 2 (downsampling unit, no split).
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, out_channels, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, impl: str = "torch"):
        super().__init__()
        if (
            stride not in (1, 2)
            or (stride == 1 and in_channels != out_channels)
            or out_channels % 2
        ):
            raise UserError(
                f"a ShuffleNet v2 unit has stride 1 with equal widths or stride 2, and an even "
                f"width, got {in_channels} → {out_channels} channels at stride {stride}"
            )
        lib = layers(impl)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        half = out_channels // 2
        if stride == 2:
            self.branch1 = nn.Sequential(
                *conv_bn(lib, in_channels, in_channels, 3, stride, groups=in_channels),
                *conv_bn(lib, in_channels, half),
                lib.ReLU(),
            )
        self.branch2 = nn.Sequential(
            *conv_bn(lib, in_channels if stride == 2 else half, half),
            lib.ReLU(),
            *conv_bn(lib, half, half, 3, stride, groups=half),
            *conv_bn(lib, half, half),
            lib.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            kept, transformed = x.chunk(2, dim=1)  # 2 × (B, C/2, H, W)
            out = torch.cat([kept, self.branch2(transformed)], dim=1)  # (B, C, H, W)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)  # (B, C_out, H/2, W/2)
        return channel_shuffle(out, 2)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class ShuffleNet(nn.Module):
    """The network both versions share: stem, three stages of units, optional conv5, head.

    Each stage starts with a stride-2 unit that widens to the stage's channels,
    followed by stride-1 units. v1 has no conv5 (its last stage feeds the
    pooling); v2 adds a 1×1 convolution to `conv5_channels`.

    Args:
        make_unit: builds a unit from (in_channels, out_channels, stride).
        stages_repeats: units per stage, named stage2, stage3, … as in the papers.
        stages_out_channels: the stem's channels, then each stage's.
        conv5_channels: channels of the final 1×1 convolution; None for none.
        num_classes: outputs of the classifier. Default: 1000.
        input_size: (C, H, W) of the input images; C sets the stem's input.
        impl: layer library, "torch" or "deepnotes". Default: "torch".
        stem: "imagenet" (3×3 conv with stride 2, then 3×3 max pooling with
            stride 2) or "small" (3×3 conv with stride 1, no pooling).

    Shape:
        (B, C, H, W) → (B, num_classes).
    """

    def __init__(
        self,
        make_unit: Callable[[int, int, int], nn.Module],
        stages_repeats: Sequence[int],
        stages_out_channels: Sequence[int],
        conv5_channels: int | None,
        num_classes: int = 1000,
        input_size: tuple[int, int, int] = (3, 224, 224),
        impl: str = "torch",
        stem: str = "imagenet",
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise UserError(f"stem must be one of {', '.join(STEMS)}, got {stem!r}")
        if len(stages_out_channels) != len(stages_repeats) + 1:
            raise UserError("stages_out_channels needs the stem's width and one per stage")
        lib = layers(impl)
        self.stem = stem
        channels = stages_out_channels[0]
        self.conv1 = nn.Sequential(
            *conv_bn(lib, input_size[0], channels, 3, stride=2 if stem == "imagenet" else 1),
            lib.ReLU(),
        )
        self.maxpool = (
            lib.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else lib.Identity()
        )
        self.stage_names = [f"stage{i}" for i in range(2, 2 + len(stages_repeats))]
        for name, repeats, width in zip(
            self.stage_names, stages_repeats, stages_out_channels[1:], strict=True
        ):
            units = [make_unit(channels, width, 2)]
            units += [make_unit(width, width, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*units))
            channels = width
        if conv5_channels is None:
            self.conv5 = lib.Identity()
        else:
            self.conv5 = nn.Sequential(*conv_bn(lib, channels, conv5_channels), lib.ReLU())
            channels = conv5_channels
        self.avgpool = lib.AdaptiveAvgPool2d(1)
        self.flatten = lib.Flatten()
        self.fc = lib.Linear(channels, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The stem, the stages and conv5: (B, C, H, W) → (B, C_last, H/32, W/32) with the
        ImageNet stem, (B, C_last, H/8, W/8) with the small one (C_last: conv5's channels,
        or the last stage's without conv5)."""
        x = self.maxpool(self.conv1(x))  # (B, 24, H/4, W/4), or (B, 24, H, W) small
        for name in self.stage_names:
            x = getattr(self, name)(x)  # channels widen, H and W halve
        return self.conv5(x)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the dense layer: (B, C_last, h, w) → (B, num_classes);
        with `pre_logits` the pooled (B, C_last) input of the dense layer."""
        x = self.flatten(self.avgpool(features))  # (B, C, 1, 1) → (B, C)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def extra_repr(self) -> str:
        return f"stem={self.stem!r}"


def from_torchvision(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """torchvision's ShuffleNetV2 state dict for ours: the same keys, as the modules share names."""
    return dict(state_dict)


@register_model(
    "shufflenet_v1",
    imagenet_card(
        family="shufflenet",
        train_defaults=SHUFFLENET_TRAIN_DEFAULTS,
        paper="Zhang, Zhou, Lin, Sun, ShuffleNet: an extremely efficient convolutional neural "
        "network for mobile devices, CVPR 2018 (g = 3, 1×)",
        reference=imagenet_count(
            1_865_728,
            "no torchvision model; counted by the notes' formulas (conv c_in·c_out·k²/g, "
            "BatchNorm 2c, dense n_in·n_out + n_out) over Table 1 of the paper, g = 3, 1× "
            "(24, 240, 480, 960 channels; 4, 8, 4 units; bottleneck = output/4; first 1×1 "
            "dense): conv1 696 + stage2 39,552 + stage3 307,680 + stage4 556,800 + fc "
            "961,000; its 137.5 M multiply-adds match the table's 137 MFLOPs; megvii's "
            "official code reports 1.9M (its fc has no bias)",
        ),
        concepts=(
            "grouped convolution",
            "channel shuffle",
            "depthwise convolution",
            "pointwise convolution",
            "residual connection",
            "global average pooling",
        ),
    ),
    variants={
        "shufflenet_v1_small": Variant("small", {"stem": "small"}, (3, 16, 16)),
        "shufflenet_v1_tiny": Variant(
            "tiny",
            {
                "stem": "small",
                "stages_repeats": (1, 2, 1),
                "stages_out_channels": (12, 48, 96, 192),
            },
            (3, 16, 16),
        ),
    },
)
def shufflenet_v1(
    num_classes: int = 1000,
    input_size: tuple[int, int, int] = (3, 224, 224),
    impl: str = "torch",
    groups: int = 3,
    stages_repeats: Sequence[int] = (4, 8, 4),
    stages_out_channels: Sequence[int] = (24, 240, 480, 960),
    stem: str = "imagenet",
) -> ShuffleNet:
    """ShuffleNet v1 with `groups` groups, Table 1 of the paper (defaults: g = 3, width 1×)."""
    stem_channels = stages_out_channels[0]

    def make_unit(in_channels: int, out_channels: int, stride: int) -> ShuffleUnitV1:
        # §3.3: the first unit's first 1×1 conv is dense, its input (the stem's) being narrow.
        first_groups = 1 if in_channels == stem_channels else groups
        return ShuffleUnitV1(in_channels, out_channels, stride, groups, first_groups, impl)

    return ShuffleNet(
        make_unit, stages_repeats, stages_out_channels, None, num_classes, input_size, impl, stem
    )


@register_model(
    "shufflenet_v2_x1_0",
    imagenet_card(
        family="shufflenet",
        train_defaults=SHUFFLENET_TRAIN_DEFAULTS,
        paper="Ma, Zhang, Zheng, Sun, ShuffleNet V2: practical guidelines for efficient CNN "
        "architecture design, ECCV 2018 (1.0×)",
        reference=imagenet_count(
            2_278_604,
            "torchvision.models.shufflenet_v2_x1_0 (2,278,604 parameters)",
        ),
        concepts=(
            "channel split",
            "channel shuffle",
            "depthwise convolution",
            "efficient architecture guidelines",
            "global average pooling",
        ),
        torchvision="shufflenet_v2_x1_0",
        from_torchvision=from_torchvision,
    ),
    variants={
        "shufflenet_v2_x1_0_small": Variant("small", {"stem": "small"}, (3, 16, 16)),
        "shufflenet_v2_x1_0_tiny": Variant(
            "tiny",
            {
                "stem": "small",
                "stages_repeats": (1, 2, 1),
                "stages_out_channels": (12, 24, 48, 96),
                "conv5_channels": 128,
            },
            (3, 16, 16),
        ),
    },
)
def shufflenet_v2(
    num_classes: int = 1000,
    input_size: tuple[int, int, int] = (3, 224, 224),
    impl: str = "torch",
    stages_repeats: Sequence[int] = (4, 8, 4),
    stages_out_channels: Sequence[int] = (24, 116, 232, 464),
    conv5_channels: int = 1024,
    stem: str = "imagenet",
) -> ShuffleNet:
    """ShuffleNet v2, Table 5 of the paper (defaults: width 1.0×, torchvision's x1_0)."""
    make_unit = functools.partial(ShuffleUnitV2, impl=impl)
    return ShuffleNet(
        make_unit,
        stages_repeats,
        stages_out_channels,
        conv5_channels,
        num_classes,
        input_size,
        impl,
        stem,
    )
