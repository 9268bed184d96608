"""A long experiment says where it is: each one whose measured quick-mode time is over a
minute announces its parts (`Context.stage`), so the tour is never silent for minutes."""

from __future__ import annotations

import inspect
import sys

from deepnotes.cli.catalog import quick_timings
from deepnotes.experiments.base import Context
from deepnotes.registry import EXPERIMENTS

LONG = 60  # seconds of quick mode (timings.json) above which an experiment speaks


def test_every_long_experiment_announces_its_parts():
    seconds = quick_timings()[1]
    long = [name for name, s in seconds.items() if s > LONG]
    assert long  # the tour has such experiments today
    for name in long:
        module = sys.modules[EXPERIMENTS.get(name).builder.__module__]
        # a call before each part, or one in the loop over its parts
        assert "ctx.stage(" in inspect.getsource(module), name


def test_a_stage_is_a_line_on_stderr_with_the_time_so_far(tmp_path, capsys):
    ctx = Context("gan-tricks", tmp_path / "gan-tricks", tmp_path)
    ctx.stage("digits")
    assert capsys.readouterr().err == "  gan-tricks: digits (at 0 s)\n"
