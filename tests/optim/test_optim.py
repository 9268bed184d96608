"""deepnotes.optim against torch.optim, step for step on a real task.

Each optimiser trains a small MLP on scikit-learn's digits for 200 mini-batch
steps beside its torch.optim twin (``foreach=False``, the single-tensor loop)
from the same initial weights on the same batches; parameters, every state
buffer and the param groups must agree within the harness tolerance (1e-5 in
float32, 1e-10 in float64). State dicts must load both ways mid-run. Each
schedule must give torch's learning rates (and momenta) to 1e-12, also after a
state-dict round trip half-way.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor, nn

from deepnotes.optim import lr_scheduler as our_schedulers
from deepnotes.optim.adam import Adam, AdamW
from deepnotes.optim.rmsprop import RMSprop
from deepnotes.optim.sgd import SGD
from reference import assert_close

torch_schedulers = torch.optim.lr_scheduler

OPTIMIZERS = {
    "SGD": (SGD, torch.optim.SGD),
    "RMSprop": (RMSprop, torch.optim.RMSprop),
    "Adam": (Adam, torch.optim.Adam),
    "AdamW": (AdamW, torch.optim.AdamW),
}

SETTINGS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-2}),
    ("RMSprop", {"lr": 1e-3, "centered": True}),
    ("RMSprop", {"lr": 1e-3, "alpha": 0.9, "momentum": 0.5, "centered": True, "maximize": True}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "weight_decay": 1e-2, "amsgrad": True}),
    ("Adam", {"lr": 1e-3, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True}),
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
]

# One setting per optimiser that creates every kind of state buffer.
FULL_STATE = {
    "SGD": {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    "RMSprop": {"lr": 1e-3, "momentum": 0.9, "centered": True},
    "Adam": {"lr": 1e-2, "weight_decay": 1e-2, "amsgrad": True},
    "AdamW": {"lr": 1e-2, "amsgrad": True},
}

BATCH = 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest, and fair to the other tests sharing the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> tuple[Tensor, Tensor]:
    """The 1,797 8×8 digits, pixels scaled to [0, 1]: inputs (N, 64), labels (N,)."""
    data = load_digits()
    return torch.tensor(data.data / 16.0), torch.tensor(data.target)


def make_mlp(dtype: torch.dtype, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)).to(dtype)


def train(
    model: nn.Module, optimizer: Any, digits: tuple[Tensor, Tensor], steps: range
) -> list[float]:
    """Mini-batch steps through `optimizer.step(closure)`; batch k is the same for every run."""
    inputs, labels = digits
    dtype = next(model.parameters()).dtype
    losses = []
    for k in steps:
        index = torch.randint(len(labels), (BATCH,), generator=torch.Generator().manual_seed(k))
        x, y = inputs[index].to(dtype), labels[index]  # (B, 64), (B,)

        def closure(x: Tensor = x, y: Tensor = y) -> Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss

        losses.append(optimizer.step(closure).item())
    return losses


def assert_same_state_dict(ours: dict, theirs: dict, dtype: torch.dtype) -> None:
    """Same layout (keys, order, types) and values within tolerance, buffer by buffer."""
    assert ours["param_groups"] == theirs["param_groups"]
    for group, their_group in zip(ours["param_groups"], theirs["param_groups"], strict=True):
        assert list(group) == list(their_group), "param-group keys or their order differ"
    assert list(ours["state"]) == list(theirs["state"]), "state indices differ"
    for index, buffers in theirs["state"].items():
        assert list(ours["state"][index]) == list(buffers), f"state keys of parameter {index}"
        for key, value in buffers.items():
            if key == "step":
                assert ours["state"][index][key].dtype == value.dtype == torch.float32
                assert ours["state"][index][key].shape == value.shape == ()
                assert torch.equal(ours["state"][index][key], value)
            else:
                assert_close(ours["state"][index][key], value, dtype, f"state[{index}][{key}]")


def assert_same_parameters(ours: nn.Module, theirs: nn.Module, dtype: torch.dtype) -> None:
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert_close(a, b, dtype, name)


def twins(name: str, settings: dict, dtype: torch.dtype, groups: Callable | None = None):
    """Identical models, ours and torch's optimiser on each; `groups(model)` builds groups."""
    ours_cls, torch_cls = OPTIMIZERS[name]
    model_ours = make_mlp(dtype)
    model_torch = copy.deepcopy(model_ours)
    params = groups or (lambda model: model.parameters())
    ours = ours_cls(params(model_ours), foreach=False, **settings)
    theirs = torch_cls(params(model_torch), foreach=False, **settings)
    return model_ours, ours, model_torch, theirs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("name", "settings"), SETTINGS)
def test_200_steps_match_torch(name: str, settings: dict, dtype: torch.dtype, digits) -> None:
    model_ours, ours, model_torch, theirs = twins(name, settings, dtype)
    ours_run = train(model_ours, ours, digits, range(200))
    torch_run = train(model_torch, theirs, digits, range(200))
    losses_ours, losses_torch = (
        torch.tensor(run, dtype=torch.float64) for run in (ours_run, torch_run)
    )
    assert_close(losses_ours, losses_torch, dtype, "losses")
    assert_same_parameters(model_ours, model_torch, dtype)
    assert_same_state_dict(ours.state_dict(), theirs.state_dict(), dtype)
    assert repr(ours) == repr(theirs)


def test_training_learns(digits) -> None:
    """Not only equal to torch, but useful: Adam fits the digits in 200 steps."""
    model = make_mlp(torch.float32)
    losses = train(model, Adam(model.parameters(), lr=1e-2), digits, range(200))
    assert sum(losses[-20:]) / 20 < 0.2 * sum(losses[:20]) / 20


@pytest.mark.parametrize("direction", ["torch→ours", "ours→torch"])
@pytest.mark.parametrize("name", list(FULL_STATE))
def test_state_dict_loads_both_ways(name: str, direction: str, digits) -> None:
    """Train 30 steps with one, load its state into a fresh other, go on 30 steps with both."""
    dtype = torch.float64
    model_ours, ours, model_torch, theirs = twins(name, FULL_STATE[name], dtype)
    source_model, source = (
        (model_torch, theirs) if direction == "torch→ours" else (model_ours, ours)
    )
    train(source_model, source, digits, range(30))
    model_ours.load_state_dict(source_model.state_dict())
    model_torch.load_state_dict(source_model.state_dict())
    saved = copy.deepcopy(source.state_dict())  # as if through a file
    ours_cls, torch_cls = OPTIMIZERS[name]
    ours = ours_cls(model_ours.parameters(), foreach=False, **FULL_STATE[name])
    theirs = torch_cls(model_torch.parameters(), foreach=False, **FULL_STATE[name])
    ours.load_state_dict(saved)
    theirs.load_state_dict(saved)
    assert_same_state_dict(ours.state_dict(), theirs.state_dict(), dtype)
    train(model_ours, ours, digits, range(30, 60))
    train(model_torch, theirs, digits, range(30, 60))
    assert_same_parameters(model_ours, model_torch, dtype)
    assert_same_state_dict(ours.state_dict(), theirs.state_dict(), dtype)


def test_loaded_state_is_a_copy(digits) -> None:
    """Loading copies the buffers: stepping on does not change the dict it came from."""
    model = make_mlp(torch.float64)
    optimizer = Adam(model.parameters())
    train(model, optimizer, digits, range(3))
    saved = optimizer.state_dict()
    before = copy.deepcopy(saved)
    restored = Adam(model.parameters())
    restored.load_state_dict(saved)
    train(model, restored, digits, range(3, 6))
    assert_same_state_dict(saved, before, torch.float64)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_param_groups_override_defaults(name: str, digits) -> None:
    """Per-group settings, then a group added mid-run with add_param_group."""

    def first_layer_only(model: nn.Module) -> list[dict]:
        return [{"params": model[0].parameters(), "lr": 3e-3, "weight_decay": 1e-2}]

    dtype = torch.float64
    model_ours, ours, model_torch, theirs = twins(name, FULL_STATE[name], dtype, first_layer_only)
    train(model_ours, ours, digits, range(20))
    train(model_torch, theirs, digits, range(20))
    ours.add_param_group({"params": model_ours[2].weight, "lr": 1e-3})
    theirs.add_param_group({"params": model_torch[2].weight, "lr": 1e-3})
    train(model_ours, ours, digits, range(20, 40))
    train(model_torch, theirs, digits, range(20, 40))
    assert_same_parameters(model_ours, model_torch, dtype)
    assert_same_state_dict(ours.state_dict(), theirs.state_dict(), dtype)
    assert len(ours.state) == 3  # the last bias never had an optimiser


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none: bool) -> None:
    weight = nn.Parameter(torch.randn(3, 2))
    optimizer = SGD([weight], lr=0.1)
    (weight**2).sum().backward()
    optimizer.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert weight.grad is None
    else:
        assert torch.equal(weight.grad, torch.zeros(3, 2))


def test_step_without_gradient_leaves_state_alone() -> None:
    """A parameter with grad None is skipped: no update, no state (unlike a zero gradient)."""
    weight, bias = nn.Parameter(torch.randn(3)), nn.Parameter(torch.randn(3))
    optimizer = Adam([weight, bias], lr=0.1)
    weight.sum().backward()
    before = bias.detach().clone()
    assert optimizer.step() is None
    assert torch.equal(bias, before)
    assert list(optimizer.state) == [weight]


INVALID = [
    ("SGD", {"lr": -0.1}),
    ("SGD", {"momentum": -0.5}),
    ("SGD", {"weight_decay": -1e-4}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("RMSprop", {"alpha": -0.9}),
    ("RMSprop", {"eps": -1e-8}),
    ("RMSprop", {"momentum": -0.1}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.1)}),
    ("Adam", {"eps": -1.0}),
    ("AdamW", {"weight_decay": -0.01}),
]


@pytest.mark.parametrize(("name", "settings"), INVALID)
def test_invalid_settings_raise_as_torch(name: str, settings: dict) -> None:
    ours_cls, torch_cls = OPTIMIZERS[name]
    params = [nn.Parameter(torch.randn(2))]
    with pytest.raises(ValueError) as theirs:
        torch_cls(params, **settings)
    with pytest.raises(ValueError, match=re.escape(str(theirs.value))):
        ours_cls(params, **settings)


def test_invalid_params_raise() -> None:
    weight = nn.Parameter(torch.randn(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        SGD(weight, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [weight]}, {"params": [weight]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([weight * 2], lr=0.1)
    with pytest.raises(ValueError, match="fused=True is not supported"):
        Adam([weight], fused=True)


# Schedules: each factory builds a scheduler from either module, so the same line
# makes ours and torch's. Steps are N = 60.
N = 60
SCHEDULES: dict[str, Callable[[ModuleType, Any], Any]] = {
    "StepLR": lambda L, opt: L.StepLR(opt, step_size=7, gamma=0.5),
    "MultiStepLR": lambda L, opt: L.MultiStepLR(opt, milestones=[5, 12, 12, 30], gamma=0.3),
    "LinearLR warm-up": lambda L, opt: L.LinearLR(opt, start_factor=0.1, total_iters=10),
    "LinearLR decay": lambda L, opt: L.LinearLR(opt, 1.0, end_factor=0.05, total_iters=25),
    "CosineAnnealingLR": lambda L, opt: L.CosineAnnealingLR(opt, T_max=40, eta_min=1e-4),
    "CosineAnnealingLR to 0": lambda L, opt: L.CosineAnnealingLR(opt, T_max=N - 1),
    "OneCycleLR": lambda L, opt: L.OneCycleLR(opt, max_lr=[0.5, 0.1], total_steps=N),
    "OneCycleLR linear three-phase": lambda L, opt: L.OneCycleLR(
        opt, max_lr=0.3, total_steps=N, anneal_strategy="linear", three_phase=True
    ),
    "SequentialLR warm-up cosine": lambda L, opt: L.SequentialLR(
        opt,
        [L.LinearLR(opt, start_factor=0.01, total_iters=8), L.CosineAnnealingLR(opt, T_max=N - 8)],
        milestones=[8],
    ),
    "SequentialLR three": lambda L, opt: L.SequentialLR(
        opt,
        [L.LinearLR(opt, 0.2, total_iters=5), L.StepLR(opt, 10), L.CosineAnnealingLR(opt, 20)],
        milestones=[5, 30],
    ),
}


def schedule_twins(name: str, optimizer: str):
    """Ours and torch's optimiser (two groups) with the schedule `name` on each."""
    ours_cls, torch_cls = OPTIMIZERS[optimizer]
    settings = {"lr": 0.1, "momentum": 0.9} if optimizer == "SGD" else {"lr": 0.1}
    made = []
    for cls, module in ((ours_cls, our_schedulers), (torch_cls, torch_schedulers)):
        weights = [nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))]
        opt = cls([{"params": weights[:1]}, {"params": weights[1:], "lr": 0.02}], **settings)
        made.append((opt, SCHEDULES[name](module, opt)))
    return made


def rates(optimizer: Any, scheduler: Any) -> list[float]:
    """The scheduler's last rates, the groups' rates, and their momenta (or β₁)."""
    momenta = [g["momentum"] if "momentum" in g else g["betas"][0] for g in optimizer.param_groups]
    assert scheduler.get_last_lr() == [g["lr"] for g in optimizer.param_groups]
    return [*scheduler.get_last_lr(), *momenta]


@pytest.mark.parametrize("reload", ["each its own", "each the other's"])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(name: str, optimizer: str, reload: str) -> None:
    """N steps of ours and torch's; half-way, both are rebuilt and reloaded from state dicts."""
    runs = schedule_twins(name, optimizer)
    history: list[list[list[float]]] = [[], []]
    for step in range(N):
        if step == N // 2:
            saved = [copy.deepcopy((o.state_dict(), s.state_dict())) for o, s in runs]
            if reload == "each the other's":
                saved.reverse()
            runs = schedule_twins(name, optimizer)
            for (opt, sched), (opt_state, sched_state) in zip(runs, saved, strict=True):
                sched.load_state_dict(sched_state)
                opt.load_state_dict(opt_state)
        for run, (opt, sched) in zip(history, runs, strict=True):
            run.append(rates(opt, sched))
            opt.step()
            sched.step()
    ours, theirs = (torch.tensor(run, dtype=torch.float64) for run in history)  # (N, 4)
    worst = ((ours - theirs).abs() / theirs.abs().clamp_min(1e-300)).max().item()
    assert worst <= 1e-12, f"relative error {worst:.3g} in a rate or momentum"


def test_scheduler_drives_torch_optimizer() -> None:
    """Schedulers need only `param_groups`: ours on torch.optim.SGD equals torch's."""
    opt_ours = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    opt_torch = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    ours = our_schedulers.OneCycleLR(opt_ours, max_lr=0.5, total_steps=N)
    theirs = torch_schedulers.OneCycleLR(opt_torch, max_lr=0.5, total_steps=N)
    for _ in range(N - 1):
        opt_ours.step()
        opt_torch.step()
        ours.step()
        theirs.step()
        assert rates(opt_ours, ours) == pytest.approx(rates(opt_torch, theirs), rel=1e-12)


def test_onecycle_refuses_to_step_past_the_end() -> None:
    optimizer = SGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    scheduler = our_schedulers.OneCycleLR(optimizer, max_lr=1.0, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        scheduler.step()
