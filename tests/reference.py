"""Comparing a from-scratch module with its torch counterpart: the harness every
`deepnotes.nn` test uses, so each test states only what it builds and feeds.

    ours, theirs = deepnotes.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(3, 8, 3)
    compare_modules(ours, theirs, [torch.randn(2, 3, 9, 9)], dtype=torch.float64)

copies torch's parameters and buffers into ours (the state-dict keys must be
the same), then in train and in eval mode, on every input, compares outputs,
input gradients, parameter gradients and, after the steps, the buffers, with
relative error ‖ours − torch‖ / ‖torch‖ below 1e-5 in float32 and 1e-10 in
float64. Buffers must carry no autograd history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def rel_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """‖ours − theirs‖ / ‖theirs‖ (the absolute error when theirs is all zeros)."""
    ours, theirs = ours.detach().double(), theirs.detach().double()
    diff = torch.linalg.vector_norm(ours - theirs).item()
    scale = torch.linalg.vector_norm(theirs).item()
    return diff / scale if scale > 0 else diff


def assert_close(ours: Any, theirs: Any, dtype: torch.dtype, what: str = "output") -> None:
    """Recursive relative-error check over tensors, tuples, lists and None."""
    if theirs is None or ours is None:
        assert ours is None and theirs is None, f"{what}: one is None"
        return
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs), f"{what}: {len(ours)} vs {len(theirs)} items"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, b, dtype, f"{what}[{i}]")
        return
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs {theirs.dtype}"
    if not ours.is_floating_point():
        assert torch.equal(ours, theirs), f"{what}: integer values differ"
        return
    error = rel_error(ours, theirs)
    assert error <= TOLERANCE[dtype], f"{what}: relative error {error:.3g} > {TOLERANCE[dtype]}"


def tensors_of(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in tensors_of(item)]
    return []


def backward_through(output: Any, seed: int) -> None:
    """Backpropagate a random weighting of every floating output (not just their sum)."""
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for t in tensors_of(output):
        if t.is_floating_point() and t.requires_grad:
            weights = torch.randn(t.shape, generator=generator, dtype=t.dtype)
            total = total + (t * weights).sum()
    if isinstance(total, torch.Tensor):
        total.backward()


def run(module: nn.Module, inputs: Sequence[Any], seed: int, call: Callable | None) -> tuple:
    """Forward + backward of `module` on fresh leaf copies of `inputs`."""
    leaves = [
        x.detach().clone().requires_grad_(x.is_floating_point())
        if isinstance(x, torch.Tensor)
        else x
        for x in inputs
    ]
    module.zero_grad(set_to_none=True)
    output = call(module, *leaves) if call else module(*leaves)
    backward_through(output, seed)
    input_grads = [x.grad if isinstance(x, torch.Tensor) else None for x in leaves]
    param_grads = {n: p.grad for n, p in module.named_parameters()}
    return output, input_grads, param_grads


def compare_modules(
    ours: nn.Module,
    theirs: nn.Module,
    inputs: Sequence[Sequence[Any] | torch.Tensor],
    dtype: torch.dtype = torch.float32,
    modes: Sequence[str] = ("train", "eval"),
    call: Callable | None = None,
) -> None:
    """Copy torch's state into ours; compare outputs, gradients and buffers (see module doc).

    `inputs` is a list of calls: each a tensor or a sequence of positional arguments.
    `call(module, *args)` overrides how the module is called.
    """
    ours, theirs = ours.to(dtype), theirs.to(dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict()), "state-dict keys differ"
    ours.load_state_dict(theirs.state_dict())
    for mode in modes:
        ours.train(mode == "train")
        theirs.train(mode == "train")
        for index, args in enumerate(inputs):
            args = [args] if isinstance(args, torch.Tensor) else list(args)
            args = [
                a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                for a in args
            ]
            seed = 1000 * index + (mode == "train")
            out_a, in_a, par_a = run(ours, args, seed, call)
            out_b, in_b, par_b = run(theirs, args, seed, call)
            where = f"{mode} call {index}"
            assert_close(out_a, out_b, dtype, f"{where} output")
            assert_close(in_a, in_b, dtype, f"{where} input grad")
            for name in par_b:
                assert_close(par_a[name], par_b[name], dtype, f"{where} grad of {name}")
    for (name, a), (_, b) in zip(ours.named_buffers(), theirs.named_buffers(), strict=True):
        assert a.grad_fn is None and not a.requires_grad, f"buffer {name} carries autograd history"
        assert_close(a, b, dtype, f"buffer {name}")


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm (torch's or deepnotes.nn's) random running statistics and affine
    parameters, so that eval mode is not x ↦ x and a wrong statistic shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if "BatchNorm" in type(m).__name__:
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
    return model
