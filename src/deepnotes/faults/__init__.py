"""Faults: plausible mistakes planted in the package's own code, each turning claims red.

A green verdict is evidence only if a wrong implementation would have turned it red.
Each fault here is such a wrong implementation, written as a student might write
it, with the claims it must turn red; `deepnotes faults` lists them and
`deepnotes run NAME --fault FAULT` runs an experiment with one planted
(`faults/base.py` says how). Importing this package registers every fault in
`deepnotes.registry.FAULTS`, one module per topic:

    convolution   the size without the floor, parameters without bias, the receptive
                  field without the jump
    activations   σ′ without (1 − σ), LeakyReLU without its slope
    attention     the scores without 1/√d, the causal mask one diagonal too wide
    architectures the residual shortcut, dense connections, the shuffle's transpose, the SE
                  gate's sigmoid, the U-Net's shrinking convolutions
    recurrent     the LSTM's forget gate without its bias
"""

from deepnotes.faults import activations, architectures, attention, convolution, recurrent

__all__ = ["activations", "architectures", "attention", "convolution", "recurrent"]
