"""Reverse-mode automatic differentiation on scalars: backpropagation in one class.

A computation is a graph of elementary operations. Each node `v = f(u_1, …, u_k)`
knows its own local derivatives ∂v/∂u_i; the **chain rule** glues them together.
For an output L and any node u,

    ∂L/∂u = Σ_{v : u is an input of v}  ∂L/∂v · ∂v/∂u

— the gradient of u is the sum, over every place u is used, of the gradient
arriving from that use times the local derivative there. This sum is why
gradients *accumulate* (`+=`): a node used twice receives two contributions.

**Reverse mode vs forward mode.** Forward mode pushes a tangent du/dx_j forward
alongside the values: one pass gives the derivatives of every output with
respect to *one* input. Reverse mode pulls the adjoint ∂L/∂v backwards from the
output: one pass gives the derivatives of *one* output with respect to *every*
input. A network has millions of parameters and one scalar loss, so reverse
mode costs one backward pass (a small constant times the forward pass) where
forward mode would cost one pass per parameter. The price is memory: the
forward values must be kept until the backward pass has used them.

**Why topological order.** ∂L/∂v is complete only once every node that uses v
has passed its contribution back. Ordering the nodes so that each comes after
its inputs (a topological sort) and walking that order in reverse guarantees
it: when a node's `_backward` runs, every consumer of the node has already run.
The sort here is an iterative depth-first search with an explicit stack, so a
chain of many thousands of nodes does not hit Python's recursion limit.

Local derivatives, each written beside its forward computation below
(g is the gradient arriving at the output `out`):

    operation        out              ∂out/∂a               ∂out/∂b
    ──────────────   ──────────────   ───────────────────   ──────────────
    a + b            a + b            1                     1
    a − b            a − b            1                     −1
    a · b            a · b            b                     a
    a / b            a / b            1/b                   −a/b² = −out/b
    a ** p (p real)  a^p              p·a^(p−1)             —
    −a               −a               −1                    —
    tanh(a)          tanh a           1 − out²              —
    relu(a)          max(a, 0)        1 if a > 0 else 0     —
    exp(a)           eᵃ               out                   —
    log(a)           ln a             1/a                   —
    sigmoid(a)       1/(1 + e⁻ᵃ)      out·(1 − out)         —

Each `_backward` adds g · ∂out/∂input to the input's `grad`.

Semantics follow `torch.autograd`: calling `backward()` again adds to the
leaves' gradients (reset them with `Module.zero_grad()`), while the gradients
of interior nodes are recomputed from zero on every call, so a second
backward through the same graph adds exactly the same amount again. Domain
errors follow Python's `math` module: `log` of a non-positive number or a
negative base to a fractional power raises `ValueError` rather than giving NaN.

References: A. Karpathy, micrograd (2020), github.com/karpathy/micrograd, whose
design this follows; Rumelhart, Hinton, Williams, "Learning representations by
back-propagating errors", Nature 1986; Baydin et al., "Automatic
differentiation in machine learning: a survey", JMLR 2018.

Shape: every `Value` is a scalar (a Python float); vectors are lists of Values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Number = int | float


def _no_backward(grad: float) -> None:
    """The `_backward` of a leaf: it has no children to pass the gradient to."""


class Value:
    r"""A scalar that remembers how it was computed, so that it can be differentiated.

    .. math::
        \text{out} = f(\text{children}), \qquad
        \text{child.grad} \mathrel{+}= \text{out.grad} \cdot
        \frac{\partial f}{\partial \text{child}}

    Every operation returns a new Value holding the result (`data`), the
    Values it was computed from (`_children`) and a `_backward` closure that
    applies the chain rule for that one operation. `backward()` on the final
    Value runs all those closures in reverse topological order.

    Python numbers mixed into an expression (`2 * x`, `1 - x`) are wrapped in
    constant leaf Values; they receive a gradient too, which nobody reads.

    Args:
        data: the scalar value.

    Shape:
        - data: a Python float; grad: a Python float, ∂L/∂self.
    """

    __slots__ = ("_backward", "_children", "_op", "data", "grad")

    def __init__(
        self,
        data: Number,
        _children: tuple[Value, ...] = (),
        _op: str = "",
        _backward: Callable[[float], None] = _no_backward,
    ) -> None:
        self.data = float(data)
        self.grad = 0.0  # ∂L/∂self, filled in by backward()
        self._children = _children  # the Values this one was computed from
        self._op = _op  # the operation that produced it, shown by repr
        # _backward(g): given g = ∂L/∂self, add g·∂self/∂child to each child's grad.
        # It captures the children and the forward result, never `self`: a node
        # that referred to itself would form a reference cycle, and a graph of
        # cycles is freed only by the garbage collector, which then spends most of
        # the training time traversing it.
        self._backward = _backward

    # ---- binary operations ------------------------------------------------------

    def __add__(self, other: Value | Number) -> Value:
        other = as_value(other)

        def _backward(grad: float) -> None:  # ∂(a + b)/∂a = 1, ∂(a + b)/∂b = 1
            self.grad += grad
            other.grad += grad

        return Value(self.data + other.data, (self, other), "+", _backward)

    def __sub__(self, other: Value | Number) -> Value:
        other = as_value(other)

        def _backward(grad: float) -> None:  # ∂(a − b)/∂a = 1, ∂(a − b)/∂b = −1
            self.grad += grad
            other.grad -= grad

        return Value(self.data - other.data, (self, other), "-", _backward)

    def __mul__(self, other: Value | Number) -> Value:
        other = as_value(other)

        def _backward(grad: float) -> None:  # ∂(ab)/∂a = b, ∂(ab)/∂b = a
            self.grad += other.data * grad
            other.grad += self.data * grad

        return Value(self.data * other.data, (self, other), "*", _backward)

    def __truediv__(self, other: Value | Number) -> Value:
        other = as_value(other)
        quotient = self.data / other.data

        def _backward(grad: float) -> None:  # ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b² = −out/b
            self.grad += grad / other.data
            other.grad -= grad * quotient / other.data

        return Value(quotient, (self, other), "/", _backward)

    def __pow__(self, exponent: Number) -> Value:
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"exponent must be a number, got {type(exponent).__name__}")

        def _backward(grad: float) -> None:  # ∂(a^p)/∂a = p·a^(p−1)
            self.grad += exponent * math.pow(self.data, exponent - 1) * grad

        return Value(math.pow(self.data, exponent), (self,), f"**{exponent}", _backward)

    # Python numbers on the left: 2 + x, 2 - x, 2 * x, 2 / x.
    def __radd__(self, other: Number) -> Value:
        return as_value(other) + self

    def __rsub__(self, other: Number) -> Value:
        return as_value(other) - self

    def __rmul__(self, other: Number) -> Value:
        return as_value(other) * self

    def __rtruediv__(self, other: Number) -> Value:
        return as_value(other) / self

    # ---- unary operations -------------------------------------------------------

    def __neg__(self) -> Value:
        def _backward(grad: float) -> None:  # ∂(−a)/∂a = −1
            self.grad -= grad

        return Value(-self.data, (self,), "neg", _backward)

    def tanh(self) -> Value:
        t = math.tanh(self.data)

        def _backward(grad: float) -> None:  # ∂tanh(a)/∂a = 1 − tanh²(a)
            # factored as (1 − t)(1 + t): 1 − t·t would round t·t first and, where
            # t ≈ ±1, cancel most of the digits away (1 − t is exact there)
            self.grad += (1.0 - t) * (1.0 + t) * grad

        return Value(t, (self,), "tanh", _backward)

    def relu(self) -> Value:
        positive = self.data > 0

        def _backward(grad: float) -> None:  # ∂max(a, 0)/∂a = 1 if a > 0 else 0 (as torch at 0)
            if positive:
                self.grad += grad

        return Value(self.data if positive else 0.0, (self,), "relu", _backward)

    def exp(self) -> Value:
        e = math.exp(self.data)

        def _backward(grad: float) -> None:  # ∂eᵃ/∂a = eᵃ
            self.grad += e * grad

        return Value(e, (self,), "exp", _backward)

    def log(self) -> Value:
        def _backward(grad: float) -> None:  # ∂ln(a)/∂a = 1/a
            self.grad += grad / self.data

        return Value(math.log(self.data), (self,), "log", _backward)

    def sigmoid(self) -> Value:
        # σ(a) = 1/(1 + e⁻ᵃ), arranged so that e^(large) is never formed
        if self.data >= 0:
            s = 1.0 / (1.0 + math.exp(-self.data))
        else:
            e = math.exp(self.data)
            s = e / (1.0 + e)

        def _backward(grad: float) -> None:  # ∂σ(a)/∂a = σ(a)·(1 − σ(a))
            self.grad += s * (1.0 - s) * grad

        return Value(s, (self,), "sigmoid", _backward)

    # ---- backpropagation --------------------------------------------------------

    def backward(self) -> None:
        """Fill in `grad` = ∂self/∂node for every node self depends on (see module doc)."""
        order = topological_order(self)
        for node in order:  # interior gradients start from zero; leaves accumulate
            if node._children:
                node.grad = 0.0
        self.grad += 1.0  # ∂self/∂self
        for node in reversed(order):  # every consumer of a node runs before the node
            node._backward(node.grad)

    def __repr__(self) -> str:
        op = f", op={self._op!r}" if self._op else ""
        return f"Value(data={self.data}, grad={self.grad}{op})"


def as_value(x: Value | Number) -> Value:
    """`x` itself if it is a Value, else a constant leaf holding it."""
    return x if isinstance(x, Value) else Value(x)


def topological_order(root: Value) -> list[Value]:
    """Every node `root` depends on, each listed after all of its children.

    Depth-first post-order with an explicit stack: a node is pushed once to be
    expanded (its children pushed above it) and once more, beneath them, to be
    emitted after all of them.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        stack.extend((child, False) for child in node._children if child not in visited)
    return order
