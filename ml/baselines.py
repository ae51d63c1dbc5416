"""The trivial forecasts a network must beat, scored on exactly the network's test pairs.

A forecast origin is the index of the last observed value of a window; its targets are the next
``horizon`` values. Persistence repeats the value at the origin; the seasonal naive forecast of
step ``h`` repeats the value one season (``period`` steps) before the target, from the newest
complete season (``origin + h - period * ceil(h / period)``), so every value it uses is known at the
origin. Where that value is a gap (NaN), the seasonal forecast falls back to persistence for that
pair: every baseline is scored on the same pairs as the network, never on a friendlier subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.metrics import ForecastMetrics, forecast_metrics

__all__ = [
    "PERSISTENCE",
    "Baseline",
    "baseline_forecast",
    "persistence_forecasts",
    "score_baselines",
    "seasonal_naive_forecasts",
    "targets_at",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PERSISTENCE = "persistence"


@dataclass(frozen=True)
class Baseline:
    """One baseline's test-split metrics; ``period`` in steps for a seasonal one."""

    name: str
    period: int | None
    metrics: ForecastMetrics


def targets_at(values: FloatArray, origins: IntArray, horizon: int) -> FloatArray:
    """The ``horizon`` raw values after each origin, ``(n_origins, horizon)``."""
    targets: FloatArray = values[origins[:, None] + np.arange(1, horizon + 1)]
    return targets


def persistence_forecasts(values: FloatArray, origins: IntArray, horizon: int) -> FloatArray:
    return np.repeat(values[origins][:, None], horizon, axis=1)


def seasonal_naive_forecasts(values: FloatArray, origins: IntArray, horizon: int, period: int) -> FloatArray:
    """Each target's value one or more whole seasons earlier, the newest one known at its origin."""
    if period < 1:
        raise ValueError(f"a season is at least 1 step, got {period}")
    steps = np.arange(1, horizon + 1)
    lags = period * np.ceil(steps / period).astype(np.int64)
    positions = origins[:, None] + steps - lags
    if positions.size and positions.min() < 0:
        raise ValueError(f"a season of {period} steps reaches before the series for the first origin")
    seasonal = values[positions]
    return np.where(np.isfinite(seasonal), seasonal, persistence_forecasts(values, origins, horizon))


def baseline_forecast(recent: npt.ArrayLike, horizon: int, period: int | None) -> FloatArray:
    """One forecast from the newest values (oldest first): persistence when ``period`` is None,
    else the seasonal naive forecast, which needs at least ``period`` values."""
    values = np.asarray(recent, dtype=np.float64).ravel()
    origin = np.array([values.size - 1], dtype=np.int64)
    if period is None:
        repeated: FloatArray = persistence_forecasts(values, origin, horizon)[0]
        return repeated
    if values.size < period:
        raise ValueError(f"a seasonal naive forecast needs the newest {period} values, got {values.size}")
    forecast: FloatArray = seasonal_naive_forecasts(values, origin, horizon, period)[0]
    return forecast


def score_baselines(
    values: npt.ArrayLike,
    origins: npt.ArrayLike,
    horizon: int,
    seasons: Sequence[tuple[str, int]],
    *,
    mase_scale: float | None = None,
) -> list[Baseline]:
    """Persistence, then the seasonal naive forecast of each ``(name, period)`` whose period the
    history before the first origin covers, each scored on the targets after ``origins``."""
    series = np.asarray(values, dtype=np.float64)
    at = np.asarray(origins, dtype=np.int64)
    truth = targets_at(series, at, horizon)
    last = series[at]

    def scored(name: str, period: int | None, forecasts: FloatArray) -> Baseline:
        return Baseline(name, period, forecast_metrics(truth, forecasts, last, mase_scale=mase_scale))

    baselines = [scored(PERSISTENCE, None, persistence_forecasts(series, at, horizon))]
    first = int(at.min()) if at.size else 0
    for name, period in seasons:
        if period <= first + 1:
            forecasts = seasonal_naive_forecasts(series, at, horizon, period)
            baselines.append(scored(name, period, forecasts))
    return baselines
