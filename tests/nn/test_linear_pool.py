"""Dense, reshaping, pooling and dropout layers against torch.nn."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from deepnotes.errors import UserError
from deepnotes.nn.dropout import Dropout
from deepnotes.nn.functional import adaptive_avg_pool2d, avg_pool2d, dropout, max_pool2d
from deepnotes.nn.linear import Flatten, Identity, Linear
from deepnotes.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, BlurPool2d, MaxPool2d
from reference import assert_close, compare_modules

DTYPES = [torch.float32, torch.float64]


def make_pair(ours_class: type, theirs_class: type, config: dict) -> tuple[nn.Module, nn.Module]:
    """Both layers built from the same seed (so their initial weights agree too)."""
    torch.manual_seed(0)
    ours = ours_class(**config)
    torch.manual_seed(0)
    return ours, theirs_class(**config)


# ----------------------------------------------------------------------------- dense layers


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "config",
    [
        {"in_features": 7, "out_features": 5},
        {"in_features": 1, "out_features": 3, "bias": False},
        {"in_features": 32, "out_features": 64},
    ],
)
def test_linear_matches_torch(config: dict, dtype: torch.dtype) -> None:
    ours, theirs = make_pair(Linear, nn.Linear, config)
    n = config["in_features"]
    inputs = [torch.randn(4, n), torch.randn(n), torch.randn(2, 3, n)]
    compare_modules(ours, theirs, inputs, dtype)


def test_linear_initialisation_and_repr_follow_torch() -> None:
    """Same seed, same U(±1/√in_features) weights and biases: the scheme is torch's."""
    ours, theirs = make_pair(Linear, nn.Linear, {"in_features": 20, "out_features": 10})
    for name, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[name], value, torch.float32, name)
    assert ours.weight.abs().max() <= 1 / math.sqrt(20)
    assert repr(ours) == repr(theirs)
    assert Linear(3, 2, dtype=torch.float64).weight.dtype == torch.float64


@pytest.mark.parametrize(("start_dim", "end_dim"), [(1, -1), (0, -1), (1, 2), (-3, -2), (2, 2)])
def test_flatten_matches_torch(start_dim: int, end_dim: int) -> None:
    ours, theirs = Flatten(start_dim, end_dim), nn.Flatten(start_dim, end_dim)
    compare_modules(ours, theirs, [torch.randn(2, 3, 4, 5)], torch.float64)
    assert repr(ours) == repr(theirs)


def test_identity_returns_its_input() -> None:
    x = torch.randn(3, 4)
    assert Identity(54, unused_argument="ignored")(x) is x


# ----------------------------------------------------------------------------- pooling

POOL_INPUTS = [torch.randn(2, 3, 9, 8), torch.randn(3, 7, 10)]  # batched and unbatched

MAX_POOL_SETTINGS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "dilation": (2, 1)},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 2, "stride": 3, "ceil_mode": True, "return_indices": True},
    {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2, "return_indices": True},
]

AVG_POOL_SETTINGS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (3, 2), "stride": (2, 3), "padding": 1, "ceil_mode": True,
     "count_include_pad": False},
    {"kernel_size": 3, "ceil_mode": True, "divisor_override": 4},
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", MAX_POOL_SETTINGS)
def test_max_pool2d_matches_torch(config: dict, dtype: torch.dtype) -> None:
    ours, theirs = MaxPool2d(**config), nn.MaxPool2d(**config)
    compare_modules(ours, theirs, POOL_INPUTS, dtype)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", AVG_POOL_SETTINGS)
def test_avg_pool2d_matches_torch(config: dict, dtype: torch.dtype) -> None:
    ours, theirs = AvgPool2d(**config), nn.AvgPool2d(**config)
    compare_modules(ours, theirs, POOL_INPUTS, dtype)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output_size", [1, (3, 4), (None, 5), 11, (7, 3)])
def test_adaptive_avg_pool2d_matches_torch(output_size, dtype: torch.dtype) -> None:
    ours, theirs = AdaptiveAvgPool2d(output_size), nn.AdaptiveAvgPool2d(output_size)
    compare_modules(ours, theirs, POOL_INPUTS, dtype)
    assert repr(ours) == repr(theirs)


def test_global_average_pooling_is_the_mean_over_the_map() -> None:
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    assert_close(AdaptiveAvgPool2d(1)(x), x.mean((2, 3), keepdim=True), torch.float64)


@pytest.mark.parametrize(
    "pool",
    [
        lambda x: max_pool2d(x, 3, 2, 1, dilation=(1, 2), ceil_mode=True),
        lambda x: avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda x: avg_pool2d(x, (2, 3), 1, (1, 0)),
        lambda x: adaptive_avg_pool2d(x, (3, 4)),
    ],
)
def test_gradcheck_pooling(pool) -> None:
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pool, (x,), fast_mode=True)


@pytest.mark.parametrize(
    ("build", "input_shape", "message"),
    [
        (lambda: MaxPool2d(2, padding=2), (1, 1, 6, 6), "half the kernel"),
        (lambda: MaxPool2d(5), (1, 1, 4, 4), "does not fit"),
        (lambda: AvgPool2d(3, stride=0), (1, 1, 6, 6), "positive integer"),
        (lambda: AvgPool2d(2), (6, 6), "expects"),
        (lambda: AdaptiveAvgPool2d(0), (1, 1, 6, 6), "positive"),
    ],
)
def test_bad_pool_settings_raise_user_error(build, input_shape, message) -> None:
    with pytest.raises(UserError, match=message):
        build()(torch.zeros(input_shape))


def blur_then_subsample(x: torch.Tensor, stride: int) -> torch.Tensor:
    """BlurPool written out: reflect-pad by one, then each output pixel is the weighted sum
    Σ_ab w_a w_b x[s·i + a, s·j + b] of its 3 × 3 window, w = [1, 2, 1]/4."""
    w = [0.25, 0.5, 0.25]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    rows = range(0, padded.shape[-2] - 2, stride)
    cols = range(0, padded.shape[-1] - 2, stride)
    out = torch.zeros(*x.shape[:2], len(rows), len(cols), dtype=x.dtype)
    for oi, i in enumerate(rows):
        for oj, j in enumerate(cols):
            for a in range(3):
                for b in range(3):
                    out[..., oi, oj] += w[a] * w[b] * padded[..., i + a, j + b]
    return out


@pytest.mark.parametrize(("side", "stride"), [(8, 2), (7, 2), (9, 3)])
def test_blurpool_equals_the_written_out_blur(side: int, stride: int) -> None:
    x = torch.randn(2, 3, side, side, dtype=torch.float64)
    out = BlurPool2d(3, stride).double()(x)
    assert out.shape == (2, 3, math.ceil(side / stride), math.ceil(side / stride))
    # float64 round-off of nine products
    torch.testing.assert_close(out, blur_then_subsample(x, stride), rtol=0, atol=1e-12)


def test_blurpool_removes_the_nyquist_frequency() -> None:
    """A checkerboard (±1, ½ cycle per pixel) is what subsampling folds onto a constant; the
    [1, 2, 1]/4 filter has gain cos²(π/2) = 0 there, so BlurPool leaves nothing of it (reflect
    padding continues the checkerboard, so the border too), while a constant passes unchanged."""
    rows, cols = torch.meshgrid(torch.arange(10), torch.arange(10), indexing="ij")
    checkerboard = ((-1.0) ** (rows + cols))[None, None]  # (1, 1, 10, 10)
    pool = BlurPool2d(1)
    assert pool(checkerboard).abs().max() < 1e-6  # float32 round-off
    constant = torch.full((1, 1, 10, 10), 3.0)
    torch.testing.assert_close(pool(constant), torch.full((1, 1, 5, 5), 3.0))


# ----------------------------------------------------------------------------- dropout


def seeded(module: nn.Module, input: torch.Tensor) -> torch.Tensor:
    """Call with the generator reset, so that two dropout layers draw the same mask."""
    torch.manual_seed(7)
    return module(input)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_dropout_matches_torch_under_the_same_seed(p: float, dtype: torch.dtype) -> None:
    """On the CPU our mask is drawn as torch's is: same seed, same output, train and eval."""
    ours, theirs = Dropout(p), nn.Dropout(p)
    compare_modules(ours, theirs, [torch.randn(4, 50), torch.randn(2, 3, 5, 5)], dtype, call=seeded)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p: float) -> None:
    """On ones: fraction zeroed ≈ p and mean ≈ 1 within 5 standard errors; survivors 1/(1 − p)."""
    n = 200_000
    torch.manual_seed(1)
    y = Dropout(p)(torch.ones(n))
    zeroed = (y == 0).double().mean().item()
    assert abs(zeroed - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert abs(y.mean().item() - 1) < 5 * math.sqrt(p / (1 - p) / n)  # Var(m/(1−p)) = p/(1−p)
    survivors = y[y != 0]
    assert_close(survivors, torch.full_like(survivors, 1 / (1 - p)), torch.float32, "survivors")


def test_dropout_output_and_gradient_follow_a_fixed_mask() -> None:
    """y = x·m/(1 − p) and ∂y/∂x = m/(1 − p) for the mask drawn from the seed."""
    p = 0.3
    x = torch.randn(6, 40, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(3)
    mask = torch.empty_like(x).bernoulli_(1 - p)
    torch.manual_seed(3)
    y = dropout(x, p)
    assert_close(y, x * mask / (1 - p), torch.float64)
    y.backward(torch.ones_like(y))
    assert_close(x.grad, mask / (1 - p), torch.float64, "gradient")


def test_dropout_in_eval_is_the_identity_and_inplace_writes_the_input() -> None:
    layer = Dropout(0.5).eval()
    x = torch.randn(10)
    assert layer(x) is x
    layer = Dropout(0.5, inplace=True).train()
    y = torch.randn(1000)
    out = layer(y)
    assert out is y and (y == 0).any()


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_refuses_a_probability_outside_0_1(p: float) -> None:
    with pytest.raises(UserError, match="between 0 and 1"):
        Dropout(p)
    with pytest.raises(UserError, match="between 0 and 1"):
        dropout(torch.ones(3), p)
