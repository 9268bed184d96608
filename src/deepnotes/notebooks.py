"""A Jupyter notebook per experiment, and what its cells show.

`notebook("conv-arithmetic")` builds, as plain nbformat-v4 JSON, a notebook that runs the
experiment step by step with the package's public functions (`import deepnotes`): the card
and its formulas (LaTeX between `$$`, which Jupyter typesets), the source of the code that
implements the concept, the run, the sentences of the notes it tests, its figures, tables
and claims with their verdicts, a planted mistake that turns claims red, and the command
that reproduces it. `deepnotes notebook NAME` writes it to a file for Jupyter or Colab.

The notebook holds no copy of the code or the results: its cells call `show_source`,
`run_experiment` and the tables below when they run, so it shows the package as installed.

    show_source(dotted)       a function's or class's source under its `file:line`
    claims_table(result)      claim, measured, expected, control, verdict (and the fault's mark)
    derived_table(result)     the numbers that follow from arithmetic, without a verdict
    show_table(table)         one of a Result's tables

Each returns an object that Jupyter draws as HTML (or Markdown) and a terminal prints as
text, so the same calls serve a notebook and a Python prompt.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from deepnotes.experiments.base import Result, Table, caught, format_value, targeted
from deepnotes.registry import EXPERIMENTS, FAULTS
from deepnotes.report.html import command
from deepnotes.report.lesson import Excerpt, excerpt

NBFORMAT = (4, 5)  # the version written: cells carry ids from 4.5 on
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
OUT = "deepnotes-notebook"  # the folder, beside the notebook, that its runs write into


@dataclass(frozen=True)
class Listing:
    """The source of a function or class, as `show_source` returns it: fenced Python under
    its `file:line` in Jupyter (which highlights it), the same as text at a prompt."""

    excerpt: Excerpt

    def __repr__(self) -> str:
        return f"# {self.excerpt.name} · {self.excerpt.where}\n{self.excerpt.source}"

    def _repr_markdown_(self) -> str:
        code = self.excerpt
        return f"`{code.name}` · `{code.where}`\n\n```python\n{code.source}```\n"


def show_source(dotted: str) -> Listing:
    """The source of the function or class `dotted` ("deepnotes.arith.conv_output_size"),
    read from the package now, with its `file:line`; an unknown name is a `UserError`."""
    return Listing(excerpt(dotted))


@dataclass(frozen=True)
class Grid:
    """A table as a notebook shows it: HTML in Jupyter, aligned columns as text. `marks`
    holds, per row, a CSS colour for the row's last cell (a verdict), or None."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    marks: tuple[str | None, ...] = ()

    def __repr__(self) -> str:
        lines = [list(self.columns), *map(list, self.rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.columns))]
        text = [
            "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        return "\n".join([self.title, *text])

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th>{e(c)}</th>" for c in self.columns)
        body = []
        for i, row in enumerate(self.rows):
            mark = self.marks[i] if i < len(self.marks) else None
            cells = [f"<td>{e(v)}</td>" for v in row]
            if mark is not None:
                cells[-1] = f'<td style="color:{mark};font-weight:bold">{e(row[-1])}</td>'
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            f"<p><strong>{e(self.title)}</strong></p><table><tr>{head}</tr>{''.join(body)}</table>"
        )


VERDICT_COLOURS = {"pass": "green", "FAIL": "red"}


def claims_table(result: Result) -> Grid:
    """The claims of `result`: id, statement, measured, expected, the control's value and the
    verdict; for a faulted run, which claims the fault targets and how many turned red."""
    columns = ["claim", "statement", "measured", "expected", "control", "verdict"]
    aimed = set(targeted(result))
    title = f"Claims of {result.name}"
    if result.fault is not None:
        red, every = caught([result])
        columns.insert(-1, "targeted by the fault")
        title += (
            f" with the fault {result.fault} planted: {len(red)} of the {len(every)} claims "
            "it targets turned red"
        )
    rows, marks = [], []
    for claim in result.claims:
        control = "—"
        if claim.control is not None:
            control = f"{claim.control.label}: {format_value(claim.control.measured)}"
        row = [claim.id, claim.statement, format_value(claim.measured), claim.expected, control]
        if result.fault is not None:
            row.append("yes" if claim.id in aimed else "")
        verdict = "pass" if claim.passed else "FAIL"
        rows.append((*row, verdict))
        marks.append(VERDICT_COLOURS[verdict])
    return Grid(title, tuple(columns), tuple(rows), tuple(marks))


def derived_table(result: Result) -> Grid:
    """The numbers of `result` that follow from arithmetic alone, with how: no verdict."""
    rows = tuple((d.id, d.statement, format_value(d.value), d.how) for d in result.derived)
    return Grid("Derived, not measured", ("id", "what", "value", "by"), rows)


def show_table(table: Table) -> Grid:
    """One of a Result's tables (`result.tables`), its numbers written as the report does."""
    rows = tuple(tuple(format_value(v) for v in row) for row in table.rows)
    return Grid(table.title, tuple(str(c) for c in table.columns), rows)


# ------------------------------------------------------------------ the notebook


def markdown_cell(text: str) -> dict[str, Any]:
    """A Markdown cell of nbformat 4."""
    return {"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")}


def code_cell(text: str) -> dict[str, Any]:
    """A code cell of nbformat 4, not yet run."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": text.strip("\n"),
    }


def card_cells(name: str) -> list[dict[str, Any]]:
    """The title, the card and its formulas."""
    card = EXPERIMENTS.card(name)
    title = [f"# {card.title}", "", f"**Topic:** {card.topic}  "]
    if card.concepts:
        title.append(f"**Concepts:** {', '.join(card.concepts)}  ")
    title += [
        f"**Experiment:** `{name}` of deepnotes, run step by step.",
        "",
        "Run the cells in order (the kernel needs the `deepnotes` package: `pip install -e .` "
        "in its repository). Each step calls the package's public functions; nothing here "
        "is a copy of its code.",
    ]
    cells = [markdown_cell("\n".join(title))]
    if card.formulas:
        formulas = "\n\n".join(f"$${formula}$$" for formula in card.formulas)
        cells.append(markdown_cell(f"## The formulas\n\n{formulas}"))
    return cells


def code_cells(name: str) -> list[dict[str, Any]]:
    """The code that implements the concept, a Markdown cell and a listing per name (each name
    checked now, so that a card naming no function fails here, not in the kernel)."""
    cells = []
    for index, dotted in enumerate(EXPERIMENTS.card(name).code):
        heading = "" if index else "## The code that implements it\n\n"
        where = show_source(dotted).excerpt.where
        cells.append(markdown_cell(f"{heading}`{dotted}`, in `{where}`:"))
        cells.append(code_cell(f'deepnotes.show_source("{dotted}")'))
    return cells


def sentence(text: str) -> str:
    """A card's text as a sentence: one full stop at its end."""
    return text.rstrip(". ") + "."


def fault_cells(name: str) -> list[dict[str, Any]]:
    """The faults that target the experiment, and a run with the first one planted (a quick
    one where there is one); a note instead where no fault targets it."""
    faults = [entry for entry in FAULTS if name in entry.card.experiments]
    if not faults:
        return [
            markdown_cell(
                "## Plant a mistake\n\nNo registered fault targets this experiment: each of "
                "its claims carries a *control* (the same measurement on something that must "
                "fail it), shown in the claims' table above."
            )
        ]
    listed = "\n".join(
        f"- `{entry.name}`: {sentence(entry.card.mistake)} It turns red: "
        + ", ".join(
            f"`{t.split('/', 1)[1]}`" for t in entry.card.targets if t.startswith(f"{name}/")
        )
        + "."
        for entry in faults
    )
    chosen = next((entry for entry in faults if not entry.card.slow), faults[0])
    return [
        markdown_cell(
            "## Plant a mistake\n\nA green verdict is evidence only if a wrong implementation "
            "would have turned it red. These plausible mistakes can be planted in the "
            f"package's own code for one run (no file is edited):\n\n{listed}\n\n"
            f"The next cell reruns the experiment with `{chosen.name}` planted, stopping once "
            "the claims it targets are measured. What goes wrong: "
            f"{sentence(chosen.card.consequence)}"
        ),
        code_cell(
            f'FAULT = "{chosen.name}"\n'
            "faulted = deepnotes.run_experiment(\n"
            '    NAME, out / "faulted", quick=QUICK, seed=SEED, fault=FAULT, '
            "stop_after_targets=True\n"
            ")\n"
            "deepnotes.claims_table(faulted)"
        ),
    ]


def notebook(name: str, quick: bool = True, seed: int = 0) -> dict[str, Any]:
    """The notebook of experiment `name` as nbformat-v4 JSON (a dict to `json.dump`): one
    cell per step, the lesson in Markdown cells; `quick` and `seed` as `deepnotes run`
    takes them. An unknown name is a `UserError` that suggests the closest."""
    EXPERIMENTS.get(name)  # an unknown name: one line that names the closest
    cells = card_cells(name)
    cells += [
        markdown_cell(
            "## Set up\n\nThe experiment, its mode and seed, and the folder it writes to."
        ),
        code_cell(
            "from pathlib import Path\n\n"
            "from IPython.display import Image, display\n\n"
            "import deepnotes\n\n"
            f'NAME = "{name}"\n'
            f"QUICK = {quick}  # True: the short version the tour runs; False: the full one\n"
            f"SEED = {seed}\n"
            f'out = Path("{OUT}")  # figures and result.json go to out / NAME'
        ),
        *code_cells(name),
        markdown_cell(
            "## Run the experiment\n\nIt measures, draws its figures and judges each claim: "
            "a measured value against a threshold from the notes or a formula."
        ),
        code_cell(
            "result = deepnotes.run_experiment(NAME, out, quick=QUICK, seed=SEED)\n"
            "passed = sum(claim.passed for claim in result.claims)\n"
            'print(f"{passed} of {len(result.claims)} claims pass in {result.seconds:.1f} s")\n'
            "for note in result.notes:\n"
            "    print(note)\n"
            "if result.error:\n"
            "    print(result.error)"
        ),
        markdown_cell("## What the notes say\n\nThe sentences of the course notes this run tests."),
        code_cell(
            "for quote in result.quotes:\n"
            '    print(f"notes, line {quote.line}: {quote.text}")\n'
            "    if quote.english:\n"
            '        print(f"    ({quote.english})")'
        ),
        markdown_cell("## Figures"),
        code_cell(
            "for figure in result.figures:\n"
            "    display(Image(filename=str(out / figure.path)))\n"
            "    print(figure.caption)"
        ),
        markdown_cell("## Tables\n\nWhat was measured, then what follows from arithmetic alone."),
        code_cell(
            "for table in result.tables:\n"
            "    display(deepnotes.show_table(table))\n"
            "if result.derived:\n"
            "    display(deepnotes.derived_table(result))"
        ),
        markdown_cell(
            "## The claims and their verdicts\n\nEach claim passes only if its measured value "
            "does and, where it has one, its control does not."
        ),
        code_cell("deepnotes.claims_table(result)"),
    ]
    cells += fault_cells(name)
    cells.append(
        markdown_cell(
            "## Reproduce it\n\nThe same run from the command line, with its report page:\n\n"
            f"```bash\n{command(name, 'quick' if quick else 'full', seed)}\n```"
        )
    )
    for index, cell in enumerate(cells):
        cell["id"] = f"{cell['cell_type']}-{index}"
    return {
        "nbformat": NBFORMAT[0],
        "nbformat_minor": NBFORMAT[1],
        "metadata": {"kernelspec": KERNEL, "language_info": {"name": "python"}},
        "cells": cells,
    }
