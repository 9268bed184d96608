"""The optimiser: gradient descent as a loop over parameters, each with its own memory.

Every optimiser in this package is one update rule applied to each parameter θ
with gradient g = ∂L/∂θ:

    θ_t = θ_{t−1} − γ · u_t(g_1, …, g_t)

where γ is the learning rate and u_t is the rule's step direction. Plain SGD
uses u_t = g_t; momentum, RMSprop and Adam keep running averages of past
gradients (the *state*) so that u_t depends on the history. This base class
holds what every rule shares:

* **parameter groups** — a list of dicts, each with its own `params` and
  hyper-parameters (`lr`, `weight_decay`, …); a key missing from a group takes
  the optimiser's default. Fine-tuning with a smaller rate for a pre-trained
  backbone is one extra group.
* **state** — a dict from parameter to its buffers (`momentum_buffer`,
  `exp_avg`, …), created lazily at the parameter's first step.
* **state_dict** — torch.optim's layout, so a checkpoint moves between this
  package and torch.optim in both directions:

      {"state": {0: {"momentum_buffer": tensor}, …},
       "param_groups": [{"lr": 0.1, …, "params": [0, 1, …]}, …]}

  Parameters become integer indices, numbered in group order.

Reference: Robbins & Monro, "A Stochastic Approximation Method", 1951; the
interface is PyTorch's `torch.optim.Optimizer`.

Shape: parameters of any shape; each state buffer has its parameter's shape,
and `step` counters are 0-d tensors.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any

import torch
from torch import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]

# Flags that select a kernel (one loop per tensor, fused CUDA, CUDA graphs) or
# make the step itself differentiable in torch.optim. They do not change the
# update, so they are stored in the groups only to keep state dicts exchangeable;
# the from-scratch loop implements the plain path and refuses the rest.
UNSUPPORTED_FLAGS = ("fused", "capturable", "differentiable")


def check_hyperparameter(name: str, value: float, upper: float = math.inf) -> None:
    """Raise torch's ValueError unless 0 ≤ value < upper."""
    if not 0.0 <= value < upper:
        raise ValueError(f"Invalid {name}: {value}")


def step_counter() -> Tensor:
    """A fresh step count t = 0: a 0-d tensor in the default float precision, as torch."""
    dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return torch.tensor(0.0, dtype=dtype)


class Optimizer:
    r"""Base class: parameter groups, per-parameter state and the step loop.

    A subclass supplies the update rule for one parameter in :meth:`update`; the
    base class's :meth:`step` calls it for every parameter that has a gradient,
    with gradient tracking off, which is torch's single-tensor (``foreach=False``)
    loop.

    Notes:
        A parameter whose ``.grad`` is None is skipped entirely (its state does not
        advance), whereas a zero gradient is a real step: momentum keeps moving it.
        This is why :meth:`zero_grad` sets gradients to None by default.

    Args:
        params: an iterable of tensors, or of dicts holding ``"params"`` plus
            per-group settings that override ``defaults``.
        defaults: the hyper-parameters of a group that does not set them.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        for flag in UNSUPPORTED_FLAGS:
            if defaults.get(flag):
                raise ValueError(f"{flag}=True is not supported by the from-scratch optimisers")
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got {torch.typename(params)}"
            )
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Append a group; its missing settings are filled from the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        params = [params] if isinstance(params, Tensor) else list(params)
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + torch.typename(param)
                )
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        seen = {p for group in self.param_groups for p in group["params"]}
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        param_group["params"] = params
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (default) or fill them with zeros."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.detach_().zero_()

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient.

        Args:
            closure: re-evaluates the model and returns the loss (run with
                gradients on); its loss is returned.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    grad = -param.grad if group["maximize"] else param.grad
                    self.update(param, grad, group)
        return loss

    def update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        """Apply the rule to one parameter in place; `grad` is already negated if maximising."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: parameters replaced by their index in group order."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(param)]: buffers for param, buffers in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore groups and state saved by this class or by the torch.optim equivalent.

        Buffers are copied and cast to their parameter's dtype and device; `step`
        counters keep their own dtype.
        """
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group "
                    "that doesn't match the size of optimizer's group"
                )
        param_of = {
            index: param
            for group, saved in zip(self.param_groups, saved_groups, strict=True)
            for index, param in zip(saved["params"], group["params"], strict=True)
        }
        self.state = defaultdict(dict)
        for index, buffers in state_dict["state"].items():
            param = param_of[index]
            self.state[param] = {
                key: self._cast_like(param, key, value) for key, value in buffers.items()
            }
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            saved["params"] = group["params"]
        self.param_groups = saved_groups

    @staticmethod
    def _cast_like(param: Tensor, key: str, value: Any) -> Any:
        if not isinstance(value, Tensor):
            return value
        if key == "step":  # the counter stays where it was saved (the CPU), as in torch
            return value.clone()
        if not param.is_floating_point():
            return value.to(device=param.device, copy=True)
        return value.to(device=param.device, dtype=param.dtype, copy=True)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join([*lines, ")"])
