"""The course book: the experiments' results as one page per syllabus topic.

`write_report(results, OUT)` writes

    OUT/index.html            the overview (experiments, claims passed, time), every topic
    OUT/topic-N-name.html     a topic's experiments, each a lesson (`report.html`)
    OUT/models.html           the model zoo: every registered model and its card
    OUT/reference.html        every public function and class: signature, summary, file:line
    OUT/search-index.json     what the search box searches: topics, experiments, claims,
                              models, functions and faults, each with its page address
    OUT/assets/               the style, the scripts (search, the interactive figures), the
                              search index as a script and the trained LeNet's weights
    OUT/summary.json          the results, for programs

Every page has the contents sidebar, the search box and previous/next links. Nothing is
fetched from a network and every link is relative, so the folder opens offline and can be
zipped and moved. The search index is written twice, as JSON for programs and as a script
that sets `window.DEEPNOTES_SEARCH`, because a page opened from a file may not fetch a file
beside it (Chromium refuses), while it may load a script.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from deepnotes import __version__
from deepnotes.experiments.base import Result, json_value
from deepnotes.io import write_atomic, write_json
from deepnotes.registry import EXPERIMENTS, FAULTS, MODELS
from deepnotes.report import digit
from deepnotes.report.html import (
    anchor,
    card_of,
    claim_anchor,
    code_anchor,
    render_section,
    status_badge,
    topic_key,
)
from deepnotes.report.lesson import Definition, highlight_styles, public_definitions

TITLE = "deepnotes — the course, run"
ASSETS = (
    "book.css",
    "search.js",
    "explorer.js",
    "conv-explorer.js",
    "activation-explorer.js",
    "draw-digit.js",
)


@dataclass
class Page:
    """One page of the book: its file name, title, and the experiments of its topic."""

    file: str
    title: str
    results: list[Result]


def in_book_order(results: list[Result]) -> list[Result]:
    """By syllabus topic, and within a topic in the order the experiments are registered."""
    order = {name: index for index, name in enumerate(EXPERIMENTS.names())}
    return sorted(results, key=lambda r: (topic_key(r.topic), order.get(r.name, 0)))


def topic_pages(results: list[Result]) -> list[Page]:
    """One page per topic, each with its experiments, in book order."""
    by_topic: dict[str, list[Result]] = {}
    for result in in_book_order(results):
        by_topic.setdefault(result.topic or "Other", []).append(result)
    return [
        Page(f"topic-{re.sub('-+', '-', anchor(topic)).strip('-')}.html", topic, members)
        for topic, members in by_topic.items()
    ]


# An interactive figure shown in an experiment's section: experiment → (its kind, the
# scripts in assets/ it loads after explorer.js, what the section says above it). The last
# script builds the figure inside the <div class="explorer" data-explorer=KIND> that names it.
EXPLORERS = {
    "conv-arithmetic": (
        "conv",
        ("conv-explorer.js",),
        "Try it: set the input, kernel, padding, stride and dilation (or a transposed "
        "convolution) and step the window across the input. The output size comes from "
        "the same formulas as <code>deepnotes.arith</code>.",
    ),
    "activations": (
        "activations",
        ("activation-explorer.js",),
        "Try it: each activation and its derivative; move β and α and watch where the "
        "gradient vanishes.",
    ),
    "lenet-digits": (
        "digit",
        ("lenet-weights.js", "draw-digit.js"),
        "Try it: draw a digit. The ReLU LeNet trained above classifies it in this page (its "
        "forward pass written in JavaScript from the exported weights); its feature maps are "
        "drawn below the prediction.",
    ),
}


def explorer_html(name: str, missing: dict[str, str]) -> str:
    """The interactive figure of experiment `name`, if it has one; where what it needs is
    `missing`, a note that says why it is left out."""
    if name not in EXPLORERS:
        return ""
    if name in missing:
        return (
            f'<p class="note">The interactive figure is left out: {html.escape(missing[name])}</p>'
        )
    kind, scripts, lead = EXPLORERS[name]
    loads = "".join(
        f'<script src="assets/{script}"></script>' for script in ("explorer.js", *scripts)
    )
    figure = f'<div class="explorer" data-explorer="{kind}"></div>'
    return f'<div class="try-it"><h3>Try it</h3><p>{lead}</p>{figure}{loads}</div>'


def sidebar(pages: list[Page], current: Page | None) -> str:
    """The contents: every topic, the current one open on its experiments; the search box."""
    e = html.escape
    items = []
    for page in pages:
        inner = ""
        if page is current:
            inner = "<ul>" + "".join(
                f'<li><a href="#{anchor(r.name)}">{e(r.title)}</a></li>' for r in page.results
            )
            inner += "</ul>"
        marker = ' class="current"' if page is current else ""
        items.append(f'<li{marker}><a href="{page.file}">{e(page.title)}</a>{inner}</li>')
    return (
        '<nav class="sidebar" aria-label="contents">'
        f'<a class="home" href="index.html">{e(TITLE)}</a>'
        '<div class="search" role="search"><input type="search" id="search" '
        'placeholder="Search claims, models, functions…" aria-label="search the book">'
        '<ul class="search-results" id="search-results"></ul></div>'
        f'<ul class="contents">{"".join(items)}</ul>'
        '<p><a href="models.html">The model zoo</a><br>'
        '<a href="reference.html">The package, function by function</a></p></nav>'
    )


def pager(pages: list[Page], index: int) -> str:
    """Previous and next links between the topic pages."""
    e = html.escape
    previous = pages[index - 1] if index > 0 else None
    following = pages[index + 1] if index + 1 < len(pages) else None
    left = f'<a rel="prev" href="{previous.file}">← {e(previous.title)}</a>' if previous else ""
    right = f'<a rel="next" href="{following.file}">{e(following.title)} →</a>' if following else ""
    return f'<nav class="pager">{left or "<span></span>"}{right}</nav>'


def document(title: str, body: str, pages: list[Page], current: Page | None = None) -> str:
    """A page of the book: `body` beside the contents sidebar (open on `current`)."""
    e = html.escape
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<link rel="stylesheet" href="assets/book.css"><link rel="stylesheet" href="assets/code.css">
</head>
<body><div class="layout">{sidebar(pages, current)}<main>{body}</main></div>
<script src="assets/search-index.js"></script><script src="assets/search.js"></script>
</body></html>
"""


def overview(results: list[Result]) -> str:
    """The index page's line: experiments, claims passed, time."""
    claims = [c for r in results for c in r.claims]
    passed = sum(c.passed for c in claims)
    seconds = sum(r.seconds for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    partly = f" · {skipped} partly skipped (data missing)" if skipped else ""
    return (
        f'<p class="meta">deepnotes {html.escape(__version__)} · {len(results)} experiments · '
        f"{seconds:.1f} s · <strong>{passed} of {len(claims)} claims pass</strong>{partly}</p>"
    )


def index_page(results: list[Result], pages: list[Page]) -> str:
    """The overview and every topic with its experiments and claims passed."""
    e = html.escape
    topics = []
    for page in pages:
        claims = [c for r in page.results for c in r.claims]
        experiments = "".join(
            f'<li><a href="{page.file}#{anchor(r.name)}">{e(r.title)}</a>'
            + ("" if r.status == "passed" else f" {status_badge(r)}")
            + "</li>"
            for r in page.results
        )
        topics.append(
            f'<li><a href="{page.file}"><strong>{e(page.title)}</strong></a> '
            f'<span class="meta">{sum(c.passed for c in claims)} of {len(claims)} claims '
            f"pass</span><ul>{experiments}</ul></li>"
        )
    body = (
        f"<h1>{e(TITLE)}</h1>{overview(results)}"
        "<p>Each section is a lesson: the sentence of the course notes it tests, the formula, "
        "the code of this package that implements it (read from the source when this book "
        "was built), the figures, and the claims with their verdicts, each with the planted "
        "mistake that would turn it red.</p>"
        f'<h2>Topics</h2><ol class="topics">{"".join(topics)}</ol>'
    )
    return document(TITLE, body, pages)


def topic_page(pages: list[Page], index: int, missing: dict[str, str]) -> str:
    """Topic `index`: its experiments' sections, each with its interactive figure (see
    `explorer_html`), and the links to the topics before and after it."""
    page = pages[index]
    sections = "\n".join(render_section(r, explorer_html(r.name, missing)) for r in page.results)
    body = f"<h1>{html.escape(page.title)}</h1>{overview(page.results)}{sections}"
    return document(f"{page.title} — deepnotes", body + pager(pages, index), pages, page)


def models_page(pages: list[Page]) -> str:
    """Every registered model: family, task, concepts, paper."""
    e = html.escape
    rows = "".join(
        f'<tr id="{anchor("model-" + m.name)}"><td><code>{e(m.name)}</code></td>'
        f"<td>{e(m.card.family)}</td><td>{e(m.card.task)}</td>"
        f"<td>{e(', '.join(m.card.concepts))}</td><td>{e(m.card.paper)}</td></tr>"
        for m in MODELS
    )
    body = (
        "<h1>The model zoo</h1><p>Every model <code>deepnotes train MODEL</code> builds; "
        "<code>deepnotes summary MODEL</code> prints its layers and parameter count.</p>"
        '<div class="scroll"><table><tr><th>model</th><th>family</th><th>task</th>'
        f"<th>concepts</th><th>paper</th></tr>{rows}</table></div>"
    )
    return document("The model zoo — deepnotes", body, pages)


def definition_anchor(name: str) -> str:
    """The id of a function or class on the reference page."""
    return anchor(f"api-{name}")


def reference_page(pages: list[Page], definitions: tuple[Definition, ...]) -> str:
    """Every public function and class, module by module: signature, summary, file:line."""
    e = html.escape
    by_module: dict[str, list[Definition]] = {}
    for definition in definitions:
        by_module.setdefault(definition.name.rsplit(".", 1)[0], []).append(definition)
    parts = [
        "<h1>The package, function by function</h1><p>Every public function and class of "
        "<code>deepnotes</code>, with the first line of its docstring and where it is "
        "defined; <code>deepnotes.show_source(NAME)</code> prints its code.</p>"
    ]
    for module, members in by_module.items():
        items = "".join(
            f'<dt id="{definition_anchor(d.name)}"><code>{e(d.name.rsplit(".", 1)[1])}'
            f'{e(d.signature)}</code> <span class="meta">{d.kind}</span></dt>'
            f'<dd>{e(d.summary)} <span class="where">{e(d.where)}</span></dd>'
            for d in members
        )
        parts.append(f'<h2 id="{anchor(module)}"><code>{e(module)}</code></h2><dl>{items}</dl>')
    return document("The package, function by function — deepnotes", "".join(parts), pages)


def search_entries(pages: list[Page], definitions: tuple[Definition, ...]) -> list[dict[str, str]]:
    """What the search box finds: each entry's kind, title, text and address."""
    entries = []
    claim_pages: dict[str, str] = {}
    for page in pages:
        entries.append({"kind": "topic", "title": page.title, "text": "", "url": page.file})
        for result in page.results:
            section = f"{page.file}#{anchor(result.name)}"
            card = card_of(result.name)
            concepts = ", ".join(card.concepts) if card else ""
            entries.append(
                {
                    "kind": "experiment",
                    "title": result.title,
                    "text": f"{result.name} {concepts}",
                    "url": section,
                }
            )
            for claim in result.claims:
                url = f"{page.file}#{claim_anchor(result.name, claim.id)}"
                claim_pages[f"{result.name}/{claim.id}"] = url
                text = f"{claim.statement} ({result.title})"
                entries.append({"kind": "claim", "title": claim.id, "text": text, "url": url})
            for name in card.code if card else ():
                entries.append(
                    {
                        "kind": "lesson code",
                        "title": name.removeprefix("deepnotes."),
                        "text": result.title,
                        "url": f"{page.file}#{code_anchor(result.name, name)}",
                    }
                )
    for definition in definitions:
        entries.append(
            {
                "kind": definition.kind,
                "title": definition.name.removeprefix("deepnotes."),
                "text": definition.summary,
                "url": f"reference.html#{definition_anchor(definition.name)}",
            }
        )
    for model in MODELS:
        text = f"{model.card.family} {model.card.task} {', '.join(model.card.concepts)}"
        entries.append(
            {
                "kind": "model",
                "title": model.name,
                "text": f"{text} {model.card.paper}",
                "url": f"models.html#{anchor('model-' + model.name)}",
            }
        )
    for fault in FAULTS:
        shown = [claim_pages[t] for t in fault.card.targets if t in claim_pages]
        if shown:
            entries.append(
                {"kind": "fault", "title": fault.name, "text": fault.card.mistake, "url": shown[0]}
            )
    return entries


def copy_assets(out: Path) -> None:
    """The style, the scripts and the code colours into `out/assets`."""
    assets = out / "assets"
    assets.mkdir(exist_ok=True)
    folder = resources.files("deepnotes.report") / "assets"
    for name in ASSETS:
        with resources.as_file(folder / name) as source:
            shutil.copyfile(source, assets / name)
    write_atomic(assets / "code.css", highlight_styles().encode())


def write_report(results: list[Result], out: str | Path) -> Path:
    """Write the book for `results` into `out` (see the module's docstring); return the
    index page's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = in_book_order(results)
    copy_assets(out)
    missing = {}
    if any(r.name == "lenet-digits" for r in results):
        problem = digit.export_lenet(out)
        if problem is not None:
            missing["lenet-digits"] = problem
    pages = topic_pages(results)
    for stale in set(out.glob("topic-*.html")) - {out / page.file for page in pages}:
        stale.unlink()  # a topic of an earlier book in this folder: its links would be dead
    write_atomic(out / "index.html", index_page(results, pages).encode())
    write_atomic(out / "models.html", models_page(pages).encode())
    definitions = public_definitions()
    write_atomic(out / "reference.html", reference_page(pages, definitions).encode())
    for i, page in enumerate(pages):
        write_atomic(out / page.file, topic_page(pages, i, missing).encode())
    entries = search_entries(pages, definitions)
    write_json(out / "search-index.json", entries)
    script = f"window.DEEPNOTES_SEARCH = {json.dumps(entries, ensure_ascii=False)};\n"
    write_atomic(out / "assets" / "search-index.js", script.encode())
    claims = [c for r in results for c in r.claims]
    summary = {
        "deepnotes": __version__,
        "passed": all(r.passed for r in results),
        "claims_passed": sum(c.passed for c in claims),
        "claims_total": len(claims),
        "experiments_skipped": [r.name for r in results if r.status == "skipped"],
        "seconds": sum(r.seconds for r in results),
        "experiments": [r.to_dict() for r in results],
    }
    write_json(out / "summary.json", summary, default=json_value)
    return out / "index.html"
