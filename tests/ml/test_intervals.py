from __future__ import annotations

import numpy as np
import pytest

from ml.intervals import calibrate, coverage, half_widths


def test_the_half_width_is_the_finite_sample_corrected_quantile_of_each_steps_errors() -> None:
    # Step 1 errs by 1..9, step 2 by twice that: at 80 %, rank ceil(10 * 0.8) = 8 of 9.
    errors = np.column_stack([np.arange(1.0, 10.0), -2 * np.arange(1.0, 10.0)])
    assert half_widths(errors, 0.8) == (8.0, 16.0)
    # 95 % needs at least 19 errors: 9 cannot calibrate it.
    assert half_widths(errors, 0.95) is None
    with pytest.raises(ValueError, match="above 0 and below 1"):
        half_widths(errors, 1.0)


def test_coverage_counts_the_pairs_inside_their_steps_interval() -> None:
    truth = np.array([[1.0, 1.0], [2.0, 5.0]])
    forecast = np.array([[1.5, 0.0], [2.0, 2.0]])
    assert coverage(truth, forecast, [0.5, 2.0]) == pytest.approx(0.75)
    assert coverage(np.full((1, 2), np.nan), forecast[:1], [1.0, 1.0]) is None


def test_calibrated_intervals_reach_their_level_on_fresh_errors_and_widen_with_the_step() -> None:
    rng = np.random.default_rng(11)
    scale = np.array([1.0, 2.0, 3.0])  # errors grow with the horizon step

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        forecast = rng.normal(size=(n, 3))
        return forecast + rng.normal(size=(n, 3)) * scale, forecast

    intervals = calibrate(split(2000), split(4000), levels=[0.95, 0.8, 0.8])
    assert [i.level for i in intervals] == [0.8, 0.95]
    for interval in intervals:
        widths = interval.half_widths
        assert widths[0] < widths[1] < widths[2]
        assert interval.coverage is not None and abs(interval.coverage - interval.level) < 0.02
    # A calibration split too small for a level leaves that level out.
    assert [i.level for i in calibrate(split(10), split(100), levels=[0.8, 0.95])] == [0.8]
