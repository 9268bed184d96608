"""Faults in the zoo's building blocks: the residual shortcut, dense connections, the channel
shuffle, the squeeze-and-excitation gate, the U-Net's valid convolutions."""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch import Tensor, nn

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.models import densenet, resnet, senet, shufflenet, unet
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
