"""The README's "Python API" examples run as written, in order, in a fresh folder."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import deepnotes

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def api_examples(readme: str) -> list[str]:
    """The ```python blocks of the README's "## Python API" section, in order."""
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_section_shows_each_use():
    examples = "\n".join(api_examples(README))
    for call in ("run_experiment(", "train_model(", "load_run(", "notebook(", "show_source("):
        assert f"deepnotes.{call}" in examples, call
    used = set(re.findall(r"deepnotes\.(\w+)\(", examples))
    assert used <= set(deepnotes.__all__), used - set(deepnotes.__all__)


def test_the_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for number, block in enumerate(api_examples(README)):
        exec(compile(block, f"README.md, Python API example {number + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "turned red" in printed and "def conv_output_size(" in printed
    assert (tmp_path / "runs" / "mlp" / "summary.json").is_file()
    nbformat.validate(nbformat.read(tmp_path / "conv-arithmetic.ipynb", as_version=4))
