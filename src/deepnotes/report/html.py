"""One experiment's section of the course book, as a lesson.

In order: the notes' sentence it tests (with its line; a Chinese passage beside its English
rendering), the formula (MathML), the code that implements the concept (read from the
package at build time, with its `file:line`), the figures (PNG files beside the pages,
linked relatively so the folder can be moved or zipped), an interactive figure where the
book has one, the tables, the claims table (statement, measured value, expected, verdict,
and what would turn it red: the faults that target it, or its control), the numbers it
derives without a verdict, and the command that reproduces it. A run with a fault planted
says so at the top of its section, with the claims the fault turned red.
"""

from __future__ import annotations

import html
import re

from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Claim, Quote, Result, format_value, targeted
from deepnotes.registry import EXPERIMENTS, FAULTS
from deepnotes.report.lesson import excerpt, highlight, typeset


def anchor(name: str) -> str:
    """An HTML id for a name: lower case, anything but letters, digits and "-" as "-"."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def topic_key(topic: str) -> tuple[float, str]:
    """Sort topics by their syllabus number ("2. Convolution arithmetic" → 2)."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)", topic)
    return (float(match.group(1)) if match else 99.0, topic)


def render_quote(quote: Quote) -> str:
    """The notes' sentence a section tests, with its line; a passage the notes wrote in
    Chinese stands as written, its English rendering beside it."""
    e = html.escape
    cite = f"<cite>the notes, line {int(quote.line)}</cite>"
    if quote.english is None:
        return f'<blockquote class="notes"><p>“{e(quote.text)}”</p>{cite}</blockquote>'
    return (
        f'<blockquote class="notes bilingual"><p lang="zh">“{e(quote.text)}”</p>'
        f'<p class="english" lang="en">{e(quote.english)}</p>{cite}</blockquote>'
    )


def status_badge(result: Result) -> str:
    """The section's verdict: pass, skipped (a part could not run: its data are missing;
    every claim that ran passed) or FAIL."""
    if result.status == "passed":
        return '<span class="pass">pass</span>'
    if result.status == "skipped":
        return '<span class="skip">skipped</span>'
    return '<span class="fail">FAIL</span>'


def render_section(result: Result, explorer: str = "") -> str:
    """The experiment's section: the lesson, then the measurements; `explorer` is the HTML of
    an interactive figure to show after the figures."""
    e = html.escape
    card = card_of(result.name)
    verdict = status_badge(result)
    parts = [
        f'<section id="{anchor(result.name)}">',
        f"<h2>{e(result.title)}</h2>",
        f'<p class="meta">experiment <code>{e(result.name)}</code> · {e(result.mode)} mode · '
        f"seed {int(result.seed)} · {result.seconds:.1f} s · {verdict}</p>",
    ]
    if result.fault is not None:
        parts.append(fault_banner(result))
    parts += [render_quote(quote) for quote in result.quotes]
    if card is not None:
        parts += [f'<div class="formula">{typeset(formula)}</div>' for formula in card.formulas]
        parts += [render_code(result.name, name) for name in card.code]
    parts += [f'<p class="skipped">Skipped: {e(reason)}</p>' for reason in result.skipped]
    parts += [f'<p class="note">{e(note)}</p>' for note in result.notes]
    if result.error:
        parts.append(f'<pre class="error">{e(result.error)}</pre>')
    for fig in result.figures:
        parts.append(
            f'<figure><img src="{e(fig.path)}" alt="{e(fig.caption)}">'
            f"<figcaption>{e(fig.caption)}</figcaption></figure>"
        )
    parts.append(explorer)
    for table in result.tables:
        head = "".join(f"<th>{e(str(c))}</th>" for c in table.columns)
        body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in table.rows)
        parts.append(f"<h3>{e(table.title)}</h3>" + scrolling(f"<tr>{head}</tr>{body}"))
    if result.claims:
        rows = "".join(
            f'<tr id="{claim_anchor(result.name, c.id)}"><td><code>{e(c.id)}</code></td>'
            f"<td>{e(c.statement)}</td>"
            f'<td class="num">{e(format_value(c.measured))}</td><td>{e(c.expected)}</td>'
            f"{verdict_cell(c.passed)}<td>{falsifiers(result.name, c)}</td></tr>"
            for c in result.claims
        )
        parts.append(
            "<h3>Claims</h3>"
            + scrolling(
                "<tr><th>id</th><th>claim</th><th>measured</th><th>expected</th>"
                f"<th>verdict</th><th>turned red by</th></tr>{rows}"
            )
        )
    if result.derived:
        rows = "".join(
            f"<tr><td><code>{e(d.id)}</code></td><td>{e(d.statement)}</td>"
            f'<td class="num">{e(format_value(d.value))}</td><td>{e(d.how)}</td></tr>'
            for d in result.derived
        )
        parts.append(
            "<h3>Derived, not measured</h3>"
            + scrolling(f"<tr><th>id</th><th>what</th><th>value</th><th>by</th></tr>{rows}")
        )
    rerun = command(result.name, result.mode, result.seed, result.fault)
    parts.append(
        f'<p>Reproduce this section:</p><pre class="command"><code>{e(rerun)}</code></pre>'
        "</section>"
    )
    return "\n".join(part for part in parts if part)


def card_of(experiment: str) -> ExperimentCard | None:
    """The card of a registered experiment; None for a result whose experiment is gone."""
    return EXPERIMENTS.card(experiment) if experiment in EXPERIMENTS else None


def render_code(experiment: str, name: str) -> str:
    """The source of `name`, highlighted, under its `file:line`, in `experiment`'s section."""
    code = excerpt(name)
    return (
        f'<p class="excerpt-where" id="{code_anchor(experiment, name)}">'
        f"<code>{html.escape(name)}</code> · "
        f'<span class="where">{html.escape(code.where)}</span></p>{highlight(code)}'
    )


def command(name: str, mode: str, seed: int, fault: str | None = None) -> str:
    """The command line that runs experiment `name` in `mode` ("quick" or "full") with
    `seed`, and `fault` planted if one is named."""
    planted = f" --fault {fault}" if fault is not None else ""
    return f"deepnotes run {name} --{mode} --seed {seed}{planted}"


def scrolling(rows: str) -> str:
    """A table that scrolls sideways inside its box on a narrow screen, not the page."""
    return f'<div class="scroll"><table>{rows}</table></div>'


def claim_anchor(experiment: str, claim: str) -> str:
    """The id of a claim's row in its experiment's claims table."""
    return anchor(f"claim-{experiment}-{claim}")


def code_anchor(experiment: str, name: str) -> str:
    """The id of the code excerpt `name` in `experiment`'s section (another section may
    show the same code)."""
    return anchor(f"code-{experiment}-{name}")


def falsifiers(experiment: str, claim: Claim) -> str:
    """What would turn a claim red: the faults that target it, and its control."""
    e = html.escape
    target = f"{experiment}/{claim.id}"
    parts = [f"fault <code>{e(f.name)}</code>" for f in FAULTS if target in f.card.targets]
    if claim.control is not None:
        outcome = "fails, as it must" if claim.control_failed else "PASSES: no evidence"
        parts.append(
            f"control: {e(claim.control.label)} gives "
            f"{e(format_value(claim.control.measured))} ({outcome})"
        )
    return "; ".join(parts) or "—"


def fault_banner(result: Result) -> str:
    """The planted fault of a run, and which of the claims it targets turned red."""
    e = html.escape
    card = FAULTS.card(result.fault)
    verdicts = {c.id: c.passed for c in result.claims}
    items = "".join(
        f"<li><code>{e(claim)}</code>: "
        + ("turned red" if verdicts.get(claim) is False else "<strong>stayed green</strong>")
        + "</li>"
        for claim in targeted(result)
    )
    return (
        f'<div class="fault"><p><strong>Faulted run</strong>: fault <code>{e(result.fault)}'
        f"</code> planted in <code>{e(card.replaces)}</code>. The mistake: {e(card.mistake)}. "
        f"What goes wrong: {e(card.consequence)}.</p><ul>{items}</ul></div>"
    )


def verdict_cell(passed: bool) -> str:
    return '<td class="pass">pass</td>' if passed else '<td class="fail">FAIL</td>'


def cell(value: object) -> str:
    text = html.escape(format_value(value))
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"
