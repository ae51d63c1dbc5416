"""Recurring forecasts: beat claims due slots, one task per slot forecasts and publishes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from celery import Task, shared_task

from app.errors import Unavailable
from app.predictions import scheduling
from app.settings import get_settings
from tasks import metrics
from tasks.guard import MAX_RETRIES, backoff
from tasks.names import EXECUTE_FORECAST, SCHEDULE_FORECASTS
from tasks.runtime import run, runtime

log = structlog.get_logger(__name__)
_settings = get_settings()
# Forecast outcomes beyond scheduling.ForecastOutcome: Orion or STH down (the slot is retried).
UNAVAILABLE = "unavailable"


@shared_task(name=SCHEDULE_FORECASTS, ignore_result=True)
def schedule_forecasts() -> int:
    due = run(scheduling.claim_due(batch=_settings.forecast_batch_size))
    for item in due:
        slot = item.slot.isoformat()
        execute_forecast.apply_async(args=[str(item.job_id), slot], task_id=f"{item.job_id}:forecast:{slot}")
    return len(due)


@shared_task(name=EXECUTE_FORECAST, bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def execute_forecast(self: Task[Any, Any], job_id: str, slot: str) -> bool:
    worker = runtime()
    key = UUID(job_id)
    try:
        outcome = run(
            scheduling.run_forecast(
                job_id=key,
                slot=datetime.fromisoformat(slot),
                retrying=bool(self.request.retries)
                or bool((self.request.delivery_info or {}).get("redelivered")),
                fiware=worker.fiware,
                forecasters=worker.forecasters,
                max_gap_steps=_settings.training_max_gap_steps,
            )
        )
    except Unavailable as error:
        run(scheduling.record_failure(job_id=key, reason=error.message))
        metrics.count_forecast(UNAVAILABLE)
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=error, countdown=backoff(self.request.retries)) from error
        return False
    metrics.count_forecast(outcome.value)
    return outcome is scheduling.ForecastOutcome.PUBLISHED


__all__ = ["execute_forecast", "schedule_forecasts"]
