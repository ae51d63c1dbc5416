"""Recurring forecasts: beat claims due slots; tasks forecast, publish and settle them.

With ``CHRONOS_FORECAST_BATCHING`` (the default) a tick claims its due slots in one bulk write and
sends them as ``execute_forecast_batch`` tasks of up to ``CHRONOS_FORECAST_TASK_BATCH_SIZE`` slots
(:mod:`app.predictions.batch`); without it, one ``execute_forecast`` per slot. Both settle every slot
exactly once, with the same reasons.

How long a run may hold a worker, with ``T`` = ``CHRONOS_FIWARE_TIMEOUT_SECONDS`` (10 s by default):
Orion's update is a PATCH (a batch's: one POST per request), never repeated once sent, so an Orion
that accepts and hangs holds the run for ``T``; one that cannot be connected to is retried within
the 20 s deadline of ``fiware.http.RetryPolicy``; either way, never past the start of the next
slot (``app.predictions.scheduling``). STH-Comet's read is retried within that same 20 s deadline,
each try at most ``T``: a hanging STH-Comet holds the run for about ``2·T``. A batch reads many
series at once and stops trying a service that failed it in a row, so it is held about ``3·T`` at
most (``app.predictions.batch``).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import structlog
from celery import Task, shared_task
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from app.metrics import cluster
from app.predictions import batch, ledger, scheduling
from app.queues import EXECUTE_FORECAST, EXECUTE_FORECAST_BATCH, SCHEDULE_FORECASTS
from app.settings import get_settings
from app.timeutil import utcnow
from app.training.documents import MissReason
from tasks import metrics
from tasks.guard import MAX_RETRIES, backoff
from tasks.runtime import run, runtime

log = structlog.get_logger(__name__)
_settings = get_settings()

# Fewest slots worth a task of their own when a tick's claims are spread over the worker processes.
MIN_TASK_SLOTS = 10

# Slots a tick claims before it queues them and claims more.
TICK_PART = 500

# A batch item on the wire: job id, slot, and the previous attempt's failure (reason, message).
WireItem = list[str | None]


@shared_task(name=SCHEDULE_FORECASTS, ignore_result=True)
def schedule_forecasts() -> int:
    started = time.perf_counter()
    due = run(_claim_tick())
    _count_missed(MissReason.NO_WORKER, sum(item.missed for item in due))
    if due:
        log.info("prediction.scheduled", slots=len(due), seconds=round(time.perf_counter() - started, 3))
    return len(due)


async def _claim_tick() -> list[scheduling.Due]:
    """This tick's claims, each part queued as soon as it is claimed (a tick that finds thousands
    due must not hold the first until the last is claimed); none while another tick is claiming."""
    interval, limit = _settings.forecast_scheduler_interval_seconds, _settings.forecast_batch_size
    claimed: list[scheduling.Due] = []
    redis = runtime().publisher
    async with scheduling.sole_tick(redis=redis, interval=interval) as mine:
        if mine and (behind := await scheduling.workers_behind(redis=redis)) is not None:
            log.info("prediction.tick_held", behind=behind)
            return claimed
        # One interval of claiming at most: what is left is the next tick's, which looks again
        # whether the workers keep up.
        until = time.monotonic() + interval
        while mine and len(claimed) < limit and (not claimed or time.monotonic() < until):
            size = min(TICK_PART, limit - len(claimed))
            if _settings.forecast_batching:
                part = await scheduling.claim_due_bulk(batch=size)
                tasks = split(
                    part, size=_settings.forecast_task_batch_size, spread=_settings.worker_concurrency
                )
                for chunk in tasks:
                    _enqueue_batch(chunk)
            else:
                part = await scheduling.claim_due(batch=size)
                for item in part:
                    _enqueue(item)
            claimed += part
            if len(part) < size:
                break
    return claimed


def split(due: list[scheduling.Due], *, size: int, spread: int) -> list[list[scheduling.Due]]:
    """The tick's claims in tasks of at most ``size``, and in at least ``spread`` tasks when there are
    enough of them, so that every worker process takes a share of the tick."""
    if not due:
        return []
    per_task = min(size, max(MIN_TASK_SLOTS, math.ceil(len(due) / spread)))
    return [due[start : start + per_task] for start in range(0, len(due), per_task)]


def _enqueue(item: scheduling.Due) -> None:
    slot = item.slot.isoformat()
    try:
        execute_forecast.apply_async(args=[str(item.job_id), slot], task_id=f"{item.job_id}:forecast:{slot}")
    except (OperationalError, OSError) as error:
        _unqueued([item], error)


def _enqueue_batch(chunk: list[scheduling.Due]) -> None:
    items: list[WireItem] = [[str(item.job_id), item.slot.isoformat(), None, None] for item in chunk]
    try:
        execute_forecast_batch.apply_async(
            kwargs={"items": items},
            task_id=f"forecast-batch:{uuid4().hex}",
        )
    except (OperationalError, OSError) as error:
        _unqueued(chunk, error)


def _unqueued(items: list[scheduling.Due], error: Exception) -> None:
    # The slots are claimed already: unless they are recorded here, they disappear without a trace.
    recorded = 0
    for item in items:
        log.warning(
            "prediction.enqueue_failed", job_id=str(item.job_id), slot=item.slot.isoformat(), error=str(error)
        )
        message = f"the forecast of {ledger.stamp(item.slot)} could not be queued: the broker is unavailable"
        missed = ledger.settle_missed(
            job_id=item.job_id, slot=item.slot, reason=MissReason.BROKER_UNAVAILABLE, error=message
        )
        recorded += run(missed)
    _count_missed(MissReason.BROKER_UNAVAILABLE, recorded)


def _attempt(
    task: Task[Any, Any], *, run_seconds: float, cause: str | None, error: str | None
) -> scheduling.Attempt:
    retries = task.request.retries
    return scheduling.Attempt(
        retrying=bool(retries) or bool((task.request.delivery_info or {}).get("redelivered")),
        cause=MissReason(cause) if cause else None,
        error=error,
        retry_in=backoff(retries) if retries < MAX_RETRIES else None,
        run_seconds=run_seconds,
    )


@shared_task(name=EXECUTE_FORECAST, bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def execute_forecast(
    self: Task[Any, Any], job_id: str, slot: str, cause: str | None = None, error: str | None = None
) -> bool:
    worker = runtime()
    # Orion's PATCH and one STH-Comet read, each up to the timeout.
    attempt = _attempt(self, run_seconds=2 * _settings.fiware_timeout_seconds, cause=cause, error=error)
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
    if ran.outcome is scheduling.ForecastOutcome.PUBLISHED:
        metrics.record_lateness([(utcnow() - datetime.fromisoformat(slot)).total_seconds()])
    if ran.missed is not None:
        _count_missed(ran.missed, 1)
    if ran.retry is not None:
        raise self.retry(
            countdown=ran.retry.seconds,
            kwargs={"cause": ran.retry.cause.value, "error": ran.retry.error},
        )
    return ran.outcome is scheduling.ForecastOutcome.PUBLISHED


@shared_task(name=EXECUTE_FORECAST_BATCH, bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def execute_forecast_batch(self: Task[Any, Any], items: list[WireItem]) -> int:
    """Run a batch of slots (``app.predictions.batch``); the items that failed transiently and can
    still finish in their slots go back to the queue as a smaller batch (Celery's retry, with them)."""
    worker = runtime()
    # As for one slot: the STH-Comet reads (side by side) and the Orion requests, each up to the timeout.
    attempt = _attempt(self, run_seconds=2 * _settings.fiware_timeout_seconds, cause=None, error=None)
    ran = run(
        batch.run_batch(
            items=[_item(wire) for wire in items],
            attempt=attempt,
            fiware=worker.fiware,
            forecasters=worker.forecasters,
            limits=batch.Limits(
                read_concurrency=_settings.forecast_read_concurrency,
                publish_size=_settings.forecast_publish_batch_size,
                max_gap_steps=_settings.training_max_gap_steps,
            ),
        )
    )
    log.info(
        "prediction.batch_ran",
        items=len(items),
        behind=round(ran.behind, 3),
        outcomes={outcome.value: count for outcome, count in ran.outcomes.items()},
        seconds={step: round(seconds, 3) for step, seconds in ran.seconds.items()},
    )
    if ran.behind:
        hold = 2 * _settings.forecast_scheduler_interval_seconds
        noted = scheduling.note_behind(
            redis=worker.publisher, behind=ran.behind, seconds=ran.behind_seconds, hold=hold
        )
        run(noted)
    for outcome, count in ran.outcomes.items():
        metrics.count_forecast(outcome.value, count)
    metrics.record_lateness(ran.lateness)
    for reason, count in ran.missed.items():
        _count_missed(reason, count)
    if ran.retry and attempt.retry_in is not None:
        retry: list[WireItem] = [
            [str(item.job_id), item.slot.isoformat(), item.cause.value if item.cause else None, item.error]
            for item in ran.retry
        ]
        raise self.retry(countdown=attempt.retry_in, kwargs={"items": retry})
    return ran.outcomes[scheduling.ForecastOutcome.PUBLISHED]


def _item(wire: WireItem) -> batch.Item:
    job_id, slot, cause, error = wire
    return batch.Item(
        UUID(str(job_id)), datetime.fromisoformat(str(slot)), MissReason(cause) if cause else None, error
    )


def _count_missed(reason: MissReason, count: int) -> None:
    if count <= 0:
        return
    try:
        run(cluster.record_missed_slots(runtime().publisher, reason=reason.value, count=count))
    except (RedisError, OSError) as failure:  # metrics never fail work; MongoDB holds the record
        log.debug("metrics.unrecorded", missed=reason.value, error=str(failure))


__all__ = [
    "EXECUTE_FORECAST_BATCH",
    "execute_forecast",
    "execute_forecast_batch",
    "schedule_forecasts",
    "split",
]
