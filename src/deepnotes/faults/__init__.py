"""Faults: plausible mistakes planted in the package's own code, each turning claims red.

A green verdict is evidence only if a wrong implementation would have turned it red.
Each fault here is such a wrong implementation, written as a student might write
it, with the claims it must turn red; `deepnotes faults` lists them and
`deepnotes run NAME --fault FAULT` runs an experiment with one planted
(`faults/base.py` says how). Importing this package registers every fault in
`deepnotes.registry.FAULTS`, one module per topic:

    convolution   the size without the floor or with the padding once, pooling rounded
                  up, the transposed size by the convolution's formula, parameters without
                  bias, the receptive field without the jump, the transposed recipe's
                  padding and unrotated kernel, the kernel flipped, BlurPool without its blur
    activations   σ′ without (1 − σ), LeakyReLU without its slope, softplus's β outside
    attention     the scores without 1/√d, the causal mask one diagonal too wide
    architectures the residual shortcut, dense connections, the shuffle's transpose, the SE
                  gate's sigmoid, the U-Net's shrinking convolutions, Inception's convolutions
                  biased before BatchNorm, the factorised n×1 built n×n, pooling sizes that
                  ignore ceil_mode
    recurrent     the LSTM's forget gate without its bias
    graphs        GCN without self-loops or normalised by rows, the Laplacian unnormalised,
                  the graph Fourier transform without the transpose
    graph_classification  GIN's sum aggregation taken as a mean, the sum readout as a mean
    lipschitz     power iteration that never updates its right vector v
    generative    KL's log-determinant upside down, PPCA's N and N − 1, PPCA's ELBO taken
                  at q's mean, the E-step unnormalised, the full-covariance q without its
                  off-diagonal, the VAE's KL added, the generator on the minimax loss,
                  the swapped labels applied to D only
    speech        the MFCC's DCT without orthonormal scaling, CTC's blank kept
    normalization BatchNorm's unbiased variance, running statistics with autograd history,
                  γ and β not learned (the notes' three); dropout without 1/(1 − p); ghost
                  BatchNorm normalising with the whole batch
    optimisers    Adam without bias correction, SGD's momentum applied twice
    physics       velocity Verlet without its half-steps, each spring as one directed edge,
                  the effects averaged, not summed
    search        regularised evolution's ageing removing the newest, the tournament won by
                  the worst
"""

from deepnotes.faults import (
    activations,
    architectures,
    attention,
    convolution,
    generative,
    graph_classification,
    graphs,
    lipschitz,
    normalization,
    optimisers,
    physics,
    recurrent,
    search,
    speech,
)

__all__ = [
    "activations",
    "architectures",
    "attention",
    "convolution",
    "generative",
    "graph_classification",
    "graphs",
    "lipschitz",
    "normalization",
    "optimisers",
    "physics",
    "recurrent",
    "search",
    "speech",
]
