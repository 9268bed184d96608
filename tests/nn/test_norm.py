"""BatchNorm1d/2d, LayerNorm and GroupNorm against torch.nn: outputs, gradients and running
statistics in train and eval mode, float32 and float64; one test per fault of the notes'
from-scratch BatchNorm (γ, β not learnable; unbiased variance in the normalisation; running
statistics with autograd history); and the fast path (`Normalization`, the hand-written
gradient) against the readable one (`normalize`, differentiated by autograd)."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from deepnotes.nn.batchnorm import BatchNorm1d, BatchNorm2d
from deepnotes.nn.norm import (
    GroupNorm,
    LayerNorm,
    Normalization,
    NormalizationWithStatistics,
    normalize,
    standardize,
)
from reference import assert_close, compare_modules

DTYPES = [torch.float32, torch.float64]
BATCHNORMS = {"1d": (BatchNorm1d, nn.BatchNorm1d), "2d": (BatchNorm2d, nn.BatchNorm2d)}
INPUT_SHAPES = {"1d": [(8, 4), (5, 4, 7)], "2d": [(3, 4, 2, 7), (6, 4, 5, 5)]}
SETTINGS = [
    {},
    {"momentum": None},
    {"momentum": 1.0},
    {"affine": False},
    {"track_running_stats": False},
    {"eps": 1e-2, "momentum": 0.3},
]
# torch ≥ 2.14 gives BatchNorm and GroupNorm a keyword-only `bias` (in their repr too)
TORCH_NORM_BIAS = "bias" in inspect.signature(nn.BatchNorm1d).parameters


def batches(shapes, count: int = 3, seed: int = 0) -> list[torch.Tensor]:
    """`count` batches per shape, with channel means and scales far from 0 and 1, and then one
    batch of the last shape with |mean| ≫ std, where a one-pass variance E[x²] − E[x]² would
    lose float32 digits (the last shape is the largest: with a handful of values per mean,
    torch itself is no closer than 1e-5 to the exact result there)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for shape in shapes:
        channels = tuple(size if dim == 1 else 1 for dim, size in enumerate(shape))  # (1, C, 1…)
        scale = torch.rand(channels, generator=generator) * 3 + 0.5
        shift = torch.randn(channels, generator=generator) * 2
        out += [torch.randn(shape, generator=generator) * scale + shift for _ in range(count)]
    out.append(torch.randn(shapes[-1], generator=generator) + 30)
    return out


def randomise_affine(module: nn.Module, seed: int = 1) -> nn.Module:
    """Give γ and β values other than their ones/zeros initialisation."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            base = 1.0 if name == "weight" else 0.0
            param.copy_(base + 0.5 * torch.randn(param.shape, generator=generator))
    return module


# ----------------------------------------------------------------------------- BatchNorm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(map(str, s.items())))
@pytest.mark.parametrize("kind", list(BATCHNORMS))
def test_batchnorm_matches_torch(kind, settings, dtype):
    ours_cls, torch_cls = BATCHNORMS[kind]
    theirs = randomise_affine(torch_cls(4, **settings))
    compare_modules(ours_cls(4, **settings), theirs, batches(INPUT_SHAPES[kind]), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("kind", list(BATCHNORMS))
def test_batchnorm_training_loop_then_eval(kind, momentum, dtype):
    """Several train-mode steps on different batches: the running statistics and then the
    eval-mode outputs (which use them) equal torch's after every step."""
    ours_cls, torch_cls = BATCHNORMS[kind]
    theirs = randomise_affine(torch_cls(4, momentum=momentum)).to(dtype)
    ours = ours_cls(4, momentum=momentum).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    train_batches = [x.to(dtype) for x in batches(INPUT_SHAPES[kind], count=4, seed=3)]
    test_batch = batches(INPUT_SHAPES[kind][:1], count=1, seed=4)[0].to(dtype)
    for step, x in enumerate(train_batches):
        ours.train()
        theirs.train()
        assert_close(ours(x), theirs(x), dtype, f"step {step} train output")
        for name, buffer in theirs.named_buffers():
            assert_close(getattr(ours, name), buffer, dtype, f"step {step} {name}")
        ours.eval()
        theirs.eval()
        assert_close(ours(test_batch), theirs(test_batch), dtype, f"step {step} eval output")
    assert int(ours.num_batches_tracked) == len(train_batches)


def test_batchnorm_state_and_dtypes_like_torch():
    ours, theirs = BatchNorm2d(5, dtype=torch.float64), nn.BatchNorm2d(5, dtype=torch.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, a), (_, b) in zip(
        ours.state_dict().items(), theirs.state_dict().items(), strict=True
    ):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), name
    assert ours.num_batches_tracked.dtype == torch.long
    # load_state_dict works both ways
    randomise_affine(theirs)(torch.randn(4, 5, 3, 3, dtype=torch.float64))
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(randomise_affine(ours, seed=7).state_dict())
    assert torch.equal(theirs.weight, ours.weight)
    untracked = BatchNorm1d(3, track_running_stats=False)
    assert list(untracked.state_dict()) == list(
        nn.BatchNorm1d(3, track_running_stats=False).state_dict()
    )
    assert untracked.running_mean is None and untracked.num_batches_tracked is None


def test_batchnorm_reset():
    bn = randomise_affine(BatchNorm1d(3))
    bn(torch.randn(10, 3) * 4 + 2)
    bn.reset_running_stats()
    assert torch.equal(bn.running_mean, torch.zeros(3))
    assert torch.equal(bn.running_var, torch.ones(3))
    assert int(bn.num_batches_tracked) == 0
    assert not torch.equal(bn.weight, torch.ones(3))
    bn.reset_parameters()
    assert torch.equal(bn.weight, torch.ones(3)) and torch.equal(bn.bias, torch.zeros(3))


@pytest.mark.parametrize("settings", [{}, {"affine": False}, {"track_running_stats": False}])
def test_batchnorm_repr_like_torch(settings):
    if not TORCH_NORM_BIAS:
        pytest.skip("this torch's BatchNorm repr has no bias= field")
    for ours_cls, torch_cls in BATCHNORMS.values():
        assert repr(ours_cls(3, **settings)) == repr(torch_cls(3, **settings))


@pytest.mark.skipif(not TORCH_NORM_BIAS, reason="this torch's BatchNorm has no bias argument")
@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_without_bias(dtype):
    theirs = randomise_affine(nn.BatchNorm2d(4, bias=False))
    compare_modules(BatchNorm2d(4, bias=False), theirs, batches(INPUT_SHAPES["2d"][:1]), dtype)


@pytest.mark.parametrize(
    ("kind", "shape"),
    [("1d", (1, 4)), ("1d", (1, 4, 1)), ("2d", (1, 4, 1, 1))],
)
@pytest.mark.parametrize("settings", [{}, {"track_running_stats": False}])
def test_batchnorm_one_value_per_channel_is_an_error(kind, shape, settings):
    """torch's ValueError in training, and in eval where there are no running statistics."""
    x = torch.randn(shape)
    for cls in BATCHNORMS[kind]:
        module = cls(4, **settings)
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
            module(x)
        module.eval()
        if settings:
            with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
                module(x)
        else:
            assert module(x).shape == x.shape
    assert BatchNorm1d(4)(torch.randn(1, 4, 2)).shape == (1, 4, 2)  # N = 1, L = 2 is fine


@pytest.mark.parametrize(("kind", "shape"), [("1d", (4, 3, 2, 2)), ("1d", (3,)), ("2d", (4, 3, 2))])
def test_batchnorm_input_rank_errors_like_torch(kind, shape):
    x = torch.randn(shape)
    messages = []
    for cls in BATCHNORMS[kind]:
        with pytest.raises(ValueError) as error:
            cls(3)(x)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


# The three faults of the notes' from-scratch BatchNorm2d


def test_fault1_gamma_and_beta_are_learnable_parameters():
    bn = BatchNorm2d(3)
    names = {name for name, _ in bn.named_parameters()}
    assert names == {"weight", "bias"}
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in bn.parameters())
    assert {"weight", "bias"} <= set(bn.state_dict())
    x = torch.randn(4, 3, 5, 5)
    target = torch.randn(4, 3, 5, 5) * 2 + 1
    loss = (bn(x) - target).square().mean()
    loss.backward()
    assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0
    assert bn.bias.grad is not None and bn.bias.grad.abs().sum() > 0
    with torch.no_grad():  # one gradient step moves γ and β and lowers the loss
        for p in bn.parameters():
            p -= 0.5 * p.grad
    assert not torch.equal(bn.weight, torch.ones(3)) and not torch.equal(bn.bias, torch.zeros(3))
    assert (bn(x) - target).square().mean() < loss


@pytest.mark.parametrize("dtype", DTYPES)
def test_fault2_normalise_biased_store_unbiased(dtype):
    """With momentum=1 the running statistics are exactly the last batch's: running_var is
    the unbiased variance (÷(m−1)), while the output is normalised with the biased (÷m)."""
    x = (torch.randn(3, 2, 2, 2) * 3 + 1).to(dtype)  # m = 12 values per channel
    bn = BatchNorm2d(2, momentum=1.0, affine=False).to(dtype)
    y = bn(x)
    dims = (0, 2, 3)
    assert_close(bn.running_mean, x.mean(dims), dtype, "running_mean")
    assert_close(bn.running_var, x.var(dims, correction=1), dtype, "running_var (unbiased)")
    biased = x.var(dims, correction=0, keepdim=True)
    expected = (x - x.mean(dims, keepdim=True)) / torch.sqrt(biased + bn.eps)
    assert_close(y, expected, dtype, "output normalised with the biased variance")
    with_unbiased = (x - x.mean(dims, keepdim=True)) / torch.sqrt(x.var(dims, keepdim=True) + 1e-5)
    assert (y - with_unbiased).abs().max() > 1e-2  # the notes' version is measurably different


def test_fault3_running_statistics_carry_no_autograd_history():
    bn = BatchNorm1d(3, momentum=None)
    total = 0
    for _ in range(3):  # several steps, inputs requiring grad, one backward at the end
        x = (torch.randn(6, 3) * 2).requires_grad_()
        total = total + bn(x).square().sum()
        for name, buffer in bn.named_buffers():
            assert buffer.grad_fn is None and not buffer.requires_grad, name
    total.backward()
    assert int(bn.num_batches_tracked) == 3


# ----------------------------------------------------------------------------- LayerNorm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("normalized_shape", "shapes"),
    [
        (6, [(6,), (4, 6), (2, 3, 6)]),
        ((3, 5), [(2, 3, 5), (2, 4, 3, 5)]),
        ([2, 2, 3], [(5, 2, 2, 3)]),
    ],
)
@pytest.mark.parametrize(
    "settings", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-3}]
)
def test_layernorm_matches_torch(normalized_shape, shapes, settings, dtype):
    theirs = randomise_affine(nn.LayerNorm(normalized_shape, **settings))
    ours = LayerNorm(normalized_shape, **settings)
    compare_modules(ours, theirs, batches(shapes, count=2), dtype)
    assert repr(ours) == repr(theirs)


def test_layernorm_wrong_trailing_shape_errors_like_torch():
    x = torch.randn(2, 5, 4)
    for cls in (LayerNorm, nn.LayerNorm):
        with pytest.raises(RuntimeError, match="normalized_shape"):
            cls((5, 3))(x)


# ----------------------------------------------------------------------------- GroupNorm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_groups", [1, 2, 6])  # 1: layer norm over (C, *); 6: instance norm
@pytest.mark.parametrize("settings", [{}, {"affine": False}, {"eps": 1e-3}])
def test_groupnorm_matches_torch(num_groups, settings, dtype):
    theirs = randomise_affine(nn.GroupNorm(num_groups, 6, **settings))
    ours = GroupNorm(num_groups, 6, **settings)
    shapes = [(2, 6, 5), (1, 6, 2, 2, 3), (2, 6, 3, 4)]
    if num_groups < 6:  # (N, C) in groups of one channel: one value per mean, output all zeros
        shapes.insert(0, (3, 6))
    compare_modules(ours, theirs, batches(shapes, count=2), dtype)
    if TORCH_NORM_BIAS:
        assert repr(ours) == repr(theirs)


@pytest.mark.skipif(not TORCH_NORM_BIAS, reason="this torch's GroupNorm has no bias argument")
def test_groupnorm_without_bias():
    theirs = randomise_affine(nn.GroupNorm(2, 6, bias=False))
    compare_modules(GroupNorm(2, 6, bias=False), theirs, batches([(2, 6, 3, 3)]), torch.float64)


def test_groupnorm_errors_like_torch():
    for cls in (GroupNorm, nn.GroupNorm):
        with pytest.raises(ValueError, match="divisible"):
            cls(4, 6)
    with pytest.raises(RuntimeError):
        GroupNorm(2, 6)(torch.randn(2, 4, 3))


# ----------------------------------------------------------------------------- shared pieces


def test_two_pass_variance_keeps_float32_digits():
    """|mean| ≫ std: the two-pass variance stays close to float64's; one pass does not."""
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0)) + 300
    exact = x.double().var(correction=0)
    _, _, two_pass, _ = standardize(x, [0], eps=0.0)
    one_pass = x.square().mean() - x.mean().square()
    assert abs(two_pass.double().item() - exact) / exact < 1e-5
    assert abs(one_pass.double().item() - exact) / exact > 1e-3


@pytest.mark.parametrize(
    "module",
    [
        BatchNorm1d(3),
        BatchNorm2d(3, momentum=None),
        BatchNorm2d(3, track_running_stats=False),
        LayerNorm((3, 4)),
        GroupNorm(3, 3),
    ],
    ids=lambda m: type(m).__name__,
)
def test_gradcheck(module):
    module = randomise_affine(module.double())
    shape = (4, 3, 4) if isinstance(module, BatchNorm1d) else (2, 3, 3, 4)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    names, params = zip(*module.named_parameters(), strict=True)

    def function(x, *params):
        return torch.func.functional_call(module, dict(zip(names, params, strict=True)), (x,))

    assert torch.autograd.gradcheck(function, (x, *params))
    assert torch.autograd.gradgradcheck(function, (x, *params))


# ----------------------------------------------------------------------------- fast path

# (input shape, statistics view, statistics dims, γ/β view): what the layers hand to
# `Normalization`; None for the statistics view means the input's own shape
LAYOUTS = {
    "batchnorm": ((4, 3, 2, 3), None, (0, 2, 3), (3, 1, 1)),
    "layernorm": ((2, 3, 2, 4), None, (-2, -1), (2, 4)),
    "groupnorm": ((2, 6, 2, 2), (2, 3, -1), (2,), (6, 1, 1)),  # 3 groups of 2 channels
    "one value per mean": ((3, 4), (3, 4, -1), (2,), (4,)),  # σ² = 0, x̂ = 0
}
AFFINE = {"weight and bias": (True, True), "weight": (True, False), "none": (False, False)}


def layout_inputs(name, affine, dtype, offset=0.0, scale=1.0, seed=0):
    """x (|mean| about `offset`, spread `scale`), γ and β (or None), all requiring grad;
    and the layout arguments (statistics view, dims, γ/β view)."""
    shape, stats_shape, dims, param_shape = LAYOUTS[name]
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=torch.float64) * scale + offset
    params = [
        1.0 + 0.5 * torch.randn(math.prod(param_shape), generator=generator, dtype=torch.float64)
        if wanted
        else None
        for wanted in AFFINE[affine]
    ]
    leaves = [t.to(dtype).requires_grad_() if t is not None else None for t in (x, *params)]
    return leaves, (stats_shape or shape, dims, param_shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("offset", "scale"), [(0.0, 1.0), (0.0, 1e4), (1e4, 1e2)])
@pytest.mark.parametrize("affine", list(AFFINE))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_fast_path_matches_readable_path(layout, affine, offset, scale, dtype):
    """Same outputs, statistics and gradients (input, γ, β) whether autograd differentiates
    the formula or the hand-written backward does; |x| up to 1e4 stays finite."""
    (x, weight, bias), layout_args = layout_inputs(layout, affine, dtype, offset, scale)
    leaves = [t for t in (x, weight, bias) if t is not None]
    grad_y = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    results = []
    for path in (normalize, NormalizationWithStatistics.apply):
        y, mean, var = path(x, weight, bias, *layout_args, 1e-5)
        grads = torch.autograd.grad(y, leaves, grad_y)
        assert all(t.isfinite().all() for t in (y, *grads))
        results.append((y, mean, var, grads))
    (y, mean, var, grads), (y_fast, mean_fast, var_fast, grads_fast) = results
    assert_close(y_fast, y, dtype, "output")
    assert_close((mean_fast, var_fast), (mean.detach(), var.detach()), dtype, "statistics")
    assert_close(grads_fast, grads, dtype, "gradients")
    assert not mean_fast.requires_grad and not var_fast.requires_grad
    only_y = Normalization.apply(x, weight, bias, *layout_args, 1e-5)
    assert torch.equal(only_y, y_fast)


@pytest.mark.parametrize("affine", list(AFFINE))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_fast_path_gradcheck_and_gradgradcheck(layout, affine):
    """The hand-written backward is exact (gradcheck) and itself differentiable: under
    create_graph it recomputes x̂ and 1/σ from x with autograd on (gradgradcheck)."""
    (x, weight, bias), layout_args = layout_inputs(layout, affine, torch.float64, seed=2)
    leaves = tuple(t for t in (x, weight, bias) if t is not None)

    def function(x, *params):
        weight, bias = (*params, None, None)[:2]
        return Normalization.apply(x, weight, bias, *layout_args, 1e-5)

    assert torch.autograd.gradcheck(function, leaves)
    assert torch.autograd.gradgradcheck(function, leaves)


@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (BatchNorm2d(4, affine=False), nn.BatchNorm2d(4, affine=False), (3, 4, 2, 2)),
        (BatchNorm1d(4), nn.BatchNorm1d(4), (5, 4)),
        (GroupNorm(2, 4, affine=False), nn.GroupNorm(2, 4, affine=False), (3, 4, 5)),
        (LayerNorm(5, elementwise_affine=False), nn.LayerNorm(5, elementwise_affine=False), (3, 5)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else None,
)
def test_output_may_be_changed_in_place(ours, theirs, shape):
    """ReLU(inplace=True) after the layer, as in many CNNs: allowed, and backward still
    right, also without γ and β (where the output is x̂, which backward needs)."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    grads = []
    for module in (ours.double(), theirs.double()):
        leaf = x.clone().requires_grad_()
        output = module(leaf).relu_()
        output.backward(torch.ones_like(output))
        grads.append(leaf.grad)
    assert_close(grads[0], grads[1], torch.float64, "input grad")


@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (BatchNorm1d(3), (4, 3)),
        (BatchNorm2d(3), (2, 3, 2, 2)),
        (LayerNorm(3), (2, 3)),
        (GroupNorm(3, 3, affine=False), (2, 3, 4)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
def test_layers_run_the_fast_path(module, shape):
    """In training the layers' output comes from the hand-written backward's Function."""
    output = module(torch.randn(shape, requires_grad=True))
    assert type(output.grad_fn).__name__.startswith("Normalization")
