"""Encoders and decoders shared by the VAE and the GANs.

A VAE's encoder maps an image to the 2·latent numbers of q(z | x); a GAN's
discriminator is the same kind of network mapping an image to one score. A
VAE's decoder maps z to an image; a GAN's generator is the same network, so a
generator can start from a trained VAE's decoder (the weights have the same
names). Two families, each in both directions:

    MLP     flatten → [Linear → activation (→ dropout)] × len(widths) → Linear
    conv    two stride-2 4×4 convolutions (H → H/2 → H/4) → Linear, and the mirror:
            Linear → two stride-2 4×4 transposed convolutions (H/4 → H/2 → H)

The first convolution of each (the encoder's on the image, the decoder's nearest z) may
take a larger even kernel k with padding (k − 2)/2, which keeps the sizes: a stride-2
convolution gives ⌊(H + k − 2 − k)/2⌋ + 1 = H/2, a transposed one (H − 1)·2 − (k − 2) + k = 2H.

`batch_norm` adds BatchNorm after every hidden layer but the encoder's first
(as in DCGAN, Radford et al. 2016, who found it harmful on the discriminator's
input and the generator's output).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import ModuleType

from torch import nn


def hidden_block(
    layer: nn.Module,
    activation: Callable[[], nn.Module],
    norm: nn.Module | None = None,
    dropout: float = 0.0,
) -> list[nn.Module]:
    """layer → (norm) → activation → (dropout), as a list to splice into a Sequential."""
    block = [layer, *([norm] if norm is not None else []), activation()]
    return block + ([nn.Dropout(dropout)] if dropout > 0 else [])


def mlp_encoder(
    input_size: Sequence[int],
    widths: Sequence[int],
    outputs: int,
    L: ModuleType,
    activation: Callable[[], nn.Module],
    dropout: float = 0.0,
) -> nn.Sequential:
    """(B, *input_size) → (B, outputs) through Linear layers `widths` wide."""
    modules: list[nn.Module] = [L.Flatten()]  # (B, *input_size) → (B, F)
    width = math.prod(input_size)
    for out in widths:
        modules += hidden_block(L.Linear(width, out), activation, dropout=dropout)
        width = out
    return nn.Sequential(*modules, L.Linear(width, outputs))


def mlp_decoder(
    latent_dim: int,
    widths: Sequence[int],
    output_size: Sequence[int],
    L: ModuleType,
    batch_norm: bool = False,
    activation: Callable[[], nn.Module] | None = None,
) -> nn.Sequential:
    """(B, latent_dim) → (B, *output_size) through layers `widths` wide (from z out), each
    followed by `activation` (default ReLU)."""
    activation = activation or L.ReLU
    modules: list[nn.Module] = []
    width = latent_dim
    for out in widths:
        norm = L.BatchNorm1d(out) if batch_norm else None
        modules += hidden_block(L.Linear(width, out), activation, norm)
        width = out
    modules.append(L.Linear(width, math.prod(output_size)))
    if len(output_size) > 1:
        modules.append(nn.Unflatten(1, tuple(output_size)))  # (B, C·H·W) → (B, C, H, W)
    return nn.Sequential(*modules)


def quarter_map(input_size: Sequence[int], channels: int) -> tuple[int, int, int]:
    """(channels, H/4, W/4): the map after two stride-2 convolutions of an (C, H, W) image."""
    _, height, width = input_size
    return channels, height // 4, width // 4


def conv_encoder(
    input_size: Sequence[int],
    widths: tuple[int, int],
    outputs: int,
    L: ModuleType,
    activation: Callable[[], nn.Module],
    batch_norm: bool = False,
    dropout: float = 0.0,
    first_kernel: int = 4,
) -> nn.Sequential:
    """(B, C, H, W) → (B, outputs): conv k×k s2 → conv 4×4 s2 → Linear; H, W divisible by 4,
    k = `first_kernel` (even)."""
    c1, c2 = widths
    norm = L.BatchNorm2d(c2) if batch_norm else None
    first = L.Conv2d(input_size[0], c1, first_kernel, stride=2, padding=(first_kernel - 2) // 2)
    return nn.Sequential(
        *hidden_block(first, activation, None, dropout),
        *hidden_block(L.Conv2d(c1, c2, 4, stride=2, padding=1), activation, norm, dropout),
        L.Flatten(),  # (B, c2, H/4, W/4) → (B, c2·H/4·W/4)
        L.Linear(math.prod(quarter_map(input_size, c2)), outputs),
    )


def conv_decoder(
    latent_dim: int,
    widths: tuple[int, int],
    output_size: Sequence[int],
    L: ModuleType,
    batch_norm: bool = False,
    activation: Callable[[], nn.Module] | None = None,
    first_kernel: int = 4,
) -> nn.Sequential:
    """(B, latent_dim) → (B, C, H, W): Linear → transposed conv k×k s2 (H/4 → H/2) → 4×4 (→ H),
    k = `first_kernel` (even), each hidden layer followed by `activation` (default ReLU)."""
    activation = activation or L.ReLU
    c1, c2 = widths
    small = quarter_map(output_size, c2)
    return nn.Sequential(
        *hidden_block(
            L.Linear(latent_dim, math.prod(small)),
            activation,
            L.BatchNorm1d(math.prod(small)) if batch_norm else None,
        ),
        nn.Unflatten(1, small),  # (B, c2·H/4·W/4) → (B, c2, H/4, W/4)
        *hidden_block(
            L.ConvTranspose2d(c2, c1, first_kernel, stride=2, padding=(first_kernel - 2) // 2),
            activation,
            L.BatchNorm2d(c1) if batch_norm else None,
        ),
        L.ConvTranspose2d(c1, output_size[0], 4, stride=2, padding=1),  # H/2 → H
    )
