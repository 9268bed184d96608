"""U-Net: an encoder that sees *what*, a decoder that puts it back *where*, joined by skips.

Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015 (arXiv:1505.04597).

Segmentation labels every pixel, so the network must output a map, not a
vector. U-Net's contracting path is a plain CNN: at each of its 4 levels two
3×3 convolutions (ReLU) and a 2×2 max pooling halve the map and the channels
double, 64 → 128 → 256 → 512 → 1024, so the bottom sees a wide context. The
expanding path mirrors it: a 2×2 up-convolution (transposed convolution,
kernel 2, stride 2) doubles the map and halves the channels, the encoder's map
of the same level is *concatenated* to it (the skip connection: the fine
localisation that pooling threw away), and two 3×3 convolutions merge the
two. A final 1×1 convolution, the same dense layer at every pixel, maps the 64
channels to per-pixel class scores.

The paper's convolutions are *valid* (no padding): each 3×3 conv loses one
pixel per border, o = i − 2 (the notes' o = ⌊(i − k + 2p)/s⌋ + 1 with k=3, p=0),
so the output is smaller than the input and the encoder's maps are larger than
the decoder's: each skip is centre-cropped to the decoder's size. With the
paper's 572×572 tile (by `deepnotes.arith`, see `unet_output_side`):

    level  encoder (two convs)        decoder (up-conv, crop, two convs)  channels
    0      572 → 570 → 568             392 ← crop 568, → 390 → 388         64
    1      284 → 282 → 280             200 ← crop 280, → 198 → 196         128
    2      140 → 138 → 136             104 ← crop 136, → 102 → 100         256
    3       68 →  66 →  64              56 ← crop  64, →  54 →  52         512
    bottom  32 →  30 →  28                                                 1024

    output 388×388: every output pixel sees a 572 − 388 + 1 = 185 pixel context.

Every pooling must meet an even side, or the up-convolution (which exactly
doubles) could not give the size back and the crop would be off by a pixel. A
depth-d U-Net whose bottom map has side b therefore takes, with ℓ = 4(1 − p)
pixels lost per pair of 3×3 convs padded by p,

    input  i = 2^d (b + ℓ) + ℓ (2^d − 1),     output  o = 2^d b − ℓ (2^d − 1),

so the paper's net (d=4, p=0, ℓ=4) takes i = 16b + 124 and gives o = 16b − 60:
572 → 388 (b=28), the smallest being 188 → 4 (b=4). The paper tiles a large
image with overlapping 572 tiles, mirroring the border ("overlap-tile").

`unet_padded` is the common modern form: 3×3 convolutions padded by 1 (ℓ = 0,
same size out as in, for sides divisible by 2^d), each followed by BatchNorm
(Ioffe & Szegedy 2015) and ReLU, so the convolution needs no bias (BatchNorm's
β replaces it); upsampling by the 2×2 up-convolution or by bilinear
interpolation followed by a 1×1 conv that halves the channels (interpolation
cannot make checkerboard artefacts; Odena et al., Distill 2016).

Parameters (1 input channel, 2 classes, every conv with bias): 31,030,658;
`unet_padded` (3 input channels, 2 classes, transposed up-convolutions):
31,037,698. The tests derive both from the layer formulas (`arith.conv_params`).

Shape: (B, C, H, W) → (B, num_classes, H', W'), H' = H − 184 for the paper's
net at depth 4, H' = H for the padded one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from deepnotes.arith import conv_output_size, pool_output_size, transposed_output_size
from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.errors import UserError
from deepnotes.models.common import Variant, layers, register_model

PAPER = (
    "Ronneberger, Fischer, Brox, U-Net: Convolutional Networks for Biomedical Image "
    "Segmentation, MICCAI 2015 (arXiv:1505.04597)"
)
UPSAMPLING = ("transposed", "bilinear")


def double_conv_side(side: int, padding: int) -> int:
    """Side after two 3×3 convolutions padded by `padding`: i − 2(2 − 2p)."""
    return conv_output_size(conv_output_size(side, k=3, p=padding), k=3, p=padding)


def unet_output_side(side: int, depth: int = 4, padding: int = 0) -> int:
    """Side of a U-Net's output for an input side, layer by layer by the notes' formulas.

    Raises `UserError` where a 2×2 pooling meets an odd side (the up-convolution,
    which exactly doubles, could not give it back) or a map shrinks to nothing.
    """
    for level in range(depth):
        side = double_conv_side(side, padding)
        if side % 2:
            raise UserError(f"the map entering pooling {level + 1} has an odd side ({side})")
        side = pool_output_size(side, k=2)
    side = double_conv_side(side, padding)  # the bottom
    for _ in range(depth):
        side = double_conv_side(transposed_output_size(side, k=2, s=2), padding)
    return side


def unet_input_side(bottom: int, depth: int = 4, padding: int = 0) -> int:
    """Input side whose bottom map has side `bottom`: 2^d (b + ℓ) + ℓ (2^d − 1), ℓ = 4(1 − p)."""
    lost = 4 * (1 - padding)  # pixels two 3×3 convolutions take from a side
    return 2**depth * (bottom + lost) + lost * (2**depth - 1)


def check_input_side(side: int, depth: int, padding: int) -> None:
    """Raise a `UserError` naming the nearest valid sides when `side` does not fit the net."""
    try:
        unet_output_side(side, depth, padding)
    except UserError as error:
        valid = []
        for bottom in range(1, side + 1):
            candidate = unet_input_side(bottom, depth, padding)
            try:
                unet_output_side(candidate, depth, padding)
            except UserError:
                continue
            valid.append(candidate)
            if candidate > side:
                break
        nearest = sorted(valid, key=lambda v: abs(v - side))[:2]
        raise UserError(
            f"input side {side} does not fit a depth-{depth} U-Net with padding {padding}: "
            f"{error}; the nearest sides that do are {', '.join(map(str, sorted(nearest)))}"
        ) from None


def center_crop(x: Tensor, size: Sequence[int]) -> Tensor:
    """The central `size` (H, W) window of a (B, C, H', W') map, H' ≥ H, W' ≥ W."""
    top = (x.shape[-2] - size[0]) // 2
    left = (x.shape[-1] - size[1]) // 2
    return x[..., top : top + size[0], left : left + size[1]]  # (B, C, H, W)


class DoubleConv(nn.Sequential):
    """Two 3×3 convolutions, each followed by ReLU (BatchNorm + ReLU with `batch_norm`).

    With BatchNorm the convolutions have no bias: BatchNorm subtracts the mean
    of every channel, bias included, and adds its own β.

    Args:
        in_channels: channels of the input.
        out_channels: channels of both convolutions' outputs.
        padding: 0 (valid, the paper's) or 1 (same size).
        batch_norm: BatchNorm2d after each convolution.
        impl: "torch" or "deepnotes" layers.

    Shape: (B, in_channels, H, W) → (B, out_channels, H − 4 + 4p, W − 4 + 4p).
    """

    def __init__(
        self, in_channels: int, out_channels: int, padding: int, batch_norm: bool, impl: str
    ) -> None:
        L = layers(impl)
        modules: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            modules.append(
                L.Conv2d(c_in, out_channels, kernel_size=3, padding=padding, bias=not batch_norm)
            )
            if batch_norm:
                modules.append(L.BatchNorm2d(out_channels))
            modules.append(L.ReLU(inplace=True))
        super().__init__(*modules)


class Up(nn.Module):
    """One level of the expanding path: upsample ×2, crop-and-concat the skip, two convs.

    The upsampling halves the channels, so the concatenation with the skip
    (which has half the channels too) restores `in_channels`:

        x ← up(x)                          (B, C/2, 2h, 2w)
        x ← concat(crop(skip), x)          (B, C, 2h, 2w)
        x ← DoubleConv(x)                  (B, C/2, 2h − 4 + 4p, …)

    Args:
        in_channels: C, channels of the input from below.
        out_channels: channels out (C/2 in U-Net).
        padding, batch_norm: as in `DoubleConv`.
        upsampling: "transposed" (2×2 up-convolution, stride 2, the paper's) or
            "bilinear" (bilinear interpolation, then a 1×1 conv halving the channels).
        impl: "torch" or "deepnotes" layers.

    Shape: (B, C, h, w) and skip (B, C/2, H_s, W_s), H_s ≥ 2h → (B, out_channels, H', W').
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        padding: int,
        batch_norm: bool,
        upsampling: str,
        impl: str,
    ) -> None:
        super().__init__()
        L = layers(impl)
        half = in_channels // 2
        if upsampling == "transposed":
            self.up = L.ConvTranspose2d(in_channels, half, kernel_size=2, stride=2)
        elif upsampling == "bilinear":  # torch.nn.Upsample in both libraries
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                L.Conv2d(in_channels, half, kernel_size=1),
            )
        else:
            raise UserError(
                f"upsampling must be one of {', '.join(UPSAMPLING)}, got {upsampling!r}"
            )
        self.conv = DoubleConv(in_channels, out_channels, padding, batch_norm, impl)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)  # (B, C/2, 2h, 2w)
        x = torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1)  # (B, C, 2h, 2w)
        return self.conv(x)


class UNet(nn.Module):
    """U-Net: a contracting path, an expanding path, and crop-and-concat skips between them.

    Level l (0 ≤ l ≤ depth) has width·2^l channels; the encoder's level l > 0
    max-pools (2×2) and applies a `DoubleConv`, the decoder's level l < depth
    upsamples from level l + 1, concatenates the encoder's level-l map and
    applies a `DoubleConv`; a 1×1 conv (with bias) gives the class scores.

    The input size is checked against the arithmetic of the module docstring:
    a side that meets a pooling with an odd size raises `UserError`, naming the
    nearest sides that fit.

    Args:
        num_classes: scores per pixel. Default: 2.
        input_size: (C, H, W) of the inputs; C sets the first conv's channels.
            Default: (1, 572, 572).
        width: channels of level 0. Default: 64.
        depth: number of poolings (and of up-convolutions). Default: 4.
        padding: of every 3×3 conv, 0 (valid, the paper's) or 1 (same size). Default: 0.
        batch_norm: BatchNorm2d after every 3×3 conv, whose bias it replaces. Default: False.
        upsampling: "transposed" or "bilinear" (see `Up`). Default: "transposed".
        impl: "torch" or "deepnotes" layers. Default: "torch".

    Shape:
        - Input: (B, C, H, W).
        - Output: (B, num_classes, H', W'), with `unet_output_side` of H and of W.
    """

    def __init__(
        self,
        num_classes: int = 2,
        input_size: tuple[int, int, int] = (1, 572, 572),
        width: int = 64,
        depth: int = 4,
        padding: int = 0,
        batch_norm: bool = False,
        upsampling: str = "transposed",
        impl: str = "torch",
    ) -> None:
        super().__init__()
        channels, height, width_px = input_size
        for side in {height, width_px}:
            check_input_side(side, depth, padding)
        self.width, self.depth, self.padding = width, depth, padding
        self.batch_norm, self.upsampling = batch_norm, upsampling
        L = layers(impl)
        widths = [width * 2**level for level in range(depth + 1)]  # 64, 128, …, 1024
        self.encoder = nn.ModuleList([DoubleConv(channels, width, padding, batch_norm, impl)])
        for c_in, c_out in itertools.pairwise(widths):
            self.encoder.append(
                nn.Sequential(
                    L.MaxPool2d(kernel_size=2, stride=2),
                    DoubleConv(c_in, c_out, padding, batch_norm, impl),
                )
            )
        self.decoder = nn.ModuleList(
            Up(c_in, c_out, padding, batch_norm, upsampling, impl)
            for c_in, c_out in zip(widths[:0:-1], widths[-2::-1], strict=True)
        )
        self.head = L.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for level in self.encoder:
            x = level(x)  # (B, width·2^l, H_l, W_l)
            skips.append(x)
        skips.pop()  # the bottom feeds the decoder directly
        for up in self.decoder:
            x = up(x, skips.pop())  # (B, width·2^l, H'_l, W'_l), l = depth − 1, …, 0
        return self.head(x)  # (B, num_classes, H', W')

    def extra_repr(self) -> str:
        return (
            f"width={self.width}, depth={self.depth}, padding={self.padding}, "
            f"batch_norm={self.batch_norm}, upsampling={self.upsampling!r}"
        )


CONCEPTS = (
    "semantic segmentation",
    "encoder-decoder",
    "skip connections",
    "transposed convolution",
    "valid convolution",
    "1×1 convolution",
)
# shapes-seg (32×32, 5 classes, 3,000 training images): Adam with a cosine decay reaches a
# test mean IoU of 0.93 (seeds 0 and 1; 0.91 after 10 epochs) in 15 epochs, about 2 minutes
# on 2 CPU cores (115 s on two cores of a Xeon, 0.929).
TRAIN_DEFAULTS = {"epochs": 15, "batch_size": 32, "lr": 3e-3, "scheduler": "cosine"}


@register_model(
    "unet",
    ModelCard(
        task="segmentation",
        family="unet",
        input_size=(1, 572, 572),
        test_input_size=(1, 188, 188),  # the smallest valid size with a 4×4 bottom: 188 → 4
        num_classes=2,
        paper=PAPER,
        reference=ParameterCount(
            31_030_658,
            (1, 572, 572),
            2,
            "the paper's Fig. 1 (1 channel in, 2 classes, every conv with bias), counted "
            "layer by layer with c_in·c_out·k² + c_out (tests/test_models_unet.py)",
        ),
        concepts=CONCEPTS,
    ),
    variants={
        # depth 2, bottom side 8: 4·(8 + 4) + 4·3 = 60 → 20
        "unet_tiny": Variant("tiny", {"width": 8, "depth": 2}, (1, 60, 60)),
    },
)
def unet(
    num_classes: int = 2,
    input_size: tuple[int, int, int] = (1, 572, 572),
    impl: str = "torch",
    **kwargs,
) -> UNet:
    """The paper's U-Net: valid 3×3 convs with bias, 2×2 up-convolutions, crop-and-concat."""
    return UNet(num_classes, input_size, impl=impl, **kwargs)


@register_model(
    "unet_padded",
    ModelCard(
        task="segmentation",
        family="unet",
        input_size=(3, 256, 256),
        test_input_size=(3, 64, 64),
        num_classes=2,
        paper=PAPER + "; padded convolutions with BatchNorm (Ioffe & Szegedy, ICML 2015)",
        reference=ParameterCount(
            31_037_698,
            (3, 256, 256),
            2,
            "the paper's layers with 3 channels in, 3×3 convs padded and without bias, "
            "each followed by BatchNorm (γ, β), transposed 2×2 up-convolutions and the 1×1 "
            "conv with bias, counted layer by layer (tests/test_models_unet.py)",
        ),
        train_defaults=TRAIN_DEFAULTS,
        concepts=(*CONCEPTS, "batch normalisation", "bilinear upsampling"),
    ),
    # the generated shapes-seg images are grey
    variants={
        # Three poolings: a 16×16 input still has a 2×2 bottom, 32×32 a 4×4 one; 16
        # channels at level 0 (1/16 of the multiply-adds of 64) are plenty for 32×32 shapes.
        "unet_padded_small": Variant("small", {"depth": 3, "width": 16}, (1, 32, 32)),
        "unet_padded_tiny": Variant("tiny", {"width": 8, "depth": 2}, (1, 32, 32)),
    },
)
def unet_padded(
    num_classes: int = 2,
    input_size: tuple[int, int, int] = (3, 256, 256),
    impl: str = "torch",
    **kwargs,
) -> UNet:
    """Same-size U-Net: 3×3 convs padded by 1, without bias, each with BatchNorm and ReLU."""
    return UNet(num_classes, input_size, padding=1, batch_norm=True, impl=impl, **kwargs)
