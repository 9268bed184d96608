"""The book's lesson parts without a browser: code excerpts read from the package with the
right `file:line`, formulas as MathML, the LeNet export that draw-a-digit runs."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import deepnotes
from deepnotes.errors import UserError
from deepnotes.registry import EXPERIMENTS
from deepnotes.report.digit import layer_spec, numbers
from deepnotes.report.lesson import (
    PACKAGE_ROOT,
    excerpt,
    highlight,
    public_definitions,
    typeset,
)


def defined_on(file: str, line: int) -> str:
    return (PACKAGE_ROOT / file).read_text().splitlines()[line - 1]


@pytest.mark.parametrize(
    ("name", "file", "definition"),
    [
        ("deepnotes.arith.conv_output_size", "deepnotes/arith.py", "def conv_output_size("),
        ("deepnotes.models.lenet.LeNet5", "deepnotes/models/lenet.py", "class LeNet5("),
        # a method found through a subclass: the code is where the base class defines it
        ("deepnotes.nn.batchnorm.BatchNorm1d.forward", "deepnotes/nn/batchnorm.py", "def forward("),
        # under @torch.no_grad(): the function, not torch's wrapper
        (
            "deepnotes.nn.batchnorm._BatchNorm._update_running_stats",
            "deepnotes/nn/batchnorm.py",
            "@torch.no_grad()",
        ),
    ],
)
def test_an_excerpt_is_the_source_where_it_stands(name, file, definition):
    code = excerpt(name)
    assert code.file == file
    assert code.where == f"{file}:{code.line}"
    assert defined_on(file, code.line).strip().startswith(definition)
    assert code.source.strip().startswith(definition)
    assert (
        code.source.splitlines()
        == (PACKAGE_ROOT / file)
        .read_text()
        .splitlines()[code.line - 1 : code.line - 1 + len(code.source.splitlines())]
    )


def test_an_unknown_name_is_one_line_of_error():
    with pytest.raises(UserError, match="nope not found"):
        excerpt("deepnotes.arith.nope")
    with pytest.raises(UserError, match="no such module"):
        excerpt("nowhere.at_all")


def test_the_highlighted_lines_are_numbered_as_in_the_file():
    code = excerpt("deepnotes.arith.conv_output_size")
    numbers_shown = re.findall(r'<span class="linenos">\s*(\d+)</span>', highlight(code))
    first = code.line
    assert [int(n) for n in numbers_shown] == list(range(first, first + len(numbers_shown)))
    assert len(numbers_shown) == len(code.source.splitlines())


def test_a_formula_is_mathml_that_names_no_address():
    mathml = typeset(r"o = \left\lfloor \frac{i + 2p - k}{s} \right\rfloor + 1")
    assert mathml.startswith('<math display="block">')
    assert "<mfrac>" in mathml
    assert "http" not in mathml


@pytest.mark.parametrize("name", EXPERIMENTS.names())
def test_every_experiment_card_holds_a_lesson(name):
    """Formulas that typeset (latex2mathml writes an unknown command as it stands, backslash
    and all) and code that is the package's own (not a wrapper from torch)."""
    card = EXPERIMENTS.card(name)
    assert card.formulas and card.code
    for formula in card.formulas:
        assert "\\" not in typeset(formula), formula
    for dotted in card.code:
        code = excerpt(dotted)
        assert code.file.startswith("deepnotes/"), (dotted, code.file)
        assert re.match(r"\s*(@|def |class )", defined_on(code.file, code.line)), dotted


def test_exported_numbers_give_back_the_same_float32():
    weights = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.tensor(numbers(weights), dtype=torch.float32), weights)


def test_the_export_refuses_a_layer_the_page_cannot_run():
    assert layer_spec(nn.Conv2d(1, 2, 5, padding=2))["padding"] == 2
    with pytest.raises(ValueError, match="stride-1"):
        layer_spec(nn.Conv2d(1, 2, 3, stride=2))
    with pytest.raises(ValueError, match="Tanh"):
        layer_spec(nn.Tanh())


def test_the_package_root_holds_the_package():
    assert (PACKAGE_ROOT / "deepnotes" / "__init__.py").samefile(deepnotes.__file__)


def test_the_reference_lists_public_definitions_as_written():
    definitions = {d.name: d for d in public_definitions()}
    conv = definitions["deepnotes.arith.conv_output_size"]
    assert conv.kind == "function"
    assert conv.signature == "(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int"
    assert conv.summary.startswith("Output size of a convolution")
    assert conv.where == excerpt(conv.name).where
    assert definitions["deepnotes.models.lenet.LeNet5"].kind == "class"
    assert not [name for name in definitions if name.startswith("deepnotes.cli")]
    assert not [name for name in definitions if "._" in name]
    # a function as a default value is shown by its name, not its address in memory
    assert not [d.name for d in definitions.values() if " at 0x" in d.signature]
