"""The figures' shared helpers that compute something: the running mean of a curve."""

from __future__ import annotations

import numpy as np

from deepnotes.figures import running_mean


def test_running_mean_places_each_window_at_its_last_step() -> None:
    steps, means = running_mean([1.0, 2.0, 3.0, 4.0, 6.0], window=2)
    np.testing.assert_array_equal(steps, [2, 3, 4, 5])  # 1-based: the window ending at step t
    np.testing.assert_allclose(means, [1.5, 2.5, 3.5, 5.0])
    steps, means = running_mean([3.0, 1.0, 2.0], window=3)
    np.testing.assert_array_equal(steps, [3])
    np.testing.assert_allclose(means, [2.0])
