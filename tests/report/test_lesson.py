"""The book's lesson parts without a browser: code excerpts read from the package with the
right `file:line`, formulas as MathML, the reference page's definitions."""

from __future__ import annotations

import re

import pytest

from deepnotes.errors import UserError
from deepnotes.registry import EXPERIMENTS
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


def test_a_module_that_fails_to_import_says_so(tmp_path, monkeypatch):
    """A module that exists but imports one that does not: that error, not "no such module"."""
    (tmp_path / "lesson_with_a_broken_import.py").write_text("import not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="not_installed_anywhere"):
        excerpt("lesson_with_a_broken_import.f")


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
