"""Faults in the zoo's building blocks: the residual shortcut, dense connections, the channel
shuffle, the squeeze-and-excitation gate, the U-Net's valid convolutions, Inception's
convolutions and factorised kernels (the size GoogLeNet's stem hands on is arithmetic's:
`pool-size-ignores-ceil-mode` stands in `faults/convolution.py`)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch import Tensor, nn

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.models import densenet, inception, resnet, senet, shufflenet, unet
from deepnotes.models.common import layers
from deepnotes.registry import FAULTS


def block_without_shortcut(self: resnet.ResidualBlock, x: Tensor) -> Tensor:
    """ReLU(F(x)): the residual F(x) alone, x never added back."""
    out = self.residual(x)
    if self.se is not None:
        out = self.se(out)
    return self.relu(out)


@FAULTS.register(
    "residual-shortcut-forgotten",
    FaultCard(
        mistake="A residual block returns ReLU(F(x)), the shortcut x never added",
        consequence="it is a plain stack again: with its last γ at 0 it outputs zeros instead "
        "of passing x through, and a deep network loses the identity path gradients use",
        replaces="deepnotes.models.resnet.ResidualBlock.forward",
        targets=("architectures/resnet-block-zero-gamma-identity",),
    ),
)
def residual_shortcut_forgotten() -> AbstractContextManager[None]:
    return replaced(resnet.ResidualBlock, "forward", block_without_shortcut)


class ChainBlock(densenet.DenseBlock):
    """A "dense" block whose layer ℓ reads the previous layer's k maps only (the first, the
    block's input): a plain chain, nothing concatenated."""

    def __init__(
        self,
        num_layers: int,
        num_input_features: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        impl: str = "torch",
    ) -> None:
        nn.ModuleDict.__init__(self)
        for i in range(num_layers):
            reads = num_input_features if i == 0 else growth_rate
            layer = densenet.DenseLayer(reads, growth_rate, bn_size, drop_rate, impl)
            self.add_module(f"denselayer{i + 1}", layer)
        self.num_layers, self.num_input_features = num_layers, num_input_features
        self.growth_rate, self.out_channels = growth_rate, growth_rate

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.values():
            x = layer(x)
        return x


@FAULTS.register(
    "dense-connections-forgotten",
    FaultCard(
        mistake="A dense block feeds each layer the previous layer's output alone",
        consequence="no layer sees the earlier feature maps: the channels stop growing by k "
        "per layer, and the block is an ordinary stack",
        replaces="deepnotes.models.densenet.DenseBlock",
        targets=("architectures/densenet-growth-rate",),
    ),
)
def dense_connections_forgotten() -> AbstractContextManager[None]:
    return replaced(densenet, "DenseBlock", ChainBlock)


def shuffle_without_transpose(x: Tensor, groups: int) -> Tensor:
    """The view as g × C/g and back, without the transpose between: the channels stay put."""
    batch, channels, height, width = x.shape
    return x.view(batch, groups, channels // groups, height, width).reshape(x.shape)


@FAULTS.register(
    "channel-shuffle-without-transpose",
    FaultCard(
        mistake="The channel shuffle reshapes to g × C/g and back without transposing",
        consequence="it moves no channel: stacked grouped convolutions stay in their groups, "
        "and information never crosses from one group to another",
        replaces="deepnotes.models.shufflenet.channel_shuffle",
        targets=("architectures/shuffle-mixes-groups",),
    ),
)
def channel_shuffle_without_transpose() -> AbstractContextManager[None]:
    return replaced(shufflenet, "channel_shuffle", shuffle_without_transpose)


def gates_without_sigmoid(self: senet.SqueezeExcitation, x: Tensor) -> Tensor:
    """W_2 ReLU(W_1 z + b_1) + b_2: the excitation's logits, the sigmoid left out."""
    hidden = self.activation(self.fc1(self.avgpool(x)))
    return self.fc2(hidden)


@FAULTS.register(
    "se-gate-without-sigmoid",
    FaultCard(
        mistake="The squeeze-and-excitation gate is the excitation's output, without the sigmoid",
        consequence="the 'gates' are any real numbers: channels are flipped in sign or blown "
        "up instead of being reweighted by a factor between 0 and 1",
        replaces="deepnotes.models.senet.SqueezeExcitation.channel_weights",
        targets=("architectures/se-gates-above-0", "architectures/se-gates-below-1"),
    ),
)
def se_gate_without_sigmoid() -> AbstractContextManager[None]:
    return replaced(senet.SqueezeExcitation, "channel_weights", gates_without_sigmoid)


def same_convolutions(side: int, padding: int) -> int:
    """The side unchanged by two 3×3 convolutions, as if they were padded ("same")."""
    return side


@FAULTS.register(
    "unet-convolutions-keep-the-size",
    FaultCard(
        mistake="The U-Net's unpadded 3×3 convolutions are taken to keep the map's size",
        consequence="each one takes a pixel from every side: the paper's 572 × 572 tile ends as "
        "a 388 × 388 map, not 572, and sizes worked out by hand disagree with the network",
        replaces="deepnotes.models.unet.double_conv_side",
        targets=("architectures/unet-output-size", "architectures/unet-paper-572-388"),
    ),
)
def unet_convolutions_keep_the_size() -> AbstractContextManager[None]:
    return replaced(unet, "double_conv_side", same_convolutions)


class BiasedBasicConv2d(inception.BasicConv2d):
    """Conv → BatchNorm → ReLU whose convolution keeps its bias: c_out parameters that
    BatchNorm's mean subtraction cancels and its shift β already provides."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: inception.IntOrPair,
        stride: int = 1,
        padding: inception.IntOrPair = 0,
        impl: str = "torch",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, impl)
        self.conv = layers(impl).Conv2d(in_channels, out_channels, kernel_size, stride, padding)


@FAULTS.register(
    "inception-conv-bias-before-batchnorm",
    FaultCard(
        mistake="Every convolution of GoogLeNet's blocks keeps its bias before BatchNorm",
        consequence="c_out useless parameters per convolution (BatchNorm subtracts the mean, "
        "bias included): the built blocks no longer hold what the formula (and torchvision) "
        "counts",
        replaces="deepnotes.models.inception.BasicConv2d",
        targets=("architectures/inception-reductions-counted",),
    ),
)
def inception_conv_bias_before_batchnorm() -> AbstractContextManager[None]:
    return replaced(inception, "BasicConv2d", BiasedBasicConv2d)


def factorized_conv_square(
    in_channels: int, mid_channels: int, out_channels: int, n: int, impl: str = "torch"
) -> nn.Sequential:
    """A 1×n then an n×n (its kernel written square): not a factorisation at all."""
    return nn.Sequential(
        inception.BasicConv2d(in_channels, mid_channels, (1, n), padding=(0, n // 2), impl=impl),
        inception.BasicConv2d(mid_channels, out_channels, n, padding=n // 2, impl=impl),
    )


@FAULTS.register(
    "factorized-conv-second-kernel-square",
    FaultCard(
        mistake="v3's factorised n×n convolution builds its second kernel n×n instead of n×1",
        consequence="it costs n + n² weights per channel pair instead of 2n (56 instead of 14 "
        "for n = 7): the saving the factorisation is for is gone, and the modules disagree "
        "with the formula",
        replaces="deepnotes.models.inception.factorized_conv",
        targets=("architectures/v3-factorisations-counted",),
    ),
)
def factorized_conv_second_kernel_square() -> AbstractContextManager[None]:
    return replaced(inception, "factorized_conv", factorized_conv_square)
