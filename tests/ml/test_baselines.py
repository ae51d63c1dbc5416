from __future__ import annotations

import numpy as np
import pytest

from ml.baselines import (
    PERSISTENCE,
    persistence_forecasts,
    score_baselines,
    seasonal_naive_forecasts,
    targets_at,
)
from ml.metrics import forecast_metrics


def test_targets_and_persistence_read_the_raw_values_after_each_origin() -> None:
    values = np.arange(10, dtype=np.float64)
    origins = np.array([2, 5])
    np.testing.assert_array_equal(targets_at(values, origins, 3), [[3, 4, 5], [6, 7, 8]])
    np.testing.assert_array_equal(persistence_forecasts(values, origins, 3), [[2, 2, 2], [5, 5, 5]])


def test_seasonal_naive_uses_the_newest_complete_season_known_at_the_origin() -> None:
    values = np.arange(20, dtype=np.float64)
    # Period 3 from origin 10: steps 1-3 repeat 8, 9, 10; steps 4-5 go two seasons back: 8, 9.
    np.testing.assert_array_equal(seasonal_naive_forecasts(values, np.array([10]), 5, 3), [[8, 9, 10, 8, 9]])
    # Period 1 is persistence.
    np.testing.assert_array_equal(
        seasonal_naive_forecasts(values, np.array([10]), 4, 1),
        persistence_forecasts(values, np.array([10]), 4),
    )


def test_a_gap_one_season_back_falls_back_to_persistence_for_that_pair() -> None:
    values = np.arange(20, dtype=np.float64)
    values[8] = np.nan
    np.testing.assert_array_equal(seasonal_naive_forecasts(values, np.array([10]), 3, 3), [[10, 9, 10]])


def test_a_season_longer_than_the_history_is_refused_or_left_out() -> None:
    values = np.arange(20, dtype=np.float64)
    with pytest.raises(ValueError, match="before the series"):
        seasonal_naive_forecasts(values, np.array([2, 10]), 2, 5)
    names = [b.name for b in score_baselines(values, np.array([2, 10]), 2, [("daily", 3), ("weekly", 5)])]
    assert names == [PERSISTENCE, "daily"]


def test_a_seasonal_series_is_forecast_exactly_by_its_season_and_scored_on_the_same_pairs() -> None:
    t = np.arange(400)
    values = 10 + np.sin(2 * np.pi * t / 24) * 5
    origins = np.arange(300, 388)
    baselines = score_baselines(values, origins, 12, [("seasonal_naive_daily", 24)], mase_scale=1.0)
    persistence, daily = baselines
    assert (persistence.name, daily.name, daily.period) == (PERSISTENCE, "seasonal_naive_daily", 24)
    assert daily.metrics.rmse == pytest.approx(0.0, abs=1e-9)
    assert persistence.metrics.rmse is not None and persistence.metrics.rmse > 1.0
    assert daily.metrics.points == persistence.metrics.points == 88 * 12
    # Persistence scored as a baseline is persistence scored by forecast_metrics: Theil's U2 of 1.
    assert persistence.metrics.theil_u == pytest.approx(1.0)
    truth = targets_at(values, origins, 12)
    same = forecast_metrics(
        truth, persistence_forecasts(values, origins, 12), values[origins], mase_scale=1.0
    )
    assert same == persistence.metrics
