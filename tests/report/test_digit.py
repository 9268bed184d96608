"""The LeNet export that draw-a-digit runs (`deepnotes.report.digit`), without a browser:
exact float32 values, layers the page cannot run refused, a run that cannot be read left
out with its reason. `tests/report/test_book.py` runs the exported network in Chromium."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepnotes.experiments.base import Result
from deepnotes.registry import EXPERIMENTS
from deepnotes.report import write_report
from deepnotes.report.book import topic_pages
from deepnotes.report.digit import export_lenet, layer_spec, numbers


def test_exported_numbers_give_back_the_same_float32():
    weights = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.tensor(numbers(weights), dtype=torch.float32), weights)


def test_the_export_reads_lenets_layers():
    conv = layer_spec(nn.Conv2d(1, 6, 5, padding=2))
    assert (conv["kernel"], conv["padding"], len(conv["weight"]), len(conv["bias"])) == (
        5,
        2,
        6 * 1 * 5 * 5,
        6,
    )
    assert layer_spec(nn.MaxPool2d(2, 2)) == {"type": "maxpool", "kernel": 2, "stride": 2}
    assert layer_spec(nn.Linear(400, 120))["inFeatures"] == 400


@pytest.mark.parametrize(
    "layer",
    [
        nn.Conv2d(1, 2, 3, stride=2),
        nn.Conv2d(1, 2, (3, 5)),  # not square
        nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"),
        nn.Conv2d(1, 2, 3, bias=False),
        nn.Linear(4, 2, bias=False),
        nn.MaxPool2d(3, 2, padding=1),
        nn.AvgPool2d(2, ceil_mode=True),
        nn.Tanh(),
    ],
)
def test_the_export_refuses_what_the_page_cannot_run(layer):
    with pytest.raises(ValueError, match="draw-a-digit"):
        layer_spec(layer)


def test_a_missing_run_leaves_the_figure_out_with_its_reason(tmp_path):
    """No trained LeNet in the folder: no stale weights left behind, and the section says why
    instead of the figure."""
    stale = tmp_path / "assets" / "lenet-weights.js"
    stale.parent.mkdir()
    stale.write_text("window.deepnotes.lenetWeights = {};")
    assert "could not be read" in export_lenet(tmp_path)
    assert not stale.exists()
    card = EXPERIMENTS.card("lenet-digits")
    result = Result(name="lenet-digits", title=card.title, topic=card.topic, mode="quick")
    write_report([result], tmp_path)
    (page,) = topic_pages([result])
    html = (tmp_path / page.file).read_text()
    assert "The interactive figure is left out" in html
    assert 'data-explorer="digit"' not in html
