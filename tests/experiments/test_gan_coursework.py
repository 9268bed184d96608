"""The GAN coursework's statistics: the paired interval, the verdicts, the ranking's effect."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepnotes.experiments.gan_coursework import (
    BASELINE,
    HELPS,
    HURTS,
    NO_EFFECT,
    RING_METRICS,
    Bed,
    Interval,
    Metric,
    later_half_mean,
    paired_interval,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_paired_interval_is_scipys_paired_t_interval(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    baseline = rng.normal(0, 1, n)
    trick = baseline + rng.normal(0.3, 0.5, n)
    interval = paired_interval(list(trick), list(baseline))
    expected = stats.ttest_rel(trick, baseline).confidence_interval(0.95)
    # the same formula computed two ways: float64 rounding only
    assert interval.low == pytest.approx(expected.low, rel=1e-9)
    assert interval.high == pytest.approx(expected.high, rel=1e-9)
    assert interval.mean == pytest.approx(np.mean(trick - baseline), rel=1e-12)


def test_pairing_removes_what_the_seeds_share():
    """A trick that adds 0.1 to every seed's score is a sure help, however much the seeds
    differ among themselves; unpaired, the seeds' spread would hide it."""
    baseline = [0.1, 0.9, 0.4, 0.6, 0.2]
    trick = [b + 0.1 + e for b, e in zip(baseline, [0.01, -0.01, 0.02, 0.0, -0.02], strict=True)]
    interval = paired_interval(trick, baseline)
    assert interval.verdict(higher_is_better=True) == HELPS
    assert interval.low > 0.05
    unpaired = stats.ttest_ind(trick, baseline).confidence_interval(0.95)
    assert unpaired.low < 0 < unpaired.high  # the seeds' spread swamps 0.1 without pairing


@pytest.mark.parametrize(
    ("interval", "higher_is_better", "verdict", "outside"),
    [
        (Interval(0.5, 0.2, 0.8), True, HELPS, True),
        (Interval(0.5, 0.2, 0.8), False, HURTS, True),
        (Interval(-0.5, -0.8, -0.2), True, HURTS, True),
        (Interval(-0.5, -0.8, -0.2), False, HELPS, True),
        (Interval(0.1, -0.2, 0.4), True, NO_EFFECT, False),
        (Interval(-0.1, -0.4, 0.2), False, NO_EFFECT, False),
        (Interval(0.0, 0.0, 0.0), True, NO_EFFECT, False),  # every difference 0
        (Interval(0.1, 0.1, 0.1), True, HELPS, True),  # every difference +0.1
    ],
)
def test_verdicts_follow_which_side_of_zero_the_interval_lies(
    interval, higher_is_better, verdict, outside
):
    assert interval.verdict(higher_is_better) == verdict
    assert (interval.reach() > 1) == outside  # the claims' |mean| / half-width


def test_the_effect_is_a_share_of_the_scale_or_of_the_baselines_mean():
    quality = RING_METRICS[0]
    ring = Bed(
        "ring", (quality,), {BASELINE: {quality.key: [0.2, 0.4]}, "t": {quality.key: [0.3, 0.5]}}
    )
    assert ring.effect("t") == pytest.approx(0.1)  # 10 points of the samples gained
    fid = Metric("fid", "FID", False, None)
    digits = Bed("digits", (fid,), {BASELINE: {"fid": [4.0, 6.0]}, "t": {"fid": [3.0, 4.0]}})
    assert digits.effect("t") == pytest.approx(1.5 / 5.0)  # 30% of the baseline's FID removed
    assert digits.verdict("t") == NO_EFFECT  # two seeds: t₀.₉₇₅,₁ = 12.7, far too wide


def test_a_runs_score_is_its_mean_over_the_second_half_of_training():
    history = [
        {"step": step, "val_modes": modes}
        for step, modes in [(50, 1), (100, 3), (150, 5), (200, 7)]
    ]
    assert later_half_mean(history, "modes", steps=200) == 6.0  # steps 150 and 200 only
    assert later_half_mean(history, "modes", steps=100) == 5.0  # step 50 excluded: not > 50
