"""Calendar covariates: where in the day and in the week each slot falls, as sine and cosine.

They are known for any future time, so a network given them at every input step knows the phase of
every target too (targets follow the last input at whole steps). A sine alone would confuse 06:00
with 18:00; the pair is a point on a circle, continuous across midnight and across Monday 00:00.

A series gets the channels of the calendar periods its interval is a whole fraction of (see
:func:`ml.seasonality.calendar_periods`) and its training data spans three times: a 30-minute series
of a month both, of five days the daily pair only, a daily series neither. Times are
UTC: a site's local day is a fixed rotation of it, which the network's first layer absorbs; a
daylight-saving shift moves that rotation by an hour twice a year, which it does not.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ml.seasonality import calendar_periods

__all__ = ["CHANNELS", "MIN_CYCLES", "calendar_channels", "calendar_features"]

FloatArray = npt.NDArray[np.float64]

DAY = 86_400.0
WEEK = 604_800.0
# 1970-01-05 00:00 UTC, a Monday: the week's phase starts there, as ISO weeks do.
_MONDAY = 4 * DAY

# Whole periods the training split must span before a period's channels are given (as many as a
# season needs to be detected, see ml.seasonality).
MIN_CYCLES = 3
# The channel names of each calendar period, in the order a network sees them.
CHANNELS: dict[str, tuple[str, str]] = {
    "daily": ("time_of_day_sin", "time_of_day_cos"),
    "weekly": ("day_of_week_sin", "day_of_week_cos"),
}
_PHASES: dict[str, tuple[float, float]] = {
    "time_of_day_sin": (DAY, 0.0),
    "time_of_day_cos": (DAY, 0.0),
    "day_of_week_sin": (WEEK, _MONDAY),
    "day_of_week_cos": (WEEK, _MONDAY),
}


def calendar_channels(interval_seconds: float, *, training_seconds: float = math.inf) -> tuple[str, ...]:
    """The calendar channels a series sampled every ``interval_seconds`` gets, daily first: those of
    each calendar period its training data spans at least :data:`MIN_CYCLES` times.

    With less, the phase of a period never repeats in training, so the network would read it as a
    clock (a proxy for "later") and extrapolate it into the test split and beyond.
    """
    return tuple(
        name
        for period, steps in calendar_periods(interval_seconds)
        if training_seconds >= MIN_CYCLES * steps * interval_seconds
        for name in CHANNELS[period]
    )


def calendar_features(timestamps: npt.ArrayLike, channels: tuple[str, ...]) -> FloatArray:
    """``(len(timestamps), len(channels))``: each channel at each epoch-seconds timestamp.

    Raises ``ValueError`` for an unknown channel or a non-finite timestamp (a feature must never be
    NaN: a window would then be dropped for a reason the value series does not show).
    """
    times = np.asarray(timestamps, dtype=np.float64).ravel()
    if not np.isfinite(times).all():
        raise ValueError("calendar features need finite timestamps")
    features = np.empty((times.size, len(channels)), dtype=np.float64)
    for column, name in enumerate(channels):
        if name not in _PHASES:
            raise ValueError(f"unknown calendar channel {name!r}; known: {', '.join(_PHASES)}")
        period, anchor = _PHASES[name]
        angle = 2 * np.pi * np.mod(times - anchor, period) / period
        features[:, column] = np.sin(angle) if name.endswith("_sin") else np.cos(angle)
    return features
