"""Inception: parallel branches of different kernel sizes, concatenated along channels.

GoogLeNet (Inception v1; Szegedy et al., "Going deeper with convolutions", CVPR
2015) does not choose between a 1×1, a 3×3 and a 5×5 convolution or a pooling:
an Inception module runs them all side by side on the same input and stacks
their outputs, leaving it to optimisation to decide which to use ("if not
sure, take all options"). Every branch keeps the spatial size (padding k//2,
stride 1), so the outputs differ only in channels and the module's output
channels are the sum of its branches':

    out = concat_c(b1(x), b2(x), b3(x), b4(x)),   C_out = c_1x1 + c_3x3 + c_5x5 + c_pool
    b1 = 1×1      b2 = 1×1 → 3×3      b3 = 1×1 → 5×5      b4 = 3×3 max pool → 1×1

The 1×1 convolutions in front of the large kernels are per-pixel dense layers
that shrink the channels first ("1×1 reductions"). For module 3a's 5×5 branch,
192 → 32 channels directly costs 192·32·25 = 153,600 weights; through a 1×1
reduction to 16 it costs 192·16 + 16·32·25 = 15,872, about a tenth.

The network (Table 1 of the paper, output sizes at 224×224):

    stem      7×7/2 conv 64 → 3×3/2 max pool → 1×1 conv 64 → 3×3 conv 192
              → 3×3/2 max pool                                        192 × 28 × 28
    stage 3   Inception 3a, 3b → 3×3/2 max pool                       480 × 14 × 14
    stage 4   Inception 4a, 4b, 4c, 4d, 4e → 2×2/2 max pool           832 × 7 × 7
    stage 5   Inception 5a, 5b → global average pool → dropout → fc   1024 → classes

The stem downsamples fast with a large kernel and pooling (some translation
invariance, and the expensive modules run on 28×28, not 224×224); one dense
layer after global average pooling replaces the large dense layers that make
AlexNet and VGG costly. Two auxiliary classifiers (1×1 conv 128 → fc 1024 →
fc classes, on 4×4 pooled maps) after 4a and 4d inject gradient into the middle
of the network in training: loss = L(logits) + 0.3·(L(aux1) + L(aux2)). They
are off by default and never used in evaluation.

This is GoogLeNet as torchvision builds it, so torchvision's weights load
unchanged; torchvision deviates from the paper in known ways, kept here:
- every convolution is followed by BatchNorm (eps 0.001) before its ReLU
  (`BasicConv2d`, from BN-Inception, Ioffe & Szegedy 2015) and has no bias;
- the "5×5" branch uses a 3×3 kernel (a known bug kept for the ported weights,
  pytorch/vision#906); its names still say 5×5;
- pools round their output size up (ceil_mode) and the last one is 2×2/2
  (the paper's is 3×3/2); the paper's local response normalisation is gone;
- the auxiliary heads pool adaptively to 4×4 (the paper: 5×5/3 average pool);
  dropout before the last layer is 0.2 (the paper: 0.4).
torchvision's `transform_input` (re-normalising ImageNet inputs for its ported
weights) is not part of the architecture; compare with `transform_input=False`.

For small images (`googlenet_small`, from 16×16) the stem's 7×7/2
convolution becomes a 3×3 stride-1 one and its first max pool goes; the
second stays, so the Inception modules run on 8×8 of a 16×16 input (the
digits are 8×8 images upsampled, so 8×8 keeps their detail), and a forward
costs 0.11 GMACs instead of the 0.36 it would cost with no stem pooling at all.
The modules, depths and widths are the full model's; global average pooling
adapts the head to any size.

Inception v3 (Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016) factorises large kernels. A 5×5 convolution sees
what two stacked 3×3 convolutions see, with 2·9 = 18 instead of 25 weights per
channel pair; an n×n convolution sees what a 1×n followed by an n×1 sees,
with 2n instead of n² (n = 7: 14 instead of 49). `InceptionV3Block` is v1's
module with both factorisations: its b2 is 1×1 → 1×n → n×1 and its b3 is
1×1 → 3×3 → 3×3; its pooling branch averages, as v3 does.

Shape: (B, C, H, W) → (B, num_classes); in training with `aux_logits`, a
`GoogLeNetOutputs(logits, aux_logits2, aux_logits1)` as torchvision returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import NamedTuple

import torch
from torch import Tensor, nn

from deepnotes.cards import imagenet_card, imagenet_count
from deepnotes.models.common import Variant, layers, register_model, same_names

IntOrPair = int | tuple[int, int]


class BasicConv2d(nn.Module):
    r"""Convolution (no bias) → BatchNorm → ReLU: every convolution of torchvision's GoogLeNet.

    .. math::
        y = \max(0, \mathrm{BN}(W \star x))

    The convolution has no bias because BatchNorm's shift β replaces it.
    BatchNorm's eps is torchvision's 0.001 (TensorFlow's default), which its
    ported weights expect.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: int or (k_h, k_w); (1, n) and (n, 1) make v3's asymmetric kernels.
        stride: Default: 1.
        padding: int or (p_h, p_w). Default: 0.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, out_channels, H', W'), H' = ⌊(H + 2p − k)/s⌋ + 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: int = 1,
        padding: IntOrPair = 0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        L = layers(impl)
        self.conv = L.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = L.BatchNorm2d(out_channels, eps=0.001)
        self.relu = L.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class _ParallelBranches(nn.Module):
    """What v1's and v3's modules share: four branches on one input, concatenated."""

    branch1: nn.Module
    branch2: nn.Module
    branch3: nn.Module
    branch4: nn.Module
    out_channels: int

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)  # 4 × (B, c_i, H, W) → (B, Σ c_i, H, W)


def pool_projection(in_channels: int, pool_proj: int, impl: str = "torch") -> nn.Sequential:
    """Inception's fourth branch: a 3×3 max pool of stride 1 (the size kept), then a 1×1
    convolution projecting `in_channels` to `pool_proj`."""
    return nn.Sequential(
        layers(impl).MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
        BasicConv2d(in_channels, pool_proj, 1, impl=impl),
    )


class Inception(_ParallelBranches):
    r"""GoogLeNet's Inception module: 1×1, 1×1 → 3×3, 1×1 → "5×5", pool → 1×1, concatenated.

    .. math::
        \text{out} = \text{concat}_c\big(b_1(x), b_2(x), b_3(x), b_4(x)\big),
        \quad C_\text{out} = \text{ch1x1} + \text{ch3x3} + \text{ch5x5} + \text{pool\_proj}

    The "5×5" branch has a 3×3 kernel, as in torchvision (pytorch/vision#906);
    the pooling branch is a 3×3 stride-1 max pool with padding 1, so all four
    keep H × W.

    Args:
        in_channels: input channels.
        ch1x1: output channels of the 1×1 branch.
        ch3x3red: channels of the 1×1 reduction before the 3×3.
        ch3x3: output channels of the 3×3 branch.
        ch5x5red: channels of the 1×1 reduction before the "5×5".
        ch5x5: output channels of the "5×5" branch.
        pool_proj: output channels of the 1×1 after the max pool.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, impl=impl)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, 1, impl=impl),
            BasicConv2d(ch3x3red, ch3x3, 3, padding=1, impl=impl),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, 1, impl=impl),
            BasicConv2d(ch5x5red, ch5x5, 3, padding=1, impl=impl),  # 3×3: torchvision's "5×5"
        )
        self.branch4 = pool_projection(in_channels, pool_proj, impl)
        self.widths = (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def extra_repr(self) -> str:
        names = ("in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
        pairs = ", ".join(f"{n}={w}" for n, w in zip(names, self.widths, strict=True))
        return f"{pairs}, out_channels={self.out_channels}"


class InceptionWithoutReductions(_ParallelBranches):
    r"""`Inception` without the 1×1 reductions in front of its 3×3 and "5×5" convolutions.

    .. math::
        b_1 = 1{\times}1, \quad b_2 = 3{\times}3, \quad b_3 = \text{"}5{\times}5\text{"}, \quad
        b_4 = \text{max pool } 3{\times}3 \to 1{\times}1

    The paper's naïve module (Szegedy et al. 2015, Fig. 2a), kept beside `Inception`
    so that what the reductions save can be counted and trained against: the large
    kernels read all `in_channels`, c_in·c·k² weights instead of c_in·r + r·c·k².
    Unlike the paper's Fig. 2a the pooling branch keeps its 1×1 projection, so the
    output channels equal `Inception`'s with the same widths; the "5×5" is a 3×3,
    as in `Inception`.

    Args:
        in_channels: input channels.
        ch1x1: output channels of the 1×1 branch.
        ch3x3: output channels of the 3×3 branch.
        ch5x5: output channels of the "5×5" branch.
        pool_proj: output channels of the 1×1 after the max pool.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3: int,
        ch5x5: int,
        pool_proj: int,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, impl=impl)
        self.branch2 = BasicConv2d(in_channels, ch3x3, 3, padding=1, impl=impl)
        self.branch3 = BasicConv2d(in_channels, ch5x5, 3, padding=1, impl=impl)
        self.branch4 = pool_projection(in_channels, pool_proj, impl)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj


def factorized_conv(
    in_channels: int, mid_channels: int, out_channels: int, n: int, impl: str = "torch"
) -> nn.Sequential:
    """An n×n convolution factorised as a 1×n then an n×1 (each conv-BN-ReLU), same-size output.

    With c_in = c_mid = c_out = c it holds 2n·c² weights instead of n²·c² and
    sees the same n × n input pixels: the 1×n mixes each row, the n×1 then
    mixes n such rows.
    """
    return nn.Sequential(
        BasicConv2d(in_channels, mid_channels, (1, n), padding=(0, n // 2), impl=impl),
        BasicConv2d(mid_channels, out_channels, (n, 1), padding=(n // 2, 0), impl=impl),
    )


class InceptionV3Block(_ParallelBranches):
    r"""An Inception module with v3's factorised kernels: n×n as 1×n + n×1, 5×5 as two 3×3.

    .. math::
        b_1 = 1{\times}1, \quad b_2 = 1{\times}1 \to 1{\times}n \to n{\times}1, \quad
        b_3 = 1{\times}1 \to 3{\times}3 \to 3{\times}3, \quad
        b_4 = \text{avg pool } 3{\times}3 \to 1{\times}1

    The arguments are v1's (`Inception`) with its 3×3 branch generalised to an
    n×n and factorised (Szegedy et al. 2016, Fig. 6), and its 5×5 branch
    replaced by two 3×3 (Fig. 5). Weights per channel pair: 2n instead of n²
    in b2, 18 instead of 25 in b3; the receptive fields stay n × n and 5 × 5.
    As in torchvision's v3 blocks, the 1×n keeps the reduction's channels and
    the first 3×3 already has the branch's output channels; the average pool
    counts its padding.

    Args:
        in_channels: input channels.
        ch1x1: output channels of the 1×1 branch.
        chnxn_red: channels of the 1×1 reduction and of the 1×n convolution.
        chnxn: output channels of the n×1 convolution, the end of the n×n branch.
        ch5x5red: channels of the 1×1 reduction before the two 3×3.
        ch5x5: output channels of both 3×3 convolutions.
        pool_proj: output channels of the 1×1 after the average pool.
        n: side of the factorised kernel, odd. Default: 7.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, ch1x1 + chnxn + ch5x5 + pool_proj, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        chnxn_red: int,
        chnxn: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        n: int = 7,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if n % 2 != 1:
            raise ValueError(f"n must be odd so that padding n//2 keeps the size, got {n}")
        L = layers(impl)
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, impl=impl)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, chnxn_red, 1, impl=impl),
            *factorized_conv(chnxn_red, chnxn_red, chnxn, n, impl),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, 1, impl=impl),
            BasicConv2d(ch5x5red, ch5x5, 3, padding=1, impl=impl),
            BasicConv2d(ch5x5, ch5x5, 3, padding=1, impl=impl),  # two 3×3 see one 5×5
        )
        self.branch4 = nn.Sequential(
            L.AvgPool2d(3, stride=1, padding=1),
            BasicConv2d(in_channels, pool_proj, 1, impl=impl),
        )
        self.n = n
        self.widths = (in_channels, ch1x1, chnxn_red, chnxn, ch5x5red, ch5x5, pool_proj)
        self.out_channels = ch1x1 + chnxn + ch5x5 + pool_proj

    def extra_repr(self) -> str:
        names = ("in_channels", "ch1x1", "chnxn_red", "chnxn", "ch5x5red", "ch5x5", "pool_proj")
        pairs = ", ".join(f"{n}={w}" for n, w in zip(names, self.widths, strict=True))
        return f"{pairs}, n={self.n}, out_channels={self.out_channels}"


class InceptionAux(nn.Module):
    """An auxiliary classifier: 4×4 average pool → 1×1 conv 128 → fc 1024 → ReLU → dropout → fc.

    Args:
        in_channels: channels of the feature map it reads (512 after 4a, 528 after 4d).
        num_classes: outputs.
        dropout: dropout probability before the last layer. Default: 0.7.
        conv_channels: output channels of the 1×1 convolution. Default: 128.
        hidden: width of the hidden dense layer. Default: 1024.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, num_classes).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: float = 0.7,
        conv_channels: int = 128,
        hidden: int = 1024,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        L = layers(impl)
        self.avgpool = L.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, conv_channels, 1, impl=impl)
        self.flatten = L.Flatten()
        self.fc1 = L.Linear(conv_channels * 4 * 4, hidden)
        self.relu = L.ReLU(inplace=True)
        self.dropout = L.Dropout(dropout)
        self.fc2 = L.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(self.avgpool(x))  # (B, C, H, W) → (B, 128, 4, 4)
        x = self.flatten(x)  # (B, 128·4·4)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNetOutputs(NamedTuple):
    """The training outputs with auxiliary heads, in torchvision's order."""

    logits: Tensor
    aux_logits2: Tensor
    aux_logits1: Tensor


# Table 1 of the paper: (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) per module.
INCEPTION_TABLE: dict[str, tuple[int, ...]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
AUX_AFTER = {"inception4a": "aux1", "inception4d": "aux2"}


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) as torchvision builds it, with a choice of stem, depth and width.

    The module names are torchvision's (conv1, maxpool1, …, inception3a, …,
    aux1, aux2, fc), so its state dict loads unchanged. The body runs the
    Inception modules of Table 1 in order, with a max pool between stages;
    `depths` keeps the first modules of each stage (at least 4 in stage 4 for
    the auxiliary heads) and `width` scales every channel count.

    Args:
        num_classes: outputs. Default: 1000.
        in_channels: input image channels. Default: 3.
        aux_logits: add the two auxiliary classifiers (used in training only). Default: False.
        dropout: dropout before the last layer. Default: 0.2.
        dropout_aux: dropout in the auxiliary heads. Default: 0.7.
        stem: "imagenet" (7×7/2 conv and two 3×3/2 max pools: 224 → 28) or
            "small" (a 3×3 stride-1 first conv, only the second pool: 16 → 8).
            Default: "imagenet".
        depths: Inception modules in stages 3, 4, 5. Default: (2, 5, 2).
        width: multiplier of every channel count. Default: 1.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, in_channels, H, W) → (B, num_classes); in training with aux_logits,
        GoogLeNetOutputs of three (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        stem: str = "imagenet",
        depths: Sequence[int] = (2, 5, 2),
        width: float = 1.0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        if aux_logits and depths[1] < 4:
            raise ValueError(
                f"the auxiliary heads read 4a and 4d: depths[1] must be ≥ 4, got {depths}"
            )
        L = layers(impl)

        def scaled(channels: int) -> int:
            return max(1, round(channels * width))

        self.aux_logits = aux_logits
        self.stem, self.depths, self.width = stem, tuple(depths), width
        stem_width, channels = scaled(64), scaled(192)
        if stem == "imagenet":
            self.conv1 = BasicConv2d(in_channels, stem_width, 7, stride=2, padding=3, impl=impl)
            self.maxpool1 = L.MaxPool2d(3, stride=2, ceil_mode=True)
        else:
            self.conv1 = BasicConv2d(in_channels, stem_width, 3, padding=1, impl=impl)
            self.maxpool1 = L.Identity()
        self.conv2 = BasicConv2d(stem_width, stem_width, 1, impl=impl)
        self.conv3 = BasicConv2d(stem_width, channels, 3, padding=1, impl=impl)
        self.maxpool2 = L.MaxPool2d(3, stride=2, ceil_mode=True)

        # Stages 3, 4, 5 of Table 1; pools between them: 3×3/2, then torchvision's 2×2/2.
        self.body: list[str] = []
        pools = {4: ("maxpool3", 3), 5: ("maxpool4", 2)}
        for stage, depth in zip((3, 4, 5), depths, strict=True):
            if stage in pools:
                name, kernel = pools[stage]
                self.add_module(name, L.MaxPool2d(kernel, stride=2, ceil_mode=True))
                self.body.append(name)
            for letter in "abcde"[:depth]:
                widths = [scaled(c) for c in INCEPTION_TABLE[f"{stage}{letter}"]]
                block = Inception(channels, *widths, impl=impl)
                self.add_module(f"inception{stage}{letter}", block)
                self.body.append(f"inception{stage}{letter}")
                channels = block.out_channels
        if aux_logits:  # registered after the body, as torchvision does
            for block_name, aux_name in AUX_AFTER.items():
                aux = InceptionAux(
                    self.get_submodule(block_name).out_channels,
                    num_classes,
                    dropout_aux,
                    conv_channels=scaled(128),
                    hidden=scaled(1024),
                    impl=impl,
                )
                self.add_module(aux_name, aux)

        self.avgpool = L.AdaptiveAvgPool2d((1, 1))
        self.flatten = L.Flatten()
        self.dropout = L.Dropout(dropout)
        self.fc = L.Linear(channels, num_classes)
        self.reset_parameters(L)

    def reset_parameters(self, L: ModuleType) -> None:
        """torchvision's init: weights ~ N(0, 0.01²) truncated at ±2, BatchNorm γ = 1, β = 0."""
        for m in self.modules():
            if isinstance(m, (L.Conv2d, L.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, L.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor, aux: dict[str, Tensor] | None = None) -> Tensor:
        """The stem and the Inception stages: (B, C, H, W) → (B, 1024·width, h, w).

        With a dict `aux` (and auxiliary heads), each head's logits on the map it reads
        go into it under its name ("aux1" after 4a, "aux2" after 4d), as the body passes.
        """
        x = self.maxpool1(self.conv1(x))  # (B, 64, H/4, W/4); small stem: (B, 64, H, W)
        x = self.maxpool2(self.conv3(self.conv2(x)))  # (B, 192, H/8, W/8); small: H/2, W/2
        for name in self.body:
            x = getattr(self, name)(x)
            if aux is not None and self.aux_logits and name in AUX_AFTER:
                aux[AUX_AFTER[name]] = getattr(self, AUX_AFTER[name])(x)
        return x

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling, dropout and the dense layer: (B, 1024·width, h, w) →
        (B, num_classes); with `pre_logits` the (B, 1024·width) input of the dense layer."""
        x = self.flatten(self.avgpool(features))  # (B, 1024, h, w) → (B, 1024)
        x = self.dropout(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        aux: dict[str, Tensor] | None = {} if self.aux_logits and self.training else None
        logits = self.forward_head(self.forward_features(x, aux))
        if aux:
            return GoogLeNetOutputs(logits, aux["aux2"], aux["aux1"])
        return logits

    def extra_repr(self) -> str:
        return (
            f"aux_logits={self.aux_logits}, stem={self.stem!r}, depths={self.depths}, "
            f"width={self.width}"
        )


@register_model(
    "googlenet",
    imagenet_card(
        family="inception",
        paper="Szegedy et al., Going deeper with convolutions, CVPR 2015 (GoogLeNet, "
        "Inception v1); BatchNorm as in Ioffe & Szegedy, ICML 2015",
        reference=imagenet_count(
            6_624_904,
            "torchvision GoogLeNet_Weights.IMAGENET1K_V1 num_params (aux_logits=False)",
        ),
        concepts=(
            "Inception module",
            "parallel branches concatenated along channels",
            "1×1 convolution",
            "1×1 reductions",
            "global average pooling",
            "auxiliary classifiers",
            "BatchNorm",
        ),
        torchvision="googlenet",
        torchvision_kwargs={"aux_logits": False, "init_weights": True},
        from_torchvision=same_names,
    ),
    variants={
        "googlenet_small": Variant("small", {"stem": "small"}),
        "googlenet_tiny": Variant("tiny", {"stem": "small", "depths": (1, 4, 1), "width": 1 / 8}),
    },
)
def googlenet(
    num_classes: int = 1000,
    input_size: tuple[int, int, int] = (3, 224, 224),
    impl: str = "torch",
    **kwargs,
) -> GoogLeNet:
    """GoogLeNet (Inception v1) as torchvision builds it; `aux_logits=True` adds the aux heads."""
    return GoogLeNet(num_classes=num_classes, in_channels=input_size[0], impl=impl, **kwargs)
