"""Every registered experiment: its quick mode runs, its claims pass, its figures exist;
and the report shows them."""

from __future__ import annotations

import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from deepnotes.cards import ExperimentCard
from deepnotes.experiments.base import Context, Quote, run_experiment
from deepnotes.registry import EXPERIMENTS
from deepnotes.report import write_report


@pytest.fixture
def results(quick_tour):
    return quick_tour


@pytest.mark.parametrize("name", EXPERIMENTS.names())
def test_experiment_quick_mode_passes(results, name):
    out, by_name = results
    result = by_name[name]
    assert result.error is None, result.error
    assert result.claims, "an experiment states at least one claim"
    failed = [(c.id, c.measured, c.expected) for c in result.claims if not c.passed]
    assert not failed
    assert result.figures, "an experiment draws at least one figure"
    for figure in result.figures:
        path = out / figure.path
        assert path.is_file() and path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert EXPERIMENTS.card(name).topic, "each experiment names its syllabus topic"


class ImageCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def test_report_page_and_summary(results):
    out, by_name = results
    index = write_report(list(by_name.values()), out)
    assert index == out / "index.html"
    html = "".join(page.read_text() for page in sorted(out.glob("*.html")))
    collector = ImageCollector()
    collector.feed(html)
    figures = [f.path for r in by_name.values() for f in r.figures]
    assert sorted(collector.images) == sorted(figures)
    for src in collector.images:
        assert not re.match(r"^(https?:|/)", src), "images are relative files beside the page"
        assert (out / src).is_file()
    assert "http://" not in html and "https://" not in html  # nothing fetched from a network
    for result in by_name.values():
        assert escape(result.title) in html
        for claim in result.claims:
            assert claim.id in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["claims_total"] == sum(len(r.claims) for r in by_name.values())
    assert summary["claims_passed"] == summary["claims_total"]
    measured = {c["id"]: c["measured"] for e in summary["experiments"] for c in e["claims"]}
    assert measured["conv-i5-k4-p2"] == 6
    quotes = [q for r in by_name.values() for q in r.quotes]
    assert quotes, "the sections name the notes' sentences they test"
    for quote in quotes:
        assert f"“{escape(quote.text)}”" in html
        assert f"the notes, line {quote.line}" in html


NOTES = Path(__file__).resolve().parents[2] / "docs" / "course-notes.txt"


def stands_on_its_line(quote: Quote, notes: list[str]) -> bool:
    """Whether the quote's text (spaces aside) is part of line `quote.line` of the notes."""
    words = " ".join(quote.text.split())
    return 1 <= quote.line <= len(notes) and words in " ".join(notes[quote.line - 1].split())


def test_a_quote_must_stand_on_its_line():
    notes = NOTES.read_text(encoding="utf-8").splitlines()
    sentence = "it does not really reduce covariate shift"
    assert stands_on_its_line(Quote(168, sentence), notes)
    assert not stands_on_its_line(Quote(167, sentence), notes)
    assert not stands_on_its_line(Quote(len(notes) + 1, sentence), notes)


def test_every_quote_stands_on_its_line_of_the_notes(results):
    _, by_name = results
    notes = NOTES.read_text(encoding="utf-8").splitlines()
    misplaced = [
        (name, quote.line, quote.text)
        for name, result in by_name.items()
        for quote in result.quotes
        if not stands_on_its_line(quote, notes)
    ]
    assert not misplaced


def test_a_claim_is_judged_not_declared(tmp_path):
    ctx = Context("x", tmp_path / "x", tmp_path)
    assert ctx.claim("a", "s", 0.5, ">=", 0.97).passed is False
    assert ctx.claim("b", "s", 0.98, ">=", 0.97).passed is True
    assert ctx.claim("c", "s", float("nan"), "<", 1.0).passed is False
    with pytest.raises(ValueError):
        ctx.claim("d", "s", 1, "~", 1)


def test_a_failing_experiment_is_reported_not_raised(tmp_path):
    @EXPERIMENTS.register("always-broken-for-test", ExperimentCard("broken", "99. test"))
    def broken(ctx):
        raise RuntimeError("boom")

    try:
        result = run_experiment("always-broken-for-test", tmp_path)
    finally:
        EXPERIMENTS._entries.pop("always-broken-for-test")
    assert not result.passed
    assert "boom" in result.error
    write_report([result], tmp_path)
    book = "".join(page.read_text() for page in tmp_path.glob("*.html"))
    assert "FAIL" in book and "boom" in book


def test_a_result_reads_back_from_its_json(tmp_path):
    """The quick tour's workers share results through `result.json` (tests/conftest.py): every
    part of a Result must come back equal, numpy numbers included."""
    import matplotlib.pyplot as plt
    import numpy as np

    from deepnotes.experiments.base import Control, Result

    @EXPERIMENTS.register("every-part-for-test", ExperimentCard("parts", "99. test"))
    def every_part(ctx):
        ctx.figure(plt.figure(), "f.png", "a figure")
        ctx.table("t", ["a", "b"], [[np.float32(0.25), "x"], [np.int64(3), None]])
        ctx.quote(1, "a sentence", "in English")
        ctx.claim("kept", "s", np.float64(0.75), ">", 0.5, Control("shuffled", np.float32(0.5)))
        ctx.claim("nan", "s", float("inf"), "<", 1)
        ctx.derived("d", "s", np.int64(6), "1 + 5")
        ctx.note("a note")

    try:
        result = run_experiment("every-part-for-test", tmp_path)
    finally:
        EXPERIMENTS._entries.pop("every-part-for-test")
    read = Result.from_dict(
        json.loads((tmp_path / "every-part-for-test" / "result.json").read_text())
    )
    assert read == result
    assert isinstance(read.claims[0].control, Control)
    assert type(read.tables[0].rows[0][0]) is float  # a number, not its text
