"""`deepnotes notebook NAME`: a valid notebook for every experiment, one-line errors, and
three notebooks run in a Jupyter kernel as a student runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import deepnotes
from deepnotes.cli import main
from deepnotes.notebooks import OUT, notebook
from deepnotes.registry import EXPERIMENTS, FAULTS

# Three of the quickest experiments in quick mode (0.4–2.4 s each on two CPU cores, the
# kernel's start and imports about 6 s more), each with whether a fault targets it: two
# with faults, one whose claims carry controls alone.
EXECUTED = {"conv-arithmetic": True, "weight-sharing": True, "curse-of-dimensionality": False}
KERNEL_TIMEOUT_S = 600  # a cell's limit: ten times the slowest cell measured, for a busy CI


def sources(nb: nbformat.NotebookNode, kind: str) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == kind]


def write_notebook(tmp_path: Path, name: str, *flags: str) -> nbformat.NotebookNode:
    path = tmp_path / f"{name}.ipynb"
    assert main(["notebook", name, "--out", str(path), *flags]) == 0
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


@pytest.mark.parametrize("name", EXPERIMENTS.names())
def test_every_experiment_has_a_valid_notebook(tmp_path: Path, name: str):
    nb = write_notebook(tmp_path, name)
    card = EXPERIMENTS.card(name)
    markdown, code = sources(nb, "markdown"), sources(nb, "code")
    assert markdown[0].startswith(f"# {card.title}\n")
    assert all(f"$${formula}$$" in "\n".join(markdown) for formula in card.formulas)
    assert [c for c in code if "show_source" in c] == [
        f'deepnotes.show_source("{dotted}")' for dotted in card.code
    ]
    assert f'NAME = "{name}"' in code[0] and "QUICK = True" in code[0]
    assert any(c.startswith("result = deepnotes.run_experiment(NAME") for c in code)
    assert "deepnotes.claims_table(result)" in code
    faults = [entry.name for entry in FAULTS if name in entry.card.experiments]
    planted = [c for c in code if "fault=FAULT" in c]
    assert len(planted) == (1 if faults else 0)
    assert all(f"`{fault}`" in "\n".join(markdown) for fault in faults)
    assert f"deepnotes run {name} --quick --seed 0" in markdown[-1]


def test_full_mode_and_seed_reach_the_cells(tmp_path: Path):
    nb = write_notebook(tmp_path, "conv-arithmetic", "--full", "--seed", "7")
    setup = sources(nb, "code")[0]
    assert "QUICK = False" in setup and "SEED = 7" in setup
    assert "deepnotes run conv-arithmetic --full --seed 7" in sources(nb, "markdown")[-1]


def test_the_default_file_is_named_after_the_experiment(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["notebook", "weight-sharing"]) == 0
    assert "weight-sharing.ipynb" in capsys.readouterr().out
    nbformat.validate(nbformat.read(tmp_path / "weight-sharing.ipynb", as_version=4))


def test_an_unknown_experiment_is_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["notebook", "conv-arithmetik"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown experiment" in err and "conv-arithmetic" in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_notebook_needs_force(tmp_path: Path, capsys):
    path = tmp_path / "mine.ipynb"
    path.write_text("my own work")
    assert main(["notebook", "conv-arithmetic", "--out", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert path.read_text() == "my own work"
    assert main(["notebook", "conv-arithmetic", "--out", str(path), "--force"]) == 0
    nbformat.validate(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("out", ["notes.txt", "missing-folder/x.ipynb", "."])
def test_a_file_that_cannot_be_a_notebook_is_one_line(tmp_path: Path, monkeypatch, capsys, out):
    monkeypatch.chdir(tmp_path)
    assert main(["notebook", "conv-arithmetic", "--out", out]) != 0
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_folder_named_like_a_notebook_is_refused_with_a_notebook_example(
    tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.ipynb").mkdir()
    assert main(["notebook", "conv-arithmetic", "--out", "d.ipynb"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "e.g. d.ipynb/out.ipynb" in err
    assert list((tmp_path / "d.ipynb").iterdir()) == []


def test_import_deepnotes_loads_no_torch():
    """The command line promises fast commands: the API's names come on first use."""
    script = (
        "import sys, deepnotes\n"
        "assert 'torch' not in sys.modules, 'import deepnotes loaded torch'\n"
        "print(sorted(deepnotes.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_name_of_the_api_is_there():
    for name in deepnotes.__all__:
        assert callable(getattr(deepnotes, name)), name
    with pytest.raises(AttributeError):
        _ = deepnotes.no_such_function


def turned_red(title: str) -> bool:
    """Whether a faulted claims table's title ("... with the fault F planted: 2 of the 2
    claims it targets turned red") says every claim the fault targets turned red."""
    red, every = title.split(": ")[-1].split(" claims")[0].split(" of the ")
    return red == every != "0"


@pytest.fixture
def this_python_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec that starts this interpreter (the one with deepnotes installed), under a
    name no other spec on the machine has, whatever kernels the user set up."""
    spec = tmp_path / "jupyter" / "kernels" / "deepnotes-tests"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "deepnotes tests", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return spec.name


@pytest.mark.parametrize("name", EXECUTED)
def test_the_notebook_runs_in_a_kernel(tmp_path: Path, name: str, this_python_kernel: str):
    """Every cell runs without error, the claims' cell shows each claim of the run with its
    verdict, and the planted fault turns the claims it targets red."""
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(notebook(name)))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=KERNEL_TIMEOUT_S,
        kernel_name=this_python_kernel,
        resources={"metadata": {"path": tmp_path}},
    )
    client.execute()  # raises CellExecutionError on the first cell that fails
    outputs = {cell.source: cell.outputs for cell in nb.cells if cell.cell_type == "code"}

    result = json.loads((tmp_path / OUT / name / "result.json").read_text())
    assert result["passed"] and result["claims"]
    (claims,) = outputs["deepnotes.claims_table(result)"]
    shown = claims.data["text/html"]
    for claim in result["claims"]:
        assert f"<td>{claim['id']}</td>" in shown
    assert shown.count(">pass</td>") == len(result["claims"])
    assert ">FAIL</td>" not in shown

    run_cell = next(o for s, o in outputs.items() if s.startswith("result = "))
    counted = f"{len(result['claims'])} of {len(result['claims'])} claims pass"
    assert counted in run_cell[0].text

    figures = [o for out in outputs.values() for o in out if "image/png" in o.get("data", {})]
    assert len(figures) == len(result["figures"]) > 0

    faulted = [o for s, o in outputs.items() if "fault=FAULT" in s]
    titles = [out[0].data["text/plain"].splitlines()[0] for out in faulted]
    assert [turned_red(title) for title in titles] == ([True] if EXECUTED[name] else [])
