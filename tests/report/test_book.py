"""The course book built from the quick tour, opened in headless Chromium: every page loads
with no error and no missing image and fits a phone's width; the search finds claims; the
interactive figures compute what the package computes; every section is a lesson; the
folder still works zipped and moved."""

from __future__ import annotations

import json
import re
import shutil
from html import escape
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from browser import PHONE_WIDTH, check_page, page_widths
from conv_settings import CONV_SETTINGS, arith_answer
from deepnotes import arith
from deepnotes.data.base import fit_images
from deepnotes.experiments.base import Result
from deepnotes.registry import EXPERIMENTS
from deepnotes.report import write_report
from deepnotes.report.book import topic_pages
from deepnotes.report.html import anchor
from deepnotes.train.runs import load_trained


@pytest.fixture(scope="module")
def book(quick_tour, tmp_path_factory):
    """The book of the quick tour, written into a copy of the tour's experiment folders
    (figures and runs as the tour wrote them; not a book another test may be writing there)."""
    tour, by_name = quick_tour
    out = tmp_path_factory.mktemp("book")
    for name in by_name:
        shutil.copytree(tour / name, out / name, ignore=shutil.ignore_patterns(".*.tmp"))
    write_report(list(by_name.values()), out)
    return out, by_name


def pages_of(out: Path) -> list[Path]:
    return sorted(out.glob("*.html"))


def page_of(by_name: dict, experiment: str) -> str:
    """The file name of the topic page that holds `experiment`'s section."""
    pages = topic_pages(list(by_name.values()))
    return next(p.file for p in pages if experiment in [r.name for r in p.results])


def test_every_page_loads_without_errors_and_fits_a_phone(book, chromium):
    out, by_name = book
    pages = pages_of(out)
    expected = {page.file for page in topic_pages(list(by_name.values()))}
    assert expected | {"index.html", "models.html", "reference.html"} == {p.name for p in pages}
    figures_seen = 0
    for page in pages:
        report, stderr = check_page(page, chromium)
        assert report["problems"] == [], page.name
        assert "Uncaught" not in stderr, page.name
        figures_seen += report["images"]
    assert figures_seen == sum(len(r.figures) for r in by_name.values())
    widths = page_widths(pages, chromium, PHONE_WIDTH)
    assert sorted(widths) == sorted(page.name for page in pages)
    overflowing = {name: page for name, (window, page) in widths.items() if page > window}
    assert [window for window, _ in widths.values()] == [PHONE_WIDTH] * len(pages)
    assert not overflowing, f"wider than a phone: {overflowing}"


def test_dark_mode_follows_the_system(book, chromium):
    """On a dark system the page and its code are light on dark; on a light one, the reverse."""
    out, by_name = book
    script = """
      const luminance = (element, property) => {
        const [r, g, b] = getComputedStyle(element)[property].match(/\\d+/g).map(Number);
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
      };
      const code = document.querySelector(".code pre");
      return [luminance(document.body, "backgroundColor"), luminance(document.body, "color"),
              luminance(code, "backgroundColor")];
    """
    page = out / page_of(by_name, "conv-arithmetic")
    light, _ = check_page(page, chromium, script)
    dark, _ = check_page(page, chromium, script, dark=True)
    assert light["problems"] == dark["problems"] == []
    assert min(light["result"][0], light["result"][2]) > 0.8 > 0.3 > light["result"][1]
    assert max(dark["result"][0], dark["result"][2]) < 0.3 < 0.8 < dark["result"][1]


def test_a_book_rewritten_in_its_folder_keeps_no_stale_topic(tmp_path):
    """Each page of the rewritten book is one of its topics; the earlier book's other
    topic is gone, so no page links to it."""

    def result(name: str) -> Result:
        card = EXPERIMENTS.card(name)
        return Result(name=name, title=card.title, topic=card.topic, mode="quick")

    write_report([result("conv-arithmetic"), result("batchnorm")], tmp_path)
    assert len(list(tmp_path.glob("topic-*.html"))) == 2
    write_report([result("batchnorm")], tmp_path)
    (page,) = topic_pages([result("batchnorm")])
    assert sorted(p.name for p in tmp_path.glob("*.html")) == sorted(
        ["index.html", "models.html", "reference.html", page.file]
    )


def test_a_rerun_section_joins_the_book_in_its_folder(tmp_path, capsys):
    """`deepnotes run B` into a folder that holds A's results (the command a section prints,
    run in the tour's folder) updates the book: A's section stays."""
    from deepnotes.cli import main

    assert main(["run", "conv-arithmetic", "--out", str(tmp_path)]) == 0
    assert main(["run", "weight-sharing", "--out", str(tmp_path)]) == 0
    assert "4 of 4 claims pass" in capsys.readouterr().out.splitlines()[-1]  # this run's
    index = (tmp_path / "index.html").read_text()
    for name in ("conv-arithmetic", "weight-sharing"):
        assert f"#{anchor(name)}" in index
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [e["name"] for e in summary["experiments"]] == ["conv-arithmetic", "weight-sharing"]


def test_the_browser_check_sees_a_missing_image(tmp_path, chromium):
    """The check itself can fail: a page with a missing image is caught."""
    page = tmp_path / "index.html"
    page.write_text('<!doctype html><html><head></head><body><img src="gone.png"></body></html>')
    report, _ = check_page(page, chromium)
    assert any("gone.png" in problem for problem in report["problems"])


def test_the_phone_check_sees_an_overflow(tmp_path, chromium):
    """The width check can fail: a page wider than the phone is caught."""
    for name, width in (("wide.html", 600), ("narrow.html", 300)):
        (tmp_path / name).write_text(
            '<!doctype html><html><head><meta name="viewport" content="width=device-width">'
            f'</head><body><div style="width: {width}px">x</div></body></html>'
        )
    widths = page_widths(sorted(tmp_path.glob("*.html")), chromium, PHONE_WIDTH)
    assert widths["wide.html"][1] > PHONE_WIDTH
    assert widths["narrow.html"][1] <= PHONE_WIDTH


def test_every_section_is_a_lesson(book):
    """For every registered experiment: the notes' sentences with their lines (and the
    English of a Chinese one), a code excerpt
    read from the source with its file:line (the line holds the excerpt's definition), and
    the command that reproduces the section."""
    out, by_name = book
    root = Path(arith.__file__).resolve().parents[1]  # holds the deepnotes package
    for name in EXPERIMENTS.names():
        html = (out / page_of(by_name, name)).read_text()
        section = re.search(rf'<section id="{anchor(name)}">(.*?)</section>', html, re.S)
        assert section, name
        text = section.group(1)
        assert re.search(r'<blockquote class="notes.*?the notes, line \d+</cite>', text), name
        for quote in by_name[name].quotes:  # a Chinese passage as written, English beside it
            assert f"“{escape(quote.text)}”" in text
            chinese = re.search(r"[\u4e00-\u9fff]", quote.text) is not None
            assert quote.english is not None or not chinese, (name, quote.line)
            assert quote.english is None or f'"en">{escape(quote.english)}</p>' in text
        wheres = re.findall(r'<span class="where">([\w/.-]+\.py):(\d+)</span>', text)
        assert wheres, f"{name} shows no code excerpt"
        for file, line in wheres:
            defined = (root / file).read_text().splitlines()[int(line) - 1]
            assert re.match(r"\s*(@|def |class )", defined), (name, file, line)
        assert f"deepnotes run {name} --quick --seed 0" in text, name


def test_search_finds_a_claim_by_a_word_of_its_statement(book, chromium):
    """Type the rarest word of each of a few claims' statements into the search box: the
    claim's row is among the results; a function's name finds it on the reference page."""
    out, _ = book
    entries = json.loads((out / "search-index.json").read_text())
    claims = [e for e in entries if e["kind"] == "claim"]

    def matches(word: str) -> int:
        return sum(word in f"{e['kind']} {e['title']} {e['text']}".lower() for e in entries)

    chosen = claims[:: max(1, len(claims) // 5)][:5]
    queries = [("conv_output_size", "reference.html#api-deepnotes-arith-conv-output-size")]
    for claim in chosen:
        words = re.findall(r"[a-z]{5,}", claim["text"].lower())
        queries.append((min(words, key=matches), claim["url"]))
    script = (
        f"const words = {json.dumps([word for word, _ in queries])};"
        + """
      const input = document.getElementById("search");
      return words.map((word) => {
        input.value = word;
        input.dispatchEvent(new Event("input"));
        return [...document.querySelectorAll("#search-results a")]
          .map((a) => a.getAttribute("href"));
      });
    """
    )
    report, _ = check_page(out / "index.html", chromium, script)
    assert report["problems"] == []
    for (word, url), found in zip(queries, report["result"], strict=True):
        assert url in found, (word, url)
    assert len(chosen) == 5


def test_conv_explorer_on_the_book_page_computes_arith(book, chromium):
    """The explorer as the book holds it, on 260 valid settings and 39 invalid ones of those
    that `tests/report/test_explorers.py` tries in full: arith's size, or its error message."""
    out, by_name = book
    valid = [setting for setting in CONV_SETTINGS if arith_answer(setting)[0] is not None]
    settings = valid[::8] + CONV_SETTINGS[::500]
    script = (
        f"const settings = {json.dumps(settings)};"
        + """
      const rendered = document.querySelectorAll('.explorer[data-explorer="conv"] input').length;
      const conv = window.deepnotes.conv;
      return {rendered, answers: settings.map((s) => [conv.outputSize(s), conv.check(s).error])};
    """
    )
    report, _ = check_page(out / page_of(by_name, "conv-arithmetic"), chromium, script)
    assert report["problems"] == []
    assert report["result"]["rendered"] > 0
    expected = [arith_answer(setting) for setting in settings]
    assert sum(size is not None for size, _ in expected) >= 200
    assert [tuple(answer) for answer in report["result"]["answers"]] == expected


def test_draw_a_digit_forward_pass_equals_pytorch(book, chromium):
    """The page's LeNet, from the exported weights, on the first 100 digits of the run's test
    split, given as the data set holds them (8×8, as drawn): upsampled, standardised and
    classified in JavaScript, against the same steps in PyTorch (`fit_images`, the training
    standardisation, the trained model)."""
    out, by_name = book
    model, _, bundle, _ = load_trained(out / "lenet-digits" / "lenet5_relu")
    mean, std = bundle.info["mean"][0], bundle.info["std"][0]
    raw = torch.tensor(load_digits().images / 16.0, dtype=torch.float32)[:, None]  # (N,1,8,8)
    every = (fit_images(raw, (28, 28), 1) - mean) / std  # as the bundle prepared them
    test_images, _ = bundle.splits["test"].tensors
    test_images = test_images[:100]
    distances = torch.cdist(
        test_images.flatten(1), every.flatten(1), compute_mode="donot_use_mm_for_euclid_dist"
    )
    nearest = distances.min(dim=1)
    assert nearest.values.max() == 0  # each test image is one of the digits, as prepared
    pixels = raw[nearest.indices, 0].double()  # (100, 8, 8)
    script = (
        f"const digits = {json.dumps(pixels.tolist())};"
        + """
      const rendered = document.querySelectorAll('.explorer[data-explorer="digit"] canvas').length;
      const logits = digits.map((p) => window.deepnotes.digit.classify8x8(p.flat()).logits);
      return {rendered, logits};
    """
    )
    report, _ = check_page(out / page_of(by_name, "lenet-digits"), chromium, script)
    assert report["problems"] == []
    assert report["result"]["rendered"] > 0
    with torch.no_grad():
        expected = model((fit_images(pixels.float()[:, None], (28, 28), 1) - mean) / std)
    got = np.array(report["result"]["logits"])
    # float64 in the page against float32 in torch: 6.5e-6 apart at most on logits up to 28
    # (float32 rounding over sums of 400 products); 1e-4, the bound, is 15 times that
    assert np.abs(got - expected.double().numpy()).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1).numpy()).all()


def test_draw_a_digit_reads_what_is_drawn(book, chromium):
    """The pad's ink as the data set's 8×8 pixels (a bar as tall as the pad and half as wide
    fills the middle four columns of the 32×32 bitmap), LeNet's answer after a stroke, the
    prompt again after Clear, and a test digit from the button, shown on the pad."""
    out, by_name = book
    script = """
      const figure = document.querySelector('.explorer[data-explorer="digit"]');
      const pad = figure.querySelector(".digit-pad");
      const answer = () => figure.querySelector(".digit-answer").textContent;
      const blank = window.deepnotes.digit.digitPixels(pad);
      const context = pad.getContext("2d");
      context.fillStyle = "#000";
      context.fillRect(70, 0, 140, 280);
      const bar = Array.from(window.deepnotes.digit.digitPixels(pad));
      const at = {clientX: 0, clientY: 0, pointerId: 1, bubbles: true};
      const box = pad.getBoundingClientRect();
      for (const [type, x, y] of [["pointerdown", 0.5, 0.1], ["pointermove", 0.5, 0.9],
                                  ["pointerup", 0.5, 0.9]]) {
        pad.dispatchEvent(new PointerEvent(type, {...at, clientX: box.left + x * box.width,
                                                  clientY: box.top + y * box.height}));
      }
      const afterStroke = answer();
      const bars = figure.querySelectorAll(".digit-bar").length;
      figure.querySelector(".digit-clear").click();
      const afterClear = [answer(), figure.querySelectorAll(".digit-bar").length];
      figure.querySelector(".digit-example").click();
      const shown = window.deepnotes.digit.digitPixels(pad) !== null;  // the test digit's ink
      return {blank, bar, afterStroke, bars, afterClear, example: answer(), shown};
    """
    report, _ = check_page(out / page_of(by_name, "lenet-digits"), chromium, script)
    assert report["problems"] == []
    result = report["result"]
    assert result["blank"] is None
    columns = np.array(result["bar"]).reshape(8, 8).mean(axis=0)
    assert columns.tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    assert re.fullmatch(r"LeNet reads: \d", result["afterStroke"]) and result["bars"] == 10
    assert result["afterClear"] == ["Draw a digit (0–9), large, in the square.", 0]
    assert re.fullmatch(
        r"LeNet reads: \d \(a test digit \d, drawn by a person\)", result["example"]
    )
    assert result["shown"]


def test_the_book_moves_and_zips(book, tmp_path, chromium):
    """Zipped, unzipped elsewhere: the pages load, their images and scripts found."""
    out, _ = book
    archive = shutil.make_archive(str(tmp_path / "book"), "zip", out)
    moved = tmp_path / "moved"
    shutil.unpack_archive(archive, moved)
    for name in ("index.html", next(p.name for p in pages_of(moved) if "architectures" in p.name)):
        report, _ = check_page(moved / name, chromium)
        assert report["problems"] == [], name
    for page in pages_of(moved):
        assert not re.search(r'(src|href)="(https?:|/|file:)', page.read_text()), page.name
