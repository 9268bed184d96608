"""Every registered model: its metadata, shapes, gradients, parameter count and summary.

Parametrised over `MODELS.names()`, so a model registered later is checked by
the same contract without touching this file. The reference parameter counts
come from the sources named in each model's metadata; the multiply-adds are
compared with what PyTorch's own FLOP counter counts for one forward pass.
"""

from __future__ import annotations

import math
import random
import zlib

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from deepnotes.models.lenet import LeNet5, feature_map_size
from deepnotes.registry import MODELS, TASKS
from deepnotes.summary import summarize

NAMES = MODELS.names()
LENETS = [n for n in NAMES if MODELS.meta(n).get("family") == "lenet"]
GENERATIVE = {"vae", "gan"}  # tasks whose models have no classes


def reference_input_size(name: str) -> tuple[int, ...]:
    meta = MODELS.meta(name)
    size = meta["input_size"] or meta["reference_params"]["input_size"]
    return tuple(size)


def reference_classes(name: str) -> int:
    meta = MODELS.meta(name)
    return (meta["reference_params"] or {}).get("num_classes", meta["num_classes"])


def run_size(name: str, input_size: tuple[int, ...]) -> tuple[int, ...]:
    """The input size to run a model at in these tests: its `test_input_size` (height and
    width) where the metadata gives one — the paper's 224×224 is slow on a CPU — else as is."""
    test_size = MODELS.meta(name).get("test_input_size")
    return (input_size[0], *test_size[1:]) if test_size else input_size


def is_image_model(name: str) -> bool:
    return len(reference_input_size(name)) == 3


def other_sizes(name: str) -> tuple[int | None, tuple[int, ...]]:
    """A number of classes and an input size unlike the reference ones, fixed per name
    (no classes for a generative model)."""
    rng = random.Random(zlib.crc32(name.encode()))
    num_classes = rng.choice([c for c in range(2, 40) if c != reference_classes(name)])
    if MODELS.meta(name)["task"] in GENERATIVE:
        num_classes = None
    size = list(reference_input_size(name))
    # Images get another channel count, vectors another feature count.
    size[0] = rng.choice([c for c in range(1, 6 if len(size) == 3 else 100) if c != size[0]])
    return num_classes, tuple(size)


def random_edges(nodes: int) -> torch.Tensor:
    """Both directions of a ring plus one chord: (2, E), every node with neighbours."""
    ring = torch.arange(nodes)
    pairs = torch.cat(
        [torch.stack([ring, (ring + 1) % nodes]), torch.tensor([[0], [nodes // 2]])], 1
    )
    return torch.cat([pairs, pairs.flip(0)], dim=1)


def build(name: str, num_classes: int, input_size: tuple[int, ...]) -> nn.Module:
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
def test_metadata_has_the_documented_keys(name: str):
    meta = MODELS.meta(name)
    for key in ("task", "input_size", "num_classes", "paper", "reference_params", "concepts"):
        assert key in meta, f"{name} metadata lacks {key!r}"
    assert meta["task"] in TASKS
    assert meta["input_size"] is None or all(
        isinstance(s, int) and s > 0 for s in meta["input_size"]
    )
    if meta["task"] in GENERATIVE:  # a generative model has no classes
        assert meta["num_classes"] is None
    else:
        assert isinstance(meta["num_classes"], int) and meta["num_classes"] > 0
    assert isinstance(meta["paper"], str) and meta["paper"].strip()
    assert isinstance(meta["concepts"], list) and meta["concepts"]
    assert all(isinstance(c, str) and c for c in meta["concepts"])
    ref = meta["reference_params"]
    if meta.get("variant") in ("small", "tiny"):  # a variant's count differs by construction
        assert ref is None and meta["variant_of"] in NAMES
        return
    assert set(ref) >= {"value", "input_size", "num_classes", "source"}
    assert isinstance(ref["value"], int) and ref["value"] > 0
    assert isinstance(ref["source"], str) and ref["source"].strip()
    if meta["input_size"] is not None:
        assert tuple(ref["input_size"]) == tuple(meta["input_size"])


# --- Forward and backward ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "num_classes", "input_size"), CASES)
def test_forward_shape_and_backward_reaches_every_parameter(
    name: str, num_classes: int, input_size: tuple[int, ...]
):
    model = build(name, num_classes, input_size)
    task = MODELS.meta(name)["task"]
    generator = torch.Generator().manual_seed(1)
    if task == "language-model":  # character ids, not features
        x = torch.randint(num_classes, (2, *input_size), generator=generator)
    elif task == "node":  # a graph: node features and edges
        x = (torch.randn(6, input_size[0], generator=generator), random_edges(6))
    elif MODELS.meta(name).get("family") == "speech":  # frames and their lengths
        x = (torch.randn(2, 30, input_size[0], generator=generator), torch.tensor([30, 17]))
    elif task == "translation":  # source ids, their lengths, the decoder's inputs
        source = torch.randint(4, input_size[0], (2, 7), generator=generator)
        x = (
            source,
            torch.tensor([7, 4]),
            torch.randint(4, num_classes, (2, 5), generator=generator),
        )
    else:
        x = torch.randn(2, *run_size(name, input_size), generator=generator)
    out = model(*x) if isinstance(x, tuple) else model(x)
    if task == "ctc":  # (log-probabilities (T', B, C), steps per utterance (B,))
        out, steps = out
        assert out.shape[1:] == (2, num_classes) and steps.tolist() == [len(out), -(-17 // 4)]
    if task == "classification":
        assert out.shape == (2, num_classes)
    elif task == "segmentation":
        assert out.shape[:2] == (2, num_classes) and out.ndim == 4
    elif task == "language-model":
        assert out.shape == (2, input_size[0], num_classes)  # next-character logits per position
    elif task == "translation":
        assert out.shape == (2, 5, num_classes)  # next-word logits per target position
    elif task == "node":
        assert out.shape == (6, num_classes)  # class scores per node
    elif task in GENERATIVE:
        assert out.shape == (2,)  # one ELBO, or one value of the GAN's game, per example
    assert torch.isfinite(out).all()
    out.sum().backward()
    params = dict(model.named_parameters())
    assert params
    for pname, p in params.items():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"


def test_other_configurations_really_differ():
    for name in NAMES:
        ref, other = configurations(name)
        assert ref[0] != other[0] or MODELS.meta(name)["task"] in GENERATIVE
        assert ref[1][0] != other[1][0]
        assert ref[1][1:] == other[1][1:]


# --- Parameter counts ----------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS.meta(n)["reference_params"]])
def test_parameter_count_matches_the_reference(name: str):
    ref = MODELS.meta(name)["reference_params"]
    model = build(name, ref["num_classes"], tuple(ref["input_size"]))
    assert sum(p.numel() for p in model.parameters()) == ref["value"], ref["source"]


def test_reference_counts_by_hand():
    """The two reference numbers, re-derived from the layer formulas."""

    def conv(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + c_out

    def dense(n_in: int, n_out: int) -> int:
        return n_in * n_out + n_out

    lenet = conv(1, 6, 5) + conv(6, 16, 5) + dense(16 * 5 * 5, 120) + dense(120, 84)
    lenet += dense(84, 10)
    assert lenet == 61_706
    assert MODELS.meta("lenet5")["reference_params"]["value"] == lenet
    assert MODELS.meta("lenet5_relu")["reference_params"]["value"] == lenet
    mlp = dense(64, 256) + dense(256, 128) + dense(128, 10)
    assert mlp == 50_826
    assert MODELS.meta("mlp")["reference_params"]["value"] == mlp


# --- Summary -------------------------------------------------------------------------------


def torch_flops(model: nn.Module, input_size: tuple[int, ...]) -> int:
    model.eval()
    counter = FlopCounterMode(display=False)
    example = model.example_input(1) if hasattr(model, "example_input") else None
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # fused Transformer layers hide their products
    try:
        with torch.no_grad(), counter:
            if isinstance(example, tuple):
                model(*example)
            else:
                model(torch.zeros(1, *input_size) if example is None else example)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    return counter.get_total_flops()


@pytest.mark.parametrize(("name", "num_classes", "input_size"), CASES)
def test_summary_counts_agree_with_torch(name: str, num_classes: int, input_size):
    model = build(name, num_classes, input_size)
    input_size = run_size(name, input_size)
    summary = summarize(model, input_size)
    total = sum(p.numel() for p in model.parameters())
    assert summary.total_params == total
    assert summary.trainable_params == total
    assert sum(row.params for row in summary.rows) == total
    counted = model
    fused = (torch.nn.RNNBase, torch.nn.MultiheadAttention)
    if any(isinstance(m, fused) for m in model.modules()):
        # torch's fused LSTM, GRU and attention kernels are invisible to the flop counter; the same
        # network from deepnotes.nn runs step by step, so every product is counted
        torch.manual_seed(0)
        counted = MODELS.create(
            name, num_classes=num_classes, input_size=input_size, impl="deepnotes"
        )
    flops = torch_flops(counted, input_size)
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


TINY = [n for n in NAMES if MODELS.meta(n).get("variant") == "tiny"]


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
