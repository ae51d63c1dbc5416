"""Champion and challenger scored on one holdout: the same origins, the same target pairs.

A holdout is the part of a regular series whose slots lie after ``start`` (the newest data neither
forecaster trained on). Every origin whose context (the longest either forecaster reads) is
finite and whose next slot is in the holdout forecasts the horizon; a pair counts when its
target slot is in the holdout and holds a finite reading. Each forecaster is a plain function of
its context (values and timestamps, oldest first), so a network, ETS and the baselines are
scored exactly as they serve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.metrics import finite_or_none

__all__ = ["ContextForecaster", "HoldoutScore", "holdout_origins", "score_holdout"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ContextForecaster = Callable[[FloatArray, FloatArray], FloatArray]
"""(values, timestamps) of the newest context slots -> one forecast per horizon step."""


@dataclass(frozen=True)
class HoldoutScore:
    origins: int
    pairs: int
    rmse: tuple[float | None, ...]
    """One RMSE per forecaster, on exactly the same pairs; None without pairs."""


def holdout_origins(
    times: FloatArray, values: FloatArray, *, start: float, context: int, max_origins: int
) -> IntArray:
    """Origins (slot indices) with a finite context of ``context`` slots whose next slot lies after
    ``start``; at most ``max_origins`` of them, spread evenly over the holdout (newest kept)."""
    if context < 1 or max_origins < 1:
        raise ValueError("context and max_origins must be at least 1")
    n = values.size
    first_target = int(np.searchsorted(times, start, side="right"))
    candidates = np.arange(max(first_target - 1, context - 1), n - 1, dtype=np.int64)
    if candidates.size == 0:
        return candidates
    finite = np.isfinite(values).astype(np.int64)
    sums = np.concatenate(([0], np.cumsum(finite)))
    complete = sums[candidates + 1] - sums[candidates + 1 - context] == context
    usable: IntArray = candidates[complete]
    if usable.size <= max_origins:
        return usable
    picks = np.unique(np.round(np.linspace(usable.size - 1, 0, max_origins)).astype(np.int64))
    picked: IntArray = usable[picks]
    return picked


def score_holdout(
    forecasters: Sequence[ContextForecaster],
    times: FloatArray,
    values: FloatArray,
    *,
    start: float,
    horizon: int,
    contexts: Sequence[int],
    max_origins: int = 200,
) -> HoldoutScore:
    """Each forecaster's RMSE on the holdout pairs after ``start``; ``contexts[i]`` is how many
    slots forecaster ``i`` reads (each is handed exactly its own)."""
    if len(forecasters) != len(contexts) or horizon < 1:
        raise ValueError("give one context per forecaster and a horizon of at least 1")
    origins = holdout_origins(times, values, start=start, context=max(contexts), max_origins=max_origins)
    squared = [0.0] * len(forecasters)
    pairs = 0
    for origin in origins.tolist():
        steps = np.arange(origin + 1, min(origin + 1 + horizon, values.size))
        keep = (times[steps] > start) & np.isfinite(values[steps])
        if not keep.any():
            continue
        truth = values[steps][keep]
        for index, (forecast, context) in enumerate(zip(forecasters, contexts, strict=True)):
            window = slice(origin + 1 - context, origin + 1)
            predicted = np.asarray(forecast(values[window], times[window]), dtype=np.float64)
            squared[index] += float(np.sum((predicted[: steps.size][keep] - truth) ** 2))
        pairs += int(keep.sum())
    # A forecaster that answered NaN or inf somewhere has no defined score: None, never NaN.
    rmse = tuple(finite_or_none(math.sqrt(total / pairs)) if pairs else None for total in squared)
    return HoldoutScore(origins=int(origins.size), pairs=pairs, rmse=rmse)
