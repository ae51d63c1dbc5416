"""On-demand forecasts: the newest points from STH-Comet through the job's ONNX network.

A query, not a mutation: nothing is written. The context is read in the model's own tenant and
placed on the job's sampling grid; target times step by that same interval. A forecast is three
steps, each usable alone: :func:`context` reads, :func:`served_values` runs the forecaster,
:func:`assemble` dates the points; recurring batches (:mod:`app.predictions.batch`) read many
contexts, then run one network over all the windows it serves.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt

from app.auth.tenancy import TenantScope
from app.errors import Conflict, ErrorCode, FieldError, InsufficientData, NotFound, ValidationFailed
from app.models.service import parse_id
from app.predictions.forecasters import Forecasters
from app.timeutil import utcnow
from app.training import service as training
from app.training.config import series_of
from app.training.documents import ServedBy, TrainingJobDocument, TrainingStatus
from app.upstream import translate
from fiware.errors import FiwareError
from fiware.history import PagedHistory
from ml.baselines import baseline_forecast
from ml.ets import ETS, forecast_from_state
from ml.selection import NETWORK
from ml.series import FloatArray, InsufficientSeries
from ml.serving import RecentWindow, recent_window

# Points read beyond the window, so a few missing or doubled readings still fill it.
CONTEXT_MARGIN = 1.5


@dataclass(frozen=True)
class ForecastPoint:
    step: int
    value: float
    target_timestamp: datetime
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class ContextPoint:
    timestamp: datetime
    value: float


@dataclass(frozen=True)
class Forecast:
    model_id: UUID
    training_job_id: UUID
    generated_at: datetime
    horizon: int
    context: list[ContextPoint]
    points: list[ForecastPoint]
    interval_level: float | None = None
    """The level of every point's ``lower`` and ``upper``; ``None`` when the job has no interval."""
    served_by: str = NETWORK
    """The forecaster that made it: the network or a baseline."""


def interval_widths(job: TrainingJobDocument, level: float | None) -> tuple[float | None, list[float] | None]:
    """The level and per-step half-widths to serve: ``level`` when the job calibrated it, else its
    first level (none when it calibrated none); VALIDATION_ERROR for a level it did not calibrate."""
    if level is None:
        return (job.intervals[0].level, job.intervals[0].half_widths) if job.intervals else (None, None)
    for interval in job.intervals:
        if interval.level == level:
            return level, interval.half_widths
    levels = ", ".join(str(interval.level) for interval in job.intervals) or "none"
    raise ValidationFailed(
        [
            FieldError(
                ErrorCode.VALIDATION_ERROR,
                f"training job {job.id} has no {level} interval; its levels: {levels}",
                ("intervalLevel",),
            )
        ]
    )


async def completed_job(job_id: str, *, scope: TenantScope) -> TrainingJobDocument:
    """The job, when it exists and has a network to forecast with; NOT_FOUND or CONFLICT else."""
    job = training.visible(await TrainingJobDocument.get(parse_id(job_id, field="trainingJobId")), scope)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    check_completed(job)
    return job


def check_completed(job: TrainingJobDocument) -> None:
    """CONFLICT unless the job is COMPLETED, with the summary a forecast needs."""
    if job.status is not TrainingStatus.COMPLETED or job.summary is None:
        raise Conflict(
            f"training job {job.id} is {job.status.value}; only a COMPLETED job forecasts",
            field=("trainingJobId",),
        )


async def predict(
    *,
    job_id: str,
    scope: TenantScope,
    history: PagedHistory,
    forecasters: Forecasters,
    max_gap_steps: int,
    interval_level: float | None = None,
) -> Forecast:
    job = await completed_job(job_id, scope=scope)
    return await forecast(
        job=job,
        history=history,
        forecasters=forecasters,
        max_gap_steps=max_gap_steps,
        interval_level=interval_level,
    )


@dataclass(frozen=True, eq=False)
class Context:
    """What a forecast of a job is made from: the forecaster that serves it, the interval to serve
    with it, and the newest readings on the job's grid."""

    job: TrainingJobDocument
    served: ServedBy
    level: float | None
    widths: list[float] | None
    interval: float
    window: RecentWindow

    @property
    def network_input(self) -> tuple[FloatArray, FloatArray]:
        """The values and timestamps the network reads: the newest ``lookback`` of the window."""
        lookback = self.job.config.lookback_window
        return self.window.values[-lookback:], self.window.timestamps[-lookback:]


async def forecast(
    *,
    job: TrainingJobDocument,
    history: PagedHistory,
    forecasters: Forecasters,
    max_gap_steps: int,
    interval_level: float | None = None,
) -> Forecast:
    """Forecast with a job :func:`completed_job` answered, by the forecaster that serves it, with its
    interval at ``interval_level`` (the job's first level when not given)."""
    ready = await context(
        job=job, history=history, max_gap_steps=max_gap_steps, interval_level=interval_level
    )
    return assemble(ready, await served_values(ready, forecasters=forecasters))


async def context(
    *,
    job: TrainingJobDocument,
    history: PagedHistory,
    max_gap_steps: int,
    interval_level: float | None = None,
) -> Context:
    """Everything a forecast needs but the forecaster's output: the reading from STH-Comet."""
    if job.summary is None:
        raise Conflict(f"training job {job.id} has no preprocessing summary", field=("trainingJobId",))
    level, widths = interval_widths(job, interval_level)
    served = job.served_by or ServedBy(name=NETWORK, reason="trained before forecasters were chosen")
    interval = job.summary.sampling_interval_seconds
    window = await _window(
        job,
        history=history,
        steps=_context_steps(job, served),
        interval=interval,
        max_gap_steps=max_gap_steps,
    )
    return Context(job, served, level, widths, interval, window)


def assemble(ready: Context, values: npt.ArrayLike) -> Forecast:
    """The forecast of ``values`` (one per horizon step), generated now, after the window's newest point."""
    window = ready.window
    return Forecast(
        model_id=ready.job.model_id,
        training_job_id=ready.job.id,
        generated_at=utcnow(),
        horizon=ready.job.config.forecast_horizon,
        context=[
            ContextPoint(datetime.fromtimestamp(float(t), tz=UTC), float(v))
            for t, v in zip(window.timestamps, window.values, strict=True)
        ],
        points=_points(
            [float(value) for value in np.asarray(values, dtype=np.float64).ravel()],
            last=float(window.timestamps[-1]),
            interval=ready.interval,
            widths=ready.widths,
        ),
        interval_level=ready.level,
        served_by=ready.served.name,
    )


def _context_steps(job: TrainingJobDocument, served: ServedBy) -> int:
    """Readings the served forecaster reads: the network its lookback, a seasonal naive forecast a
    season back, the statistical model its warm-up."""
    if served.name == ETS:
        return int(_ets_state(job)["model"]["warmup"])
    return max(job.config.lookback_window, served.period or 1)


def _ets_state(job: TrainingJobDocument) -> dict[str, Any]:
    if job.ets is None:
        raise Conflict(
            f"training job {job.id} is served by {ETS} but stored no ETS model", field=("trainingJobId",)
        )
    return job.ets


async def served_values(ready: Context, *, forecasters: Forecasters) -> FloatArray:
    """The served forecaster's output for one context: every horizon step, in original units."""
    job, window = ready.job, ready.window
    horizon = job.config.forecast_horizon
    if ready.served.name == NETWORK:
        forecaster = await forecasters.get(job)
        return await asyncio.to_thread(forecaster.forecast, *ready.network_input)
    if ready.served.name == ETS:
        # A warm-up of up to 2,048 values is a few milliseconds of numpy: off the event loop.
        return await asyncio.to_thread(
            forecast_from_state, _ets_state(job), window.timestamps, window.values, horizon
        )
    return baseline_forecast(window.values, horizon, ready.served.period)


async def _window(
    job: TrainingJobDocument, *, history: PagedHistory, steps: int, interval: float, max_gap_steps: int
) -> RecentWindow:
    """The newest ``steps`` readings on the job's grid, with training's gap rule."""
    series, tenant = series_of(job.config)
    wanted = int(steps * CONTEXT_MARGIN) + max_gap_steps + 1
    try:
        recent = await history.newest(series, tenant, n=wanted)
    except FiwareError as error:
        raise translate(error) from error
    try:
        return recent_window(
            [point.timestamp.timestamp() for point in recent.points],
            [point.value for point in recent.points],
            interval=interval,
            lookback=steps,
            max_gap_steps=max_gap_steps,
        )
    except InsufficientSeries as error:
        raise InsufficientData(str(error), field=("trainingJobId",)) from error


def _points(
    values: list[float], *, last: float, interval: float, widths: list[float] | None
) -> list[ForecastPoint]:
    points = []
    for step, value in enumerate(values, start=1):
        target = datetime.fromtimestamp(last + step * interval, tz=UTC)
        width = widths[step - 1] if widths is not None and step <= len(widths) else None
        bounds = (value - width, value + width) if width is not None else (None, None)
        points.append(ForecastPoint(step, value, target, *bounds))
    return points


__all__ = [
    "Context",
    "ContextPoint",
    "Forecast",
    "ForecastPoint",
    "assemble",
    "check_completed",
    "completed_job",
    "context",
    "forecast",
    "interval_widths",
    "predict",
    "served_values",
]
