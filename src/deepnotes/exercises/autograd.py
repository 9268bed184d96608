"""Exercises on backpropagation: a scalar autograd engine, micrograd's `Value`."""

from __future__ import annotations

import math
import operator
import random
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from deepnotes.autograd import engine
from deepnotes.exercises.base import Case, Exercise, Mistake, register

VALUE_STARTER = '''\
from __future__ import annotations

import math


class Value:
    """A scalar that remembers how it was computed, so that backward() can fill in the
    gradient of the final result with respect to every Value it depends on.

    Value(data) holds data (a float) and grad (a float, 0.0 until backward()). Support:
        a + b, a − b, a * b, a / b   with a Value or a Python number on either side
                                     (2 * x, 1 − x, 3 / x: __radd__, __rsub__, __rmul__,
                                     __rtruediv__)
        a ** p                       p a Python number
        −a, a.tanh(), a.relu(), a.exp()
    Each operation returns a new Value that keeps the Values it was computed from and how
    to pass a gradient back to them: for out = f(a, b), with g = ∂L/∂out,

        a.grad += g · ∂out/∂a,   b.grad += g · ∂out/∂b

        a + b: 1, 1     a − b: 1, −1     a·b: b, a     a/b: 1/b, −a/b²     a**p: p·a^(p−1)
        −a: −1     tanh a: 1 − tanh²a     relu a: 1 if a > 0 else 0     exp a: exp a

    out.backward() sets out.grad = 1 and applies those rules from out back to the leaves,
    each node only after every node that uses it (a reverse topological order). By the
    chain rule the gradient of a Value used in several places is the sum over its uses
    (Rumelhart, Hinton & Williams, Nature 1986; A. Karpathy's micrograd).
    """

    def __init__(self, data: float) -> None:
        self.data = float(data)
        self.grad = 0.0
        # TODO: remember the Values this one was computed from, and a function that passes
        # this Value's grad on to them (nothing to pass for a leaf); __init__ may take more
        # arguments, with defaults, for that

    def __add__(self, other: Value | float) -> Value:  # a + b
        raise NotImplementedError("Value.__add__")

    def __radd__(self, other: float) -> Value:  # 2 + a
        raise NotImplementedError("Value.__radd__")

    def __sub__(self, other: Value | float) -> Value:  # a − b
        raise NotImplementedError("Value.__sub__")

    def __rsub__(self, other: float) -> Value:  # 2 − a
        raise NotImplementedError("Value.__rsub__")

    def __mul__(self, other: Value | float) -> Value:  # a * b
        raise NotImplementedError("Value.__mul__")

    def __rmul__(self, other: float) -> Value:  # 2 * a
        raise NotImplementedError("Value.__rmul__")

    def __truediv__(self, other: Value | float) -> Value:  # a / b
        raise NotImplementedError("Value.__truediv__")

    def __rtruediv__(self, other: float) -> Value:  # 2 / a
        raise NotImplementedError("Value.__rtruediv__")

    def __pow__(self, exponent: float) -> Value:  # a ** p
        raise NotImplementedError("Value.__pow__")

    def __neg__(self) -> Value:  # −a
        raise NotImplementedError("Value.__neg__")

    def tanh(self) -> Value:  # tanh(a)
        raise NotImplementedError("Value.tanh")

    def relu(self) -> Value:  # max(a, 0)
        raise NotImplementedError("Value.relu")

    def exp(self) -> Value:  # e^a
        raise NotImplementedError("Value.exp")

    def backward(self) -> None:
        # TODO: order the graph topologically, set self.grad = 1, then pass the gradients
        # back from the last node to the first
        raise NotImplementedError("Value.backward")
'''


class MicrogradValue:
    """micrograd's `Value` written from scratch the usual way (Karpathy 2020): each operation
    keeps its children and a `_backward` closure, and `backward` walks a topological order
    in reverse. The base of the two mistaken engines below, which change one part of it:
    how a closure passes a gradient on (`_pass`) or the order of the walk (`backward`)."""

    def __init__(self, data: float, children: tuple[MicrogradValue, ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._children = children
        self._backward: Callable[[], None] = lambda: None

    def _pass(self, child: MicrogradValue, amount: float) -> None:
        """child.grad += amount: the chain rule's sum over the child's uses."""
        child.grad += amount

    def _wrap(self, other: MicrogradValue | float) -> MicrogradValue:
        return other if isinstance(other, MicrogradValue) else type(self)(other)

    def _result(
        self, data: float, children: tuple[MicrogradValue, ...], local: tuple[float, ...]
    ) -> MicrogradValue:
        """A new node of `data` whose `_backward` passes out.grad · local[i] to children[i]."""
        out = type(self)(data, children)

        def _backward() -> None:
            for child, derivative in zip(children, local, strict=True):
                self._pass(child, out.grad * derivative)

        out._backward = _backward
        return out

    def __add__(self, other: MicrogradValue | float) -> MicrogradValue:
        other = self._wrap(other)
        return self._result(self.data + other.data, (self, other), (1.0, 1.0))

    def __sub__(self, other: MicrogradValue | float) -> MicrogradValue:
        other = self._wrap(other)
        return self._result(self.data - other.data, (self, other), (1.0, -1.0))

    def __mul__(self, other: MicrogradValue | float) -> MicrogradValue:
        other = self._wrap(other)
        return self._result(self.data * other.data, (self, other), (other.data, self.data))

    def __truediv__(self, other: MicrogradValue | float) -> MicrogradValue:
        other = self._wrap(other)
        local = (1 / other.data, -self.data / other.data**2)
        return self._result(self.data / other.data, (self, other), local)

    def __radd__(self, other: float) -> MicrogradValue:
        return self._wrap(other) + self

    def __rsub__(self, other: float) -> MicrogradValue:
        return self._wrap(other) - self

    def __rmul__(self, other: float) -> MicrogradValue:
        return self._wrap(other) * self

    def __rtruediv__(self, other: float) -> MicrogradValue:
        return self._wrap(other) / self

    def __pow__(self, exponent: float) -> MicrogradValue:
        local = (exponent * self.data ** (exponent - 1),)
        return self._result(self.data**exponent, (self,), local)

    def __neg__(self) -> MicrogradValue:
        return self._result(-self.data, (self,), (-1.0,))

    def tanh(self) -> MicrogradValue:
        t = math.tanh(self.data)
        return self._result(t, (self,), (1 - t * t,))

    def relu(self) -> MicrogradValue:
        positive = self.data > 0
        return self._result(self.data if positive else 0.0, (self,), (float(positive),))

    def exp(self) -> MicrogradValue:
        e = math.exp(self.data)
        return self._result(e, (self,), (e,))

    def backward(self) -> None:
        """Each node's `_backward` after every node that uses it: reverse topological order."""
        order: list[MicrogradValue] = []
        seen: set[MicrogradValue] = set()

        def visit(node: MicrogradValue) -> None:
            if node not in seen:
                seen.add(node)
                for child in node._children:
                    visit(child)
                order.append(node)

        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


class ValueAssigningGradients(MicrogradValue):
    """`_backward` sets its children's gradients (=) instead of adding to them (+=): a Value
    used twice keeps only the gradient of the use whose closure ran last."""

    def _pass(self, child: MicrogradValue, amount: float) -> None:
        child.grad = amount


class ValueWithoutTopologicalOrder(MicrogradValue):
    """`backward` walks the graph breadth first from the output, each node once, instead of
    in reverse topological order: a node reached early passes its gradient on before the
    uses of it further away have added theirs."""

    def backward(self) -> None:
        self.grad = 1.0
        queue: deque[MicrogradValue] = deque([self])
        seen = {self}
        while queue:
            node = queue.popleft()
            node._backward()
            for child in node._children:
                if child not in seen:
                    seen.add(child)
                    queue.append(child)


# An expression is a program: leaves v0 … v(n−1), then one node per step. A step is
# (operator, left, right) for + − * / (an int operand is a node, a float a Python number),
# ("**", node, exponent), or (function, node) for neg, tanh, relu, exp.
BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
UNARY = ("neg", "tanh", "relu", "exp")
EXPONENTS = (2, 3, -1, 0.5)


def evaluate(
    value_class: Callable[[float], Any], leaves: list[float], program: list[tuple]
) -> tuple[list[Any], Any]:
    """Build the program's nodes with `value_class`; return the leaves and the last node."""
    nodes = [value_class(x) for x in leaves]

    def operand(x: int | float) -> Any:
        return nodes[x] if isinstance(x, int) else x

    for step in program:
        name, left = step[0], operand(step[1])
        if name in BINARY:
            nodes.append(BINARY[name](left, operand(step[2])))
        elif name == "**":
            nodes.append(left ** step[2])
        elif name == "neg":
            nodes.append(-left)
        else:
            nodes.append(getattr(left, name)())
    return nodes[: len(leaves)], nodes[-1]


def describe(step: tuple, index: int) -> str:
    """One step as a line of arithmetic: `v4 = v1 * v3`, `v5 = tanh(v4)`, `v6 = 2.0 - v5`."""

    def show(x: int | float) -> str:
        return f"v{x}" if isinstance(x, int) else repr(x)

    name = step[0]
    if name in BINARY or name == "**":
        return f"v{index} = {show(step[1])} {name} {show(step[2])}"
    return f"v{index} = {'-' if name == 'neg' else name}({show(step[1])})"


def draw_step(rng: random.Random, data: list[float]) -> tuple:
    """A random step on the last node, so that every node feeds the output; a binary step's
    other operand is any node so far (the last one too: x * x), which is then used at two
    depths of the graph."""
    last = len(data) - 1
    kind = rng.random()
    if kind < 0.5:
        pair = (last, rng.randrange(len(data)))
        return (rng.choice(tuple(BINARY)), *(pair if rng.random() < 0.5 else pair[::-1]))
    if kind < 0.65:  # a Python number on one side
        number = rng.choice((2.0, -1.5, 0.5, 3.0))
        return (
            rng.choice(tuple(BINARY)),
            *((last, number) if rng.random() < 0.5 else (number, last)),
        )
    if kind < 0.75:
        return ("**", last, rng.choice(EXPONENTS))
    return (rng.choice(UNARY), last)


def safe(step: tuple, data: list[float]) -> bool:
    """Whether the step stays in its domain, away from poles: denominators and the bases of
    ** −1 at least 0.2 in size, square roots of at least 0.2, exp of at most 3."""
    name = step[0]
    left = data[step[1]] if isinstance(step[1], int) else step[1]
    if name == "/":
        right = data[step[2]] if isinstance(step[2], int) else step[2]
        return abs(right) >= 0.2
    if name == "**":
        return {-1: abs(left) >= 0.2, 0.5: left >= 0.2}.get(step[2], True)
    return name != "exp" or left <= 3


def value_cases(rng: random.Random) -> list[Case]:
    """Random expressions, small first: 1 to 4 leaves in (−2, 2), 1 to 16 steps, every
    operation of the class, nodes used several times at different depths (and sometimes
    twice in one step, x * x); no result above 30 in size."""
    cases = []
    for n in range(30):
        leaves = [round(rng.uniform(-2, 2), 3) for _ in range(rng.randint(1, min(1 + n // 5, 4)))]
        data = list(leaves)  # every node's value so far
        program: list[tuple] = []
        while len(program) < min(1 + n // 2, 16):
            step = draw_step(rng, data)
            if not safe(step, data):
                continue
            _, result = evaluate(engine.Value, data, [step])
            if abs(result.data) > 30:
                continue
            program.append(step)
            data.append(result.data)
        lines = [describe(step, len(leaves) + i) for i, step in enumerate(program)]
        settings = f"leaves {leaves}; " + "; ".join(lines) + "; backward from the last"
        cases.append(Case(settings, {"leaves": leaves, "program": program}))
    return cases


def run_value(implementation: Callable[..., Any], case: Case) -> Mapping[str, Any]:
    """The last node's data, and the leaves' gradients after its backward()."""
    leaves, output = evaluate(implementation, case.inputs["leaves"], case.inputs["program"])
    output.backward()
    return {"data": output.data, "leaf grads": [leaf.grad for leaf in leaves]}


register(
    "autograd-value",
    Exercise(
        title="A scalar autograd engine: micrograd's Value",
        topic="0. Foundations",
        entry="Value",
        starter=VALUE_STARTER,
        reference=engine.Value,
        cases=value_cases,
        run=run_value,
        solution=("deepnotes.autograd.engine.Value", "deepnotes.autograd.engine.topological_order"),
        hints=(
            "Each operation makes out = Value(result) and gives it a closure `_backward` that "
            "adds out.grad times the local derivative to each input's grad; keep the inputs "
            "in out too, so that backward() can find them. Wrap Python numbers in Values.",
            "Use += in every `_backward`: x * x, or x used by two later nodes, must collect a "
            "gradient from each use.",
            "backward(): list the nodes depth first, appending a node after all its children "
            "(a topological order); set self.grad = 1, then run each node's `_backward` in "
            "the reversed list.",
        ),
        mistakes=(
            Mistake(
                "value-gradient-assigned-not-accumulated",
                "Each `_backward` sets its inputs' gradients (=) instead of adding to them "
                "(+=), so a Value used twice keeps the gradient of one use only.",
                "the chain rule: ∂L/∂u is the sum over every use of u (Rumelhart, Hinton & "
                "Williams, Nature 1986; micrograd's fix of x + x)",
                wrong=ValueAssigningGradients,
            ),
            Mistake(
                "value-backward-without-topological-order",
                "backward() visits the nodes breadth first from the output, not in reverse "
                "topological order, so a node can pass its gradient on before all of its uses "
                "have added theirs.",
                "Karpathy's micrograd (2020), Value.backward: a node's gradient is complete "
                "only after every node that uses it has run (a reverse topological order)",
                wrong=ValueWithoutTopologicalOrder,
            ),
        ),
    ),
)
