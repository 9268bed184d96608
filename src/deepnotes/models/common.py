"""What every family of the zoo shares: the layer library switch and variant registration.

The layer switch. Every model is built from a layer library passed as `impl`:
`"torch"` builds it from `torch.nn`, `"deepnotes"` from the from-scratch
`deepnotes.nn`, which has the same class names and arguments, so a family writes
`L = layers(impl)` once and then `L.Conv2d(...)`, `L.BatchNorm2d(...)`; the same
network, and the same state-dict keys, either way. Containers (`nn.Sequential`,
`nn.ModuleList`) and layers the course does not write by hand come from torch.nn
in both.

Variants (timm's habit): a family registers each named model with
`register_variants`, which also registers
- `<name>_small`: the same blocks, depths and widths, with a small-image stem
  (3×3, stride 1, no early downsampling) and head, for 16×16 to 32×32 inputs;
- `<name>_tiny`: fewer blocks and narrower, for fast tests.
Each variant is the same builder with different keyword arguments; its metadata
records which variant it is and of what.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from torch import nn

import deepnotes.nn
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


def imagenet_reference(value: int, source: str) -> dict[str, Any]:
    """`reference_params` for a count at torchvision's ImageNet setting: 3×224×224, 1000 classes."""
    return {"value": value, "input_size": (3, 224, 224), "num_classes": 1000, "source": source}


def register_variants(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    small: dict[str, Any] | None = None,
    tiny: dict[str, Any] | None = None,
    small_input_size: tuple[int, int, int] = (3, 32, 32),
    **meta: Any,
) -> None:
    """Register `name` (the paper's model) and, when given, its `_small` and `_tiny` variants.

    `small` and `tiny` are the keyword arguments that turn the full model into the
    variant (e.g. `{"stem": "small"}`); the variants' metadata drops the full
    model's `reference_params` (their counts differ by construction) and records
    `variant_of`.
    """
    if "test_input_size" not in meta and tuple(meta.get("input_size", ())) == (3, 224, 224):
        meta["test_input_size"] = (3, 64, 64)  # tests run the full model smaller: CPUs are slow
    MODELS.register(name, variant="full", **meta)(builder)
    for suffix, overrides in (("small", small), ("tiny", tiny)):
        if overrides is None:
            continue
        variant_meta = {
            **meta,
            "input_size": small_input_size,
            "num_classes": 10,
            "reference_params": None,
            "variant": suffix,
            "variant_of": name,
        }
        variant_meta.pop("test_input_size", None)  # variants are small already
        defaults = {"num_classes": 10, "input_size": small_input_size, **overrides}
        MODELS.register(f"{name}_{suffix}", **variant_meta)(
            functools.update_wrapper(functools.partial(builder, **defaults), builder)
        )
