"""Exercises that check themselves: a student writes a concept, the package grades it.

`deepnotes exercises` lists them; `deepnotes exercise start NAME` writes a starter
file, `check NAME FILE` grades it in a child process with limits (`sandbox.py`),
`hint NAME` gives the next hint, `grade NAME FOLDER` grades a class's submissions
into one CSV. `base.py` says what an exercise is and how grading works; importing
this package registers every exercise in `deepnotes.registry.EXERCISES`, one module
per part of the course:

    autograd      a scalar autograd engine, micrograd's Value
    convolution   the output size of a convolution, a pooling and a transposed one; the
                  receptive field of a stack; a convolution by im2col; a transposed
                  convolution by the notes' recipe
    optimisation  a step of SGD with momentum, a step of Adam
    normalization BatchNorm2d with its running statistics, LayerNorm, inverted dropout
    losses        a stable softmax and log-softmax, the sigmoid and its derivative,
                  cross-entropy with label smoothing, class weights and an ignored index
    sequences     one LSTM step, scaled dot-product and multi-head attention, CTC's forward pass
    graphs        a graph convolution (GCN) from an edge index
    generative    the reparameterisation trick and the KL to N(0, I), the ELBO, the GAN's losses
    speech        the mel filterbank
"""

from deepnotes.exercises import (
    autograd,
    convolution,
    generative,
    graphs,
    losses,
    normalization,
    optimisation,
    sequences,
    speech,
)

__all__ = [
    "autograd",
    "convolution",
    "generative",
    "graphs",
    "losses",
    "normalization",
    "optimisation",
    "sequences",
    "speech",
]
