"""Which forecaster serves a job: the one with the lowest RMSE on the validation split.

The network and every baseline that can serve cheaply (persistence, the seasonal naive forecasts)
forecast the same validation pairs; the lowest RMSE there serves. The test split is never looked at
to choose, so the test metrics of the one chosen stay an honest estimate of what it will do. A tie
goes to the earlier candidate, the network first: it was trained for the job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.metrics import finite_or_none

__all__ = ["NETWORK", "Candidate", "Served", "choose"]

FloatArray = npt.NDArray[np.float64]

NETWORK = "network"


@dataclass(frozen=True, eq=False)
class Candidate:
    """A forecaster's forecasts of the validation and test pairs, ``(n_origins, horizon)`` each."""

    name: str
    period: int | None
    validation: FloatArray
    test: FloatArray


@dataclass(frozen=True)
class Served:
    name: str
    period: int | None
    reason: str
    validation_rmse: float | None


def _rmse(truth: FloatArray, forecast: FloatArray) -> float | None:
    errors = (forecast - truth)[np.isfinite(truth)]
    return finite_or_none(math.sqrt(float(np.mean(np.square(errors))))) if errors.size else None


def choose(candidates: Sequence[Candidate], validation_truth: npt.ArrayLike) -> tuple[Served, Candidate]:
    """The candidate with the lowest validation RMSE (a candidate without one never wins), and why."""
    truth = np.asarray(validation_truth, dtype=np.float64)
    scored = [(_rmse(truth, candidate.validation), candidate) for candidate in candidates]
    ranked = [(rmse, candidate) for rmse, candidate in scored if rmse is not None]
    if not ranked:
        first = candidates[0]
        return Served(
            first.name, first.period, "no forecaster could be scored on the validation split", None
        ), first
    best_rmse, best = min(ranked, key=lambda pair: pair[0])
    others = ", ".join(f"{c.name} {rmse:.6g}" for rmse, c in ranked if c is not best) or "none"
    reason = f"lowest validation RMSE ({best_rmse:.6g}; {others})"
    return Served(best.name, best.period, reason, best_rmse), best
