"""Layers written from scratch, with torch.nn's names, arguments and state-dict keys.

Each class computes what its `torch.nn` namesake computes, from the formula in
its docstring, with plain tensor operations; the tests swap one for the other
and compare outputs, gradients and buffers. Read them as the lesson:

    linear.py        Linear, Flatten, Identity
    conv.py          Conv1d, Conv2d (by unfolding, im2col), ConvTranspose2d (the notes'
                     recipe, and the fast path: the gradient of convolution, col2im)
    pooling.py       MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BlurPool2d
    dropout.py       Dropout (inverted)
    batchnorm.py     BatchNorm1d, BatchNorm2d (the notes' three faults, fixed);
                     GhostBatchNorm1d (no torch.nn namesake: each group of G examples
                     normalised alone, tested group by group against BatchNorm1d)
    norm.py          LayerNorm, GroupNorm
    attention.py     scaled dot-product attention (readable beside torch's fused one, and as a
                     weightless layer that picks either), MultiheadAttention
    transformer.py   Transformer encoder and decoder layers (post- and pre-norm), position codes
    rnn.py           RNN, LSTM, GRU and their cells, from the gate equations; packed input
    activations.py   Sigmoid … LogSoftmax, and the ACTIVATIONS table for the gallery
    losses.py        L1Loss … TripletMarginLoss
    ctc.py           CTCLoss by the forward algorithm; greedy and prefix-beam decoding
    spectral.py      the spectral norm by power iteration; spectral_norm (W/σ(W)), torch's
                     parametrization
    functional.py    the functional forms the layers use
"""

from deepnotes.nn.activations import (
    CELU,
    ELU,
    GELU,
    SELU,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    Softmax,
    Softmin,
    Softplus,
    Tanh,
)
from deepnotes.nn.attention import MultiheadAttention, scaled_dot_product_attention
from deepnotes.nn.batchnorm import BatchNorm1d, BatchNorm2d
from deepnotes.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from deepnotes.nn.ctc import CTCLoss
from deepnotes.nn.dropout import Dropout
from deepnotes.nn.linear import Flatten, Identity, Linear
from deepnotes.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from deepnotes.nn.norm import GroupNorm, LayerNorm
from deepnotes.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, BlurPool2d, MaxPool2d
from deepnotes.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from deepnotes.nn.transformer import (
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GRU",
    "LSTM",
    "RNN",
    "SELU",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "BlurPool2d",
    "CTCLoss",
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "GRUCell",
    "GroupNorm",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "Identity",
    "KLDivLoss",
    "L1Loss",
    "LSTMCell",
    "LayerNorm",
    "LeakyReLU",
    "LearnedPositionalEncoding",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "MSELoss",
    "MarginRankingLoss",
    "MaxPool2d",
    "MultiheadAttention",
    "NLLLoss",
    "PReLU",
    "RNNCell",
    "ReLU",
    "ReLU6",
    "Sigmoid",
    "SinusoidalPositionalEncoding",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "Softmax",
    "Softmin",
    "Softplus",
    "Tanh",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
    "TripletMarginLoss",
    "scaled_dot_product_attention",
]
