"""Every activation of `deepnotes.nn.activations` against torch.nn: outputs and gradients on
random inputs, on the kinks (0, 6) and at large |x| (±50, ±1e4), in float32 and float64;
gradcheck in float64; the in-place variants; each fast path (derivative by hand) against its
formula (derivative by autograd), to second order; and the notes' claims that are properties."""

from __future__ import annotations

import math
from inspect import signature

import pytest
import torch
from torch import nn

from deepnotes.nn import activations
from deepnotes.nn.activations import ACTIVATIONS, PReLU, ReLU, Sigmoid, Softmax, Softplus
from reference import assert_close, compare_modules

DTYPES = [torch.float32, torch.float64]
SHAPES = [(7,), (4, 9), (2, 3, 5, 5)]
KINKS = [0.0, -0.0, 6.0, 1e-3, -1e-3, 5.999, 6.001]
LARGE = [-1e4, -50.0, -20.5, -20.0, 20.0, 20.5, 50.0, 1e4]

# every row of the table, each class with torch's defaults, and a few other settings
CASES = dict(ACTIVATIONS)
for _entry in ACTIVATIONS.values():
    if _entry.kwargs and "dim" not in _entry.kwargs:
        CASES.setdefault(f"{_entry.ours.__name__} (defaults)", _entry._replace(kwargs={}))
for _name in ("Softmax", "Softmin", "LogSoftmax"):
    CASES[f"{_name} (dim=0)"] = CASES[_name]._replace(kwargs={"dim": 0})
CASES["LeakyReLU (a=0.01)"] = CASES["LeakyReLU (a=0.1)"]._replace(kwargs={"negative_slope": 0.01})
CASES["ELU (α=0.5)"] = CASES["ELU"]._replace(kwargs={"alpha": 0.5})
CASES["Softplus (β=2, threshold=5)"] = CASES["Softplus (β=1)"]._replace(
    kwargs={"beta": 2.0, "threshold": 5.0}
)
INPLACE = [name for name, case in CASES.items() if "inplace" in signature(case.theirs).parameters]


def inputs_for(shape: tuple[int, ...], values: list[float], seed: int) -> list[torch.Tensor]:
    """Two random batches (scale 3) of `shape`, then `values` laid out in a (2, len) matrix."""
    generator = torch.Generator().manual_seed(seed)
    special = torch.tensor(values, dtype=torch.float64)
    return [
        torch.randn(shape, generator=generator, dtype=torch.float64) * 3,
        torch.randn(shape, generator=generator, dtype=torch.float64) * 3,
        torch.stack([special, special.flip(0)]),  # (2, len): softmax rows mix small and large
    ]


def build(name: str) -> tuple[nn.Module, nn.Module]:
    ours_cls, torch_cls, kwargs = CASES[name]
    return ours_cls(**kwargs), torch_cls(**kwargs)


# Each fast path beside its formula, with the settings to try: (formula, fast path, settings)
TWINS = {
    "sigmoid": (activations.sigmoid_formula, activations.sigmoid, [{}]),
    "tanh": (activations.tanh_formula, activations.tanh, [{}]),
    "relu": (activations.relu_formula, activations.relu, [{}]),
    "relu6": (activations.relu6_formula, activations.relu6, [{}]),
    "leaky_relu": (
        activations.leaky_relu_formula,
        activations.leaky_relu,
        [{}, {"negative_slope": 0.1}, {"negative_slope": -0.2}, {"negative_slope": 1.5}],
    ),
    "softplus": (
        activations.softplus_formula,
        activations.softplus,
        [{}, {"beta": 4.0}, {"beta": 2.0, "threshold": 5.0}],
    ),
    "log_sigmoid": (activations.log_sigmoid_formula, activations.log_sigmoid, [{}]),
    "elu": (activations.elu_formula, activations.elu, [{}, {"alpha": 0.5}, {"alpha": -0.5}]),
    "celu": (activations.celu_formula, activations.celu, [{"alpha": 2.0}]),
    "selu": (activations.selu_formula, activations.selu, [{}]),
    "gelu": (activations.gelu_formula, activations.gelu, [{}, {"approximate": "tanh"}]),
    "softmax": (activations.softmax_formula, activations.softmax, [{"dim": -1}, {"dim": 0}]),
    "log_softmax": (
        activations.log_softmax_formula,
        activations.log_softmax,
        [{"dim": -1}, {"dim": 0}],
    ),
}
TWIN_CASES = [
    pytest.param(name, kwargs, id=f"{name}-{kwargs}")
    for name, (_, _, settings) in TWINS.items()
    for kwargs in settings
]


class Call(nn.Module):
    """A function with fixed keyword arguments, as a module for `compare_modules`."""

    def __init__(self, function, **kwargs):
        super().__init__()
        self.function, self.kwargs = function, kwargs

    def forward(self, x):
        return self.function(x, **self.kwargs)


def twins(name: str, kwargs: dict) -> tuple[Call, Call]:
    """(fast path, formula) of `name` with `kwargs`, as modules."""
    formula, fast, _ = TWINS[name]
    return Call(fast, **kwargs), Call(formula, **kwargs)


def off_kinks(x: torch.Tensor) -> torch.Tensor:
    """x moved away from 0 and 6, where finite differences straddle two slopes."""
    return torch.where((x.abs() < 0.05) | ((x - 6).abs() < 0.05), x + 0.1, x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name, shape, dtype):
    """Outputs, input gradients (and PReLU's weight gradient), including the kinks."""
    ours, theirs = build(name)
    compare_modules(ours, theirs, inputs_for(shape, KINKS, seed=len(shape)), dtype)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_large_inputs_finite_and_equal_to_torch(name, dtype):
    """±20, ±50 and ±1e4 (beside −1, 0, 1) neither overflow nor give NaN gradients, and
    values and gradients equal torch's."""
    ours, theirs = build(name)
    x = inputs_for((1,), [*LARGE, -1.0, 0.0, 1.0], seed=0)[-1]  # (2, 11)
    out, grads = [], []
    for module in (ours, theirs):
        leaf = x.to(dtype).requires_grad_()
        y = module.to(dtype)(leaf)
        (y * torch.linspace(-1, 1, y.numel(), dtype=dtype).reshape(y.shape)).sum().backward()
        out.append(y)
        grads.append(leaf.grad)
    assert torch.isfinite(out[0]).all() and torch.isfinite(grads[0]).all()
    assert_close(out[0], out[1], dtype, "output")
    assert_close(grads[0], grads[1], dtype, "input grad")


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradcheck(name):
    """Float64 finite differences agree with autograd, first and second derivatives, on
    inputs kept away from the kinks (where finite differences straddle two slopes)."""
    module = ACTIVATIONS[name].ours(**ACTIVATIONS[name].kwargs).double()
    generator = torch.Generator().manual_seed(0)
    x = off_kinks(torch.randn(3, 5, generator=generator, dtype=torch.float64) * 3).requires_grad_()
    params = tuple(module.parameters())

    def function(x, *params):
        names = [n for n, _ in module.named_parameters()]
        return torch.func.functional_call(module, dict(zip(names, params, strict=True)), (x,))

    assert torch.autograd.gradcheck(function, (x, *params))
    assert torch.autograd.gradgradcheck(function, (x, *params))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), TWIN_CASES)
def test_fast_path_matches_formula(name, kwargs, dtype):
    """The derivative written by hand equals autograd's derivative of the formula: values
    and input gradients on random inputs, the kinks and large |x| (±20, ±50, ±1e4)."""
    fast, formula = twins(name, kwargs)
    large = inputs_for((1,), [*LARGE, -1.0, 0.0, 1.0], seed=0)[-1]  # (2, 11)
    for shape in SHAPES:
        inputs = [*inputs_for(shape, KINKS, seed=len(shape)), large]
        compare_modules(fast, formula, inputs, dtype, modes=("train",))


@pytest.mark.parametrize(("name", "kwargs"), TWIN_CASES)
def test_fast_path_second_derivative_matches_formula(name, kwargs):
    """Differentiating the hand-written backward again gives the formula's second
    derivative (Hessian-vector products in float64), and both pass gradgradcheck."""
    generator = torch.Generator().manual_seed(1)
    x = off_kinks(torch.randn(3, 5, generator=generator, dtype=torch.float64) * 3)
    weights, direction = torch.randn(2, 3, 5, generator=generator, dtype=torch.float64)
    second = []
    for path in twins(name, kwargs):
        leaf = x.clone().requires_grad_()
        (grad,) = torch.autograd.grad((path(leaf) * weights).sum(), leaf, create_graph=True)
        if grad.requires_grad:
            second.append(torch.autograd.grad((grad * direction).sum(), leaf)[0])
        else:  # piecewise linear: the gradient does not depend on x
            second.append(torch.zeros_like(x))
        assert torch.autograd.gradgradcheck(path, (x[:2, :3].clone().requires_grad_(),))
    assert_close(second[0], second[1], torch.float64, "second derivative")


@pytest.mark.parametrize(("name", "kwargs"), TWIN_CASES)
def test_fast_path_is_one_graph_node(name, kwargs):
    """The point of the fast path: the whole activation is one node of autograd's graph."""
    fast, _ = twins(name, kwargs)
    x = torch.randn(4, 5, requires_grad=True)
    (parent,) = fast(x).grad_fn.next_functions
    assert type(parent[0]).__name__ == "AccumulateGrad"  # straight back to the leaf x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", INPLACE)
def test_inplace_like_torch(name, dtype):
    """inplace=True overwrites a (non-leaf) input and returns it; autograd still flows."""
    ours_cls, torch_cls, kwargs = CASES[name]
    ours, theirs = ours_cls(**kwargs, inplace=True), torch_cls(**kwargs, inplace=True)
    compare_modules(
        ours, theirs, inputs_for((4, 6), KINKS, seed=5), dtype, call=lambda m, x: m(x * 1)
    )
    assert repr(ours) == repr(theirs)
    x = torch.randn(10, dtype=dtype) * 3
    y = ours(x)
    assert y is x


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_per_channel(dtype):
    generator = torch.Generator().manual_seed(0)
    theirs = nn.PReLU(3, init=0.1)
    with torch.no_grad():
        theirs.weight.uniform_(-0.5, 0.5, generator=generator)
    inputs = [torch.randn(2, 3, 4, 4), torch.randn(5, 3), torch.randn(2, 3, 7)]
    compare_modules(PReLU(3, init=0.1), theirs, inputs, dtype)
    assert repr(PReLU(3)) == repr(nn.PReLU(3))
    prelu = PReLU(dtype=torch.float64)
    assert prelu.weight.dtype == torch.float64 and prelu.weight.item() == 0.25
    assert isinstance(prelu.weight, nn.Parameter)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        activations.GELU(approximate="sigmoid")


def test_softmax_implicit_dim_like_torch():
    """dim=None: torch's legacy choice (0 for 0-, 1- and 3-d inputs, else 1), with a warning."""
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)]:
        x = torch.randn(shape)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            ours = Softmax()(x)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            theirs = nn.Softmax()(x)
        assert_close(ours, theirs, torch.float32)


def test_log_sum_exp_like_torch():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, generator=generator, dtype=torch.float64) * 100
    x[1] = -math.inf  # a row of −inf: log Σ = −inf, not NaN
    x[2, 3] = math.inf
    x[3] = 1e4 + x[3] / 100
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            ours = activations.log_sum_exp(x, dim, keepdim)
            theirs = torch.logsumexp(x, dim, keepdim)
            assert torch.equal(ours.isinf(), theirs.isinf())
            finite = theirs.isfinite()
            assert_close(ours[finite], theirs[finite], torch.float64)


# The notes' claims that are properties of the functions


def test_relu_family_is_scale_equivariant_and_softplus_is_not():
    x = torch.randn(1000, dtype=torch.float64) * 3
    for module in (ReLU(), activations.LeakyReLU(0.1), PReLU().double()):
        for scale in (0.1, 3.0, 1e3):
            assert_close(module(scale * x), scale * module(x), torch.float64)
    assert (Softplus()(3 * x) - 3 * Softplus()(x)).abs().max() > 1


def test_leaky_relu_pieces_are_exact():
    """The fast path's slope is exactly 1 or a, so LeakyReLU is x itself above 0 and a·x
    below, bit for bit as in torch (a + (1 − a)·[x > 0] would round to 1 − ulp)."""
    x = torch.randn(1000) * 3
    for negative_slope in (0.01, 0.1, 0.3, -0.2, 1.7):
        ours = activations.leaky_relu(x, negative_slope)
        assert torch.equal(ours, nn.functional.leaky_relu(x, negative_slope))


def test_softplus_approaches_relu_as_beta_grows():
    """The gap is largest at x = 0, where it is log 2 / β."""
    x = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    for beta in (1.0, 10.0, 100.0):
        gap = (Softplus(beta=beta)(x) - ReLU()(x)).abs().max().item()
        assert gap == pytest.approx(math.log(2) / beta, rel=1e-12)


def test_sigmoid_saturates():
    """σ′ is at most 1/4 (at 0) and vanishes away from 0: the vanishing-gradient problem."""
    x = torch.tensor([0.0, 2.0, 5.0, 10.0, -10.0], dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(Sigmoid()(x).sum(), x)
    assert slope[0].item() == 0.25
    assert (slope[1:] < 0.25).all() and (slope[3:] < 1e-4).all()


def test_selu_self_normalises():
    """A deep SELU network with LeCun-normal weights keeps activations near mean 0, var 1."""
    generator = torch.Generator().manual_seed(0)
    width = 256
    h = torch.randn(512, width, generator=generator, dtype=torch.float64)
    selu = activations.SELU()
    for _ in range(30):
        weight = torch.randn(width, width, generator=generator, dtype=torch.float64)
        h = selu(h @ weight.T / math.sqrt(width))
    assert abs(h.mean().item()) < 0.1 and abs(h.var().item() - 1) < 0.15


def test_table_covers_every_activation():
    classes = {entry.ours for entry in ACTIVATIONS.values()}
    names = {cls.__name__ for cls in classes}
    assert names == {
        "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "Softplus", "ELU", "CELU", "SELU",
        "GELU", "ReLU6", "LogSigmoid", "Softmax", "Softmin", "LogSoftmax",
    }  # fmt: skip
    approximations = {e.kwargs.get("approximate", "none") for e in ACTIVATIONS.values()
                      if e.ours is activations.GELU}  # fmt: skip
    assert approximations == {"none", "tanh"}
    for entry in ACTIVATIONS.values():
        assert entry.ours.__name__ == entry.theirs.__name__
