"""How a fault is planted: one function of the package replaced for the length of a run.

A fault is a registered function that returns a context manager; inside it, one
named piece of the package — a function, or a method of a class — is replaced by
the mistaken version, and on the way out the original is put back, whatever
happened. No file is edited, and nothing else changes:

    @FAULTS.register("sigmoid-derivative-without-one-minus", FaultCard(...))
    def sigmoid_derivative_without_one_minus() -> ContextManager[None]:
        return replaced(activations._SigmoidRule, "backward", wrong_backward)

    with FAULTS.create("sigmoid-derivative-without-one-minus"):
        run_experiment("activations", out)   # σ′ is now σ: the claims on σ′ turn red

A fault reaches every caller that looks the piece up where it lives at the moment
it calls it (`module.function`, a method through its class); a module that imported
the function by name (`from module import function`) keeps the original, so the
code that a fault's claims measure calls it through its module.
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
