"""Faults: each planted mistake turns the claims it targets red, and leaves the code as it was.

A claim is evidence only if a wrong implementation would have turned it red. For every
registered fault, the quick mode of each experiment it targets runs with the fault
planted; each targeted claim must be red there and green in the same run without it
(the session's quick tour).
"""

from __future__ import annotations

import importlib
import json

import pytest

from deepnotes.cli import main
from deepnotes.experiments.base import run_experiment, targeted
from deepnotes.registry import FAULTS


def fault_cases() -> list:
    """Every fault; those whose experiments are long even in quick mode marked `slow`."""
    return [
        pytest.param(name, marks=[pytest.mark.slow] if FAULTS.card(name).slow else [])
        for name in FAULTS.names()
    ]


def resolve(dotted: str) -> tuple[object, str]:
    """`deepnotes.nn.activations._SigmoidRule.backward` → (the class, "backward")."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1]
    raise AssertionError(f"{dotted} names no module")


@pytest.mark.parametrize("fault", fault_cases())
def test_a_fault_turns_the_claims_it_targets_red(fault, quick_tour, tmp_path):
    _, clean = quick_tour
    card = FAULTS.card(fault)
    assert card.targets, f"{fault} targets no claim"
    for experiment in card.experiments:
        faulted = run_experiment(
            experiment, tmp_path, quick=True, seed=0, fault=fault, stop_after_targets=True
        )
        assert faulted.error is None, faulted.error
        red = {c.id for c in faulted.claims if not c.passed}
        green = {c.id for c in clean[experiment].claims if c.passed}
        for claim in targeted(faulted):
            assert claim in green, f"{experiment}/{claim} is not green without {fault}"
            assert claim in red, f"{fault} left {experiment}/{claim} green"


@pytest.mark.parametrize("fault", FAULTS.names())
def test_a_fault_replaces_what_it_says_and_puts_it_back(fault):
    owner, name = resolve(FAULTS.card(fault).replaces)
    original = getattr(owner, name)
    with FAULTS.create(fault):
        assert getattr(owner, name) is not original
    assert getattr(owner, name) is original


def test_every_target_names_a_claim_of_the_tour(quick_tour):
    _, clean = quick_tour
    claims = {f"{name}/{c.id}" for name, result in clean.items() for c in result.claims}
    missing = [(e.name, t) for e in FAULTS for t in e.card.targets if t not in claims]
    assert not missing


def test_enough_faults_and_most_run_in_the_default_suite():
    fast = [name for name in FAULTS.names() if not FAULTS.card(name).slow]
    assert len(FAULTS) >= 25
    assert len(fast) >= 15


def test_nine_claims_in_ten_can_be_turned_red(quick_tour):
    """Every claim should be targeted by a fault or carry a control that must fail; the few
    left are listed in benchmarks/CLAIMS.md. A claim added without either lowers the share."""
    _, clean = quick_tour
    targets = {t for e in FAULTS for t in e.card.targets}
    claims = [(name, c) for name, result in clean.items() for c in result.claims]
    can_fail = [c for name, c in claims if f"{name}/{c.id}" in targets or c.control is not None]
    assert len(can_fail) >= 0.9 * len(claims), f"{len(can_fail)} of {len(claims)}"


def test_faults_are_listed_and_planted_from_the_command_line(capsys, tmp_path):
    assert main(["faults", "--json"]) == 0
    listed = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(FAULTS.names())
    fault = "sigmoid-derivative-without-one-minus"
    assert listed[fault]["targets"] == list(FAULTS.card(fault).targets)
    out = tmp_path / "report"
    assert main(["run", "activations", "--fault", fault, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"fault {fault}: 2 of 2 claims it targets here turned red" in printed
    book = "".join(page.read_text() for page in out.glob("*.html"))
    assert "Faulted run" in book and "stayed green" not in book
    # a fault that targets nothing in this experiment catches nothing: exit 1
    assert main(["run", "activations", "--fault", "attention-without-scale", "--out", str(out)])
    assert main(["run", "activations", "--fault", "no-such-fault"]) == 2
    assert "unknown fault 'no-such-fault'" in capsys.readouterr().err


def test_a_faulted_run_may_stop_once_its_targets_are_measured(tmp_path):
    """The faults' test ends a faulted run after its targeted claims: the claims it keeps are
    the whole run's first ones, with the same verdicts, ending at a target, and it says so."""
    fault, experiment = "transposed-padding-as-convolution", "transposed-conv"
    whole = run_experiment(experiment, tmp_path / "whole", fault=fault)
    stopped = run_experiment(experiment, tmp_path / "stopped", fault=fault, stop_after_targets=True)
    verdicts = [(c.id, c.passed) for c in stopped.claims]
    assert verdicts == [(c.id, c.passed) for c in whole.claims][: len(verdicts)]
    assert len(verdicts) < len(whole.claims)  # 5 of its 8 claims: the last 3 skipped
    assert set(targeted(stopped)) <= {c.id for c in stopped.claims}
    assert stopped.claims[-1].id in targeted(stopped)
    assert stopped.error is None and "Stopped once" in stopped.notes[-1]
