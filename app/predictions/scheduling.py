"""The recurring-forecast schedule: claim due slots atomically, run each slot at most once.

Beat claims due jobs in batches by moving ``next_prediction_at`` with a compare-and-set on the
value it read, so two beats (or a beat and its duplicate) never claim one slot twice; execution
then records the slot it ran, so a duplicate message for a slot does nothing. Nothing
re-schedules itself: a task that re-enqueues itself as well as running on beat starts one more
perpetual chain on every tick, and the load grows with uptime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import structlog

from app.auth.tenancy import EVERY_TENANT
from app.errors import ChronosError, Conflict, NotFound, Unavailable
from app.predictions import service
from app.predictions.forecasters import Forecasters
from app.predictions.recurring import FORECAST_ATTRIBUTE, next_slot
from app.resources import FiwareClients
from app.timeutil import utcnow
from app.training.admission import series_of
from app.training.documents import TrainingJobDocument
from app.upstream import translate
from fiware.errors import FiwareError
from fiware.orion import ForecastPoint, forecast_series

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Due:
    job_id: UUID
    slot: datetime


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


async def _disable(job_id: UUID, reason: str) -> None:
    await _jobs().update_one(
        {"_id": job_id},
        {"$set": {"prediction_config.enabled": False, "prediction_config.last_error": reason}},
    )
    log.warning("prediction.disabled", job_id=str(job_id), reason=reason)


async def claim_due(*, batch: int) -> list[Due]:
    now = utcnow()
    claimed: list[Due] = []
    cursor = (
        _jobs()
        .find(
            {"prediction_config.enabled": True, "prediction_config.next_prediction_at": {"$lte": now}},
            {"prediction_config": 1},
        )
        .sort("prediction_config.next_prediction_at", 1)
        .limit(batch)
    )
    async for raw in cursor:
        config = raw["prediction_config"]
        slot = config["next_prediction_at"]
        interval = config.get("interval_seconds")
        if not isinstance(interval, int | float) or interval <= 0:
            # Disabled with its reason, so it can never sit at the head of the queue again.
            await _disable(raw["_id"], f"cannot schedule: interval {interval!r} is not a positive number")
            continue
        moved = await _jobs().update_one(
            {
                "_id": raw["_id"],
                "prediction_config.enabled": True,
                "prediction_config.next_prediction_at": slot,
            },
            {"$set": {"prediction_config.next_prediction_at": next_slot(slot, float(interval), now)}},
        )
        if moved.modified_count:
            claimed.append(Due(raw["_id"], slot))
    return claimed


class ForecastOutcome(StrEnum):
    PUBLISHED = "published"
    FAILED = "failed"
    """Recorded as ``last_error``; the next slot runs as planned."""
    DISABLED = "disabled"
    """The job lost what it needs to forecast: recurring forecasts were switched off."""
    SKIPPED = "skipped"
    """The slot was not this task's to run (another ran it, or forecasts were switched off)."""


async def run_forecast(
    *,
    job_id: UUID,
    slot: datetime,
    retrying: bool,
    fiware: FiwareClients,
    forecasters: Forecasters,
    max_gap_steps: int,
) -> ForecastOutcome:
    """Forecast one slot and publish it to Orion.

    An unavailable upstream raises :class:`Unavailable` (the task retries the same slot); any
    other failure is recorded as ``last_error`` and the next slot runs as planned.
    """
    ran_before = {"$lt": slot} if not retrying else {"$lte": slot}
    claim = await _jobs().update_one(
        {
            "_id": job_id,
            "prediction_config.enabled": True,
            "$or": [{"prediction_config.last_slot": None}, {"prediction_config.last_slot": ran_before}],
        },
        {"$set": {"prediction_config.last_slot": slot}},
    )
    if not claim.matched_count:
        return ForecastOutcome.SKIPPED
    try:
        job = await service.completed_job(str(job_id), scope=EVERY_TENANT)  # beat's own run
        if job.prediction_config.entity_id is None:
            return ForecastOutcome.SKIPPED
        forecast = await service.forecast(
            job=job, sth=fiware.sth, forecasters=forecasters, max_gap_steps=max_gap_steps
        )
        series = forecast_series(
            generated_at=forecast.generated_at,
            horizon=forecast.horizon,
            points=[ForecastPoint(p.step, p.value, p.target_timestamp) for p in forecast.points],
        )
        try:
            await fiware.orion.update_attributes(
                job.prediction_config.entity_id,
                {FORECAST_ATTRIBUTE: series},
                series_of(job.config)[1],
                entity_type=job.prediction_config.entity_type,
            )
        except FiwareError as error:
            raise translate(error) from error
    except Unavailable:
        raise
    except (NotFound, Conflict) as error:
        # The job lost what it needs to forecast (artifacts, status): stop instead of failing forever.
        await _disable(job_id, error.message)
        return ForecastOutcome.DISABLED
    except ChronosError as error:
        await record_failure(job_id=job_id, reason=error.message)
        return ForecastOutcome.FAILED
    await _jobs().update_one(
        {"_id": job_id},
        {
            "$set": {"prediction_config.last_run_at": utcnow(), "prediction_config.last_error": None},
            "$inc": {"prediction_config.run_count": 1},
        },
    )
    log.info("prediction.published", job_id=str(job_id), slot=slot.isoformat())
    return ForecastOutcome.PUBLISHED


async def record_failure(*, job_id: UUID, reason: str) -> None:
    await _jobs().update_one({"_id": job_id}, {"$set": {"prediction_config.last_error": reason}})
    log.warning("prediction.failed", job_id=str(job_id), reason=reason)


__all__ = ["Due", "ForecastOutcome", "claim_due", "record_failure", "run_forecast"]
