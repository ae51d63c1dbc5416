"""Live accuracy: published forecasts scored against the readings that arrived after them.

A published forecast was made at some origin (the newest slot of its context window) for the
target times ``origin + k * interval``. Once readings for those times exist, each (forecast, step)
with a reading becomes a *pair*. :func:`live_accuracy` pools the pairs whose target lies in a
rolling window ``(now - window_seconds, now]``, overall and per horizon step, with the same
definitions as the test-split metrics of :mod:`ml.metrics`: Theil's U2 divides the model's RMSE by
the RMSE of persistence (the origin's reading repeated for every step) over exactly the same pairs,
and a metric undefined for the data is ``None``, never NaN. :func:`drift_since` turns a history of
live RMSEs into a drift decision against the job's test RMSE.

A reading counts for a target when it lies within half an interval of it, the slot tolerance of
:func:`ml.serving.recent_window`, so the live truth of a step is placed on the grid the way serving
placed the context window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from ml.metrics import finite_or_none

__all__ = [
    "LiveAccuracy",
    "PublishedForecast",
    "StepAccuracy",
    "actuals_at",
    "drift_since",
    "live_accuracy",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# How far (in intervals) a reading may sit from a target and still count for it: as in ml.serving.
_SLOT_TOLERANCE = 0.5


def _positive(value: float, name: str) -> float:
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _vector(values: npt.ArrayLike, name: str, length: int | None = None) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if length is not None and array.size != length:
        raise ValueError(f"{name} has {array.size} values, targets has {length}")
    return array


@dataclass(frozen=True, eq=False)
class PublishedForecast:
    """One published forecast; arrays are converted to float64 and checked on construction.

    A NaN in ``values`` (a step not forecast) or in a bound leaves that step out of what it affects.
    ``lower`` and ``upper`` are the bounds of one interval level, given together or not at all.
    """

    origin: float  # epoch seconds of the newest context slot
    origin_value: float  # the reading at the origin: persistence forecasts it for every step
    targets: FloatArray  # (H,) epoch seconds, strictly increasing
    values: FloatArray  # (H,)
    lower: FloatArray | None = None
    upper: FloatArray | None = None

    def __post_init__(self) -> None:
        targets = _vector(self.targets, "targets")
        if not np.all(np.isfinite(targets)) or np.any(np.diff(targets) <= 0):
            raise ValueError("targets must be finite and strictly increasing")
        if (self.lower is None) != (self.upper is None):
            raise ValueError("lower and upper must be given together")
        # The dataclass is frozen so that a forecast cannot change under a running evaluation; the
        # normalised arrays are stored once here.
        object.__setattr__(self, "origin", float(self.origin))
        object.__setattr__(self, "origin_value", float(self.origin_value))
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "values", _vector(self.values, "values", targets.size))
        if self.lower is not None and self.upper is not None:
            object.__setattr__(self, "lower", _vector(self.lower, "lower", targets.size))
            object.__setattr__(self, "upper", _vector(self.upper, "upper", targets.size))


@dataclass(frozen=True)
class StepAccuracy:
    """Accuracy of horizon step ``step`` (1-based) over its pairs; ``None`` where undefined.

    ``bias`` is the mean of forecast minus reading (positive: the model forecasts too high);
    ``coverage`` is the share of the pairs with finite bounds whose reading lies within them.
    """

    step: int
    pairs: int
    mae: float | None
    rmse: float | None
    u2: float | None
    coverage: float | None
    bias: float | None


@dataclass(frozen=True)
class LiveAccuracy:
    """Accuracy over the targets in ``(start, end]``, pooled over every step and per step."""

    window_seconds: float
    start: float
    end: float
    forecasts: int  # forecasts with at least one pair
    pairs: int
    mae: float | None
    rmse: float | None
    u2: float | None
    coverage: float | None
    bias: float | None
    steps: tuple[StepAccuracy, ...]  # steps[h - 1] is step h, up to the longest horizon given


def actuals_at(
    targets: npt.ArrayLike, reading_times: npt.ArrayLike, reading_values: npt.ArrayLike, *, interval: float
) -> FloatArray:
    """The reading for each target time (same shape as ``targets``), NaN where there is none.

    A reading counts for a target at ``t`` when its time lies in ``[t - interval / 2, t + interval / 2)``;
    several are averaged. Half-open, so that a reading exactly between two slots of a grid counts
    for one of them only (``recent_window`` gets the same from rounding). Readings may be unsorted
    and contain duplicates; a reading with a non-finite time or value is ignored.
    """
    half = _SLOT_TOLERANCE * _positive(interval, "interval")
    times = np.asarray(reading_times, dtype=np.float64)
    values = np.asarray(reading_values, dtype=np.float64)
    if times.shape != values.shape:
        raise ValueError(f"reading_times has shape {times.shape}, reading_values has shape {values.shape}")
    usable = np.isfinite(times) & np.isfinite(values)
    order = np.argsort(times[usable], kind="stable")
    times, values = times[usable][order], values[usable][order]

    wanted = np.asarray(targets, dtype=np.float64)
    result = np.full(wanted.size, np.nan)
    known = np.isfinite(wanted.ravel())
    unique, inverse = np.unique(wanted.ravel()[known], return_inverse=True)
    lo = np.searchsorted(times, unique - half, side="left")
    hi = np.searchsorted(times, unique + half, side="left")
    counts = hi - lo
    if unique.size:
        # reduceat over the interleaved (lo, hi) bounds sums values[lo:hi] at even positions. Sorted
        # targets keep the odd (hi, next lo) segments from spanning the array more than once, and a
        # sum of the few readings of a slot stays exact where differences of a cumulative sum would
        # not (a perfect forecast must score exactly 0). The padding makes ``hi == len`` a valid index.
        padded = np.append(values, 0.0)
        sums = np.add.reduceat(padded, np.column_stack((lo, hi)).ravel())[::2]
        means = np.divide(sums, counts, out=np.full(unique.size, np.nan), where=counts > 0)
        result[known] = means[inverse.ravel()]
    return result.reshape(wanted.shape)


@dataclass(frozen=True, eq=False)
class _Flat:
    """Every (forecast, step) of some forecasts as one row; bounds NaN where a forecast has none."""

    targets: FloatArray
    values: FloatArray
    lower: FloatArray
    upper: FloatArray
    origin_values: FloatArray
    steps: IntArray  # 0-based step of each row
    forecast: IntArray  # index of each row's forecast

    def rows(self, keep: npt.NDArray[np.bool_]) -> _Flat:
        return _Flat(*(getattr(self, name)[keep] for name in self.__dataclass_fields__))


def _flattened(forecasts: Sequence[PublishedForecast]) -> _Flat:
    lengths = np.array([f.targets.size for f in forecasts], dtype=np.int64)
    if lengths.sum() == 0:
        empty, none = np.empty(0), np.empty(0, dtype=np.int64)
        return _Flat(empty, empty, empty, empty, empty, none, none)

    def no_bounds(f: PublishedForecast) -> FloatArray:
        return np.full(f.targets.size, np.nan)

    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return _Flat(
        targets=np.concatenate([f.targets for f in forecasts]),
        values=np.concatenate([f.values for f in forecasts]),
        lower=np.concatenate([no_bounds(f) if f.lower is None else f.lower for f in forecasts]),
        upper=np.concatenate([no_bounds(f) if f.upper is None else f.upper for f in forecasts]),
        origin_values=np.repeat(np.array([f.origin_value for f in forecasts], dtype=np.float64), lengths),
        steps=np.arange(starts.size, dtype=np.int64) - starts,
        forecast=np.repeat(np.arange(len(forecasts), dtype=np.int64), lengths),
    )


# Columns of the per-step sums that the metrics are computed from.
_SUMS = ("pairs", "abs_error", "squared_error", "squared_naive_error", "error", "covered", "bounded")
_Scores = tuple[float | None, float | None, float | None, float | None, float | None]


def _step_sums(pairs: _Flat, actual: FloatArray, horizon: int) -> npt.NDArray[np.float64]:
    """``(horizon, len(_SUMS))``: per step, the count of pairs and the sums the metrics need."""
    errors = pairs.values - actual
    bounded = np.isfinite(pairs.lower) & np.isfinite(pairs.upper)
    # NaN bounds compare False, so only bounded pairs can be covered.
    covered = (pairs.lower <= actual) & (actual <= pairs.upper)
    weights = (
        np.ones_like(actual),
        np.abs(errors),
        np.square(errors),
        np.square(pairs.origin_values - actual),
        errors,
        covered.astype(np.float64),
        bounded.astype(np.float64),
    )
    sums = [np.bincount(pairs.steps, weights=w, minlength=horizon) for w in weights]
    return np.column_stack(sums) if horizon else np.empty((0, len(_SUMS)))


def _scores(row: FloatArray) -> _Scores:
    """(mae, rmse, u2, coverage, bias) from one row of :func:`_step_sums` (or their total)."""
    n, abs_sum, sq_sum, naive_sq_sum, error_sum, covered, bounded = (float(x) for x in row)
    if n == 0:
        return None, None, None, None, None
    rmse = finite_or_none(math.sqrt(sq_sum / n))
    naive_rmse = finite_or_none(math.sqrt(naive_sq_sum / n))
    # As in ml.metrics: U2 is undefined when persistence was perfect on these pairs (or overflowed).
    u2 = finite_or_none(rmse / naive_rmse) if rmse is not None and naive_rmse else None
    coverage = covered / bounded if bounded else None
    return finite_or_none(abs_sum / n), rmse, u2, coverage, finite_or_none(error_sum / n)


def live_accuracy(
    forecasts: Sequence[PublishedForecast],
    reading_times: npt.ArrayLike,
    reading_values: npt.ArrayLike,
    *,
    interval: float,
    now: float,
    window_seconds: float,
) -> LiveAccuracy:
    """Accuracy of ``forecasts`` over the pairs whose target lies in ``(now - window_seconds, now]``.

    A pair is a (forecast, step) with a finite value, a finite origin value and a reading (see
    :func:`actuals_at`); targets still without a reading are simply not pairs yet. Forecasts may have
    different horizons: ``steps`` runs up to the longest, and a step without pairs reports 0 pairs
    and ``None`` metrics. Coverage counts only the pairs whose two bounds are finite.
    """
    interval = _positive(interval, "interval")
    window_seconds = _positive(window_seconds, "window_seconds")
    end = float(now)
    if not math.isfinite(end):
        raise ValueError(f"now must be finite, got {now!r}")
    start = end - window_seconds
    flat = _flattened(forecasts)
    rows = flat.rows((flat.targets > start) & (flat.targets <= end))
    actual = actuals_at(rows.targets, reading_times, reading_values, interval=interval)
    # A persistence value is needed too, or U2 would not be over the same pairs as the RMSE.
    paired = np.isfinite(actual) & np.isfinite(rows.values) & np.isfinite(rows.origin_values)
    pairs = rows.rows(paired)
    horizon = max((f.targets.size for f in forecasts), default=0)
    # Overflowing squares become inf and then None through finite_or_none; warnings would be noise.
    with np.errstate(all="ignore"):
        per_step = _step_sums(pairs, actual[paired], horizon)
        mae, rmse, u2, coverage, bias = _scores(per_step.sum(axis=0))
        steps = tuple(StepAccuracy(h + 1, int(row[0]), *_scores(row)) for h, row in enumerate(per_step))
    return LiveAccuracy(
        window_seconds=window_seconds,
        start=start,
        end=end,
        forecasts=int(np.unique(pairs.forecast).size),
        pairs=int(pairs.targets.size),
        mae=mae,
        rmse=rmse,
        u2=u2,
        coverage=coverage,
        bias=bias,
        steps=steps,
    )


def drift_since(
    history: Sequence[tuple[float, float | None]],
    *,
    reference_rmse: float,
    factor: float,
    sustain_seconds: float,
) -> float | None:
    """The time drift started, or ``None`` when the model is not drifting now.

    ``history`` is (evaluation time, live RMSE) in time order. The model drifts when its newest run
    of evaluations with ``rmse > factor * reference_rmse`` has lasted at least ``sustain_seconds``,
    measured from the run's first to its last exceeding evaluation; the answer is the first one's
    time. An RMSE of ``None`` (or NaN: no pairs in the window) is no evidence either way: it neither
    starts, breaks nor lengthens a run, so a sensor going quiet freezes the verdict instead of
    confirming a drift that nobody measured. An infinite RMSE exceeds any threshold.
    """
    factor = _positive(factor, "factor")
    reference = float(reference_rmse)
    if not (math.isfinite(reference) and reference >= 0):
        raise ValueError(f"reference_rmse must be a finite number >= 0, got {reference_rmse!r}")
    sustain = float(sustain_seconds)
    if not (math.isfinite(sustain) and sustain >= 0):
        raise ValueError(f"sustain_seconds must be a finite number >= 0, got {sustain_seconds!r}")
    times = [float(t) for t, _ in history]
    if not all(math.isfinite(t) for t in times) or any(b < a for a, b in pairwise(times)):
        raise ValueError("history must be in time order, with finite times")
    threshold = factor * reference
    first: float | None = None
    last: float | None = None
    for time, rmse in reversed(history):
        if rmse is None or math.isnan(rmse):
            continue
        if rmse <= threshold:
            break
        last = float(time) if last is None else last
        first = float(time)
    if first is None or last is None or last - first < sustain:
        return None
    return first
