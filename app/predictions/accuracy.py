"""Live accuracy of a job's published forecasts: each run STH-Comet stored for its forecast entity,
joined with the readings of its sensor that arrived since (``ml.accuracy``).

Computed on demand from the history store, so it always reflects what FIWARE holds: the runs whose
targets fall in the window are read from the forecast entity's history, the readings from the
sensor's, both in the model's tenant. The origin of a run is one interval before its first target,
and its reading there is what persistence would have forecast (Theil's U2 compares with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from app.auth.tenancy import TenantScope
from app.errors import ErrorCode, FieldError, NotFound, ValidationFailed
from app.models.service import parse_id
from app.predictions.history import Run, parse_run
from app.timeutil import utcnow
from app.training import service as training
from app.training.config import series_of
from app.training.documents import TrainingJobDocument
from app.upstream import translate
from fiware.errors import FiwareError, FiwareNotFound
from fiware.history import PagedHistory, Series, parse_time
from fiware.http import Tenant
from fiware.orion import FORECAST_ATTRIBUTE
from ml.accuracy import LiveAccuracy, PublishedForecast, actuals_at, live_accuracy

MAX_WINDOW_SECONDS = 7 * 86_400.0
MAX_WINDOWS = 4
# Runs read per window at most: a week of forecasts every minute is 10,080.
MAX_RUNS = 20_000


def _check(windows: Sequence[float]) -> None:
    problems = []
    if not 1 <= len(windows) <= MAX_WINDOWS:
        problems.append(
            FieldError(ErrorCode.VALIDATION_ERROR, f"give 1 to {MAX_WINDOWS} windows", ("windowsSeconds",))
        )
    for index, window in enumerate(windows):
        if not 0 < window <= MAX_WINDOW_SECONDS:
            problems.append(
                FieldError(
                    ErrorCode.VALIDATION_ERROR,
                    f"must be above 0 and at most {MAX_WINDOW_SECONDS:g} s (got {window})",
                    ("windowsSeconds", str(index)),
                )
            )
    if problems:
        raise ValidationFailed(problems)


async def job_live_accuracy(
    *,
    job_id: str,
    windows: Sequence[float],
    scope: TenantScope,
    history: PagedHistory,
    now: datetime | None = None,
) -> list[LiveAccuracy]:
    """One :class:`LiveAccuracy` per window (seconds back from now) of the job's published forecasts."""
    _check(windows)
    job = training.visible(await TrainingJobDocument.get(parse_id(job_id, field="trainingJobId")), scope)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    moment = now or utcnow()
    interval = job.summary.sampling_interval_seconds if job.summary else 1.0
    since = moment - timedelta(seconds=max(windows) + (job.config.forecast_horizon + 1) * interval)
    series, tenant = series_of(job.config)
    try:
        runs = await _runs(job, tenant, history=history, since=since, until=moment)
        readings = await readings_between(
            series, tenant, history=history, since=since - timedelta(seconds=interval), until=moment
        )
    except FiwareError as error:
        raise translate(error) from error
    times, values = readings
    forecasts = [f for run in runs if (f := _published(run, interval, times, values)) is not None]
    return [
        live_accuracy(
            forecasts, times, values, interval=interval, now=moment.timestamp(), window_seconds=window
        )
        for window in windows
    ]


async def _runs(
    job: TrainingJobDocument, tenant: Tenant, *, history: PagedHistory, since: datetime, until: datetime
) -> list[Run]:
    config = job.prediction_config
    if config.entity_id is None:
        return []
    series = Series(
        entity_type=config.entity_type or "Prediction",
        entity_id=config.entity_id,
        attribute=FORECAST_ATTRIBUTE,
        store=job.config.history_store,
    )
    try:
        counted = await history.raw(
            series, tenant, h_limit=1, h_offset=0, date_from=since, date_to=until, count=True
        )
    except FiwareNotFound:
        return []
    total = min(counted.total or 0, MAX_RUNS)
    runs: list[Run] = []
    size = history.page_size(series)
    for offset in range(0, total, size):
        page = await history.raw(
            series,
            tenant,
            h_limit=min(size, total - offset),
            h_offset=offset,
            date_from=since,
            date_to=until,
        )
        for entry in page.entries:
            recorded = parse_time(entry.recv_time)
            run = parse_run(recorded, entry.attr_value)
            if run is not None:
                runs.append(run)
    return runs


async def readings_between(
    series: Series, tenant: Tenant, *, history: PagedHistory, since: datetime, until: datetime
) -> tuple[np.ndarray, np.ndarray]:
    """Every reading of ``series`` in ``[since, until]`` as (epoch seconds, values); empty when STH
    holds none. FiwareError when STH fails."""
    try:
        total = await history.count(series, tenant, date_from=since, date_to=until)
        collected = await history.read_range(
            series, tenant, offset=0, limit=total, date_from=since, date_to=until
        )
    except FiwareNotFound:
        return np.empty(0), np.empty(0)
    times = np.array([p.timestamp.timestamp() for p in collected.points], dtype=np.float64)
    values = np.array([p.value for p in collected.points], dtype=np.float64)
    return times, values


def _published(run: Run, interval: float, times: np.ndarray, values: np.ndarray) -> PublishedForecast | None:
    """The run as ml.accuracy scores it; None when it holds no usable point."""
    points = [p for p in run.points if p.target_timestamp is not None]
    if not points:
        return None
    targets = np.array(
        [p.target_timestamp.timestamp() for p in points if p.target_timestamp], dtype=np.float64
    )
    if np.any(np.diff(targets) <= 0):
        return None
    origin = float(targets[0] - interval)
    [origin_value] = actuals_at([origin], times, values, interval=interval)
    bounded = all(p.lower is not None and p.upper is not None for p in points)
    return PublishedForecast(
        origin=origin,
        origin_value=float(origin_value),
        targets=targets,
        values=np.array([np.nan if p.value is None else p.value for p in points], dtype=np.float64),
        lower=np.array([p.lower for p in points], dtype=np.float64) if bounded else None,
        upper=np.array([p.upper for p in points], dtype=np.float64) if bounded else None,
    )


__all__ = ["MAX_WINDOWS", "MAX_WINDOW_SECONDS", "job_live_accuracy", "readings_between"]
