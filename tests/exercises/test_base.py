"""The grader's comparisons and helpers, on values a student might return."""

from __future__ import annotations

import numpy as np
import torch

from deepnotes.exercises.base import _brief, difference, gradients


def test_an_integer_answer_given_as_floats_fails() -> None:
    # 2.7 cast to the expected int64 would be 2: the dtype's kind is checked first
    assert difference(torch.tensor([2.7]), torch.tensor([2]), 1e-5, 1e-7) == (
        "expected int64 values, got float32"
    )
    assert difference(torch.tensor([2]), torch.tensor([2]), 1e-5, 1e-7) is None


def test_a_numpy_scalar_for_a_python_number_says_how_to_convert() -> None:
    why = difference(np.int64(3), 3, 1e-5, 1e-7)
    assert why == "expected int, got int64 (return a Python int: .item())"
    assert difference(3, 3, 1e-5, 1e-7) is None


def test_floats_within_the_tolerance_pass_and_beyond_it_name_the_error() -> None:
    expected = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert difference(expected + 1e-9, expected, 1e-5, 1e-7) is None
    assert difference(expected + 1e-3, expected, 1e-5, 1e-7) == "largest difference 0.001"
    assert difference(torch.zeros(3), expected, 1e-5, 1e-7) == "expected shape (2,), got (3,)"


def test_gradients_of_an_output_cut_from_the_graph_are_zeros() -> None:
    x = torch.randn(3, requires_grad=True)
    y = torch.randn(2, requires_grad=True)
    (dx, dy) = gradients([x * 3], [x, y], [torch.ones(3)])
    assert torch.equal(dx, torch.full((3,), 3.0)) and torch.equal(dy, torch.zeros(2))
    assert all(
        torch.equal(g, torch.zeros_like(v))
        for g, v in zip(gradients([(x * 3).detach()], [x, y], [torch.ones(3)]), (x, y), strict=True)
    )


def test_a_failure_shows_its_inputs_on_one_line() -> None:
    shown = _brief([torch.ones(2, 2), {"w": torch.zeros(3, 1)}])
    assert "\n" not in shown and shown.startswith("[tensor([[1., 1.], [1., 1.]]), {'w': ")
    assert _brief(torch.zeros(100)) == "tensor of shape (100,), dtype float32"
