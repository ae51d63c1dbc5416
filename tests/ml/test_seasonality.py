"""Seasonality detection: calendar periods, confirmed cycles, non-seasonal series, gaps, degenerate data."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from ml.seasonality import FloatArray, Season, calendar_periods, detect_seasons

HOUR = 3600.0
HALF_HOUR = 1800.0


def ar1(rng: np.random.Generator, n: int, phi: float) -> FloatArray:
    shocks = rng.standard_normal(n)
    out = np.empty(n)
    out[0] = shocks[0]
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def daily_sine(rng: np.random.Generator, days: int, per_day: int = 48) -> FloatArray:
    t = np.arange(days * per_day)
    return np.sin(2 * np.pi * t / per_day) + 0.5 * rng.standard_normal(t.size)


def office_load(rng: np.random.Generator, days: int) -> FloatArray:
    """Hourly: a daily cycle, lower on weekends, plus noise."""
    t = np.arange(days * 24)
    weekend = ((t // 24) % 7 >= 5).astype(np.float64)
    return np.sin(2 * np.pi * t / 24) - 1.0 * weekend + 0.5 * rng.standard_normal(t.size)


def with_gap_runs(rng: np.random.Generator, values: FloatArray, fraction: float) -> FloatArray:
    """``values`` with runs of 1–12 NaN slots until ``fraction`` of them are missing."""
    gappy = values.copy()
    while np.count_nonzero(np.isnan(gappy)) < fraction * gappy.size:
        start = int(rng.integers(0, gappy.size))
        gappy[start : start + int(rng.integers(1, 13))] = np.nan
    return gappy


def names(seasons: list[Season]) -> list[str]:
    return [season.name for season in seasons]


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (60.0, [("daily", 1440), ("weekly", 10080)]),
        (300.0, [("daily", 288), ("weekly", 2016)]),
        (600.0, [("daily", 144), ("weekly", 1008)]),
        (HALF_HOUR, [("daily", 48), ("weekly", 336)]),
        (HOUR, [("daily", 24), ("weekly", 168)]),
        (43_200.0, [("daily", 2), ("weekly", 14)]),
        (86_400.0, [("weekly", 7)]),  # daily would be 1 step
        # Daily is 288.003 steps (within 1 % of a step), weekly 2016.02: unsnapped intervals drift.
        (299.997, [("daily", 288)]),
        (600.5, []),  # daily 143.88, weekly 1007.2 steps
        (420.0, [("weekly", 1440)]),  # 7 min: a day is 205.7 steps, a week exactly 1440
        (660.0, []),
        (172_800.0, []),  # a week is 3.5 two-day steps
        (604_800.0, []),
    ],
)
def test_calendar_periods(interval: float, expected: list[tuple[str, int]]) -> None:
    assert calendar_periods(interval) == expected


@pytest.mark.parametrize("interval", [0.0, -60.0, math.nan, math.inf])
def test_invalid_interval_raises(interval: float) -> None:
    with pytest.raises(ValueError, match="interval_seconds"):
        calendar_periods(interval)
    with pytest.raises(ValueError, match="interval_seconds"):
        detect_seasons(np.zeros(10), interval)


@pytest.mark.parametrize("kwargs", [{"min_cycles": 1}, {"max_points": 0}], ids=["min_cycles", "max_points"])
def test_invalid_arguments_raise(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        detect_seasons(daily_sine(np.random.default_rng(0), 10), HALF_HOUR, **kwargs)


def test_two_dimensional_values_raise() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        detect_seasons(np.zeros((48, 10)), HALF_HOUR)


def test_daily_sine_at_half_hour_is_daily_48() -> None:
    seasons = detect_seasons(daily_sine(np.random.default_rng(1), days=30), HALF_HOUR)

    assert [(s.name, s.period) for s in seasons] == [("daily", 48)]
    # Signal variance 0.5 against noise 0.25: the lag-48 autocorrelation is about 2/3.
    assert seasons[0].strength == pytest.approx(2 / 3, abs=0.1)


def test_weekend_pattern_over_four_weeks_adds_weekly() -> None:
    seasons = detect_seasons(office_load(np.random.default_rng(2), days=28), HOUR)

    assert sorted((s.name, s.period) for s in seasons) == [("daily", 24), ("weekly", 168)]
    assert [s.strength for s in seasons] == sorted((s.strength for s in seasons), reverse=True)


def test_weekly_needs_three_weeks() -> None:
    seasons = detect_seasons(office_load(np.random.default_rng(2), days=20), HOUR)

    assert names(seasons) == ["daily"]


def test_daily_cycle_alone_is_not_weekly() -> None:
    # A daily cycle repeats at 7 days, but no better than at 6 or 8 days.
    t = np.arange(24 * 7 * 8)
    values = np.sin(2 * np.pi * t / 24) + 0.5 * np.random.default_rng(3).standard_normal(t.size)

    assert names(detect_seasons(values, HOUR)) == ["daily"]


def test_temperature_like_series_is_daily_24() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(60 * 24)
    values = 12 + 4 * np.sin(2 * np.pi * (t - 9) / 24) + 0.02 * t + ar1(rng, t.size, 0.8)

    assert [(s.name, s.period) for s in detect_seasons(values, HOUR)] == [("daily", 24)]


def test_narrow_daily_pulse_is_daily() -> None:
    t = np.arange(30 * 48)
    values = 3.0 * (t % 48 == 24) + 0.5 * np.random.default_rng(5).standard_normal(t.size)

    assert names(detect_seasons(values, HALF_HOUR)) == ["daily"]


@pytest.mark.parametrize(
    "kind", ["white noise", "random walk", "AR(1) 0.95", "linear trend + noise", "exact linear trend"]
)
def test_non_seasonal_series_detect_nothing(kind: str) -> None:
    rng = np.random.default_rng(6)
    n = 20 * 168
    makers: dict[str, Callable[[], npt.ArrayLike]] = {
        "white noise": lambda: rng.standard_normal(n),
        "random walk": lambda: np.cumsum(rng.standard_normal(n)),
        "AR(1) 0.95": lambda: ar1(rng, n, 0.95),
        "linear trend + noise": lambda: 0.01 * np.arange(n) + rng.standard_normal(n),
        "exact linear trend": lambda: 5.0 + 0.25 * np.arange(n),
    }
    series = makers[kind]()

    assert detect_seasons(series, HOUR) == []


def test_gap_runs_do_not_hide_the_daily_cycle() -> None:
    rng = np.random.default_rng(7)
    values = daily_sine(rng, days=30)
    gappy = with_gap_runs(rng, values, 0.10)
    assert 0.10 <= np.count_nonzero(np.isnan(gappy)) / gappy.size < 0.15

    [full] = detect_seasons(values, HALF_HOUR)
    [season] = detect_seasons(gappy, HALF_HOUR)

    assert (season.name, season.period) == ("daily", 48)
    assert season.strength == pytest.approx(full.strength, abs=0.05)


def test_infinities_count_as_gaps() -> None:
    values = daily_sine(np.random.default_rng(8), days=30)
    values[::97] = np.inf

    assert names(detect_seasons(values, HALF_HOUR)) == ["daily"]


def test_too_few_cycles_detect_nothing() -> None:
    clean = np.sin(2 * np.pi * np.arange(10 * 48) / 48)

    assert detect_seasons(clean[: 5 * 24], HALF_HOUR) == []  # 2.5 days
    assert detect_seasons(clean, HALF_HOUR, min_cycles=11) == []
    assert names(detect_seasons(clean, HALF_HOUR, min_cycles=10)) == ["daily"]


def test_only_the_newest_max_points_count() -> None:
    rng = np.random.default_rng(9)
    values = np.concatenate([daily_sine(rng, days=30), rng.standard_normal(20 * 48)])

    assert names(detect_seasons(values, HALF_HOUR)) == ["daily"]
    assert detect_seasons(values, HALF_HOUR, max_points=20 * 48) == []


def test_one_minute_data_at_max_points() -> None:
    t = np.arange(60_000)
    values = np.sin(2 * np.pi * t / 1440) + np.random.default_rng(10).standard_normal(t.size)

    assert [(s.name, s.period) for s in detect_seasons(values, 60.0)] == [("daily", 1440)]


@pytest.mark.parametrize(
    "values",
    [
        np.full(30 * 48, 21.5),
        np.where(np.arange(30 * 48) % 7 == 0, np.nan, 21.5),
        np.zeros(30 * 48),
        np.full(30 * 48, np.nan),
        np.array([], dtype=np.float64),
    ],
    ids=["constant", "constant with gaps", "zeros", "all NaN", "empty"],
)
def test_degenerate_series_detect_nothing(values: FloatArray) -> None:
    assert detect_seasons(values, HALF_HOUR) == []


def test_seattle_hourly_temperatures_are_daily_24() -> None:
    vega = pytest.importorskip("vega_datasets")
    temps = vega.data.seattle_temps()["temp"].to_numpy(dtype=np.float64)

    assert [(s.name, s.period) for s in detect_seasons(temps, HOUR)] == [("daily", 24)]
