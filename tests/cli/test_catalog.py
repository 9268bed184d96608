"""The listings `deepnotes models`, `experiments` and `data` come from `catalog.json`
(`deepnotes.cli.catalog`), so they start in a tenth of a second: the catalog must say what
the registries say, must be remade when their sources change, and listing must not import
torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deepnotes.cli import catalog, main
from deepnotes.models.catalog import summarize_registered
from deepnotes.registry import MODELS

# models the check below counts for real: one or two per family, each under a second
COUNTED = (
    *("lenet5", "mlp", "alexnet_tiny", "resnet18_tiny", "vgg11_bn_tiny", "unet_tiny"),
    *("gpt_char", "char_lstm", "seq2seq", "speech_ctc", "gcn", "vae", "gan_mlp"),
    "interaction_network",
)


@pytest.mark.parametrize("section", list(catalog.SOURCES))
def test_each_section_was_made_from_the_sources_of_today(section):
    """A change to a model, a layer, a task, an experiment or a data set makes its section
    stale: `python benchmarks/catalog.py` rewrites what changed."""
    stored = catalog.read_catalog()[section]["sources"]
    assert stored == catalog.sources_digest(section), (
        f"the {section} in {catalog.CATALOG} are out of date: run python benchmarks/catalog.py"
    )


@pytest.mark.parametrize("section", ["experiments", "data"])
def test_the_cheap_sections_equal_the_registries(section):
    assert catalog.read_catalog()[section]["rows"] == catalog.live_rows(section)


def test_the_models_section_holds_every_model_with_its_card_and_counts():
    """Every registered model, in order, with its card; the counts of a few models, one or
    two per family, made again here (all of them would take a minute)."""
    rows = {r["name"]: r for r in catalog.read_catalog()["models"]["rows"]}
    assert list(rows) == MODELS.names()
    for entry in MODELS:
        row, card = rows[entry.name], entry.card
        assert (row["task"], row["family"], row["variant_of"], row["paper"]) == (
            card.task,
            card.family,
            card.variant_of,
            card.paper,
        )
    for name in COUNTED:
        input_size, summary = summarize_registered(name)
        assert rows[name]["input_size"] == list(input_size)
        assert rows[name]["params"] == summary.total_params
        assert rows[name]["gmacs"] == summary.total_macs / 1e9


def fresh_interpreter(script: str) -> subprocess.CompletedProcess:
    """`script` run by a new Python, which has imported nothing yet; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result


def test_listing_imports_no_torch():
    """`models`, `experiments`, `data`, `conv` and `--help` in a fresh interpreter: torch
    never loads (it alone takes a second and a half)."""
    script = (
        "import contextlib, io, sys\n"
        "from deepnotes.cli import main\n"
        "for argv in (['models'], ['models', 'resnet*', '--json'], ['experiments'], ['data'],"
        " ['conv', '--input', '5', '--kernel', '3']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main(argv) == 0, argv\n"
        "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))\n"
    )
    result = fresh_interpreter(script)
    assert result.stdout.strip() == "[]"
    assert result.stderr == ""  # no section out of date, so no note


def test_the_heavy_libraries_load_only_when_used():
    """The registries and a trained run's loader import torch, not torchvision, scikit-learn,
    scipy.signal or matplotlib's pyplot (docs/ARCHITECTURE.md): `sample` stays quick."""
    script = (
        "import sys\n"
        "import deepnotes.train.runs\n"
        "from deepnotes.registry import DATASETS, MODELS, TASKS\n"
        "len(DATASETS), len(MODELS), len(TASKS)\n"
        "heavy = ('torchvision', 'sklearn', 'scipy.signal', 'matplotlib.pyplot')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = fresh_interpreter(script)
    assert result.stdout.strip() == "[]"


def test_a_stale_section_is_listed_from_the_registries_with_a_note(monkeypatch, capsys):
    """Sources changed since the catalog was made (a student's edit to an installed copy):
    the listing is made again from the registries, and says so."""
    digest = catalog.sources_digest
    monkeypatch.setattr(
        catalog, "sources_digest", lambda s: "edited" if s == "experiments" else digest(s)
    )
    monkeypatch.setattr(
        catalog,
        "live_rows",
        lambda s: [{"name": "made-again", "topic": "t", "title": "from the registry"}],
    )
    assert main(["experiments", "--json"]) == 0
    captured = capsys.readouterr()
    assert [r["name"] for r in json.loads(captured.out)] == ["made-again"]
    assert "out of date" in captured.err and "benchmarks/catalog.py" in captured.err
    assert main(["data", "--json"]) == 0  # its section is current: no note
    assert capsys.readouterr().err == ""


def test_data_availability_follows_the_files_on_disk(tmp_path, capsys, monkeypatch):
    """`data` finds a set by its card's file patterns, in the root given."""
    monkeypatch.delenv("DEEPNOTES_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["data", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert not rows["tinyshakespeare"]["available"] and rows["digits"]["available"]
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("First Citizen:\n")
    assert main(["data", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["tinyshakespeare"]["where"] == f"found in {tmp_path}"
