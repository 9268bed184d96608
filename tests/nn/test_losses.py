"""deepnotes.nn.losses against torch.nn: loss values and the gradients of every
differentiable input, for every loss, every reduction, several shapes and settings,
in float32 and float64; the numerically delicate corners (BCE at 0 and 1, logits of
±1e4, every target ignored); gradcheck; state dicts and the deprecated flags."""

from __future__ import annotations

import itertools
import warnings
import zlib
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from deepnotes.nn import losses
from reference import assert_close, backward_through, compare_modules

DTYPES = (torch.float32, torch.float64)
REDUCTIONS = ("none", "mean", "sum")

# torch's KLDivLoss warns that its 'mean' is not the KL divergence; ours documents it.
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")


def compare_loss_functions(
    ours: Callable,
    theirs: Callable,
    args: list,
    dtype: torch.dtype,
    differentiable: tuple[int, ...],
    what: str,
) -> tuple[Tensor, list]:
    """Run two loss functions on fresh copies of `args` (floats cast to `dtype`); compare
    the losses and the gradients of the arguments at the `differentiable` positions, and
    return the first's."""
    results = []
    for loss_fn in (ours, theirs):
        leaves = [
            a.detach().clone().to(dtype).requires_grad_(i in differentiable)
            if a.is_floating_point()
            else a
            for i, a in enumerate(args)
        ]
        output = loss_fn(*leaves)
        backward_through(output, seed=0)
        results.append((output, [leaves[i].grad for i in differentiable]))
    (ours, our_grads), (theirs, their_grads) = results
    assert_close(ours, theirs, dtype, f"{what} loss ({dtype})")
    assert all(g is not None for g in their_grads), f"{what}: the reference gave no gradient"
    assert_close(our_grads, their_grads, dtype, f"{what} input grads ({dtype})")
    return ours, our_grads


def compare_losses(
    name: str, kwargs: dict, args: list, dtype: torch.dtype, differentiable: tuple[int, ...]
) -> tuple[Tensor, list]:
    """Ours against torch's `name` loss (see `compare_loss_functions`); returns ours."""
    ours, theirs = (getattr(module, name)(**kwargs).to(dtype) for module in (losses, nn))
    return compare_loss_functions(ours, theirs, args, dtype, differentiable, name)


# --------------------------------------------------------------------------------- cases
# Each case builds (kwargs, args, differentiable positions) from a generator; `weight`
# style buffers are made in float64 and cast with the module.

Case = Callable[[torch.Generator], tuple[dict, list, tuple[int, ...]]]
ELEMENTWISE_SHAPES = ((7,), (4, 5), (2, 3, 4, 5))


def randn(g: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    return scale * torch.randn(shape, generator=g, dtype=torch.float64)


def rand(g: torch.Generator, *shape: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)


def signs(g: torch.Generator, *shape: int) -> Tensor:
    return torch.randint(0, 2, shape, generator=g).double() * 2 - 1


def regression(**kwargs) -> list[Case]:
    return [
        lambda g, s=s: (kwargs, [randn(g, *s, scale=2.0), randn(g, *s)], (0, 1))
        for s in ELEMENTWISE_SHAPES
    ]


def bce(weighted: bool) -> list[Case]:
    def case(g, s):
        kwargs = {"weight": rand(g, s[-1], high=2.0)} if weighted else {}
        return kwargs, [rand(g, *s, low=0.01, high=0.99), rand(g, *s)], (0, 1)

    return [lambda g, s=s: case(g, s) for s in ELEMENTWISE_SHAPES]


def bce_with_logits(weighted: bool, pos_weighted: bool) -> list[Case]:
    def case(g, s):
        kwargs = {}
        if weighted:
            kwargs["weight"] = rand(g, *s[1:], high=2.0)
        if pos_weighted:
            kwargs["pos_weight"] = rand(g, s[-1], high=3.0)
        return kwargs, [randn(g, *s, scale=3.0), rand(g, *s)], (0, 1)

    return [lambda g, s=s: case(g, s) for s in ELEMENTWISE_SHAPES]


def kl_div(log_target: bool) -> list[Case]:
    def case(g, s):
        log_q = torch.log_softmax(randn(g, *s), dim=-1)
        log_p = torch.log_softmax(randn(g, *s), dim=-1)
        target = log_p if log_target else log_p.exp()
        return {"log_target": log_target}, [log_q, target], (0, 1)

    return [lambda g, s=s: case(g, s) for s in ELEMENTWISE_SHAPES]


def signed(kwargs: dict, scale: float = 1.0) -> list[Case]:
    """Scores and ±1 labels; the labels take no gradient (torch's)."""
    return [
        lambda g, s=s: (kwargs, [randn(g, *s, scale=scale), signs(g, *s)], (0,))
        for s in ELEMENTWISE_SHAPES
    ]


def margin_ranking(margin: float) -> list[Case]:
    return [
        lambda g, s=s: ({"margin": margin}, [randn(g, *s), randn(g, *s), signs(g, *s)], (0, 1, 2))
        for s in ((6,), ())
    ]


def cosine_embedding(margin: float) -> list[Case]:
    return [
        lambda g, n=n: (
            {"margin": margin},
            [randn(g, *n, 5), randn(g, *n, 5), signs(g, *n)],
            (0, 1),
        )
        for n in ((6,), ())
    ]


def triplet(**kwargs) -> list[Case]:
    return [
        lambda g, n=n: (kwargs, [randn(g, *n, 4), randn(g, *n, 4), randn(g, *n, 4)], (0, 1, 2))
        for n in ((6,), ())
    ]


CLASS_SHAPES = ((6, 5), (5,), (2, 4, 3, 3))  # (N, C), (C), (N, C, H, W)


def class_targets(g: torch.Generator, shape: tuple[int, ...], ignore_index: int) -> Tensor:
    """Class indices for an input of `shape`, about a quarter of them (never the first)
    ignore_index."""
    class_dim = 0 if len(shape) == 1 else 1
    target_shape = shape[:class_dim] + shape[class_dim + 1 :]
    target = torch.randint(0, shape[class_dim], target_shape, generator=g)
    ignored = torch.rand(target_shape, generator=g) < 0.25
    ignored.view(-1)[0] = False  # the weighted mean of no targets is 0/0
    target.view(-1)[0] = 1 if ignore_index == 0 else 0
    return torch.where(ignored, ignore_index, target)


def class_index(
    log_probs_input: bool, weighted: bool, ignore_index: int = -100, smoothing: float = 0.0
) -> list[Case]:
    def case(g, s):
        kwargs = {"ignore_index": ignore_index}
        if weighted:
            kwargs["weight"] = rand(g, s[0 if len(s) == 1 else 1], low=0.1, high=2.0)
        if smoothing:
            kwargs["label_smoothing"] = smoothing
        scores = randn(g, *s, scale=2.0)
        x = torch.log_softmax(scores, dim=0 if len(s) == 1 else 1) if log_probs_input else scores
        return kwargs, [x, class_targets(g, s, ignore_index)], (0,)

    return [lambda g, s=s: case(g, s) for s in CLASS_SHAPES]


def class_probabilities(weighted: bool, smoothing: float = 0.0) -> list[Case]:
    def case(g, s):
        class_dim = 0 if len(s) == 1 else 1
        kwargs = {"label_smoothing": smoothing}
        if weighted:
            kwargs["weight"] = rand(g, s[class_dim], low=0.1, high=2.0)
        target = torch.softmax(randn(g, *s, scale=2.0), dim=class_dim)
        return kwargs, [randn(g, *s, scale=2.0), target], (0, 1)

    return [lambda g, s=s: case(g, s) for s in CLASS_SHAPES]


CASES: dict[str, dict[str, list[Case]]] = {
    "L1Loss": {"": regression()},
    "MSELoss": {"": regression()},
    "HuberLoss": {"delta=1": regression(), "delta=0.5": regression(delta=0.5)},
    "SmoothL1Loss": {
        "beta=1": regression(),
        "beta=0.3": regression(beta=0.3),
        "beta=0": regression(beta=0.0),
    },
    "BCELoss": {"": bce(False), "weight": bce(True)},
    "BCEWithLogitsLoss": {
        "": bce_with_logits(False, False),
        "weight": bce_with_logits(True, False),
        "pos_weight": bce_with_logits(False, True),
        "both": bce_with_logits(True, True),
    },
    "KLDivLoss": {"": kl_div(False), "log_target": kl_div(True)},
    "SoftMarginLoss": {"": signed({}, scale=3.0)},
    "HingeEmbeddingLoss": {"margin=1": signed({}), "margin=0.5": signed({"margin": 0.5})},
    "MarginRankingLoss": {"margin=0": margin_ranking(0.0), "margin=0.3": margin_ranking(0.3)},
    "CosineEmbeddingLoss": {"margin=0": cosine_embedding(0.0), "margin=0.3": cosine_embedding(0.3)},
    "TripletMarginLoss": {
        "": triplet(),
        "p=1,margin=0.5": triplet(p=1.0, margin=0.5),
        "p=3,swap": triplet(p=3.0, swap=True),
        "swap,eps=0.1": triplet(swap=True, eps=0.1),
    },
    "NLLLoss": {
        "": class_index(True, False),
        "weight": class_index(True, True),
        "weight,ignore=2": class_index(True, True, ignore_index=2),
    },
    "CrossEntropyLoss": {
        "": class_index(False, False),
        "weight": class_index(False, True),
        "smoothing": class_index(False, False, smoothing=0.2),
        "weight,ignore,smoothing": class_index(False, True, smoothing=0.15),
        "weight,ignore=1,smoothing": class_index(False, True, ignore_index=1, smoothing=0.3),
        "probabilities": class_probabilities(False),
        "probabilities,weight,smoothing": class_probabilities(True, smoothing=0.1),
    },
}


def reductions_of(name: str) -> tuple[str, ...]:
    return (*REDUCTIONS, "batchmean") if name == "KLDivLoss" else REDUCTIONS


PARAMS = [
    pytest.param(name, setting, index, reduction, id=f"{name}-{setting}-{index}-{reduction}")
    for name, settings in CASES.items()
    for setting, cases in settings.items()
    for index in range(len(cases))
    for reduction in reductions_of(name)
]


@pytest.mark.parametrize(("name", "setting", "index", "reduction"), PARAMS)
def test_matches_torch(name: str, setting: str, index: int, reduction: str):
    seed = zlib.crc32(f"{name}-{setting}-{index}-{reduction}".encode())
    kwargs, args, differentiable = CASES[name][setting][index](torch.Generator().manual_seed(seed))
    for dtype in DTYPES:
        compare_losses(name, {**kwargs, "reduction": reduction}, args, dtype, differentiable)


@pytest.mark.parametrize(
    ("name", "setting"),
    [(name, setting) for name, settings in CASES.items() for setting in settings],
)
def test_gradcheck(name: str, setting: str):
    """Our gradients equal finite differences (float64, every element: reduction 'none')."""
    kwargs, args, differentiable = CASES[name][setting][0](torch.Generator().manual_seed(7))
    loss_fn = getattr(losses, name)(**kwargs, reduction="none").double()
    assert torch.autograd.gradcheck(*of_differentiable(loss_fn, args, differentiable))


def of_differentiable(
    loss_fn: Callable, args: list, differentiable: tuple[int, ...]
) -> tuple[Callable, list[Tensor]]:
    """`loss_fn` as a function of its differentiable arguments alone, and their values
    (float64 leaves that require grad), for gradcheck and gradgradcheck."""
    leaves = [a.clone().requires_grad_(i in differentiable) for i, a in enumerate(args)]

    def loss_of(*inputs: Tensor) -> Tensor:
        full = list(leaves)
        for i, x in zip(differentiable, inputs, strict=True):
            full[i] = x
        return loss_fn(*full)

    return loss_of, [leaves[i] for i in differentiable]


# ------------------------------------------------------------ fast paths = the formulas
# These modules run a torch.autograd.Function whose backward is the derivative written by
# hand; the readable function beside it is the formula, differentiated by autograd. The two
# must agree: values, gradients, at the extremes and kinks, and in second derivatives.

FORMULAS: dict[str, Callable] = {
    "HuberLoss": losses.huber_loss,
    "SmoothL1Loss": losses.smooth_l1_loss,
    "BCEWithLogitsLoss": losses.binary_cross_entropy_with_logits,
    "SoftMarginLoss": losses.soft_margin_loss,
    "NLLLoss": losses.nll_loss,
    "CrossEntropyLoss": losses.cross_entropy,
}


def compare_fast_path(
    name: str, kwargs: dict, args: list, dtype: torch.dtype, differentiable: tuple[int, ...]
) -> None:
    """The module `name` (its fast path) against its formula, on the same arguments."""
    module = getattr(losses, name)(**kwargs).to(dtype)
    cast = {k: v.to(dtype) if isinstance(v, Tensor) else v for k, v in kwargs.items()}

    def formula(*inputs: Tensor) -> Tensor:
        return FORMULAS[name](*inputs, **cast)

    compare_loss_functions(module, formula, args, dtype, differentiable, f"{name} fast path")


FAST_PATH_SETTINGS = [(name, setting) for name in FORMULAS for setting in CASES[name]]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "setting"), FAST_PATH_SETTINGS)
def test_fast_path_matches_formula(name: str, setting: str, reduction: str):
    for index, case in enumerate(CASES[name][setting]):
        kwargs, args, differentiable = case(torch.Generator().manual_seed(index))
        for dtype in DTYPES:
            compare_fast_path(name, {**kwargs, "reduction": reduction}, args, dtype, differentiable)


ERRORS = [0.0, 1.0, -1.0, 0.5, -0.5, 0.25, 3.0, -3.0, 1e4, -1e4]  # kinks at δ, β ∈ {1, 0.5, 0.25}
LOGITS = [[1e4, -1e4, 0.0], [-1e4, 1e4, 9e3], [30.0, -30.0, 1e-8], [-100.0, 100.0, 2.0]]
SAMPLE_TARGETS = [0, 2, 1, 1]


def extremes(name: str) -> list[tuple[dict, list, tuple[int, ...]]]:
    """Arguments where formulas break down: errors at the kinks and of 1e4, logits of ±1e4."""
    logits = torch.tensor(LOGITS, dtype=torch.float64)
    probabilities = torch.tensor([[0.0, 1.0, 0.3], [1.0, 0.5, 0.0]] * 2, dtype=torch.float64)
    if name in ("HuberLoss", "SmoothL1Loss"):
        target = torch.linspace(-2, 2, len(ERRORS), dtype=torch.float64)  # multiples of 4/9
        input = target + torch.tensor(ERRORS, dtype=torch.float64)
        key = "delta" if name == "HuberLoss" else "beta"
        return [({key: size}, [input, target], (0, 1)) for size in (1.0, 0.5, 0.25)]
    if name == "BCEWithLogitsLoss":
        weights = {
            "weight": torch.tensor([1.0, 0.5, 2.0]),
            "pos_weight": torch.tensor([2.0, 0.5, 3.0]),
        }
        return [({}, [logits, probabilities], (0, 1)), (weights, [logits, probabilities], (0, 1))]
    if name == "SoftMarginLoss":
        return [({}, [logits, probabilities.round() * 2 - 1], (0,))]
    target = torch.tensor(SAMPLE_TARGETS)
    if name == "NLLLoss":
        return [({}, [torch.log_softmax(logits, dim=1), target], (0,))]
    smoothed = {"label_smoothing": 0.1, "weight": torch.tensor([0.5, 2.0, 1.0])}
    return [
        ({}, [logits, target], (0,)),
        (smoothed, [logits, target], (0,)),
        (smoothed, [logits, torch.softmax(logits / 1e4, dim=1)], (0, 1)),
    ]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", FORMULAS)
def test_fast_path_matches_formula_at_extremes(name: str, reduction: str):
    for kwargs, args, differentiable in extremes(name):
        for dtype in DTYPES:
            kwargs = {**kwargs, "reduction": reduction}
            compare_fast_path(name, kwargs, args, dtype, differentiable)
            if name != "SoftMarginLoss":  # torch's log(1 + e^{−yx}) overflows at yx = −1e4
                compare_losses(name, kwargs, args, dtype, differentiable)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize(("name", "setting"), FAST_PATH_SETTINGS)
def test_fast_path_second_derivatives(name: str, setting: str, reduction: str):
    """The hand-written backward is itself differentiable: gradgradcheck (float64)."""
    kwargs, args, differentiable = CASES[name][setting][0](torch.Generator().manual_seed(11))
    loss_fn = getattr(losses, name)(**kwargs, reduction=reduction).double()
    assert torch.autograd.gradgradcheck(*of_differentiable(loss_fn, args, differentiable))


# ------------------------------------------------------------------------- corner cases


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_at_probabilities_zero_and_one(reduction: str, dtype: torch.dtype):
    """log 0 is clamped at −100: a certain wrong prediction costs 100, a certain right one
    0; the input gradient is torch's (x − y)/max(x(1 − x), 1e-12), finite and large."""
    x = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.3], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.4, 0.7, 0.3], dtype=torch.float64)
    weight = torch.tensor([1.0, 0.5, 2.0, 1.0, 1.5, 1.0, 0.7], dtype=torch.float64)
    kwargs = {"reduction": reduction, "weight": weight}
    ours, (input_grad,) = compare_losses("BCELoss", kwargs, [x, y], dtype, (0,))
    assert torch.isfinite(ours).all() and torch.isfinite(input_grad).all()
    unreduced = losses.BCELoss(reduction="none")(x.to(dtype), y.to(dtype))
    assert unreduced[1].item() == 100.0 and unreduced[2].item() == 100.0
    assert unreduced[0].item() == 0.0 and unreduced[3].item() == 0.0


def test_bce_target_gradient_at_the_ends_is_torchs():
    """∂l/∂y = log(1 − x) − log x: ±∞ at x ∈ {0, 1}, exactly as torch."""
    x = torch.tensor([0.0, 1.0, 0.25])
    y = torch.tensor([0.5, 0.5, 0.5])
    grads = []
    for loss_fn in (losses.BCELoss(reduction="sum"), nn.BCELoss(reduction="sum")):
        target = y.clone().requires_grad_()
        loss_fn(x, target).backward()
        grads.append(target.grad)
    assert torch.equal(grads[0], grads[1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_at_huge_logits(reduction: str, dtype: torch.dtype):
    """|x| = 1e4 overflows e^{|x|} in both dtypes; the stable form stays finite and exact."""
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 0.0, 1.0], [0.3, 1.0, 0.5]], dtype=torch.float64)
    kwargs = {
        "reduction": reduction,
        "weight": torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64),
        "pos_weight": torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64),
    }
    ours, grads = compare_losses("BCEWithLogitsLoss", kwargs, [x, y], dtype, (0, 1))
    assert torch.isfinite(ours).all()
    assert all(torch.isfinite(g).all() for g in grads)
    ours, grads = compare_losses("BCEWithLogitsLoss", {"reduction": reduction}, [x, y], dtype, (0,))
    assert torch.isfinite(ours).all() and torch.isfinite(grads[0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_at_huge_logits(dtype: torch.dtype):
    """log-sum-exp keeps cross-entropy finite where e^x overflows (x = ±1e4)."""
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 9e3], [5.0, 1e4, -3.0]], dtype=torch.float64)
    y = torch.tensor([0, 2, 1])
    for reduction in REDUCTIONS:
        kwargs = {"reduction": reduction, "label_smoothing": 0.1}
        ours, (grad,) = compare_losses("CrossEntropyLoss", kwargs, [x, y], dtype, (0,))
        assert torch.isfinite(ours).all() and torch.isfinite(grad).all()


def test_soft_margin_at_huge_margins_is_finite():
    """log(1 + e^{−yx}) written as −log σ(yx): finite where e^{−yx} overflows float32."""
    x = torch.tensor([-200.0, 200.0, 0.0], requires_grad=True)
    y = torch.tensor([1.0, -1.0, 1.0])
    loss = losses.SoftMarginLoss(reduction="none")(x, y)
    loss.sum().backward()
    assert torch.allclose(loss, torch.tensor([200.0, 200.0, torch.log(torch.tensor(2.0))]))
    assert torch.equal(x.grad, torch.tensor([-1.0, 1.0, -0.5]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_ignores_masked_logits(reduction: str, dtype: torch.dtype):
    """A logit of −∞ (a class masked out) costs nothing unless it is the target."""
    inf = float("inf")
    x = torch.tensor([[0.5, -inf, 2.0], [-inf, 1.0, 0.0], [3.0, 1.0, -inf]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    ours, (grad,) = compare_losses(
        "CrossEntropyLoss", {"reduction": reduction}, [x, y], dtype, (0,)
    )
    assert torch.isfinite(ours).all() and torch.isfinite(grad).all()
    log_probs = torch.log_softmax(x, dim=1)
    compare_losses("NLLLoss", {"reduction": reduction}, [log_probs, y], dtype, (0,))


@pytest.mark.parametrize("name", ["NLLLoss", "CrossEntropyLoss"])
def test_mean_with_every_target_ignored_is_nan_like_torch(name: str):
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    y = torch.full((3,), -100)
    for loss_fn in (getattr(losses, name)(), getattr(nn, name)()):
        assert torch.isnan(loss_fn(x, y))
    compare_losses(name, {"reduction": "sum"}, [x, y], torch.float64, (0,))


def test_cross_entropy_weighted_mean_divides_by_target_weights():
    """torch's 'mean' with weights: Σ_n l_n / Σ_n w_{y_n} over the non-ignored targets."""
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2, -100, 1, 2])
    weight = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    ce = losses.CrossEntropyLoss(weight=weight, label_smoothing=0.2)
    per_sample = losses.CrossEntropyLoss(weight=weight, label_smoothing=0.2, reduction="none")
    kept = y != -100
    expected = per_sample(x, y).sum() / weight[y[kept]].sum()
    assert torch.allclose(ce(x, y), expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------- state dicts, flags, repr

WEIGHTED = [
    ("NLLLoss", "weight", lambda c: {"weight": torch.rand(c)}),
    ("CrossEntropyLoss", "weight", lambda c: {"weight": torch.rand(c)}),
    ("BCELoss", "weight", lambda c: {"weight": torch.rand(c)}),
    (
        "BCEWithLogitsLoss",
        "both",
        lambda c: {"weight": torch.rand(c), "pos_weight": torch.rand(c)},
    ),
]


@pytest.mark.parametrize(("name", "setting", "buffers"), WEIGHTED)
def test_state_dict_is_torchs(name: str, setting: str, buffers: Callable):
    """Same buffer keys: torch's state loads into ours (then both agree) and ours into torch's."""
    _, args, _ = CASES[name][setting][1](torch.Generator().manual_seed(3))  # C = 5
    num_classes = 5
    ours = getattr(losses, name)(**{k: torch.ones(num_classes) for k in buffers(num_classes)})
    theirs = getattr(nn, name)(**buffers(num_classes))
    compare_modules(ours, theirs, [args], dtype=torch.float64, modes=("train",))
    theirs.load_state_dict(getattr(losses, name)(**buffers(num_classes)).state_dict())


FLAGS = [None, True, False]


@pytest.mark.parametrize(("size_average", "reduce"), list(itertools.product(FLAGS, FLAGS)))
def test_deprecated_flags_map_like_torch(size_average, reduce):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("L1Loss", "CrossEntropyLoss", "TripletMarginLoss", "KLDivLoss"):
            ours = getattr(losses, name)(size_average=size_average, reduce=reduce)
            theirs = getattr(nn, name)(size_average=size_average, reduce=reduce)
            assert ours.reduction == theirs.reduction
    if size_average is not None or reduce is not None:
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            losses.MSELoss(size_average=size_average, reduce=reduce)


def test_positional_arguments_follow_torch():
    """Constructors take torch's positional order (e.g. CrossEntropyLoss(weight, size_average,
    ignore_index, reduce, reduction, label_smoothing); HuberLoss(reduction, delta))."""
    weight = torch.rand(3)
    ce = losses.CrossEntropyLoss(weight, None, 1, None, "sum", 0.1)
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (1, "sum", 0.1)
    huber = losses.HuberLoss("none", 2.0)
    assert (huber.reduction, huber.delta) == ("none", 2.0)
    triplet_loss = losses.TripletMarginLoss(0.5, 1.0, 1e-3, True)
    assert (triplet_loss.margin, triplet_loss.p, triplet_loss.eps, triplet_loss.swap) == (
        0.5,
        1.0,
        1e-3,
        True,
    )


def test_extra_repr_shows_hyper_parameters():
    assert repr(losses.CrossEntropyLoss(label_smoothing=0.1)) == (
        "CrossEntropyLoss(ignore_index=-100, reduction='mean', label_smoothing=0.1)"
    )
    assert repr(losses.TripletMarginLoss(swap=True)) == (
        "TripletMarginLoss(margin=1.0, p=2.0, eps=1e-06, swap=True, reduction='mean')"
    )
    assert repr(losses.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_invalid_arguments_raise():
    x = torch.randn(3)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        losses.MSELoss(reduction="average")(x, x)
    with pytest.raises(ValueError, match="margin"):
        losses.TripletMarginLoss(margin=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="delta"):
        losses.HuberLoss(delta=0.0)
    with pytest.raises(ValueError, match="target size"):
        losses.BCELoss()(torch.rand(3), torch.rand(3, 1))
