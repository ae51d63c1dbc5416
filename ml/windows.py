"""Chronological splits, supervised windows, and the admission minimum derived from both.

The admission check (``startTraining``) and preprocessing must agree on how many points a job
needs, or a job is admitted, collects its data and only then fails: fiware-chronos
(github.com/tcc-chronos/fiware-chronos, ``training_management_use_case.py``) admits
``ceil((L + H + 2) / train_ratio)`` = 39 points for L = 24, H = 1 and 0.15/0.15, where its own
preprocessing needs 167. So the minimum is not a formula of its own: it is computed from
:func:`split_sizes` and the window length, the same arithmetic preprocessing uses.

A window is ``lookback`` inputs followed by ``horizon`` targets, built within one split so no
window straddles train and validation (or validation and test), and never across a NaN gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "SplitSizes",
    "make_windows",
    "minimum_points",
    "split_sizes",
    "window_starts",
    "windows_per_split",
]

Float32Array = npt.NDArray[np.float32]

# ratio * n is computed in binary floating point: 0.29 * 100 gives 28.999999999999996, whose floor
# would silently shrink a split by one point. A relative nudge far below any meaningful ratio digit
# restores the decimal answer without changing any genuinely fractional product.
_FLOOR_NUDGE = 1e-12


@dataclass(frozen=True)
class SplitSizes:
    """Points (or windows) per chronological split, oldest first."""

    train: int
    validation: int
    test: int


def _check_ratios(validation_ratio: float, test_ratio: float) -> None:
    if not (0 <= validation_ratio < 1 and 0 <= test_ratio < 1 and validation_ratio + test_ratio < 1):
        raise ValueError(
            "validation_ratio and test_ratio must each be in [0, 1) and leave room for training "
            f"(sum < 1), got {validation_ratio} and {test_ratio}"
        )


def _share(ratio: float, n: int) -> int:
    return math.floor(ratio * n * (1 + _FLOOR_NUDGE))


def split_sizes(n: int, validation_ratio: float, test_ratio: float) -> SplitSizes:
    """Sizes of the chronological split of ``n`` points.

    The newest ``floor(test_ratio * n)`` points are the test split, the ``floor(validation_ratio * n)``
    before them the validation split, and the rest (the oldest, and the largest share of the
    rounding) the training split.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    _check_ratios(validation_ratio, test_ratio)
    test = _share(test_ratio, n)
    validation = _share(validation_ratio, n)
    return SplitSizes(train=n - validation - test, validation=validation, test=test)


def _windows_in(points: int, span: int) -> int:
    return max(0, points - span + 1)


def windows_per_split(
    n: int, lookback: int, horizon: int, validation_ratio: float, test_ratio: float
) -> SplitSizes:
    """Windows each split yields for a gap-free series of ``n`` points."""
    _check_window(lookback, horizon)
    span = lookback + horizon
    sizes = split_sizes(n, validation_ratio, test_ratio)
    return SplitSizes(
        train=_windows_in(sizes.train, span),
        validation=_windows_in(sizes.validation, span),
        test=_windows_in(sizes.test, span),
    )


def minimum_points(lookback: int, horizon: int, validation_ratio: float, test_ratio: float) -> int:
    """The fewest points for which every split holds at least one full window.

    Admission refuses a job below this number and preprocessing succeeds at or above it. The
    train split does not grow monotonically with ``n`` (at some ``n`` both floors step up at once
    and train loses a point), so for large ratios the first ``n`` that works can be followed by
    one that does not. The minimum returned is therefore the smallest ``n`` from which *every*
    larger ``n`` works too; it still fails at ``minimum - 1``. For the usual ratios both readings
    coincide.
    """
    _check_window(lookback, horizon)
    _check_ratios(validation_ratio, test_ratio)
    if validation_ratio == 0 or test_ratio == 0:
        raise ValueError(
            "validation_ratio and test_ratio must be > 0: an empty split never holds a window, "
            f"got {validation_ratio} and {test_ratio}"
        )
    span = lookback + horizon
    train_ratio = 1 - validation_ratio - test_ratio

    def enough(n: int) -> bool:
        sizes = split_sizes(n, validation_ratio, test_ratio)
        return min(sizes.train, sizes.validation, sizes.test) >= span

    # Every n >= ceiling works: each share reaches span once ratio * n >= span, and train is at
    # least n * train_ratio minus the nudge. Every n <= floor fails: a share (or the train split,
    # which exceeds n * train_ratio by less than 2) falls short. Only the band between, about
    # 2 / train_ratio wide, needs checking, newest first, to find the last n that fails.
    ceiling = max(
        math.ceil(span / validation_ratio), math.ceil(span / test_ratio), math.ceil(span / train_ratio)
    )
    floor = max(
        0,
        math.floor(span / validation_ratio) - 2,
        math.floor(span / test_ratio) - 2,
        math.floor((span - 2) / train_ratio) - 2,
    )
    n = ceiling + 1
    while n > floor and enough(n):
        n -= 1
    return n + 1


def _check_window(lookback: int, horizon: int) -> None:
    if lookback < 1 or horizon < 1:
        raise ValueError(f"lookback and horizon must be >= 1, got {lookback} and {horizon}")


def _valid(series: npt.NDArray[np.float64], span: int) -> npt.NDArray[np.bool_]:
    # Counting bad points per window through a cumulative sum costs O(n), not O(n * span).
    bad = np.concatenate(([0], np.cumsum(~np.isfinite(series))))
    valid: npt.NDArray[np.bool_] = (bad[span:] - bad[:-span]) == 0
    return valid


def window_starts(z: npt.ArrayLike, lookback: int, horizon: int) -> npt.NDArray[np.int64]:
    """Where each window of :func:`make_windows` starts in ``z``, in the same order: so the raw
    values of its targets (``z[start + lookback : start + lookback + horizon]``) can be read."""
    _check_window(lookback, horizon)
    series = np.asarray(z, dtype=np.float64)
    span = lookback + horizon
    if series.ndim != 1 or series.size < span:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(_valid(series, span)).astype(np.int64)


def make_windows(
    z: npt.ArrayLike,
    lookback: int,
    horizon: int,
    *,
    delta: bool,
    covariates: npt.ArrayLike | None = None,
) -> tuple[Float32Array, Float32Array, Float32Array]:
    """Supervised windows of one split of a scaled series.

    Returns ``X`` of shape ``(n, lookback, 1 + k)``, ``Y`` of shape ``(n, horizon)`` and ``last`` of
    shape ``(n,)`` (the value at the last input step), all float32, for every window whose
    ``lookback + horizon`` points are all finite, in chronological order. With ``delta`` the
    window and its targets are taken relative to ``last``; a forecast is then ``last + model(X)``.
    On 19,249 half-hourly sea temperatures (NERACOOS buoy B01, from the ``bokeh-sampledata``
    package; LSTM-32, L = 48, 70/15/15) the same network scored Theil's U2 0.972 at H = 1 and
    0.983 at H = 12 with delta targets, against 1.852 and 2.383 on raw levels: only the delta
    form beats persistence (``bench/ml_quality.py`` measures it).

    ``covariates`` ``(len(z), k)``, finite, are extra input channels after the value (the calendar
    features of each slot): taken as they are, never relative to ``last``.
    """
    _check_window(lookback, horizon)
    series = np.asarray(z, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"z must be a 1-D series, got shape {series.shape}")
    extra = _covariates(covariates, series.size)
    span = lookback + horizon
    if series.size < span:
        return (
            np.empty((0, lookback, 1 + extra.shape[1]), dtype=np.float32),
            np.empty((0, horizon), dtype=np.float32),
            np.empty((0,), dtype=np.float32),
        )

    valid = _valid(series, span)
    every = np.lib.stride_tricks.sliding_window_view(series, span)
    # A gap-free split keeps the strided view (no copy); only a gapped one pays for a selection.
    windows = every if valid.all() else every[valid]

    # Differences are taken in float64 and rounded once, on the way into the float32 outputs.
    last64 = windows[:, lookback - 1]
    x = np.empty((windows.shape[0], lookback, 1 + extra.shape[1]), dtype=np.float32)
    y = np.empty((windows.shape[0], horizon), dtype=np.float32)
    if delta:
        np.subtract(windows[:, :lookback], last64[:, None], out=x[:, :, 0])
        np.subtract(windows[:, lookback:], last64[:, None], out=y)
    else:
        x[:, :, 0] = windows[:, :lookback]
        y[:] = windows[:, lookback:]
    if extra.shape[1]:
        starts = np.flatnonzero(valid)
        x[:, :, 1:] = extra[starts[:, None] + np.arange(lookback)]
    return x, y, last64.astype(np.float32)


def _covariates(covariates: npt.ArrayLike | None, n: int) -> npt.NDArray[np.float64]:
    if covariates is None:
        return np.empty((n, 0), dtype=np.float64)
    extra = np.asarray(covariates, dtype=np.float64)
    if extra.ndim != 2 or extra.shape[0] != n:
        raise ValueError(f"covariates must be ({n}, k), one row per point, got shape {extra.shape}")
    if not np.isfinite(extra).all():
        raise ValueError("covariates must be finite")
    return extra
