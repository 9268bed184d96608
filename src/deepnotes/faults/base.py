"""How a fault is planted: one function of the package replaced for the length of a run.

A fault is a registered function that returns a context manager; inside it, one
named piece of the package — a function, or a method of a class — is replaced by
the mistaken version, and on the way out the original is put back, whatever
happened. No file is edited, and nothing else changes:

    @FAULTS.register("sigmoid-derivative", FaultCard(...))
    def sigmoid_derivative() -> ContextManager[None]:
        return replaced(activations._SigmoidRule, "backward", wrong_backward)

    with FAULTS.create("sigmoid-derivative"):
        run_experiment("activations", out)   # σ′ is now σ: the claims on σ′ turn red

The package looks these pieces up where they live at the moment it calls them
(`module.function`, a method through its class), which is what makes a fault
reach every caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock


@contextlib.contextmanager
def replaced(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    """`owner.name` (a module's function, a class's method) is `replacement` inside."""
    if not hasattr(owner, name):
        raise AttributeError(f"{owner!r} has no {name!r} to replace")
    with mock.patch.object(owner, name, replacement):
        yield
