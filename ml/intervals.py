"""Split-conformal prediction intervals, one width per horizon step and level.

The network is fitted on the training split; its absolute errors on the validation split, which it
never trained on, calibrate the intervals: the half-width of step ``h`` at level ``a`` is the
``ceil((n + 1) a) / n`` empirical quantile of the ``n`` validation errors of that step (the
finite-sample correction that makes the coverage at least ``a`` for exchangeable errors). Steps
further ahead err more, so their intervals come out wider without being told to. The test split,
untouched by both the fit and the calibration, measures the coverage actually reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.metrics import finite_or_none

__all__ = ["DEFAULT_LEVELS", "Interval", "calibrate", "coverage", "half_widths"]

FloatArray = npt.NDArray[np.float64]

DEFAULT_LEVELS = (0.8, 0.95)


@dataclass(frozen=True)
class Interval:
    """``forecast ± half_widths[h]`` holds the truth of step ``h + 1`` at ``level``; ``coverage`` is
    the share of test pairs it held (``None`` when nothing was scored)."""

    level: float
    half_widths: tuple[float, ...]
    coverage: float | None


def half_widths(errors: npt.ArrayLike, level: float) -> tuple[float, ...] | None:
    """The conformal half-width of each step from calibration ``errors`` ``(n, horizon)``; ``None``
    when a step has too few finite errors for the level (fewer than ``1 / (1 - level) - 1``)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"an interval level is above 0 and below 1, got {level}")
    matrix = np.abs(np.asarray(errors, dtype=np.float64))
    widths = []
    for step in range(matrix.shape[1]):
        column = np.sort(matrix[np.isfinite(matrix[:, step]), step])
        rank = math.ceil((column.size + 1) * level)
        if rank > column.size:
            return None
        widths.append(float(column[rank - 1]))
    return tuple(widths)


def coverage(truth: npt.ArrayLike, forecast: npt.ArrayLike, widths: Sequence[float]) -> float | None:
    """The share of finite (truth, forecast) pairs within ``forecast ± widths[step]``."""
    errors = np.abs(np.asarray(truth, dtype=np.float64) - np.asarray(forecast, dtype=np.float64))
    scored = np.isfinite(errors)
    if not scored.any():
        return None
    inside = errors <= np.asarray(widths, dtype=np.float64)[None, :]
    return finite_or_none(float(np.mean(inside[scored])))


def calibrate(
    calibration: tuple[npt.ArrayLike, npt.ArrayLike],
    test: tuple[npt.ArrayLike, npt.ArrayLike],
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> list[Interval]:
    """Intervals from the ``(truth, forecast)`` of the calibration split, with their coverage on the
    ``(truth, forecast)`` of the test split; a level the calibration split is too small for is left
    out rather than reported with a coverage it cannot have."""
    errors = np.asarray(calibration[0], dtype=np.float64) - np.asarray(calibration[1], dtype=np.float64)
    intervals = []
    for level in sorted(set(levels)):
        widths = half_widths(errors, level)
        if widths is not None:
            intervals.append(Interval(level, widths, coverage(test[0], test[1], widths)))
    return intervals
