"""Forecast quality metrics on the test split, in original units, pooled over (origin, step).

Every model emits all ``horizon`` steps from each forecast origin, so the natural unit of scoring is
the (origin, step) pair. Theil's U2 divides the model's RMSE by the RMSE of naive persistence (repeat
the last observed value for every step) over exactly the same pairs. fiware-chronos
(github.com/tcc-chronos/fiware-chronos) divides a one-step model error by an h-step persistence
error, ``sqrt(mean((y[h:]-ŷ[h:])²)) / sqrt(mean((y[h:]-y[:-h])²))``, which flatters the model for h > 1.

Metrics end up in Mongo and in GraphQL responses, where a NaN or infinity breaks serialisation
(JSON has no NaN: a strict encoder refuses it with "Out of range float values are not JSON
compliant", and a constant or all-zero series makes MAPE or Theil's U2 NaN). So each value is
either a finite float or ``None`` meaning "undefined for this data".

Relative errors: MAPE skips targets that are zero (decided on the raw values: a zero that went
through float32 scaling comes back as 1e-6 and would divide a whole error by it), and is ``None``
when fewer than a tenth of the pairs are left; sMAPE (bounded, 0-200 %) and MASE (the MAE over the
in-sample MAE of the seasonal-naive forecast on the training split) stay usable on counts with
zeros and on series that cross zero.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["ForecastMetrics", "finite_or_none", "forecast_metrics", "seasonal_naive_scale"]

FloatArray = npt.NDArray[np.float64]

# Relative to the series' mean magnitude (floored at 1) so that MAPE masking behaves the same in any
# unit, while an all-zero series still masks everything.
MAPE_EPS_REL = 1e-8
# MAPE over a handful of non-zero targets of a mostly-zero series describes those few, not the model.
MAPE_MIN_SHARE = 0.1


@dataclass(frozen=True)
class ForecastMetrics:
    """Pooled forecast metrics; ``None`` wherever a metric is undefined for the data scored."""

    mse: float | None
    mae: float | None
    rmse: float | None
    mape: float | None
    r2: float | None
    theil_u: float | None
    smape: float | None
    mase: float | None
    # A list cannot be hashed; leaving it out keeps the frozen dataclass hashable.
    rmse_per_step: list[float | None] = field(hash=False)
    points: int

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-safe values (no NaN or infinity can reach here)."""
        return dataclasses.asdict(self)


def finite_or_none(x: float) -> float | None:
    """``float(x)`` when finite, else ``None``: the one gate between numpy results and storage."""
    value = float(x)
    return value if math.isfinite(value) else None


def _as_matrix(values: npt.ArrayLike, name: str) -> FloatArray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim == 1:
        return matrix.reshape(-1, 1)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be (n_origins, horizon) or (n_origins,), got shape {matrix.shape}")
    return matrix


def _checked_inputs(
    truth: npt.ArrayLike, predicted: npt.ArrayLike, last_observed: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``truth`` and ``predicted`` as matrices of one shape, ``last_observed`` as one value a row."""
    y_all = _as_matrix(truth, "truth")
    p_all = _as_matrix(predicted, "predicted")
    last = np.asarray(last_observed, dtype=np.float64)
    if p_all.shape != y_all.shape:
        raise ValueError(f"predicted has shape {p_all.shape}, truth has shape {y_all.shape}")
    if last.shape != (y_all.shape[0],):
        raise ValueError(f"last_observed must have shape ({y_all.shape[0]},), got {last.shape}")
    return y_all, p_all, last


def _rmse(errors: FloatArray) -> float | None:
    if errors.size == 0:
        return None
    return finite_or_none(math.sqrt(float(np.mean(np.square(errors)))))


def _rmse_per_step(errors: FloatArray, scored: npt.NDArray[np.bool_]) -> list[float | None]:
    """RMSE of each horizon step (column) over its scored origins."""
    return [_rmse(errors[scored[:, step], step]) for step in range(errors.shape[1])]


def _mape(y: FloatArray, errors: FloatArray) -> float | None:
    """Mean absolute percentage error over the values not too close to zero to divide by."""
    abs_y = np.abs(y)
    eps = MAPE_EPS_REL * max(1.0, float(np.mean(abs_y)))
    relevant = abs_y > eps
    if not relevant.any() or relevant.sum() < MAPE_MIN_SHARE * abs_y.size:
        return None
    return finite_or_none(float(np.mean(np.abs(errors[relevant]) / abs_y[relevant])) * 100.0)


def _smape(y: FloatArray, errors: FloatArray) -> float | None:
    """Symmetric MAPE, 0-200 %: each error over the mean magnitude of truth and forecast; a pair
    where both are zero is exact and counts as 0."""
    scale = np.abs(y) + np.abs(y + errors)
    ratio = np.divide(2.0 * np.abs(errors), scale, out=np.zeros_like(scale), where=scale > 0)
    return finite_or_none(float(np.mean(ratio)) * 100.0)


def _mase(mae: float | None, scale: float | None) -> float | None:
    if mae is None or not scale:
        return None
    return finite_or_none(mae / scale)


def seasonal_naive_scale(train: npt.ArrayLike, period: int) -> float | None:
    """The in-sample MAE of the seasonal-naive forecast (``y[t - period]``) over ``train``: the MASE
    denominator. ``None`` when no pair is finite or the series repeats exactly."""
    values = np.asarray(train, dtype=np.float64).ravel()
    if period < 1 or values.size <= period:
        return None
    differences = np.abs(values[period:] - values[:-period])
    differences = differences[np.isfinite(differences)]
    if differences.size == 0:
        return None
    scale = float(np.mean(differences))
    return scale if scale > 0 and math.isfinite(scale) else None


def _r2(y: FloatArray, errors: FloatArray) -> float | None:
    """The coefficient of determination; ``None`` for a constant truth (no variance to explain)."""
    # Tested on the values, not on SST itself: the mean of a constant float series can be off by
    # an ulp, giving a tiny non-zero SST and an absurd R² instead of "undefined".
    if np.all(y == y[0]):
        return None
    sst = float(np.sum(np.square(y - np.mean(y))))
    return finite_or_none(1.0 - float(np.sum(np.square(errors))) / sst)


def _theil_u(rmse: float | None, rmse_naive: float | None) -> float | None:
    """Theil's U2: the model's RMSE over persistence's; ``None`` when either is missing or zero."""
    if rmse is None or not rmse_naive:
        return None
    return finite_or_none(rmse / rmse_naive)


def _pooled(
    y: FloatArray,
    errors: FloatArray,
    naive_errors: FloatArray,
    rmse_per_step: list[float | None],
    mase_scale: float | None,
) -> ForecastMetrics:
    """Metrics of the scored pairs, given flat: their truth, model errors and persistence errors."""
    rmse = _rmse(errors)
    mae = finite_or_none(float(np.mean(np.abs(errors))))
    return ForecastMetrics(
        mse=finite_or_none(float(np.mean(np.square(errors)))),
        mae=mae,
        rmse=rmse,
        mape=_mape(y, errors),
        r2=_r2(y, errors),
        # Same helper on the same pairs, so a forecast equal to persistence scores exactly 1.0.
        theil_u=_theil_u(rmse, _rmse(naive_errors)),
        smape=_smape(y, errors),
        mase=_mase(mae, mase_scale),
        rmse_per_step=rmse_per_step,
        points=int(y.size),
    )


def forecast_metrics(
    truth: npt.ArrayLike,
    predicted: npt.ArrayLike,
    last_observed: npt.ArrayLike,
    *,
    mase_scale: float | None = None,
) -> ForecastMetrics:
    """Score ``predicted`` against ``truth`` and against persistence from ``last_observed``.

    ``truth`` and ``predicted`` are ``(n_origins, horizon)`` (1-D means horizon 1); ``last_observed``
    is ``(n_origins,)``. Pairs whose truth or persistence value is not finite are not scored (there is
    nothing to compare against) and are not counted in ``points``. A non-finite *prediction* on a
    scored pair is kept, so every error metric it touches becomes ``None``: a diverged model must not
    look good by having its failures silently skipped. ``mase_scale``: see
    :func:`seasonal_naive_scale`; without it MASE is ``None``.
    """
    y_all, p_all, last = _checked_inputs(truth, predicted, last_observed)
    naive_all = np.broadcast_to(last[:, None], y_all.shape)
    scored = np.isfinite(y_all) & np.isfinite(naive_all)
    # Huge or infinite predictions overflow when squared; the result is inf and becomes None, so the
    # warnings would only be noise in worker logs.
    with np.errstate(all="ignore"):
        errors_all = p_all - y_all
        rmse_per_step = _rmse_per_step(errors_all, scored)
        if not scored.any():
            return ForecastMetrics(None, None, None, None, None, None, None, None, rmse_per_step, 0)
        naive_errors = (naive_all - y_all)[scored]
        return _pooled(y_all[scored], errors_all[scored], naive_errors, rmse_per_step, mase_scale)
