"""The lookback a model gets when it leaves it unset: the longest season the data allows."""

from __future__ import annotations

import numpy as np

from ml.lookback import BASE_LOOKBACK, MAX_AUTO_LOOKBACK, choose_lookback
from ml.series import Regular, regularize

HOUR = 3600.0


def seasonal(points: int, interval: float, *, weekly: bool, seed: int = 0) -> Regular:
    rng = np.random.default_rng(seed)
    t = interval * np.arange(points)
    daily = np.sin(2 * np.pi * t / 86_400.0)
    week = 2.0 * (np.floor(t / 86_400.0) % 7 >= 5) if weekly else 0.0
    return regularize(1_796_601_600.0 + t, 10 + 3 * daily + week + rng.normal(0, 0.3, points))


def test_an_hourly_series_with_a_weekly_pattern_gets_a_week() -> None:
    choice = choose_lookback(
        seasonal(24 * 7 * 16, HOUR, weekly=True), horizon=12, validation_ratio=0.15, test_ratio=0.15
    )
    assert choice.steps == 168 and "weekly" in choice.reason


def test_a_daily_season_shorter_than_the_base_keeps_the_base() -> None:
    choice = choose_lookback(
        seasonal(24 * 60, HOUR, weekly=False), horizon=1, validation_ratio=0.15, test_ratio=0.15
    )
    assert choice.steps == BASE_LOOKBACK and "daily" in choice.reason


def test_a_ten_minute_daily_season_is_covered_and_a_long_week_is_capped() -> None:
    choice = choose_lookback(
        seasonal(144 * 40, 600.0, weekly=False), horizon=1, validation_ratio=0.15, test_ratio=0.15
    )
    assert choice.steps == 144
    # A weekly season of 1,008 ten-minute steps is beyond the cap: the daily one is the longest kept.
    weekly = choose_lookback(
        seasonal(144 * 7 * 8, 600.0, weekly=True), horizon=1, validation_ratio=0.15, test_ratio=0.15
    )
    assert weekly.steps == 144 and MAX_AUTO_LOOKBACK < 1008


def test_held_out_splits_too_short_for_the_season_keep_the_base() -> None:
    # 60 days hourly with 5 % held out: 72-point splits cannot give half their points to a 168 window.
    choice = choose_lookback(
        seasonal(24 * 60, HOUR, weekly=True), horizon=1, validation_ratio=0.05, test_ratio=0.05
    )
    assert choice.steps == BASE_LOOKBACK and "weekly" not in choice.reason


def test_noise_gets_the_base_and_says_why() -> None:
    rng = np.random.default_rng(3)
    regular = regularize(HOUR * np.arange(2000), rng.normal(0, 1, 2000))
    choice = choose_lookback(regular, horizon=1, validation_ratio=0.15, test_ratio=0.15)
    assert choice.steps == BASE_LOOKBACK and "no daily or weekly season" in choice.reason
