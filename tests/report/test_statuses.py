"""A section whose data are missing says "skipped" with the reason, counted apart from the
passes, on its page, in the index's header and in summary.json."""

from __future__ import annotations

import json
from pathlib import Path

from deepnotes.experiments.base import Claim, Result
from deepnotes.report import write_report

REASON = "The Free Spoken Digit Dataset was not found under the data roots"


def results() -> list[Result]:
    claim = Claim("frames-equal-stft", "frames equal the STFT", 0.0, "<=", 1e-9, True)
    speech = Result("speech", "Speech", "8. Sequence models", "quick", claims=[claim])
    speech.skipped.append(REASON)
    conv = Result("conv-arithmetic", "Conv", "2. Convolution arithmetic", "quick", claims=[claim])
    return [speech, conv]


def test_a_skipped_section_is_not_shown_as_a_pass(tmp_path: Path) -> None:
    speech, conv = results()
    assert (speech.status, conv.status) == ("skipped", "passed")
    write_report([speech, conv], tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert "1 partly skipped (data missing)" in index
    assert '<span class="skip">skipped</span>' in index  # beside the speech entry
    page = next(tmp_path.glob("topic-8-*.html")).read_text()
    section = page.split('<section id="speech">', 1)[1].split("</section>", 1)[0]
    meta = section.split('<p class="meta">', 1)[1].split("</p>", 1)[0]  # the verdict's line
    assert meta.endswith('<span class="skip">skipped</span>')
    assert f"Skipped: {REASON}" in section
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["experiments_skipped"] == ["speech"]
    statuses = {e["name"]: e["status"] for e in summary["experiments"]}
    assert statuses == {"speech": "skipped", "conv-arithmetic": "passed"}


def test_a_result_read_back_keeps_what_was_skipped() -> None:
    speech = results()[0]
    again = Result.from_dict(json.loads(json.dumps(speech.to_dict())))
    assert again.skipped == [REASON] and again.status == "skipped"
