"""Turn a raw sensor history into a regular series: the first step of preprocessing.

STH hands back points as they were stored: unordered pages, repeated timestamps, ``null`` or
infinite readings, jittered clocks and outages. Everything downstream (splits, scaling, windows)
assumes one value per sampling interval, so this module sorts, cleans, detects the interval,
places the points on a regular grid and fills only the gaps short enough to interpolate
honestly. Longer gaps stay NaN, and the window builder never lets a window span one.

Every point is accounted for in the returned :class:`Regular`, so a job can report what it
dropped, merged and invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["InsufficientSeries", "Regular", "detect_interval", "regularize"]

FloatArray = npt.NDArray[np.float64]

# Interval resolution: float64 epoch seconds only resolve ~0.24 µs today, so finer digits are noise.
_INTERVAL_DECIMALS = 6
# A step between two points counts as "on the grid" when it is within this fraction of an interval
# of a whole number of intervals; larger misfits (a change of rate, a stray point) do not vote.
_ON_GRID_TOLERANCE = 0.25
# Jitter moves the median by far less than this; anything more is a different cadence, not noise.
_REFINE_LIMIT = 0.01
# A cadence this close to a round one is the round one: over the whole series, the round grid strays
# from the data by at most this fraction of a step, far from moving any point to another slot.
_SNAP_DRIFT = 0.2
# A grid this long is a corrupt timestamp (1970, a year typo), not a sensor: refuse before allocating.
_DEFAULT_MAX_SLOTS = 20_000_000


class InsufficientSeries(ValueError):
    """The series holds too few usable points to be regularised (or trained on)."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarray fields element-wise has no truth value.
class Regular:
    """A series on a regular grid, with an account of what cleaning did to the raw points.

    ``raw_points == dropped_non_finite + merged_duplicates + observed`` where ``observed`` is the
    number of grid slots holding a measured value; ``len(values) == observed + filled + missing``.
    """

    start: float
    """Epoch seconds of ``values[0]`` (the earliest usable point)."""
    interval: float
    """Seconds between consecutive slots; sub-second intervals are valid."""
    values: FloatArray
    """float64, one value per slot; NaN where a gap was longer than ``max_gap_steps``."""
    raw_points: int
    """Points received."""
    dropped_non_finite: int
    """Points dropped because their value (or timestamp) was NaN or infinite."""
    merged_duplicates: int
    """Points averaged into another: a repeated timestamp, or two points falling in one slot."""
    filled: int
    """Slots filled by linear interpolation across a short gap."""
    gaps: int
    """Gaps (runs of empty slots) too long to fill, left as NaN."""

    @property
    def observed(self) -> int:
        """Slots holding a measured (possibly averaged) value."""
        return self.raw_points - self.dropped_non_finite - self.merged_duplicates

    @property
    def missing(self) -> int:
        """Slots left NaN, summed over all unfilled gaps."""
        return len(self.values) - self.observed - self.filled

    def timestamps(self) -> FloatArray:
        """Epoch seconds of every slot."""
        return self.start + self.interval * np.arange(len(self.values), dtype=np.float64)


def detect_interval(timestamps: npt.ArrayLike) -> float:
    """The sampling interval of ``timestamps`` (epoch seconds, any order), rounded to 1 µs, or to the
    whole second (millisecond) it is within jitter of.

    The median of the positive differences ignores duplicates, outages and stray points; the lower
    median is taken so the estimate is always a step that occurred (the mean of two middle steps,
    one of them an outage, is neither). On a jittered clock the median is still off by a fraction
    of the jitter, and over thousands of points that error walks the grid away from the data, so
    it is refined to the mean step over the steps that sit on its grid (a telescoping sum: exact
    up to the jitter of a run's two ends). The refinement is kept only when it moves the median
    by less than 1 %: a larger move means the steps it averaged are not one grid (stray points
    next to their neighbours, a change of rate), and the median stays.
    """
    ts = np.sort(np.asarray(timestamps, dtype=np.float64).ravel())
    ts = ts[np.isfinite(ts)]
    steps = np.diff(ts)
    steps = steps[steps > 0]
    if steps.size == 0:
        raise InsufficientSeries(
            f"cannot detect a sampling interval: needs at least 2 distinct finite timestamps, "
            f"got {np.unique(ts).size}"
        )
    middle = (steps.size - 1) // 2
    median = float(np.partition(steps, middle)[middle])
    multiples = np.rint(steps / median)
    on_grid = (multiples >= 1) & (np.abs(steps - multiples * median) <= _ON_GRID_TOLERANCE * median)
    # The median step is on its own grid, so the selection is never empty.
    refined = float(steps[on_grid].sum() / multiples[on_grid].sum())
    chosen = refined if abs(refined - median) <= _REFINE_LIMIT * median else median
    chosen = _snapped(chosen, span=float(ts[-1] - ts[0]))
    interval = round(chosen, _INTERVAL_DECIMALS)
    if interval <= 0:
        raise ValueError(f"sampling interval {median!r} s is below the 1 µs resolution of timestamps")
    return interval


def _snapped(interval: float, *, span: float) -> float:
    """``interval`` as the whole second (below a second, millisecond) it measures, when that grid
    fits the data as well: a 5-minute sensor read as 299.997173 s is a 300 s sensor whose clock
    jitters, and its grid and forecast timestamps should say 300."""
    unit = 1.0 if interval >= 1.0 else 0.001
    round_value = round(interval / unit) * unit
    steps = span / interval
    if round_value > 0 and abs(interval - round_value) * steps <= _SNAP_DRIFT * round_value:
        return round_value
    return interval


def _paired_arrays(
    timestamps: npt.ArrayLike, values: npt.ArrayLike, *, max_gap_steps: int
) -> tuple[FloatArray, FloatArray]:
    """The inputs as float64 vectors of one length, or ``ValueError`` saying what is wrong."""
    if max_gap_steps < 0:
        raise ValueError(f"max_gap_steps must be >= 0, got {max_gap_steps}")
    ts = np.asarray(timestamps, dtype=np.float64)
    vs = np.asarray(values, dtype=np.float64)
    if ts.ndim != 1 or vs.ndim != 1 or ts.shape != vs.shape:
        raise ValueError(
            f"timestamps and values must be 1-D and of equal length, got shapes {ts.shape} and {vs.shape}"
        )
    return ts, vs


def _merge_duplicates(ts: FloatArray, vs: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The distinct timestamps in order, each with the mean of its values."""
    # np.unique sorts, so ordering and duplicate merging are one pass.
    unique_ts, inverse, counts = np.unique(ts, return_inverse=True, return_counts=True)
    merged_vs = np.bincount(inverse, weights=vs, minlength=unique_ts.size) / counts
    return unique_ts, merged_vs


def _require_two_points(distinct: int, *, raw_points: int, dropped: int, usable: int) -> None:
    if distinct < 2:
        raise InsufficientSeries(
            f"a series needs at least 2 points with distinct timestamps and finite values, got "
            f"{distinct} ({raw_points} received, {dropped} non-finite dropped, "
            f"{usable - distinct} duplicate timestamps merged)"
        )


def _grid_slots(unique_ts: FloatArray, *, interval: float, max_slots: int) -> npt.NDArray[np.int64]:
    """The nearest slot of each timestamp on the grid starting at the first one."""
    start = float(unique_ts[0])
    slots = np.rint((unique_ts - start) / interval).astype(np.int64)
    n_slots = int(slots[-1]) + 1
    if n_slots > max_slots:
        raise ValueError(
            f"the series spans {n_slots} slots of {interval} s (from {start} to {float(unique_ts[-1])}), "
            f"more than the {max_slots} allowed: a timestamp is probably corrupt"
        )
    return slots


def _merge_slots(
    slots: npt.NDArray[np.int64], values: FloatArray
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """The occupied slots in order, each with the mean of the values that fell in it."""
    # Slots are non-decreasing because the timestamps are sorted: collisions are adjacent.
    observed_slots, slot_inverse, slot_counts = np.unique(slots, return_inverse=True, return_counts=True)
    observed_vs = np.bincount(slot_inverse, weights=values, minlength=observed_slots.size) / slot_counts
    return observed_slots, observed_vs


def _fill_short_gaps(
    observed_slots: npt.NDArray[np.int64], observed_vs: FloatArray, *, n_slots: int, max_gap_steps: int
) -> tuple[FloatArray, int, int]:
    """Place the values on a grid of ``n_slots`` and interpolate its short gaps.

    Answers the grid, the slots filled and the gaps (runs over ``max_gap_steps``) left NaN.
    """
    grid = np.full(n_slots, np.nan, dtype=np.float64)
    grid[observed_slots] = observed_vs
    run_lengths = np.diff(observed_slots) - 1
    runs = run_lengths[run_lengths > 0]
    # Missing slots come in order, run by run, so each inherits the length of its run.
    missing_slots = np.flatnonzero(np.isnan(grid))
    fillable = missing_slots[np.repeat(runs <= max_gap_steps, runs)]
    grid[fillable] = np.interp(fillable, observed_slots, observed_vs)
    return grid, int(fillable.size), int((runs > max_gap_steps).sum())


def regularize(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    max_gap_steps: int = 3,
    max_slots: int = _DEFAULT_MAX_SLOTS,
) -> Regular:
    """Sort, clean and resample a raw series onto its own regular grid.

    Points with a non-finite value or timestamp are dropped; repeated timestamps are averaged;
    each point goes to the nearest slot of ``start + k * interval`` (two in one slot are averaged);
    gaps of at most ``max_gap_steps`` empty slots are interpolated linearly, longer ones stay NaN.
    Raises :class:`InsufficientSeries` when fewer than 2 distinct usable points remain, and
    ``ValueError`` for mismatched inputs or a grid longer than ``max_slots``.
    """
    ts, vs = _paired_arrays(timestamps, values, max_gap_steps=max_gap_steps)
    raw_points = int(ts.size)
    usable = np.isfinite(ts) & np.isfinite(vs)
    kept = int(usable.sum())
    unique_ts, merged_vs = _merge_duplicates(ts[usable], vs[usable])
    _require_two_points(int(unique_ts.size), raw_points=raw_points, dropped=raw_points - kept, usable=kept)
    interval = detect_interval(unique_ts)
    slots = _grid_slots(unique_ts, interval=interval, max_slots=max_slots)
    observed_slots, observed_vs = _merge_slots(slots, merged_vs)
    grid, filled, gaps = _fill_short_gaps(
        observed_slots, observed_vs, n_slots=int(slots[-1]) + 1, max_gap_steps=max_gap_steps
    )
    return Regular(
        start=float(unique_ts[0]),
        interval=interval,
        values=grid,
        raw_points=raw_points,
        dropped_non_finite=raw_points - kept,
        merged_duplicates=kept - int(observed_slots.size),
        filled=filled,
        gaps=gaps,
    )
