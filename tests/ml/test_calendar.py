"""Calendar channels: which a series gets, and their values at known times."""

from __future__ import annotations

import numpy as np
import pytest

from ml.calendar import calendar_channels, calendar_features
from ml.windows import make_windows

MONDAY_NOON = 1_796_601_600.0 + 12 * 3600.0  # 2026-12-07 12:00 UTC, a Monday


def test_the_interval_decides_the_channels() -> None:
    assert calendar_channels(1800.0) == (
        "time_of_day_sin",
        "time_of_day_cos",
        "day_of_week_sin",
        "day_of_week_cos",
    )
    assert calendar_channels(86_400.0) == ("day_of_week_sin", "day_of_week_cos")
    # 7 minutes is no whole fraction of a day but is of a week; 1,000 s is of neither; a week is not
    # two steps of itself.
    assert calendar_channels(420.0) == ("day_of_week_sin", "day_of_week_cos")
    assert calendar_channels(1000.0) == ()
    assert calendar_channels(604_800.0) == ()


def test_a_period_the_training_data_does_not_span_three_times_gets_no_channels() -> None:
    day, week = 86_400.0, 604_800.0
    assert calendar_channels(1800.0, training_seconds=3 * day - 1) == ()
    assert calendar_channels(1800.0, training_seconds=3 * day) == ("time_of_day_sin", "time_of_day_cos")
    assert len(calendar_channels(1800.0, training_seconds=3 * week)) == 4


def test_phases_at_known_times() -> None:
    channels = calendar_channels(3600.0)
    noon, midnight = calendar_features([MONDAY_NOON, MONDAY_NOON - 12 * 3600.0], channels)
    # Noon is half a day round: sin 0, cos -1; Monday 00:00 starts the week: sin 0, cos 1.
    np.testing.assert_allclose(noon[:2], [0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(midnight, [0.0, 1.0, 0.0, 1.0], atol=1e-12)
    # Each pair is a point on the unit circle, so no two times of day share both values.
    hours = calendar_features(MONDAY_NOON + 3600.0 * np.arange(24), channels)
    np.testing.assert_allclose(hours[:, 0] ** 2 + hours[:, 1] ** 2, 1.0)
    assert len({(round(a, 9), round(b, 9)) for a, b in hours[:, :2]}) == 24


def test_bad_channels_and_times_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown calendar channel"):
        calendar_features([0.0], ("moon_phase",))
    with pytest.raises(ValueError, match="finite"):
        calendar_features([np.nan], ("time_of_day_sin",))


def test_windows_carry_the_channels_of_their_own_steps() -> None:
    z = np.arange(10.0)
    z[4] = np.nan  # the gap drops windows; the channels must follow the windows that remain
    extra = np.stack([np.arange(10.0) * 10, np.arange(10.0) * 100], axis=1)
    x, _, last = make_windows(z, 2, 1, delta=True, covariates=extra)
    assert x.shape == (len(last), 2, 3)
    starts = [0, 1, 5, 6, 7]
    np.testing.assert_array_equal(x[:, :, 1], [[10 * s, 10 * (s + 1)] for s in starts])
    np.testing.assert_array_equal(x[:, :, 2], [[100 * s, 100 * (s + 1)] for s in starts])
    with pytest.raises(ValueError, match="one row per point"):
        make_windows(z, 2, 1, delta=True, covariates=extra[:5])
