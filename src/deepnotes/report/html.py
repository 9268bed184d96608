"""Writes `OUT/index.html` and `OUT/summary.json` from experiment Results.

The page has a contents list by syllabus topic, then one section per
experiment: its figures (PNG files beside the page, linked relatively so the
folder can be moved or zipped), its tables, its claims table (statement,
measured value, expected, verdict, and what would turn it red: the faults that
target it, or its control), the numbers it derives without a verdict, and its
run time. A run with a fault planted says so at the top of its section, with the
claims the fault turned red. No scripts, no fonts or styles from a network: it
opens the same offline.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from deepnotes import __version__
from deepnotes.experiments.base import Claim, Quote, Result, format_value, json_value, targeted
from deepnotes.io import write_atomic, write_json
from deepnotes.registry import FAULTS

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #0a6b2d; font-weight: 600; } .fail { color: #b00020; font-weight: 600; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.notes { border-left: 4px solid #7a8ca8; margin: 0.6em 0; padding: 0.2em 0.8em; color: #333; }
.notes cite { display: block; font-size: 0.85em; color: #666; }
.notes .english { display: block; font-style: italic; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.4em 0.8em; }
pre.error { background: #fdecea; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.meta { color: #666; font-size: 0.9em; }
.fault { background: #fdecea; border-left: 4px solid #b00020; padding: 0.4em 0.8em; }
"""


def anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def topic_key(topic: str) -> tuple[float, str]:
    """Sort topics by their syllabus number ("2. Convolution arithmetic" → 2)."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)", topic)
    return (float(match.group(1)) if match else 99.0, topic)


def render_quote(quote: Quote) -> str:
    """The notes' sentence a section tests, with its line (and an English rendering)."""
    e = html.escape
    english = f'<span class="english">{e(quote.english)}</span>' if quote.english else ""
    return (
        f'<blockquote class="notes"><p>“{e(quote.text)}”</p>{english}'
        f"<cite>the notes, line {quote.line}</cite></blockquote>"
    )


def render_section(result: Result) -> str:
    e = html.escape
    verdict = (
        '<span class="pass">pass</span>' if result.passed else '<span class="fail">FAIL</span>'
    )
    parts = [
        f'<section id="{anchor(result.name)}">',
        f"<h2>{e(result.title)}</h2>",
        f'<p class="meta">experiment <code>{e(result.name)}</code> · {e(result.mode)} mode · '
        f"{result.seconds:.1f} s · {verdict}</p>",
    ]
    if result.fault is not None:
        parts.append(fault_banner(result))
    parts += [render_quote(quote) for quote in result.quotes]
    parts += [f'<p class="note">{e(note)}</p>' for note in result.notes]
    if result.error:
        parts.append(f'<pre class="error">{e(result.error)}</pre>')
    for fig in result.figures:
        parts.append(
            f'<figure><img src="{e(fig.path)}" alt="{e(fig.caption)}">'
            f"<figcaption>{e(fig.caption)}</figcaption></figure>"
        )
    for table in result.tables:
        head = "".join(f"<th>{e(str(c))}</th>" for c in table.columns)
        body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in table.rows)
        parts.append(f"<h3>{e(table.title)}</h3><table><tr>{head}</tr>{body}</table>")
    if result.claims:
        rows = "".join(
            f"<tr><td><code>{e(c.id)}</code></td><td>{e(c.statement)}</td>"
            f'<td class="num">{e(format_value(c.measured))}</td><td>{e(c.expected)}</td>'
            f"{verdict_cell(c.passed)}<td>{falsifiers(result.name, c)}</td></tr>"
            for c in result.claims
        )
        parts.append(
            "<h3>Claims</h3><table><tr><th>id</th><th>claim</th><th>measured</th>"
            f"<th>expected</th><th>verdict</th><th>turned red by</th></tr>{rows}</table>"
        )
    if result.derived:
        rows = "".join(
            f"<tr><td><code>{e(d.id)}</code></td><td>{e(d.statement)}</td>"
            f'<td class="num">{e(format_value(d.value))}</td><td>{e(d.how)}</td></tr>'
            for d in result.derived
        )
        parts.append(
            "<h3>Derived, not measured</h3><table><tr><th>id</th><th>what</th><th>value</th>"
            f"<th>by</th></tr>{rows}</table>"
        )
    parts.append("</section>")
    return "\n".join(parts)


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


def render_page(results: list[Result], title: str = "deepnotes — the course, run") -> str:
    e = html.escape
    claims = [c for r in results for c in r.claims]
    passed = sum(c.passed for c in claims)
    by_topic: dict[str, list[Result]] = {}
    for r in sorted(results, key=lambda r: topic_key(r.topic)):
        by_topic.setdefault(r.topic or "Other", []).append(r)
    contents = "".join(
        f"<li>{e(topic)}<ul>"
        + "".join(f'<li><a href="#{anchor(r.name)}">{e(r.title)}</a></li>' for r in rs)
        + "</ul></li>"
        for topic, rs in by_topic.items()
    )
    sections = "\n".join(render_section(r) for rs in by_topic.values() for r in rs)
    total_s = sum(r.seconds for r in results)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{e(title)}</h1>
<p class="meta">deepnotes {e(__version__)} · {len(results)} experiments · {total_s:.1f} s ·
<strong>{passed} of {len(claims)} claims pass</strong></p>
<nav><h2>Contents</h2><ul>{contents}</ul></nav>
{sections}
</body></html>
"""


def write_report(results: list[Result], out: str | Path) -> Path:
    """Write `index.html` and `summary.json` for `results` into `out`; return the page's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    write_atomic(page, render_page(results).encode())
    claims = [c for r in results for c in r.claims]
    summary = {
        "deepnotes": __version__,
        "passed": all(r.passed for r in results),
        "claims_passed": sum(c.passed for c in claims),
        "claims_total": len(claims),
        "seconds": sum(r.seconds for r in results),
        "experiments": [r.to_dict() for r in results],
    }
    write_json(out / "summary.json", summary, default=json_value)
    return page
