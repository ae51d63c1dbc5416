"""Recurring forecasts: beat claims due slots, one task per slot forecasts, publishes and settles it.

How long a run may hold a worker, with ``T`` = ``CHRONOS_FIWARE_TIMEOUT_SECONDS`` (10 s by default):
Orion's update is a PATCH, never repeated once sent, so an Orion that accepts and hangs holds the
run for ``T``; one that cannot be connected to is retried within the 20 s deadline of
``fiware.http.RetryPolicy``; either way, never past the start of the next slot
(``app.predictions.scheduling``). STH-Comet's read is retried within that same 20 s deadline, each
try at most ``T``: a hanging STH-Comet holds the run for about ``2·T``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from celery import Task, shared_task
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from app.metrics import cluster
from app.predictions import ledger, scheduling
from app.queues import EXECUTE_FORECAST, SCHEDULE_FORECASTS
from app.settings import get_settings
from app.training.documents import MissReason
from tasks import metrics
from tasks.guard import MAX_RETRIES, backoff
from tasks.runtime import run, runtime

log = structlog.get_logger(__name__)
_settings = get_settings()


@shared_task(name=SCHEDULE_FORECASTS, ignore_result=True)
def schedule_forecasts() -> int:
    due = run(scheduling.claim_due(batch=_settings.forecast_batch_size))
    for item in due:
        _enqueue(item)
    _count_missed(MissReason.NO_WORKER, sum(item.missed for item in due))
    return len(due)


def _enqueue(item: scheduling.Due) -> None:
    slot = item.slot.isoformat()
    try:
        execute_forecast.apply_async(args=[str(item.job_id), slot], task_id=f"{item.job_id}:forecast:{slot}")
    except (OperationalError, OSError) as error:
        # The slot is claimed already: unless it is recorded here, it disappears without a trace.
        log.warning("prediction.enqueue_failed", job_id=str(item.job_id), slot=slot, error=str(error))
        message = f"the forecast of {ledger.stamp(item.slot)} could not be queued: the broker is unavailable"
        missed = ledger.settle_missed(
            job_id=item.job_id, slot=item.slot, reason=MissReason.BROKER_UNAVAILABLE, error=message
        )
        if run(missed):
            _count_missed(MissReason.BROKER_UNAVAILABLE, 1)


@shared_task(name=EXECUTE_FORECAST, bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def execute_forecast(
    self: Task[Any, Any], job_id: str, slot: str, cause: str | None = None, error: str | None = None
) -> bool:
    worker = runtime()
    retries = self.request.retries
    attempt = scheduling.Attempt(
        retrying=bool(retries) or bool((self.request.delivery_info or {}).get("redelivered")),
        cause=MissReason(cause) if cause else None,
        error=error,
        retry_in=backoff(retries) if retries < MAX_RETRIES else None,
        # Orion's PATCH and one STH-Comet read, each up to the timeout.
        run_seconds=2 * _settings.fiware_timeout_seconds,
    )
    ran = run(
        scheduling.run_forecast(
            job_id=UUID(job_id),
            slot=datetime.fromisoformat(slot),
            attempt=attempt,
            fiware=worker.fiware,
            forecasters=worker.forecasters,
            max_gap_steps=_settings.training_max_gap_steps,
        )
    )
    metrics.count_forecast(ran.outcome.value)
    if ran.missed is not None:
        _count_missed(ran.missed, 1)
    if ran.retry is not None:
        raise self.retry(
            countdown=ran.retry.seconds,
            kwargs={"cause": ran.retry.cause.value, "error": ran.retry.error},
        )
    return ran.outcome is scheduling.ForecastOutcome.PUBLISHED


def _count_missed(reason: MissReason, count: int) -> None:
    if count <= 0:
        return
    try:
        run(cluster.record_missed_slots(runtime().publisher, reason=reason.value, count=count))
    except (RedisError, OSError) as failure:  # metrics never fail work; MongoDB holds the record
        log.debug("metrics.unrecorded", missed=reason.value, error=str(failure))


__all__ = ["execute_forecast", "schedule_forecasts"]
