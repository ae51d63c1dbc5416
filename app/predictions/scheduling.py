"""The recurring-forecast schedule: claim due slots atomically, settle each slot exactly once.

Slots lie on the grid ``anchor + k·interval`` (:mod:`app.predictions.slots`). Beat's tick claims
due jobs in batches by moving ``next_prediction_at`` with a compare-and-set on the value it read,
so two beats never claim one slot twice (:func:`claim_due_bulk` sends a tick's compare-and-sets in
one bulk write, for the batched runs of :mod:`app.predictions.batch`). A job found more than one
interval behind (no tick ran: beat or every worker was down) has its skipped slots recorded as
missed, ``NO_WORKER``, in the same update, and only the current slot runs, labelled with its own
time: no backlog burst, no stale label. Nothing re-schedules itself: a task that re-enqueues
itself as well as running on beat starts one more perpetual chain on every tick, and the load
grows with uptime.

Ticks run one at a time across the cluster (:func:`sole_tick`, a short Redis lock): a tick that
finds another still claiming does nothing, and a tick claims for one scheduler interval at most.
A cluster that cannot keep up degrades to what it can do: batches note how far behind their slots
they start (:func:`note_behind`), and while they start past ``BEHIND_SHARE`` of their interval no
tick claims anything (:func:`workers_behind`). The slots left unclaimed meanwhile are recorded
missed, ``NO_WORKER``, by the next claim of each job (as above), one write for all of them, instead
of each costing a claim, a queued message and a miss record on the way to a worker that reaches
it too late. Two ticks would claim nothing twice (the compare-and-set
sees to that), but on a store slow enough for a tick to outlast its interval, queued ticks would
otherwise start on every free worker process, and an overloaded cluster would spend its processes
claiming slots instead of forecasting them.

A run settles its slot published or missed (:mod:`app.predictions.ledger`). A transient failure
(Orion or STH-Comet unavailable) tries the same slot again only while the retry can finish before
the next slot is due; a run that starts after that is late, and its slot is recorded missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

import structlog
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from app.auth.tenancy import EVERY_TENANT
from app.errors import ChronosError, Conflict, InsufficientData, NotFound, Unavailable
from app.predictions import ledger, service, slots
from app.predictions.forecasters import Forecasters
from app.timeutil import utcnow
from app.training.config import series_of
from app.training.documents import MissReason, TrainingJobDocument
from app.training.repository import forecasting
from app.upstream import translate
from fiware.clients import FiwareClients, HistoryStore
from fiware.errors import FiwareError
from fiware.orion import ForecastPoint, forecast_attributes, forecast_series

log = structlog.get_logger(__name__)

TICK_LOCK = "chronos:forecast-scheduler:tick"
# The lock outlives a tick that died with its worker by at most this much (or two intervals); a
# running tick renews it, however long the store keeps it.
TICK_LOCK_SECONDS = 3.0


@contextlib.asynccontextmanager
async def sole_tick(*, redis: Redis, interval: float) -> AsyncIterator[bool]:
    """Whether this tick is the only one running; True too when Redis cannot tell (correctness
    never rests on the lock: the claims are compare-and-sets)."""
    seconds = max(TICK_LOCK_SECONDS, 2 * interval)
    lock = redis.lock(TICK_LOCK, timeout=seconds, blocking=False, raise_on_release_error=False)
    try:
        mine = bool(await lock.acquire())
    except RedisError as error:
        log.debug("prediction.tick_unlocked", error=str(error))
        yield True
        return
    if not mine:
        yield False
        return
    renewing = asyncio.create_task(_renew(lock, every=seconds / 3))
    try:
        yield True
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        with contextlib.suppress(RedisError):
            await lock.release()


async def _renew(lock: Lock, *, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await lock.reacquire()
        except (RedisError, LockError):
            return  # lost or unreachable: the next tick may start beside this one, nothing worse


BEHIND_KEY = "chronos:forecast-scheduler:behind"
# A batch that starts later than this share of its interval after its slots says the workers are
# behind. Not 1: claims made now reach a worker after the queue ahead of them, later still.
BEHIND_SHARE = 0.5


async def note_behind(*, redis: Redis, behind: float, seconds: float, hold: float) -> None:
    """Record how far behind a batch started: ``behind``, a share of its interval, ``seconds`` late.
    Past ``BEHIND_SHARE`` and later than ``hold`` itself (two ticks: the tick's cadence alone delays
    a batch up to one, which short intervals must not mistake for a backlog), it holds claims for
    ``hold`` seconds; each late batch holds them again, so the hold lasts while late batches start
    and lapses soon after the queue drains. A batch on time lifts it. Best effort: without Redis,
    ticks claim as they would."""
    try:
        if behind > BEHIND_SHARE and seconds > hold:
            await redis.set(BEHIND_KEY, f"{behind:.3f}", px=max(1, math.ceil(hold * 1000)))
        elif behind <= BEHIND_SHARE:
            await redis.delete(BEHIND_KEY)
    except RedisError as error:
        log.debug("prediction.behind_unrecorded", error=str(error))


async def workers_behind(*, redis: Redis) -> float | None:
    """How far behind the latest late batch started (a share of its interval), while claims are held."""
    try:
        held = await redis.get(BEHIND_KEY)
    except RedisError as error:
        log.debug("prediction.behind_unknown", error=str(error))
        return None
    return float(held) if held is not None else None


@dataclass(frozen=True)
class Due:
    job_id: UUID
    slot: datetime
    missed: int = 0
    """Slots before ``slot`` nobody claimed in time, recorded as missed with this claim."""


async def _disable(job_id: UUID, reason: str) -> None:
    await forecasting.stop_schedule(job_id=job_id, reason=reason)
    log.warning("prediction.disabled", job_id=str(job_id), reason=reason)


async def claim_due(*, batch: int) -> list[Due]:
    now = utcnow()
    claimed: list[Due] = []
    async for schedule in forecasting.due_schedules(now=now, batch=batch):
        due = await _claim(schedule, now)
        if due is not None:
            claimed.append(due)
    return claimed


async def _position(schedule: forecasting.DueSchedule, now: datetime) -> slots.Position | None:
    """Where the job stands on its grid; None (and the job disabled) when it has no usable interval."""
    interval = schedule.interval
    if not isinstance(interval, int | float) or interval <= 0:
        # Disabled with its reason, so it can never sit at the head of the queue again.
        await _disable(schedule.job_id, f"cannot schedule: interval {interval!r} is not a positive number")
        return None
    return slots.position(schedule.due, now, slots.step_of(float(interval)))


async def _claim(schedule: forecasting.DueSchedule, now: datetime) -> Due | None:
    job_id, due = schedule.job_id, schedule.due
    where = await _position(schedule, now)
    if where is None:
        return None
    moved = await forecasting.claim_slot(
        job_id=job_id, due=due, next_at=where.next, gap=ledger.gap_of(where), keep_misses=slots.RECENT_MISSES
    )
    if not moved:
        return None  # another beat claimed it, or it was switched off meanwhile
    if where.missed:
        ledger.log_gap(job_id, where)
    return Due(job_id, where.current, where.missed)


async def claim_due_bulk(*, batch: int) -> list[Due]:
    """:func:`claim_due` in one bulk write: the same compare-and-set per job, all sent at once."""
    now = utcnow()
    found: dict[UUID, slots.Position] = {}
    claims: list[forecasting.SlotClaim] = []
    async for schedule in forecasting.due_schedules(now=now, batch=batch):
        where = await _position(schedule, now)
        if where is not None:
            found[schedule.job_id] = where
            gap = ledger.gap_of(where)
            claims.append(forecasting.SlotClaim(schedule.job_id, schedule.due, where.next, gap))
    won = await forecasting.claim_slots(claims=claims, token=uuid4().hex, keep_misses=slots.RECENT_MISSES)
    claimed = []
    for claim in claims:
        if claim.job_id in won:
            where = found[claim.job_id]
            if where.missed:
                ledger.log_gap(claim.job_id, where)
            claimed.append(Due(claim.job_id, where.current, where.missed))
    return claimed


class ForecastOutcome(StrEnum):
    PUBLISHED = "published"
    FAILED = "failed"
    """The run failed for good: its slot is recorded missed, the next slot runs as planned."""
    UNAVAILABLE = "unavailable"
    """Orion or STH-Comet was unavailable: retried within the slot, else the slot is recorded missed."""
    DISABLED = "disabled"
    """The job lost what it needs to forecast: recurring forecasts were switched off."""
    LATE = "late"
    """The run started, or its forecast was ready, after the next slot was due: recorded missed."""
    SKIPPED = "skipped"
    """The slot was not this task's to run (settled already, or forecasts were switched off)."""


@dataclass(frozen=True)
class Attempt:
    """What the task knows about this run of a slot."""

    retrying: bool = False
    """A retry or a redelivery of the slot's task, which may claim the slot again."""
    # Why the previous attempt failed: a retry carries it, to record it if this attempt is too late.
    cause: MissReason | None = None
    error: str | None = None
    retry_in: float | None = None
    """Seconds before another attempt if this one fails transiently; None once retries are spent."""
    run_seconds: float = 0.0
    """How long one attempt may take (bounded by the FIWARE timeouts)."""


@dataclass(frozen=True)
class Retry:
    seconds: float
    cause: MissReason
    error: str


@dataclass(frozen=True)
class Ran:
    outcome: ForecastOutcome
    missed: MissReason | None = None
    """Set when this run recorded its slot as missed."""
    retry: Retry | None = None
    """Set when the task should try the same slot again."""


class SlotFailure(Exception):
    def __init__(self, reason: MissReason, message: str, *, transient: bool = False, disable: bool = False):
        super().__init__(message)
        self.reason, self.message, self.transient, self.disable = reason, message, transient, disable


async def run_forecast(
    *,
    job_id: UUID,
    slot: datetime,
    attempt: Attempt,
    fiware: FiwareClients,
    forecasters: Forecasters,
    max_gap_steps: int,
) -> Ran:
    """Forecast one slot, publish it to Orion, and settle the slot published or missed."""
    interval = await forecasting.claim_run(job_id=job_id, slot=slot, retrying=attempt.retrying)
    if interval is None:
        return await _not_claimed(job_id, slot, attempt)
    step = slots.step_of(interval)
    if slots.late(slot, step, utcnow()):
        return await _late(job_id, slot, attempt)
    try:
        await _forecast_and_publish(
            job_id, slot + step, fiware=fiware, forecasters=forecasters, max_gap_steps=max_gap_steps
        )
    except SlotFailure as failure:
        return await _failed(job_id, slot, step, attempt, failure)
    except Exception as error:
        # Recorded, not lost; the traceback is for the operator's log, not the API.
        log.exception("prediction.crashed", job_id=str(job_id), slot=ledger.stamp(slot))
        message = f"internal error ({type(error).__name__}); see the worker's log"
        return await _missed(job_id, slot, MissReason.INTERNAL, message, ForecastOutcome.FAILED)
    await ledger.settle_published(job_id=job_id, slot=slot)
    return Ran(ForecastOutcome.PUBLISHED)


async def _not_claimed(job_id: UUID, slot: datetime, attempt: Attempt) -> Ran:
    if overtaken(await forecasting.schedule_of(job_id=job_id), slot):
        return await _late(job_id, slot, attempt)
    return Ran(ForecastOutcome.SKIPPED)


def overtaken(config: Mapping[str, Any], slot: datetime) -> bool:
    """Whether a slot whose run could not be claimed must be recorded late: a newer slot's run
    started before this one could, so it will never run. Else its run is not this one's to record
    (it was settled already, forecasts are off, or another run of this very slot is under way)."""
    if not config.get("enabled") or slot in config.get("settled_slots", []):
        return False
    last = config.get("last_slot")
    return last is not None and last > slot


async def _late(job_id: UUID, slot: datetime, attempt: Attempt) -> Ran:
    reason, error = late_reason(slot, attempt.cause, attempt.error)
    return await _missed(job_id, slot, reason, error, ForecastOutcome.LATE)


def late_reason(slot: datetime, cause: MissReason | None, error: str | None) -> tuple[MissReason, str]:
    """Why a slot that can no longer run is missed: its previous attempt's failure, if it had one."""
    if cause is not None:
        return cause, error or cause.value
    due = ledger.stamp(slot)
    return (
        MissReason.NO_WORKER,
        f"the forecast of {due} started after the next slot was due: no worker ran it in time",
    )


async def _missed(
    job_id: UUID, slot: datetime, reason: MissReason, error: str, outcome: ForecastOutcome
) -> Ran:
    recorded = await ledger.settle_missed(job_id=job_id, slot=slot, reason=reason, error=error)
    return Ran(outcome, missed=reason if recorded else None)


async def _failed(
    job_id: UUID, slot: datetime, step: timedelta, attempt: Attempt, failure: SlotFailure
) -> Ran:
    if failure.disable:
        await _disable(job_id, failure.message)
        return await _missed(job_id, slot, failure.reason, failure.message, ForecastOutcome.DISABLED)
    if not failure.transient:
        outcome = ForecastOutcome.LATE if failure.reason is MissReason.LATE else ForecastOutcome.FAILED
        return await _missed(job_id, slot, failure.reason, failure.message, outcome)
    retry_in = attempt.retry_in
    if retry_in is not None and retry_fits(attempt, slot + step):
        await ledger.note_failure(job_id=job_id, slot=slot, reason=failure.reason, error=failure.message)
        return Ran(ForecastOutcome.UNAVAILABLE, retry=Retry(retry_in, failure.reason, failure.message))
    return await _missed(job_id, slot, failure.reason, failure.message, ForecastOutcome.UNAVAILABLE)


def retry_fits(attempt: Attempt, deadline: datetime) -> bool:
    """Whether another attempt, after the backoff, can finish before ``deadline`` (the next slot)."""
    if attempt.retry_in is None:
        return False
    return utcnow() + timedelta(seconds=attempt.retry_in + attempt.run_seconds) < deadline


async def _forecast_and_publish(
    job_id: UUID, deadline: datetime, *, fiware: FiwareClients, forecasters: Forecasters, max_gap_steps: int
) -> None:
    """One run, sent to Orion only before ``deadline`` (when the next slot is due): a forecast is
    never published under a slot that is no longer current. Every failure comes out as a
    :class:`SlotFailure` saying why the slot is missed."""
    try:
        job = await service.completed_job(str(job_id), scope=EVERY_TENANT)  # beat's own run
        forecast = await service.forecast(
            job=job, history=fiware.history, forecasters=forecasters, max_gap_steps=max_gap_steps
        )
    except ChronosError as error:
        raise forecast_failure(error) from error
    if utcnow() >= deadline:
        raise ready_too_late(deadline)
    await _publish(job, forecast, deadline, fiware=fiware)


def forecast_failure(error: ChronosError) -> SlotFailure:
    """Why a slot is missed when its forecast could not be made (before anything reached Orion)."""
    if isinstance(error, Unavailable):
        return SlotFailure(MissReason.STH_UNAVAILABLE, error.message, transient=True)
    if isinstance(error, InsufficientData):
        return SlotFailure(MissReason.INSUFFICIENT_DATA, error.message)
    if isinstance(error, NotFound | Conflict):
        # The job lost what it needs to forecast (artifacts, status): stop instead of failing forever.
        return SlotFailure(MissReason.JOB_UNUSABLE, error.message, disable=True)
    return SlotFailure(MissReason.UPSTREAM_ERROR, error.message)


def ready_too_late(deadline: datetime) -> SlotFailure:
    late = f"the forecast was ready only after the next slot was due ({ledger.stamp(deadline)})"
    return SlotFailure(MissReason.LATE, late)


def publication(job: TrainingJobDocument, forecast: service.Forecast) -> tuple[str, dict[str, Any]]:
    """The job's forecast entity and the ``forecastSeries`` attribute that publishes ``forecast``."""
    entity_id = job.prediction_config.entity_id
    if entity_id is None:
        raise SlotFailure(
            MissReason.JOB_UNUSABLE, "forecasts are on but no Orion entity was provisioned", disable=True
        )
    series = forecast_series(
        generated_at=forecast.generated_at,
        horizon=forecast.horizon,
        points=[
            ForecastPoint(p.step, p.value, p.target_timestamp, p.lower, p.upper) for p in forecast.points
        ],
        interval_level=forecast.interval_level,
        served_by=forecast.served_by,
        training_job_id=str(job.id),
    )
    return entity_id, series


async def _publish(
    job: TrainingJobDocument, forecast: service.Forecast, deadline: datetime, *, fiware: FiwareClients
) -> None:
    entity_id, series = publication(job, forecast)
    next_step = fiware.store_of(job.config.history_store) is HistoryStore.QUANTUMLEAP
    try:
        # A hanging Orion holds this run until the FIWARE timeout or the next slot, whichever is first.
        async with asyncio.timeout((deadline - utcnow()).total_seconds()):
            await fiware.orion.update_attributes(
                entity_id,
                forecast_attributes(series, next_step=next_step),
                series_of(job.config)[1],
                entity_type=job.prediction_config.entity_type,
            )
    except FiwareError as error:
        raise orion_failure(translate(error)) from error
    except TimeoutError as error:
        raise orion_timeout(deadline) from error


def orion_timeout(deadline: datetime) -> SlotFailure:
    message = f"Orion did not answer before the next slot was due ({ledger.stamp(deadline)})"
    return SlotFailure(MissReason.ORION_UNAVAILABLE, message, transient=True)


def orion_failure(error: ChronosError) -> SlotFailure:
    if isinstance(error, Unavailable):
        return SlotFailure(MissReason.ORION_UNAVAILABLE, error.message, transient=True)
    if isinstance(error, NotFound):
        # Someone deleted the forecast entity: stop instead of failing every slot.
        return SlotFailure(
            MissReason.JOB_UNUSABLE, f"{error.message}: the forecast entity is gone", disable=True
        )
    return SlotFailure(MissReason.UPSTREAM_ERROR, error.message)


__all__ = [
    "BEHIND_SHARE",
    "TICK_LOCK",
    "Attempt",
    "Due",
    "ForecastOutcome",
    "Ran",
    "Retry",
    "SlotFailure",
    "claim_due",
    "claim_due_bulk",
    "forecast_failure",
    "late_reason",
    "note_behind",
    "orion_failure",
    "orion_timeout",
    "overtaken",
    "publication",
    "ready_too_late",
    "retry_fits",
    "run_forecast",
    "sole_tick",
    "workers_behind",
]
