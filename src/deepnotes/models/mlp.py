"""The multilayer perceptron: dense layers with a non-linearity between them.

    h_0 = flatten(x),  h_l = φ(W_l h_{l−1} + b_l),  output = W_L h_{L−1} + b_L

Without φ the stack collapses to one linear map (W_L ⋯ W_1), which is why the
non-linearity is the whole point. Rumelhart, Hinton, Williams, "Learning
representations by back-propagating errors", Nature 1986.

Shape: (B, *input_size) → (B, num_classes); images are flattened first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from types import ModuleType

from torch import Tensor, nn

from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.models.common import register_model
from deepnotes.nn.linear import Linear


def dense_stack(
    sizes: Sequence[int],
    activation: Callable[[], nn.Module] | None,
    library: ModuleType = nn,
) -> nn.Sequential:
    """Linear layers n₀ → n₁ → … → n_L of `library` (torch.nn or deepnotes.nn), `activation()`
    after every one but the last; None leaves a purely linear stack."""
    modules: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        modules.append(library.Linear(n_in, n_out))
        if activation is not None and i < len(sizes) - 2:
            modules.append(activation())
    return nn.Sequential(*modules)


def glorot(weight: Tensor) -> None:
    """W ~ N(0, 2/(n_in + n_out)) (Glorot & Bengio, AISTATS 2010): for tanh and sigmoid."""
    nn.init.xavier_normal_(weight)


def he(weight: Tensor) -> None:
    """W ~ N(0, 2/n_in) (He, Zhang, Ren & Sun, ICCV 2015): the scale at which a deep ReLU
    stack passes its signal on undiminished, E[ReLU(z)²] = Var(z)/2."""
    nn.init.kaiming_normal_(weight, nonlinearity="relu")


def initialize_linears(model: nn.Module, init: Callable[[Tensor], None]) -> nn.Module:
    """`model` with the weights of every Linear layer in it (torch's or deepnotes.nn's),
    in the order of `model.modules()`, drawn by `init` (`glorot`, `he`), and its bias 0."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, Linear)):
            init(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


class MLP(nn.Module):
    """Dense layers `hidden` wide with `activation` between them and optional dropout.

    Args:
        num_classes: outputs. Default: 10.
        input_size: shape of one example; its elements are the input features.
        hidden: widths of the hidden layers. Default: (256, 128).
        activation: "relu", "tanh" or "sigmoid".
        dropout: dropout probability after each hidden activation. Default: 0.
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_size: Sequence[int] = (64,),
        hidden: Sequence[int] = (256, 128),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
        layers: list[nn.Module] = [nn.Flatten()]  # (B, *input_size) → (B, F)
        width = math.prod(input_size)
        for out in hidden:
            layers += [nn.Linear(width, out), act()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = out
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last hidden layer's activations h_{L−1}: (B, hidden[-1])."""
        for layer in self.layers[:-1]:
            x = layer(x)
        return x

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """The output layer W_L h + b_L (or h itself with `pre_logits`): (B, num_classes)."""
        return features if pre_logits else self.layers[-1](features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    "mlp",
    ModelCard(
        task="classification",
        family="mlp",
        input_size=None,  # takes the data as it is: vectors, or images flattened
        num_classes=10,
        paper="Rumelhart, Hinton, Williams, Learning representations by back-propagating "
        "errors, Nature 1986",
        reference=ParameterCount(
            50_826,
            (64,),
            10,
            "Σ (n_in·n_out + n_out) for 64 → 256 → 128 → 10: 16,640 + 32,896 + 1,290",
        ),
        concepts=("perceptron", "hidden layers", "non-linearity"),
    ),
)
def mlp(**kwargs) -> MLP:
    return MLP(**kwargs)
