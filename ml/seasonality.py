"""Daily and weekly seasons of a regular sensor series, confirmed by its autocorrelation.

A season is a calendar period (a day, a week) that is a whole number of steps of the sampling
interval and that the data repeats at: on the series detrended by a centred moving average one
period wide, the autocorrelation at the period lag must be at least ``min_strength`` and must beat
the autocorrelation at nearby competing lags (see ``_competitor_lags``).

Gaps are NaN. The autocorrelation at a lag is pairwise-complete: only pairs whose two ends are
finite count, around the mean and variance of the finite values.

With only ``min_cycles`` = 3 periods, the lag-period estimate rests on about one period of pairs and
is noisy for wandering series: in simulation about 1 random walk or AR(1) (φ = 0.95) in 8 passes
as seasonal at exactly 3 periods, 1 in 25 at 6, none at 20. Pass a larger ``min_cycles`` where a
false season costs more than a missed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Season", "calendar_periods", "detect_seasons"]

FloatArray = npt.NDArray[np.float64]

CALENDAR: tuple[tuple[str, float], ...] = (("daily", 86_400.0), ("weekly", 604_800.0))
# A period counts as whole when it lands within 1 % of a step of a whole number of steps: an
# interval of 299.997 s still gives daily 288, 600.5 s gives nothing.
STEP_TOLERANCE = 0.01
# Below this many finite pairs a lag's autocorrelation is noise, whatever the period.
MIN_PAIRS = 30
# The period lag must beat every competing lag by this much: with a margin of zero a series with
# only a daily cycle is "weekly" whenever sampling noise puts lag 7 d above lags 6 d and 8 d.
PEAK_MARGIN = 0.05
# A moving-average window with fewer finite values than this fraction gives no trend (and the slot
# no residual): a trend estimated from a few points of a cycle is mostly the cycle itself.
MIN_WINDOW_FRACTION = 0.5
# A residual this small relative to the series (constant, or an exact straight line) is rounding
# noise, whose autocorrelation means nothing.
NEGLIGIBLE_RESIDUAL = 1e-10


@dataclass(frozen=True)
class Season:
    """A confirmed calendar season: ``period`` steps, ``strength`` = autocorrelation at that lag."""

    name: str
    period: int
    strength: float


def calendar_periods(interval_seconds: float) -> list[tuple[str, int]]:
    """Daily then weekly periods, in steps, that are whole (±1 % of a step) and at least 2 steps."""
    if not (math.isfinite(interval_seconds) and interval_seconds > 0):
        raise ValueError(f"interval_seconds must be a positive finite number, got {interval_seconds!r}")
    periods: list[tuple[str, int]] = []
    for name, seconds in CALENDAR:
        steps = seconds / interval_seconds
        whole = round(steps)
        if whole >= 2 and abs(steps - whole) <= STEP_TOLERANCE:
            periods.append((name, whole))
    return periods


def detect_seasons(
    values: npt.ArrayLike,
    interval_seconds: float,
    *,
    min_cycles: int = 3,
    min_strength: float = 0.3,
    max_points: int = 50_000,
) -> list[Season]:
    """Calendar seasons the newest ``max_points`` values confirm, strongest first; [] if none.

    A season needs ``min_cycles`` periods' worth of finite values. Raises ``ValueError`` only for
    bad arguments (interval, ``min_cycles`` < 2, ``max_points`` < 1, values not 1-D), never for data.
    """
    periods = calendar_periods(interval_seconds)
    if min_cycles < 2:
        raise ValueError(f"min_cycles must be at least 2 (a lag of one period needs two), got {min_cycles}")
    if max_points < 1:
        raise ValueError(f"max_points must be positive, got {max_points}")
    series = np.asarray(values, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {series.shape}")
    series = np.where(np.isfinite(series), series, np.nan)[-max_points:]
    finite = int(np.count_nonzero(~np.isnan(series)))
    seasons = []
    for name, period in periods:
        if finite < min_cycles * period:
            continue
        strength = _confirmed_strength(series, period, _competitor_lags(name, period, interval_seconds))
        if strength is not None and strength >= min_strength:
            seasons.append(Season(name=name, period=period, strength=strength))
    return sorted(seasons, key=lambda season: season.strength, reverse=True)


def _competitor_lags(name: str, period: int, interval_seconds: float) -> list[int]:
    """Lags the period lag must beat for the period to be a peak rather than slow correlation.

    Not period ± a few steps: a smooth cycle sampled finely has an autocorrelation that is flat
    there (lag 1440 ± 3 of a 1-minute daily sine differ by 1e-4), so sampling noise would decide.
    Half and a quarter period away, a cycle's autocorrelation falls by a share of its whole variance
    (a sine: to -1 and 0), while a slowly decorrelating process (AR(1), leftover trend) is at least
    as correlated at the shorter lags. Each shorter calendar period is also a competitor (weekly vs
    6 d and 8 d): a daily-only cycle repeats at lag 7 d exactly as well as at 6 d and 8 d, so only
    a real day-of-week pattern lifts lag 7 d above them.
    """
    quarter = max(1, period // 4)
    lags = {period - period // 2, period - quarter, period + quarter}
    own_seconds = dict(CALENDAR)[name]
    for _, seconds in CALENDAR:
        shorter = round(seconds / interval_seconds)
        if seconds < own_seconds and 1 <= shorter < period:
            lags |= {period - shorter, period + shorter}
    return sorted(lag for lag in lags if lag > 0 and lag != period)


def _confirmed_strength(series: FloatArray, period: int, competitors: list[int]) -> float | None:
    """Autocorrelation at ``period`` of the detrended series if it is a peak, else ``None``."""
    residual = _detrended(series, period)
    finite = ~np.isnan(residual)
    if not finite.any():
        return None
    mean = float(residual[finite].mean())
    deviation = np.where(finite, residual - mean, 0.0)
    variance = float(np.dot(deviation, deviation)) / int(np.count_nonzero(finite))
    scale = float(np.mean(series[~np.isnan(series)] ** 2))
    if variance <= (NEGLIGIBLE_RESIDUAL**2) * scale:
        return None
    min_pairs = max(MIN_PAIRS, period // 2)
    strength = _autocorrelation(deviation, finite, variance, period, min_pairs)
    if strength is None:
        return None
    for lag in competitors:
        rival = _autocorrelation(deviation, finite, variance, lag, min_pairs)
        if rival is None or strength < rival + PEAK_MARGIN:
            return None
    return strength


def _detrended(series: FloatArray, period: int) -> FloatArray:
    """``series`` minus its centred moving average one ``period`` wide; NaN where no average.

    A one-period window averages any cycle of that period (and its harmonics) to a constant, so the
    average holds only the trend and slower wander and the residual keeps the whole cycle. First
    differences would also remove trends but shrink a cycle of P steps by 2·sin(π/P) (0.004 for a
    daily cycle at 1 minute) while doubling white noise, burying long periods. The residual of a
    random walk at slot t depends only on the steps inside t's window, so at lag ``period`` it is
    nearly uncorrelated; a straight line is removed exactly. Even periods use the usual 2×P average
    (half weights at the two ends) so that the window stays centred.
    """
    present = ~np.isnan(series)
    filled = np.where(present, series, 0.0)
    half = period // 2
    if period % 2:
        total, weight = _window_sums(filled, present, period, start=-half)
    else:
        left_total, left_weight = _window_sums(filled, present, period, start=-half)
        right_total, right_weight = _window_sums(filled, present, period, start=-half + 1)
        total, weight = (left_total + right_total) / 2, (left_weight + right_weight) / 2
    # NaN weights (windows off the ends) compare False, so those slots drop out too.
    enough = present & (weight >= MIN_WINDOW_FRACTION * period)
    trend = np.divide(total, weight, out=np.zeros_like(total), where=enough)
    return np.where(enough, series - trend, np.nan)


def _window_sums(
    filled: FloatArray, present: npt.NDArray[np.bool_], width: int, *, start: int
) -> tuple[FloatArray, FloatArray]:
    """Sums of values and of finite counts over slots ``t+start … t+start+width-1``; NaN off the ends.

    A window that runs off either end would be off-centre, so its slot gets no average at all.
    """
    n = filled.size
    value_cum = np.concatenate(([0.0], np.cumsum(filled)))
    count_cum = np.concatenate(([0.0], np.cumsum(present, dtype=np.float64)))
    t = np.arange(n)
    lo, hi = t + start, t + start + width
    inside = (lo >= 0) & (hi <= n)
    lo_c, hi_c = np.clip(lo, 0, n), np.clip(hi, 0, n)
    totals = np.where(inside, value_cum[hi_c] - value_cum[lo_c], np.nan)
    counts = np.where(inside, count_cum[hi_c] - count_cum[lo_c], np.nan)
    return totals, counts


def _autocorrelation(
    deviation: FloatArray, finite: npt.NDArray[np.bool_], variance: float, lag: int, min_pairs: int
) -> float | None:
    """Pairwise-complete autocorrelation at ``lag`` (clipped to [-1, 1]); ``None`` with too few pairs."""
    if lag >= deviation.size:
        return None
    pairs = int(np.count_nonzero(finite[:-lag] & finite[lag:]))
    if pairs < min_pairs:
        return None
    # Missing slots hold 0 in ``deviation``, so they add nothing to the sum of products.
    covariance = float(np.dot(deviation[:-lag], deviation[lag:])) / pairs
    return max(-1.0, min(1.0, covariance / variance))
