"""Neurons, layers and MLPs on the scalar engine, and Rosenblatt's perceptron before them.

**The perceptron** (Rosenblatt 1958) is one threshold unit,

    ŷ = 1 if w·x + b > 0 else 0,

trained without any gradient by the rule, applied to one example at a time,

    w ← w + η·(y − ŷ)·x,    b ← b + η·(y − ŷ).

Nothing moves when the prediction is right; a mistake pulls the hyperplane
towards the misclassified point. If the data are linearly separable with
margin γ by a unit vector (w*, b*) and every augmented input (x, 1) has norm
at most R, the rule makes at most (R/γ)² mistakes in total (Novikoff 1962),
whatever η. If they are not separable (XOR, Minsky & Papert 1969) it never
settles: some example is always wrong, and one line can classify at most three
of XOR's four points.

**The multilayer perceptron** replaces the step by a differentiable
non-linearity φ so that the chain rule applies, and is trained by gradient
descent on a loss, the gradients coming from `Value.backward()`:

    neuron(x) = φ(Σ_i w_i x_i + b),   layer = [neuron_1, …, neuron_n],
    MLP = layer_L ∘ ⋯ ∘ layer_1 (no φ on the last layer),
    θ ← θ − η·∂L/∂θ.

The classifier here scores a point with one output s(x) and predicts class 1
when s(x) > 0. With targets t = ±1 its losses are the hinge max(0, 1 − t·s) of
the support-vector machine (used by micrograd's demo) or the squared error
(s − t)², averaged over the data plus an L2 penalty α·Σθ².

References: F. Rosenblatt, "The perceptron: a probabilistic model for
information storage and organization in the brain", Psychological Review 1958;
A. Novikoff, "On convergence proofs on perceptrons", 1962; M. Minsky,
S. Papert, "Perceptrons", 1969; A. Karpathy, micrograd's `nn.py`, whose
Neuron/Layer/MLP this follows.

Shape: an input x is a sequence of `in_features` numbers or Values; a layer
returns a list of `out_features` Values; a data set X is a sequence of inputs.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Sequence

from deepnotes.autograd.engine import Number, Value

ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
}

LOSSES: dict[str, Callable[[Value, float], Value]] = {
    "hinge": lambda score, target: (1 - target * score).relu(),  # max(0, 1 − t·s)
    "squared": lambda score, target: (score - target) ** 2,  # (s − t)²
}


class Module:
    """What every trainable piece answers: its parameters, and resetting their gradients."""

    def parameters(self) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0; `backward()` adds to them otherwise."""
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    r"""One unit: a weighted sum of the inputs plus a bias, through a non-linearity.

    .. math::
        y = \varphi\Big(\sum_{i=1}^{n} w_i x_i + b\Big)

    Weights start uniform in [−1, 1] and the bias at 0, as in micrograd.

    Args:
        in_features: number of inputs n.
        activation: "relu", "tanh", "sigmoid", or None for a linear unit. Default: "relu".
        rng: source of the initial weights. Default: a fresh unseeded `random.Random`.

    Shape:
        - Input: `in_features` numbers or Values. Output: one Value.
    """

    def __init__(
        self,
        in_features: int,
        activation: str | None = "relu",
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()
        self.weight = [Value(rng.uniform(-1, 1)) for _ in range(in_features)]
        self.bias = Value(0.0)
        self.activation = activation
        self._phi = ACTIVATIONS[activation] if activation else None

    def __call__(self, x: Sequence[Value | Number]) -> Value:
        pre_activation = sum((w * xi for w, xi in zip(self.weight, x, strict=True)), self.bias)
        return self._phi(pre_activation) if self._phi else pre_activation

    def parameters(self) -> list[Value]:
        return [*self.weight, self.bias]

    def __repr__(self) -> str:
        return f"Neuron(in_features={len(self.weight)}, activation={self.activation!r})"


class Layer(Module):
    """`out_features` independent neurons reading the same input (torch's Linear + φ).

    Args:
        in_features: inputs of each neuron.
        out_features: number of neurons.
        activation: as for `Neuron`. Default: "relu".
        rng: source of the initial weights. Default: a fresh unseeded `random.Random`.

    Shape:
        - Input: `in_features` numbers or Values. Output: a list of `out_features` Values.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str | None = "relu",
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()
        self.neurons = [Neuron(in_features, activation, rng) for _ in range(out_features)]

    def __call__(self, x: Sequence[Value | Number]) -> list[Value]:
        return [neuron(x) for neuron in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for neuron in self.neurons for p in neuron.parameters()]

    def __repr__(self) -> str:
        first = self.neurons[0]
        return (
            f"Layer(in_features={len(first.weight)}, out_features={len(self.neurons)}, "
            f"activation={first.activation!r})"
        )


class MLP(Module):
    """Layers of neurons, `activation` on every layer but the last, which stays linear.

    Args:
        in_features: size of the input.
        layer_sizes: output size of each layer in turn; the last is the model's output.
        activation: non-linearity of the hidden layers. Default: "relu".
        rng: source of the initial weights. Default: a fresh unseeded `random.Random`.

    Shape:
        - Input: `in_features` numbers or Values.
        - Output: a list of `layer_sizes[-1]` Values.
    """

    def __init__(
        self,
        in_features: int,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()
        sizes = [in_features, *layer_sizes]
        last = len(layer_sizes) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], activation if i < last else None, rng)
            for i in range(len(layer_sizes))
        ]

    def __call__(self, x: Sequence[Value | Number]) -> list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return "MLP(\n" + "".join(f"  {layer}\n" for layer in self.layers) + ")"


def classification_loss(
    model: MLP,
    X: Sequence[Sequence[Number]],
    y: Sequence[int],
    loss: str = "hinge",
    alpha: float = 1e-4,
) -> Value:
    """Mean `loss` of the scores s(x) against targets t = 2y − 1, plus α·Σθ²."""
    per_example = LOSSES[loss]
    data_loss = sum(
        (per_example(model(x)[0], 2.0 * label - 1.0) for x, label in zip(X, y, strict=True)),
        Value(0.0),
    ) / len(X)
    penalty = sum((p * p for p in model.parameters()), Value(0.0))
    return data_loss + alpha * penalty


def train_mlp(
    model: MLP,
    X: Sequence[Sequence[Number]],
    y: Sequence[int],
    steps: int,
    lr: float,
    loss: str = "hinge",
    alpha: float = 1e-4,
) -> list[float]:
    """Train a one-output `model` to separate classes 0 and 1 by plain gradient descent.

    Each step computes `classification_loss` on the whole of (X, y) — SGD whose
    batch is the full data set — backpropagates it, and moves every parameter
    θ ← θ − lr·∂L/∂θ.

    Args:
        model: an MLP whose last layer has one output, the score s(x).
        X: the inputs. y: their labels, 0 or 1.
        steps: number of updates. lr: learning rate η.
        loss: "hinge" or "squared". Default: "hinge".
        alpha: weight of the L2 penalty α·Σθ². Default: 1e-4.

    Returns:
        The loss before each step.

    Note:
        Python's cycle collector is paused while training. Each step builds a
        graph of tens of thousands of live nodes, and collector passes would
        spend most of the run time traversing them; the graph holds no reference
        cycles (see `Value.__init__`), so reference counting alone frees it.
    """
    history = []
    collector_was_on = gc.isenabled()
    gc.disable()
    try:
        for _ in range(steps):
            total = classification_loss(model, X, y, loss, alpha)
            model.zero_grad()
            total.backward()
            for p in model.parameters():
                p.data -= lr * p.grad
            history.append(total.data)
    finally:
        if collector_was_on:
            gc.enable()
    return history


def predict(model: MLP, X: Sequence[Sequence[Number]]) -> list[int]:
    """Class 1 where the score s(x) is positive, else class 0."""
    return [int(model(x)[0].data > 0) for x in X]


class Perceptron:
    r"""Rosenblatt's threshold unit and its error-correcting learning rule (no gradients).

    .. math::
        \hat y = [\,w \cdot x + b > 0\,], \qquad
        w \leftarrow w + \eta (y - \hat y)\, x, \quad b \leftarrow b + \eta (y - \hat y)

    Weights start at zero, so η only scales (w, b) and never changes a
    prediction; it is kept because it is in the rule. See the module doc for
    convergence (Novikoff) and its failure on XOR.

    Args:
        in_features: size of the input.
        lr: learning rate η. Default: 1.0.

    Shape:
        - Input: `in_features` numbers. Labels: 0 or 1.
    """

    def __init__(self, in_features: int, lr: float = 1.0) -> None:
        self.weight = [0.0] * in_features
        self.bias = 0.0
        self.lr = lr

    def predict(self, x: Sequence[Number]) -> int:
        activation = sum(w * xi for w, xi in zip(self.weight, x, strict=True)) + self.bias
        return int(activation > 0)

    def update(self, x: Sequence[Number], label: int) -> bool:
        """Apply the rule to one example; True when it was misclassified (and so moved)."""
        error = label - self.predict(x)  # y − ŷ ∈ {−1, 0, 1}
        if error:
            self.weight = [w + self.lr * error * xi for w, xi in zip(self.weight, x, strict=True)]
            self.bias += self.lr * error
        return error != 0

    def fit(self, X: Sequence[Sequence[Number]], y: Sequence[int], epochs: int) -> list[int]:
        """Sweep the data in order up to `epochs` times, stopping after an error-free sweep.

        Returns:
            The number of mistakes (updates) in each sweep.
        """
        mistakes_per_epoch = []
        for _ in range(epochs):
            mistakes = sum(self.update(x, label) for x, label in zip(X, y, strict=True))
            mistakes_per_epoch.append(mistakes)
            if mistakes == 0:
                break
        return mistakes_per_epoch

    def __repr__(self) -> str:
        return f"Perceptron(in_features={len(self.weight)}, lr={self.lr})"
