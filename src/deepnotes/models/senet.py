"""Squeeze-and-Excitation: reweight a block's channels by gates computed from the whole image.

Hu, Shen, Sun, "Squeeze-and-excitation networks", CVPR 2018.

A convolution mixes channels only inside its k×k window. An SE block lets each
channel's weight depend on a summary of every channel over the whole image:

    squeeze:  z_c = 1/(H·W) Σ_{i,j} u_c(i, j)                 global average pooling, z ∈ ℝ^C
    excite:   s = σ(W_2 · ReLU(W_1 z + b_1) + b_2)            W_1: C/r × C, W_2: C × C/r
    scale:    x̃_c = s_c · u_c                                 s ∈ (0, 1)^C

The notes read it as attention, i.e. learned gating: rather than weighing
channels by a fixed rule, a separate small function decides how much each
counts for this image (a cheap global look that suggests a cat somewhere lets
the network up-weight its cat channels, and a bowl of milk makes a cat more
likely). The gate is a sigmoid, not a softmax: several channels may be on at
once. The reduction r makes the excitation a bottleneck MLP: it costs
2C²/r + C/r + C parameters and no per-pixel work beyond the final scaling.

The two dense layers are written as 1×1 convolutions on the pooled (B, C, 1, 1)
tensor, which is the same dense layer (a 1×1 conv is a per-pixel MLP, NiN's
lesson), so the block needs no reshapes; its module names (avgpool, fc1, fc2)
are torchvision's `ops.SqueezeExcitation`'s, whose state dict loads unchanged.

SE-ResNet-50 is ResNet-50 with an SE block (r = 16) on the residual branch of
each of its 16 bottlenecks, just before the addition (the paper's Fig. 3):

    y = ReLU(x + SE(F(x)))

It is built by handing `resnet50` (`deepnotes.models.resnet`) the SE block as
its `attention`; any block that takes such a channels → module factory can use
it. Per stage (C = 256, 512, 1024, 2048 out of 3, 4, 6, 3 bottlenecks) the SE
blocks add 3·8,464 + 4·33,312 + 6·132,160 + 3·526,464 = 2,530,992 parameters
(the paper: "~2.5 million additional parameters ... a ~10% increase") to
ResNet-50's 25,557,032: 28,088,024.

Shape: (B, C, H, W) → (B, C, H, W).
"""

from __future__ import annotations

import functools
from typing import Any

from torch import Tensor, nn

from deepnotes.cards import imagenet_card, imagenet_count
from deepnotes.models.common import layers, register_model
from deepnotes.models.resnet import RESNET_PAPER, SMALL, TINY, ResNet, resnet50


class SqueezeExcitation(nn.Module):
    r"""Squeeze-and-Excitation: scale each channel by a gate in (0, 1) computed from all of them.

    .. math::
        s = \sigma(W_2\,\mathrm{ReLU}(W_1 \bar{x} + b_1) + b_2), \qquad
        \tilde{x}_c = s_c\, x_c, \qquad \bar{x}_c = \frac{1}{HW}\sum_{i,j} x_c(i, j)

    W_1 and W_2 are 1×1 convolutions on the pooled (B, C, 1, 1) tensor, i.e. dense
    layers; with `impl="torch"` the block computes what torchvision's
    `ops.SqueezeExcitation(channels, channels // reduction)` computes, and the
    state-dict keys are the same.

    Args:
        channels: C, the channels to reweight.
        reduction: r; the hidden layer has C // r units. Default: 16.
        impl: layer library, "torch" or "deepnotes". Default: "torch".

    Shape:
        (B, C, H, W) → (B, C, H, W); `channel_weights` gives (B, C, 1, 1).
    """

    def __init__(self, channels: int, reduction: int = 16, impl: str = "torch") -> None:
        super().__init__()
        L = layers(impl)
        self.channels, self.reduction = channels, reduction
        squeezed = channels // reduction
        self.avgpool = L.AdaptiveAvgPool2d(1)
        self.fc1 = L.Conv2d(channels, squeezed, 1)
        self.fc2 = L.Conv2d(squeezed, channels, 1)
        self.activation = L.ReLU()
        self.scale_activation = L.Sigmoid()

    def channel_weights(self, x: Tensor) -> Tensor:
        """s = σ(W_2 ReLU(W_1 z + b_1) + b_2) for z the per-channel means of x."""
        z = self.avgpool(x)  # squeeze: (B, C, 1, 1)
        hidden = self.activation(self.fc1(z))  # (B, C/r, 1, 1)
        return self.scale_activation(self.fc2(hidden))  # excite: (B, C, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.channel_weights(x) * x  # scale: (B, C, 1, 1) broadcast over (H, W)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}"


@register_model(
    "se_resnet50",
    imagenet_card(
        family="senet",
        paper=f"Hu, Shen, Sun, Squeeze-and-excitation networks, CVPR 2018; {RESNET_PAPER}",
        reference=imagenet_count(
            28_088_024,
            "torchvision.models.resnet50 (25,557,032) plus SE with reduction 16 "
            "(1×1 convs with bias) in its 16 bottlenecks: Σ 2C²/16 + C/16 + C = 2,530,992 "
            "(see deepnotes.models.senet); Hu et al. 2018 report ~2.5M more than ResNet-50",
        ),
        concepts=(
            "squeeze-and-excitation",
            "channel attention",
            "gating",
            "global average pooling",
            "residual connection",
            "bottleneck",
        ),
    ),
    # ResNet-50's variants: the small stem; one block per stage at a quarter of the width
    variants={"se_resnet50_small": SMALL, "se_resnet50_tiny": TINY},
)
def se_resnet50(reduction: int = 16, impl: str = "torch", **kwargs: Any) -> ResNet:
    """ResNet-50 with a Squeeze-and-Excitation block (reduction r) in every bottleneck."""
    attention = functools.partial(SqueezeExcitation, reduction=reduction, impl=impl)
    return resnet50(attention=attention, impl=impl, **kwargs)
