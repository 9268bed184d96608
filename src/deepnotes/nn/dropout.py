"""Dropout: train an ensemble of thinned networks by zeroing random units.

In training, each element survives with probability 1 − p and is scaled up:

    y = x · m / (1 − p),    m ~ Bernoulli(1 − p) elementwise,

so E[y] = x ("inverted" dropout). In evaluation y = x: the full network
stands in for the average of the thinned ones, and needs no rescaling because
training already did it. The gradient flows only through the survivors:
∂y/∂x = m / (1 − p). A unit cannot count on any particular other unit being
there, which discourages co-adaptation; AlexNet put dropout after its two
hidden dense layers.

Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: a simple
way to prevent neural networks from overfitting", JMLR 2014; Krizhevsky,
Sutskever & Hinton, "ImageNet classification with deep convolutional neural
networks", NeurIPS 2012.

Shape: any → the same.
"""

from __future__ import annotations

from torch import Tensor, nn

from deepnotes.errors import UserError
from deepnotes.nn.functional import dropout


class Dropout(nn.Module):
    r"""Zeroes each element with probability p in training and scales the rest by 1/(1 − p).

    .. math::
        y = \frac{m \odot x}{1 - p}, \quad m_i \sim \text{Bernoulli}(1 - p)
        \text{ in training;} \qquad y = x \text{ in evaluation.}

    A fresh mask is drawn at every call. On the CPU it is drawn as torch draws
    it, so under the same seed this layer and torch.nn.Dropout drop the same
    elements. p = 1 zeroes everything.

    Args:
        p: probability of zeroing an element. Default: 0.5.
        inplace: overwrite the input instead of allocating the output. Default: False.

    Shape:
        - Input: any shape.
        - Output: the same shape.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise UserError(f"dropout probability has to be between 0 and 1, got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
