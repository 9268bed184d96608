"""Every registered model: its card, shapes, gradients, parameter count and summary.

Parametrised over `MODELS.names()`, so a model registered later is checked by
the same contract without touching this file. The reference parameter counts
come from the sources named in each model's card; the multiply-adds are
compared with what PyTorch's own FLOP counter counts for one forward pass.
"""

from __future__ import annotations

import math
import random
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import deepnotes
from deepnotes.cards import ModelCard, ParameterCount
from deepnotes.models.lenet import LeNet5, feature_map_size
from deepnotes.nn.attention import ScaledDotProductAttention
from deepnotes.registry import MODELS, TASKS
from deepnotes.summary import summarize
from deepnotes.tasks.base import Examples, Task

NAMES = MODELS.names()
LENETS = [n for n in NAMES if MODELS.card(n).family == "lenet"]


def task_of(name: str) -> Task:
    return TASKS.create(MODELS.card(name).task)


def reference_input_size(name: str) -> tuple[int, ...]:
    return MODELS.card(name).example_input_size


def reference_classes(name: str) -> int | None:
    return MODELS.card(name).example_num_classes


def run_size(name: str, input_size: tuple[int, ...]) -> tuple[int, ...]:
    """The input size to run a model at in these tests: its `test_input_size` (height and
    width) where the card gives one — the paper's 224×224 is slow on a CPU — else as is."""
    test_size = MODELS.card(name).test_input_size
    return (input_size[0], *test_size[1:]) if test_size else input_size


def other_sizes(name: str) -> tuple[int | None, tuple[int, ...]]:
    """A number of classes and an input size unlike the reference ones, fixed per name
    (no classes for a model whose task has none)."""
    rng = random.Random(zlib.crc32(name.encode()))
    num_classes = rng.choice([c for c in range(2, 40) if c != reference_classes(name)])
    if not task_of(name).has_classes:
        num_classes = None
    size = list(reference_input_size(name))
    # Images get another channel count, vectors another feature count.
    size[0] = rng.choice([c for c in range(1, 6 if len(size) == 3 else 100) if c != size[0]])
    return num_classes, tuple(size)


def build(name: str, num_classes: int | None, input_size: tuple[int, ...]) -> nn.Module:
    torch.manual_seed(0)
    return MODELS.create(name, num_classes=num_classes, input_size=input_size)


def configurations(name: str) -> list[tuple[int, tuple[int, ...]]]:
    return [(reference_classes(name), reference_input_size(name)), other_sizes(name)]


CASES = [
    pytest.param(name, classes, size, id=f"{name}-{classes}cls-{'x'.join(map(str, size))}")
    for name in NAMES
    for classes, size in configurations(name)
]


def test_the_zoo_is_not_empty():
    assert {"lenet5", "lenet5_relu", "mlp"} <= set(NAMES)


# --- Metadata ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_card_is_complete(name: str):
    card = MODELS.card(name)
    assert isinstance(card, ModelCard)
    assert card.task in TASKS
    assert card.input_size is None or all(isinstance(s, int) and s > 0 for s in card.input_size)
    if not task_of(name).has_classes:  # a generative model has no classes
        assert card.num_classes is None
    else:
        assert isinstance(card.num_classes, int) and card.num_classes > 0
    assert isinstance(card.paper, str) and card.paper.strip()
    assert isinstance(card.concepts, tuple) and card.concepts
    assert all(isinstance(c, str) and c for c in card.concepts)
    ref = card.reference
    if card.variant in ("small", "tiny"):  # a variant's count differs by construction
        assert ref is None and card.variant_of in NAMES
        assert MODELS.card(card.variant_of).variant == "full"
        return
    assert card.variant == "full" and card.variant_of is None
    assert isinstance(ref, ParameterCount)
    assert isinstance(ref.value, int) and ref.value > 0
    assert isinstance(ref.source, str) and ref.source.strip()
    if card.input_size is not None:
        assert tuple(ref.input_size) == tuple(card.input_size)


def test_every_registered_name_is_written_in_the_source():
    """A search for a model's name finds where it is registered: every name, variants
    included, stands as a string literal in the package's source."""
    source = "\n".join(p.read_text() for p in Path(deepnotes.__file__).parent.rglob("*.py"))
    missing = [n for n in NAMES if f'"{n}"' not in source]
    assert not missing


# --- Forward and backward ------------------------------------------------------------------


def shape_matches(shape: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    """Whether `shape` is `expected`, where None stands for any size."""
    return len(shape) == len(expected) and all(
        e is None or s == e for s, e in zip(shape, expected, strict=True)
    )


@pytest.mark.parametrize(("name", "num_classes", "input_size"), CASES)
def test_forward_shape_and_backward_reaches_every_parameter(
    name: str, num_classes: int, input_size: tuple[int, ...]
):
    model = build(name, num_classes, input_size)
    task = task_of(name)
    generator = torch.Generator().manual_seed(1)
    size = run_size(name, input_size)
    examples = Examples(2, size, num_classes)
    out = task.outputs(model, task.example_input(examples, generator))
    expected = task.output_shape(examples)
    assert shape_matches(tuple(out.shape), expected), f"{tuple(out.shape)} is not {expected}"
    assert torch.isfinite(out).all()
    out.sum().backward()
    params = dict(model.named_parameters())
    assert params
    for pname, p in params.items():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"


CLASSIFIERS = [n for n in NAMES if task_of(n).name in ("classification", "audio-classification")]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_splits_into_features_and_head(name: str):
    """timm's convention: forward(x) = forward_head(forward_features(x)), and the pre-logits
    features are what the last layer reads (its input width)."""
    model = build(name, reference_classes(name), reference_input_size(name)).eval()
    size = run_size(name, reference_input_size(name))
    examples = Examples(2, size, reference_classes(name))
    inputs = task_of(name).example_input(examples, torch.Generator().manual_seed(3))
    with torch.no_grad():
        features = model.forward_features(*inputs)
        assert torch.equal(model.forward_head(features), model(*inputs))
        pre_logits = model.forward_head(features, pre_logits=True)
    assert pre_logits.dim() == 2 and len(pre_logits) == 2
    linears = [m for m in model.modules() if type(m).__name__ == "Linear"]
    if name.startswith("nin"):  # no dense layer: the class block's last 1×1 convolution
        return
    last = linears[-1]  # the output layer reads the pre-logits
    with torch.no_grad():
        assert torch.allclose(last(pre_logits), model(*inputs), atol=1e-6)


def test_other_configurations_really_differ():
    for name in NAMES:
        ref, other = configurations(name)
        assert ref[0] != other[0] or not task_of(name).has_classes
        assert ref[1][0] != other[1][0]
        assert ref[1][1:] == other[1][1:]


# --- Parameter counts ----------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS.card(n).reference])
def test_parameter_count_matches_the_reference(name: str):
    ref = MODELS.card(name).reference
    model = build(name, ref.num_classes, tuple(ref.input_size))
    assert sum(p.numel() for p in model.parameters()) == ref.value, ref.source


def test_reference_counts_by_hand():
    """The two reference numbers, re-derived from the layer formulas."""

    def conv(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + c_out

    def dense(n_in: int, n_out: int) -> int:
        return n_in * n_out + n_out

    lenet = conv(1, 6, 5) + conv(6, 16, 5) + dense(16 * 5 * 5, 120) + dense(120, 84)
    lenet += dense(84, 10)
    assert lenet == 61_706
    assert MODELS.card("lenet5").reference.value == lenet
    assert MODELS.card("lenet5_relu").reference.value == lenet
    mlp = dense(64, 256) + dense(256, 128) + dense(128, 10)
    assert mlp == 50_826
    assert MODELS.card("mlp").reference.value == mlp


# --- Summary -------------------------------------------------------------------------------


def torch_flops(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    model.eval()
    counter = FlopCounterMode(display=False)
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # fused Transformer layers hide their products
    try:
        with torch.no_grad(), counter:
            model(*inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    return counter.get_total_flops()


@pytest.mark.parametrize(("name", "num_classes", "input_size"), CASES)
def test_summary_counts_agree_with_torch(name: str, num_classes: int, input_size):
    model = build(name, num_classes, input_size)
    input_size = run_size(name, input_size)
    inputs = task_of(name).example_input(Examples(1, input_size, num_classes))
    summary = summarize(model, input_size, inputs)
    total = sum(p.numel() for p in model.parameters())
    assert summary.total_params == total
    assert summary.trainable_params == total
    assert sum(row.params for row in summary.rows) == total
    counted = model
    fused = (torch.nn.RNNBase, torch.nn.MultiheadAttention, ScaledDotProductAttention)
    if any(isinstance(m, fused) for m in model.modules()):
        # torch's fused LSTM, GRU and attention kernels are invisible to the flop counter; the same
        # network from deepnotes.nn runs step by step (attention by its readable formula), so
        # every product is counted
        torch.manual_seed(0)
        counted = MODELS.create(
            name, num_classes=num_classes, input_size=input_size, impl="deepnotes"
        )
    flops = torch_flops(counted, inputs)
    assert flops > 0
    assert summary.total_macs == pytest.approx(flops / 2, rel=0.01)


# --- LeNet by hand -------------------------------------------------------------------------


def test_feature_map_size_by_hand():
    # 28: conv k5 p2 → 28, pool 2 → 14, conv k5 → 10, pool 2 → 5
    assert feature_map_size(28) == 5
    # 32: conv k5 p2 → 32, pool 2 → 16, conv k5 → 12, pool 2 → 6
    assert feature_map_size(32) == 6


@pytest.mark.parametrize("name", LENETS)
def test_lenet_summary_by_hand(name: str):
    model = build(name, 10, (1, 28, 28))
    rows = [
        r
        for r in summarize(model, (1, 28, 28)).rows
        if r.kind in ("Conv2d", "AvgPool2d", "MaxPool2d", "Linear")
    ]
    assert [r.output_shape for r in rows] == [
        [6, 28, 28],
        [6, 14, 14],
        [16, 10, 10],
        [16, 5, 5],
        [120],
        [84],
        [10],
    ]
    weighted = [r for r in rows if r.kind in ("Conv2d", "Linear")]
    # params: c_in·c_out·k² + c_out, n_in·n_out + n_out
    assert [r.params for r in weighted] == [156, 2_416, 48_120, 10_164, 850]
    # MACs: c_in·c_out·k² × output pixels, n_in·n_out
    assert [r.macs for r in weighted] == [
        1 * 6 * 25 * 28 * 28,
        6 * 16 * 25 * 10 * 10,
        400 * 120,
        120 * 84,
        84 * 10,
    ]


@pytest.mark.parametrize(
    ("input_size", "flat"),
    [((1, 32, 32), 16 * 6 * 6), ((3, 28, 32), 16 * 5 * 6), ((1, 28, 28), 16 * 5 * 5)],
)
def test_lenet_dense_input_follows_height_and_width(input_size, flat):
    model = LeNet5(num_classes=7, input_size=input_size)
    assert model.classifier[1].in_features == flat
    assert model(torch.zeros(2, *input_size)).shape == (2, 7)


@pytest.mark.parametrize(
    ("name", "activation", "pooling", "absent"),
    [
        ("lenet5", nn.Sigmoid, nn.AvgPool2d, (nn.ReLU, nn.MaxPool2d)),
        ("lenet5_relu", nn.ReLU, nn.MaxPool2d, (nn.Sigmoid, nn.AvgPool2d)),
    ],
)
def test_lenet_variants_use_their_activation_and_pooling(name, activation, pooling, absent):
    modules = list(MODELS.create(name).modules())
    assert sum(isinstance(m, activation) for m in modules) == 4
    assert sum(isinstance(m, pooling) for m in modules) == 2
    assert not any(isinstance(m, absent) for m in modules)


def test_mlp_flattens_images():
    model = build("mlp", 3, (2, 4, 4))
    assert model.layers[1].in_features == math.prod((2, 4, 4))
    assert model(torch.zeros(5, 2, 4, 4)).shape == (5, 3)


TINY = [n for n in NAMES if MODELS.card(n).variant == "tiny"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_compiled_model_gives_the_same_output(name: str):
    """torch.compile (slow on a CPU, hence `slow`) computes what the eager model computes."""
    model = build(name, reference_classes(name), reference_input_size(name)).eval()
    x = torch.randn(2, *reference_input_size(name), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        eager = model(x)
        compiled = torch.compile(model)(x)
    assert torch.allclose(compiled, eager, rtol=1e-4, atol=1e-5)
