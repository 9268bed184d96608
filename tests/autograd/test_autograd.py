"""The scalar autograd engine and the networks on it, checked against torch.autograd.

Gradients of random expressions (hypothesis) and of random MLPs must equal
torch's in float64 to relative error 1e-10; deep graphs must not recurse; the
perceptron rule must converge on separable data within Novikoff's bound and
fail on XOR; a small MLP must learn scikit-learn's two moons.
"""

from __future__ import annotations

import gc
import math
import random
import sys
from collections.abc import Callable

import pytest
import torch
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st
from sklearn.datasets import make_moons
from torch import nn

from deepnotes.autograd.engine import Value, topological_order
from deepnotes.autograd.nn import (
    MLP,
    Layer,
    Neuron,
    Perceptron,
    classification_loss,
    predict,
    train_mlp,
)
from reference import assert_close

F64 = torch.float64


def grads_of(values: list[Value]) -> torch.Tensor:
    return torch.tensor([v.grad for v in values], dtype=F64)


def torch_grads(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Each tensor's .grad, 0 where torch left it None (the tensor did not reach the output)."""
    return torch.stack(
        [t.grad if t.grad is not None else torch.zeros((), dtype=F64) for t in tensors]
    )


# --- Random expressions against torch.autograd ----------------------------------------------

# Each operation reads two pool nodes a, b and a constant c. The same lambda runs on
# Values and on 0-d torch tensors. Domains are safe by construction: a·a + 0.5 > 0 feeds
# log and fractional powers, b·b + 1 ≥ 1 divides.
OPERATIONS: dict[str, Callable] = {
    "add": lambda a, b, c: a + b,
    "sub": lambda a, b, c: a - b,
    "mul": lambda a, b, c: a * b,
    "div": lambda a, b, c: a / (b * b + 1),
    "pow": lambda a, b, c: (a * a + 0.5) ** c,
    "cube": lambda a, b, c: a**3,
    "neg": lambda a, b, c: -a,
    "radd": lambda a, b, c: c + a,
    "rsub": lambda a, b, c: c - a,
    "rmul": lambda a, b, c: c * a,
    "rtruediv": lambda a, b, c: c / (a * a + 1),
    "tanh": lambda a, b, c: a.tanh(),
    "relu": lambda a, b, c: a.relu(),
    "exp": lambda a, b, c: a.exp(),
    "log": lambda a, b, c: (a * a + 0.5).log(),
    "sigmoid": lambda a, b, c: a.sigmoid(),
}

# Leaves and constants are 0 or at least 1e-3 in size. Where a gradient is a sum whose
# terms cancel to far below their own rounding error (1 − 1 + 1e-308), its value depends
# on the order of summation, which torch chooses differently; such sums are excluded, as
# are nodes outside [1e-6, 1e6] in size, rather than widening the tolerance.
small = st.one_of(st.just(0.0), st.floats(1e-3, 2), st.floats(-2, -1e-3))
instruction = st.tuples(
    st.sampled_from(sorted(OPERATIONS)), st.integers(0, 99), st.integers(0, 99), small
)


def evaluate(leaves: list, program: list) -> list:
    """Run `program` over a pool that starts as the leaves; indices wrap, so nodes get reused."""
    pool = list(leaves)
    for name, i, j, c in program:
        pool.append(OPERATIONS[name](pool[i % len(pool)], pool[j % len(pool)], c))
    return pool


@settings(max_examples=200, deadline=None)
@given(st.lists(small, min_size=1, max_size=4), st.lists(instruction, min_size=1, max_size=14))
def test_random_expression_gradients_match_torch(leaf_data, program):
    leaves = [Value(x) for x in leaf_data]
    try:
        ours = evaluate(leaves, program)
    except OverflowError:  # exp or pow of a huge number: outside what floats hold
        reject()
    assume(all(v.data == 0 or 1e-6 < abs(v.data) < 1e6 for v in ours))
    ours[-1].backward()

    tleaves = [torch.tensor(x, dtype=F64, requires_grad=True) for x in leaf_data]
    theirs = evaluate(tleaves, program)
    for t in theirs[len(tleaves) :]:
        t.retain_grad()
    theirs[-1].backward()

    values = torch.tensor([v.data for v in ours], dtype=F64)
    assert_close(values, torch.stack(theirs).detach(), F64, "node values")
    assert_close(grads_of(leaves), torch_grads(tleaves), F64, "leaf gradients")
    assert_close(grads_of(ours), torch_grads(theirs), F64, "every node's gradient")


def test_hand_checked_gradients():
    """micrograd's sanity check, worked by hand: a node used several times sums its uses."""
    x = Value(-4.0)
    z = 2 * x + 2 + x  # dz/dx = 3
    q = z.relu() + z * x  # z = −10: relu is off, dq/dx = z + x·dz/dx = −10 − 12
    h = (z * z).relu()  # dh/dx = 2z·dz/dx = −60
    y = h + q + q * x  # dy/dx = −60 + dq/dx·(1 + x) + q = −60 + 66 + 40
    y.backward()
    assert y.data == pytest.approx(100 + 40 - 160)
    assert x.grad == pytest.approx(46.0)


def test_backward_twice_accumulates_leaves_only_like_torch():
    a, b = Value(1.5), Value(-0.7)
    hidden = (a * b).tanh()
    out = hidden * a + hidden.exp()
    out.backward()
    first = (a.grad, b.grad, hidden.grad)
    out.backward()
    assert (a.grad, b.grad) == pytest.approx((2 * first[0], 2 * first[1]))
    assert hidden.grad == pytest.approx(first[2])  # interior: recomputed, not doubled

    ta = torch.tensor(1.5, dtype=F64, requires_grad=True)
    tb = torch.tensor(-0.7, dtype=F64, requires_grad=True)
    th = (ta * tb).tanh()
    tout = th * ta + th.exp()
    tout.backward(retain_graph=True)
    tout.backward()
    assert_close(grads_of([a, b]), torch.stack([ta.grad, tb.grad]), F64)


def test_deep_chain_backpropagates_without_recursion():
    length = 5000
    x, tx = Value(0.3), torch.tensor(0.3, dtype=F64, requires_grad=True)
    y, ty = x, tx
    for step in range(length):
        c = 0.5 + (step % 7) / 7  # ∂y_next/∂y = 1 + 0.001·c·(1 − tanh²) stays near 1
        y, ty = y + 0.001 * (y * c).tanh(), ty + 0.001 * (ty * c).tanh()
    assert len(topological_order(y)) > 2 * sys.getrecursionlimit()
    y.backward()
    ty.backward()
    assert_close(grads_of([x]), tx.grad.reshape(1), F64)


def test_graph_has_no_reference_cycles():
    """Reference counting alone frees a graph, which lets `train_mlp` pause the collector."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        model = random_mlp(2, [3, 1], "tanh", seed=6)
        loss = classification_loss(model, [[0.1, 0.2], [0.3, -0.4]], [0, 1], "squared")
        loss.backward()
        del loss
        assert gc.collect() == 0  # nothing left that only the cycle collector could free
    finally:
        if was_enabled:
            gc.enable()


def test_domain_errors_and_exponent_type():
    with pytest.raises(ValueError):
        Value(-1.0).log()
    with pytest.raises(ValueError):
        Value(-2.0) ** 0.5
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)
    assert Value(-1000.0).sigmoid().data == pytest.approx(math.exp(-1000.0))  # no overflow


# --- MLPs against torch.nn --------------------------------------------------------------------

TORCH_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def torch_copy(model: MLP) -> nn.Sequential:
    """The equivalent torch network in float64, holding the same weights."""
    modules: list[nn.Module] = []
    for layer in model.layers:
        in_features = len(layer.neurons[0].weight)
        linear = nn.Linear(in_features, len(layer.neurons), dtype=F64)
        with torch.no_grad():
            linear.weight.copy_(
                torch.tensor([[w.data for w in n.weight] for n in layer.neurons], dtype=F64)
            )
            linear.bias.copy_(torch.tensor([n.bias.data for n in layer.neurons], dtype=F64))
        modules.append(linear)
        activation = layer.neurons[0].activation
        if activation:
            modules.append(TORCH_ACTIVATIONS[activation]())
    return nn.Sequential(*modules)


def torch_parameter_grads(model: MLP, theirs: nn.Sequential) -> torch.Tensor:
    """torch's gradients laid out in our parameters' order (per neuron: weights, bias)."""
    grads = []
    for linear in (m for m in theirs if isinstance(m, nn.Linear)):
        grads.append(torch.cat([linear.weight.grad, linear.bias.grad[:, None]], dim=1).flatten())
    return torch.cat(grads)


def random_mlp(in_features: int, layer_sizes: list[int], activation: str, seed: int) -> MLP:
    rng = random.Random(seed)
    model = MLP(in_features, layer_sizes, activation, rng)
    for neuron in (n for layer in model.layers for n in layer.neurons):
        neuron.bias.data = rng.uniform(-0.5, 0.5)  # non-zero biases, so their role shows
    return model


@pytest.mark.parametrize(
    ("in_features", "layer_sizes", "activation"),
    [(3, [4, 2], "relu"), (2, [5, 5, 1], "tanh"), (4, [3], "sigmoid"), (1, [6, 3, 4], "relu")],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_mlp_gradients_match_torch(in_features, layer_sizes, activation, seed):
    model = random_mlp(in_features, layer_sizes, activation, seed)
    theirs = torch_copy(model)
    assert len(model.parameters()) == sum(p.numel() for p in theirs.parameters())

    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(5, in_features, generator=generator, dtype=F64)
    weights = torch.randn(5, layer_sizes[-1], generator=generator, dtype=F64)

    inputs = [[Value(x) for x in row] for row in X.tolist()]
    outputs = [model(row) for row in inputs]
    total = sum(
        (
            o * w
            for row, wrow in zip(outputs, weights.tolist(), strict=True)
            for o, w in zip(row, wrow, strict=True)
        ),
        Value(0.0),
    )
    total.backward()

    X.requires_grad_(True)
    tout = theirs(X)
    (tout * weights).sum().backward()

    assert_close(
        torch.tensor([[o.data for o in row] for row in outputs], dtype=F64),
        tout.detach(),
        F64,
        "outputs",
    )
    assert_close(
        torch.tensor([[x.grad for x in row] for row in inputs], dtype=F64),
        X.grad,
        F64,
        "input gradients",
    )
    assert_close(
        grads_of(model.parameters()),
        torch_parameter_grads(model, theirs),
        F64,
        "parameter gradients",
    )


@pytest.mark.parametrize("loss", ["hinge", "squared"])
def test_classification_loss_matches_torch(loss):
    model = random_mlp(2, [4, 1], "relu", seed=3)
    theirs = torch_copy(model)
    X, y = make_moons(n_samples=12, noise=0.1, random_state=3)
    alpha = 1e-2

    ours = classification_loss(model, X.tolist(), y.tolist(), loss, alpha)
    ours.backward()

    scores = theirs(torch.tensor(X, dtype=F64)).squeeze(1)
    targets = 2 * torch.tensor(y, dtype=F64) - 1
    per_example = (1 - targets * scores).relu() if loss == "hinge" else (scores - targets) ** 2
    penalty = sum((p * p).sum() for p in theirs.parameters())
    expected = per_example.mean() + alpha * penalty
    expected.backward()

    assert_close(torch.tensor(ours.data, dtype=F64), expected.detach(), F64, "loss")
    assert_close(
        grads_of(model.parameters()),
        torch_parameter_grads(model, theirs),
        F64,
        "parameter gradients",
    )


def test_zero_grad_resets_and_backward_accumulates():
    model = random_mlp(2, [3, 1], "tanh", seed=4)
    x = [0.5, -1.2]
    model(x)[0].backward()
    first = [p.grad for p in model.parameters()]
    assert any(g != 0 for g in first)
    model(x)[0].backward()  # a second graph, no reset: gradients add up
    assert [p.grad for p in model.parameters()] == pytest.approx([2 * g for g in first])
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())
    model(x)[0].backward()
    assert [p.grad for p in model.parameters()] == pytest.approx(first)


def test_reprs_show_hyper_parameters():
    model = MLP(2, [8, 1], "tanh", random.Random(0))
    assert "Layer(in_features=2, out_features=8, activation='tanh')" in repr(model)
    assert "Layer(in_features=8, out_features=1, activation=None)" in repr(model)
    assert repr(Neuron(3, None)) == "Neuron(in_features=3, activation=None)"
    assert len(Layer(3, 4).parameters()) == 4 * (3 + 1)
    assert repr(Perceptron(2, lr=0.5)) == "Perceptron(in_features=2, lr=0.5)"


def test_mlp_learns_two_moons():
    """micrograd's demo, smaller: 100 points, a 2-8-8-1 ReLU net, hinge loss, ≥ 95 %."""
    X, y = make_moons(n_samples=100, noise=0.1, random_state=0)
    model = MLP(2, [8, 8, 1], "relu", random.Random(0))
    history = train_mlp(model, X.tolist(), y.tolist(), steps=70, lr=0.5)
    accuracy = sum(
        p == t for p, t in zip(predict(model, X.tolist()), y.tolist(), strict=True)
    ) / len(y)
    assert history[-1] < 0.2 * history[0]
    assert accuracy >= 0.95


# --- The perceptron -------------------------------------------------------------------------


def separable_data(seed: int, n: int = 80, margin: float = 0.1):
    """Points in [−1, 1]², labelled by a random line, none closer to it than `margin`."""
    rng = random.Random(seed)
    w, b = [rng.gauss(0, 1), rng.gauss(0, 1)], rng.uniform(-0.3, 0.3)
    norm = math.hypot(*w, b)  # the unit separator lives in the augmented space (x, 1)
    X, y = [], []
    while len(X) < n:
        x = [rng.uniform(-1, 1), rng.uniform(-1, 1)]
        distance = (w[0] * x[0] + w[1] * x[1] + b) / norm
        if abs(distance) >= margin:
            X.append(x)
            y.append(int(distance > 0))
    return X, y, margin


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lr", [1.0, 0.1])
def test_perceptron_converges_on_separable_data_within_novikoff_bound(seed, lr):
    X, y, margin = separable_data(seed)
    perceptron = Perceptron(2, lr=lr)
    mistakes = perceptron.fit(X, y, epochs=1000)
    assert mistakes[-1] == 0
    assert [perceptron.predict(x) for x in X] == y
    radius = max(math.hypot(*x, 1.0) for x in X)  # ‖(x, 1)‖
    assert sum(mistakes) <= (radius / margin) ** 2


def test_perceptron_learning_rate_only_scales_the_weights():
    X, y, _ = separable_data(seed=5)
    a, b = Perceptron(2, lr=1.0), Perceptron(2, lr=0.25)
    assert a.fit(X, y, epochs=1000) == b.fit(X, y, epochs=1000)
    assert [*a.weight, a.bias] == pytest.approx([4 * w for w in [*b.weight, b.bias]])


def test_perceptron_fails_on_xor():
    X, y = [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0]
    perceptron = Perceptron(2)
    mistakes = perceptron.fit(X, y, epochs=200)
    assert len(mistakes) == 200 and min(mistakes) > 0  # never an error-free sweep
    correct = sum(perceptron.predict(x) == t for x, t in zip(X, y, strict=True))
    assert correct <= 3  # no line gets all four
