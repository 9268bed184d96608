"""What every family of the zoo shares: the layer library switch and how a model is registered.

The layer switch. Every model is built from a layer library passed as `impl`:
`"torch"` builds it from `torch.nn`, `"deepnotes"` from the from-scratch
`deepnotes.nn`, which has the same class names and arguments, so a family writes
`L = layers(impl)` once and then `L.Conv2d(...)`, `L.BatchNorm2d(...)`; the same
network, and the same state-dict keys, either way. Containers (`nn.Sequential`,
`nn.ModuleList`) and layers the course does not write by hand come from torch.nn
in both.

Registration: one decorator for every builder, with its `ModelCard`,

    @register_model("resnet18", CARD, variants={
        "resnet18_small": Variant("small", {"stem": "small"}),
        "resnet18_tiny": Variant("tiny", {"stem": "small", "layers": (1, 1, 1, 1)}),
    })
    def resnet18(**kwargs) -> ResNet: ...

Variants (timm's habit) are the same builder with some arguments fixed, named in
the family's file so that a search for the name finds them:
- `<name>_small`: the same blocks, depths and widths, with a small-image stem
  (3×3, stride 1, no early downsampling) and head, for 16×16 to 32×32 inputs;
- `<name>_tiny`: fewer blocks and narrower, for fast tests.
A variant's card records what it is a variant of and drops the reference count
(its count differs by construction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

import deepnotes.nn
from deepnotes.cards import ModelCard
from deepnotes.errors import UserError
from deepnotes.registry import MODELS

LIBRARIES: dict[str, ModuleType] = {"torch": nn, "deepnotes": deepnotes.nn}


def layers(impl: str) -> ModuleType:
    """The layer library `impl` names: torch.nn, or the from-scratch deepnotes.nn."""
    try:
        return LIBRARIES[impl]
    except KeyError:
        raise UserError(f"impl must be one of {', '.join(LIBRARIES)}, got {impl!r}") from None


def same_names(state_dict: dict) -> dict:
    """`from_torchvision` for a family whose modules are named as torchvision's: the identity."""
    return dict(state_dict)


@dataclass(frozen=True)
class Variant:
    """A registered model that is its family builder with `kwargs` fixed.

    Attributes:
        kind: "small" or "tiny" (see the module's docstring).
        kwargs: the builder's arguments that make the variant, e.g. `{"stem": "small"}`.
        input_size: the input the variant is made for. Default: (3, 32, 32).
        num_classes: its default classes. Default: 10.
    """

    kind: str
    kwargs: Mapping[str, Any]
    input_size: tuple[int, ...] = (3, 32, 32)
    num_classes: int = 10


def register_model(
    name: str, card: ModelCard, variants: Mapping[str, Variant] | None = None
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register the builder as `name` with `card`, and each of its `variants`.

    A full-size ImageNet model without a `test_input_size` is tested at 64×64 (CPUs
    are slow at 224×224).
    """
    if card.test_input_size is None and card.input_size == (3, 224, 224):
        card = dataclasses.replace(card, test_input_size=(3, 64, 64))

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.register(name, card)(builder)
        for variant_name, variant in (variants or {}).items():
            variant_card = dataclasses.replace(
                card,
                input_size=variant.input_size,
                num_classes=variant.num_classes,
                reference=None,
                test_input_size=None,  # variants are small already
                variant=variant.kind,
                variant_of=name,
            )
            MODELS.register(variant_name, variant_card)(variant_builder(builder, variant))
        return builder

    return decorate


def variant_builder(
    builder: Callable[..., nn.Module], variant: Variant
) -> Callable[..., nn.Module]:
    """`builder` with the variant's arguments (and its input size and classes) as defaults."""
    defaults = {"num_classes": variant.num_classes, "input_size": variant.input_size}
    defaults.update(variant.kwargs)

    def build(**kwargs: Any) -> nn.Module:
        return builder(**{**defaults, **kwargs})

    build.__doc__ = f"`{builder.__name__}` with {defaults} as defaults."
    return build


# What the classic convolutional networks (AlexNet, VGG, NiN) share.

# Training defaults for networks without BatchNorm on small data. Digits has 1,079
# training images, 17 steps an epoch at the global batch of 64: batch 32 doubles the
# steps and a cosine decay settles the end. Adam's default 1e-3 is too large for these
# unnormalised networks: alexnet_small at 1e-3 spends its first epochs near chance and
# stops near 94% test accuracy after ten; at 3e-4, 97%. VGG keeps them (the same dense
# head, the same small data, even with BatchNorm), and so does NiN.
CLASSIC_TRAIN_DEFAULTS: Mapping[str, Any] = {"batch_size": 32, "lr": 3e-4, "scheduler": "cosine"}


def stem_settings(stems: Mapping[str, tuple[int, int, int]], stem: str) -> tuple[int, int, int]:
    """The (kernel_size, stride, padding) that `stems` gives the stem called `stem`."""
    try:
        return stems[stem]
    except KeyError:
        raise UserError(f"stem must be one of {', '.join(stems)}, got {stem!r}") from None


def dense_classifier(
    L: ModuleType, in_features: int, hidden: int, num_classes: int, dropout: float
) -> nn.Sequential:
    """AlexNet's classifier, which VGG kept: two hidden dense layers, each followed by
    ReLU and dropout, then the output layer.

    Shape: (B, in_features) → (B, num_classes); without its last layer (`[:-1]`), the
    (B, hidden) activations the output layer reads.
    """
    return nn.Sequential(
        L.Linear(in_features, hidden),
        L.ReLU(inplace=True),
        L.Dropout(dropout),
        L.Linear(hidden, hidden),
        L.ReLU(inplace=True),
        L.Dropout(dropout),
        L.Linear(hidden, num_classes),
    )


class DenseHeadClassifier(nn.Module):
    """A classifier whose head is AlexNet's: average pooling (`self.avgpool`) to a small map,
    flattened, then the dense layers of `dense_classifier` (`self.classifier`). AlexNet and
    VGG subclass it and build `features`, `avgpool` and `classifier`."""

    features: nn.Module
    avgpool: nn.Module
    classifier: nn.Sequential

    def forward_features(self, x: Tensor) -> Tensor:
        """The convolutions and poolings: (B, C, H, W) → (B, C', h, w)."""
        return self.features(x)

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Average pooling to pool_size², flatten, the dense layers: (B, C', h, w) →
        (B, num_classes); with `pre_logits` the (B, hidden) input of the last dense layer."""
        x = self.avgpool(features)  # (B, C', pool_size, pool_size)
        x = torch.flatten(x, 1)  # (B, C'·pool_size²)
        head = self.classifier[:-1] if pre_logits else self.classifier
        return head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
