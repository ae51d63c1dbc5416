"""On-demand forecasts: the newest points from STH-Comet through the job's ONNX network.

A query, not a mutation: nothing is written. The context is read in the model's own tenant and
placed on the job's sampling grid; target times step by that same interval.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from app.auth.tenancy import TenantScope
from app.errors import Conflict, InsufficientData, NotFound
from app.models.service import parse_id
from app.predictions.forecasters import Forecasters
from app.timeutil import utcnow
from app.training import service as training
from app.training.config import series_of
from app.training.documents import TrainingJobDocument, TrainingStatus
from app.upstream import translate
from fiware.errors import FiwareError
from fiware.sth import SthClient
from ml.series import InsufficientSeries
from ml.serving import recent_window

# Points read beyond the window, so a few missing or doubled readings still fill it.
CONTEXT_MARGIN = 1.5


@dataclass(frozen=True)
class ForecastPoint:
    step: int
    value: float
    target_timestamp: datetime


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


async def completed_job(job_id: str, *, scope: TenantScope) -> TrainingJobDocument:
    """The job, when it exists and has a network to forecast with; NOT_FOUND or CONFLICT else."""
    job = training.visible(await TrainingJobDocument.get(parse_id(job_id, field="trainingJobId")), scope)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    if job.status is not TrainingStatus.COMPLETED or job.summary is None:
        raise Conflict(
            f"training job {job_id} is {job.status.value}; only a COMPLETED job forecasts",
            field=("trainingJobId",),
        )
    return job


async def predict(
    *, job_id: str, scope: TenantScope, sth: SthClient, forecasters: Forecasters, max_gap_steps: int
) -> Forecast:
    job = await completed_job(job_id, scope=scope)
    return await forecast(job=job, sth=sth, forecasters=forecasters, max_gap_steps=max_gap_steps)


async def forecast(
    *, job: TrainingJobDocument, sth: SthClient, forecasters: Forecasters, max_gap_steps: int
) -> Forecast:
    """Forecast with a job :func:`completed_job` answered."""
    if job.summary is None:
        raise Conflict(f"training job {job.id} has no preprocessing summary", field=("trainingJobId",))
    config = job.config
    interval = job.summary.sampling_interval_seconds
    forecaster = await forecasters.get(job)
    series, tenant = series_of(config)
    wanted = int(config.lookback_window * CONTEXT_MARGIN) + max_gap_steps + 1
    try:
        recent = await sth.newest(series, tenant, n=wanted)
    except FiwareError as error:
        raise translate(error) from error
    try:
        window = recent_window(
            [point.timestamp.timestamp() for point in recent.points],
            [point.value for point in recent.points],
            interval=interval,
            lookback=config.lookback_window,
            max_gap_steps=max_gap_steps,
        )
    except InsufficientSeries as error:
        raise InsufficientData(str(error), field=("trainingJobId",)) from error
    values = await asyncio.to_thread(forecaster.forecast, window.values)
    last = float(window.timestamps[-1])
    return Forecast(
        model_id=job.model_id,
        training_job_id=job.id,
        generated_at=utcnow(),
        horizon=config.forecast_horizon,
        context=[
            ContextPoint(datetime.fromtimestamp(float(t), tz=UTC), float(v))
            for t, v in zip(window.timestamps, window.values, strict=True)
        ],
        points=[
            ForecastPoint(step, float(value), datetime.fromtimestamp(last + step * interval, tz=UTC))
            for step, value in enumerate(values, start=1)
        ],
    )


__all__ = ["ContextPoint", "Forecast", "ForecastPoint", "completed_job", "forecast", "predict"]
