"""A tiny reverse-mode autograd engine on scalars (micrograd-style), and networks built on it.

`engine.Value` is a scalar that records how it was computed and backpropagates;
`nn` builds neurons, layers and MLPs from it, trains them by gradient descent,
and keeps Rosenblatt's gradient-free perceptron beside them for contrast.
"""

from deepnotes.autograd.engine import Value
from deepnotes.autograd.nn import MLP, Layer, Module, Neuron, Perceptron, predict, train_mlp

__all__ = ["MLP", "Layer", "Module", "Neuron", "Perceptron", "Value", "predict", "train_mlp"]
