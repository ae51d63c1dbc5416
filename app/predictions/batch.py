"""Recurring forecasts in batches: one task runs many (job, slot) items, each settled exactly once.

A batch does what :func:`app.predictions.scheduling.run_forecast` does for one slot, step by step
for all its items, so that each round trip and forward pass is shared:

1. **Claim** every item's run in one bulk write of ``claim_run``'s compare-and-set, then read the
   jobs (:func:`app.training.repository.forecasting.claim_runs`). An item whose claim failed is
   settled as the single path settles it: skipped when its slot was settled or is running
   elsewhere, recorded late when a newer slot's run overtook it.
2. **Read** each item's context from STH-Comet (it has no multi-entity read), at most
   ``read_concurrency`` at once, each read bounded by its slot's end.
3. **Forecast**: the items served by one network (the same ``model.onnx`` and ``scaler.json``
   files, :func:`app.predictions.forecasters.session_key`) stack their windows into one ONNX run;
   ETS and the baselines run per item.
4. **Publish** with Orion's batch update (``POST /v2/op/update``, ``actionType`` ``update``), per
   tenant, up to ``publish_size`` entities per request, the items due first sent first; a request of
   one entity is the single path's PATCH. When Orion refuses part of a request (an entity deleted,
   one bad body), the request's entities are sent again one at a time (PATCH): those Orion had
   updated already are unchanged by the repeat and notify nobody, and only the items that really
   failed are missed.
5. **Settle** the published slots in one bulk write (:func:`app.predictions.ledger.settle_published_all`),
   then the round's missed slots and its failures to retry, each kind in a few bulk writes
   (:func:`app.predictions.ledger.settle_missed_all`, :func:`app.predictions.ledger.note_failures`).

Failures stay per item, with the reasons of the single path: an item whose STH read fails, whose
network or entity is gone, or whose forecast is ready too late is missed alone (and its job disabled
when it can never run again), and the others publish. A transient failure (STH-Comet or Orion
unavailable) is tried again, by the task, for the items whose retry still fits in their slot.

How long a batch may hold a worker, with ``T`` = ``CHRONOS_FIWARE_TIMEOUT_SECONDS``: STH reads run
``read_concurrency`` at a time, each retried within ``fiware.http.RetryPolicy``'s 20 s deadline (a
hanging STH-Comet: about ``2·T`` per read); after ``read_concurrency`` reads in a row found STH-Comet
unavailable, the batch's remaining items are not read but failed the same way. Orion's batch
update is a POST, never repeated once sent: a hanging Orion holds a request for ``T`` at most, never
past the last of its items' next slots, and the rest of the batch is then failed unsent. So a batch
holds its worker for about ``3·T`` at most when STH-Comet or Orion hang, and never sends an item
after its next slot is due (one whose next slot comes while Orion answers was sent in its slot, and
counts as published when Orion takes it).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import structlog

from app.errors import ChronosError, Unavailable
from app.predictions import ledger, service, slots
from app.predictions.forecasters import Forecasters, SessionKey, session_key
from app.predictions.scheduling import (
    Attempt,
    ForecastOutcome,
    SlotFailure,
    forecast_failure,
    late_reason,
    orion_failure,
    orion_timeout,
    overtaken,
    publication,
    ready_too_late,
    retry_fits,
)
from app.timeutil import utcnow
from app.training.config import series_of
from app.training.documents import MissReason, TrainingJobDocument
from app.training.repository import forecasting
from app.upstream import translate
from fiware.clients import FiwareClients, HistoryStore
from fiware.errors import FiwareError, FiwareUnavailable
from fiware.http import Tenant
from fiware.orion import Entity, OrionClient, forecast_update
from ml.selection import NETWORK
from ml.series import FloatArray

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Orion requests of one batch in flight at once.
PUBLISH_CONCURRENCY = 2


@dataclass(frozen=True)
class Item:
    """One slot of one job to run; a retried item carries why its previous attempt failed."""

    job_id: UUID
    slot: datetime
    cause: MissReason | None = None
    error: str | None = None


@dataclass(frozen=True)
class Limits:
    read_concurrency: int
    """STH-Comet reads in flight at once."""
    publish_size: int
    """Entities per Orion batch update."""
    max_gap_steps: int


@dataclass
class BatchRan:
    """What became of a batch's items."""

    outcomes: Counter[ForecastOutcome] = field(default_factory=Counter)
    missed: Counter[MissReason] = field(default_factory=Counter)
    """Slots this batch recorded as missed, by reason."""
    retry: list[Item] = field(default_factory=list)
    """Items to try again, each with its failure, after ``Attempt.retry_in`` seconds."""
    lateness: list[float] = field(default_factory=list)
    """Seconds from each published item's slot to Orion's answer."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds spent in each step (claim, read, forecast, publish, settle), for the log."""
    behind: float = 0.0
    """How far behind the workers are: the largest share of its interval that had passed since an
    item's slot when this batch claimed it (1 or more: that item was too late to run)."""
    behind_seconds: float = 0.0
    """That item's delay in seconds."""


@dataclass(eq=False)
class _Run:
    """An item whose run this batch claimed, and what it has made of it so far."""

    item: Item
    job: TrainingJobDocument
    step: timedelta
    ready: service.Context | None = None
    entity: Entity | None = None

    @property
    def deadline(self) -> datetime:
        """When the next slot is due: nothing of this one is sent to Orion after it."""
        return self.item.slot + self.step

    @property
    def tenant(self) -> Tenant:
        return series_of(self.job.config)[1]


@dataclass
class _Batch:
    """One attempt at a batch: what it was given and what it recorded."""

    attempt: Attempt
    fiware: FiwareClients
    forecasters: Forecasters
    limits: Limits
    ran: BatchRan = field(default_factory=BatchRan)
    # Recorded in bulk at the end of each round (one item per job in a round): slots missed for
    # good, and failures whose retry is queued.
    misses: list[ledger.Failure] = field(default_factory=list)
    failures: list[ledger.Failure] = field(default_factory=list)


async def run_batch(
    *,
    items: Sequence[Item],
    attempt: Attempt,
    fiware: FiwareClients,
    forecasters: Forecasters,
    limits: Limits,
) -> BatchRan:
    """Forecast, publish and settle every item (see the module's steps); what became of each."""
    batch = _Batch(attempt, fiware, forecasters, limits)
    timed = _Timer(batch.ran.seconds)
    for group in _rounds(items):
        runs = await timed("claim", _claim(batch, group))
        runs = await timed("read", _read(batch, runs))
        runs = await timed("forecast", _forecast(batch, runs))
        published = await timed("publish", _publish(batch, runs))
        await timed("settle", _settle(batch, published))
        await timed("record", _record(batch))
    return batch.ran


class _Timer:
    """Adds each awaited step's wall time to ``seconds`` under its name."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    async def __call__(self, step: str, work: Awaitable[R]) -> R:
        started = time.perf_counter()
        try:
            return await work
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started


def _rounds(items: Sequence[Item]) -> Iterator[list[Item]]:
    """The items in rounds of one slot per job (a bulk claim names each job once); a batch from
    beat is one round, as a tick claims one slot per job."""
    pending = list(items)
    while pending:
        group: dict[UUID, Item] = {}
        later: list[Item] = []
        for item in pending:
            if item.job_id in group:
                later.append(item)
            else:
                group[item.job_id] = item
        yield list(group.values())
        pending = later


# -- settling one item ---------------------------------------------------------------------------


def _missed(batch: _Batch, item: Item, reason: MissReason, error: str, outcome: ForecastOutcome) -> None:
    batch.ran.outcomes[outcome] += 1
    batch.misses.append(ledger.Failure(item.job_id, item.slot, reason, error))


async def _record(batch: _Batch) -> None:
    """Record the round's misses and failures, each kind in a few bulk writes: when a fleet falls
    behind, every item of a batch may be late, and one write per item would keep it behind."""
    misses, failures = batch.misses, batch.failures
    batch.misses, batch.failures = [], []
    recorded = await ledger.settle_missed_all(misses=misses, token=uuid4().hex)
    for miss in misses:
        if miss.job_id in recorded:
            batch.ran.missed[miss.reason] += 1
    await ledger.note_failures(failures, token=uuid4().hex)


def _late(batch: _Batch, item: Item) -> None:
    reason, error = late_reason(item.slot, item.cause, item.error)
    _missed(batch, item, reason, error, ForecastOutcome.LATE)


async def _failed(batch: _Batch, run: _Run, failure: SlotFailure) -> None:
    """As the single path's ``_failed``: disable, record, or keep the item for a retry in its slot."""
    item = run.item
    if failure.disable:
        await forecasting.stop_schedule(job_id=item.job_id, reason=failure.message)
        log.warning("prediction.disabled", job_id=str(item.job_id), reason=failure.message)
        _missed(batch, item, failure.reason, failure.message, ForecastOutcome.DISABLED)
    elif not failure.transient:
        outcome = ForecastOutcome.LATE if failure.reason is MissReason.LATE else ForecastOutcome.FAILED
        _missed(batch, item, failure.reason, failure.message, outcome)
    elif retry_fits(batch.attempt, run.deadline):
        batch.failures.append(ledger.Failure(item.job_id, item.slot, failure.reason, failure.message))
        batch.ran.outcomes[ForecastOutcome.UNAVAILABLE] += 1
        batch.ran.retry.append(Item(item.job_id, item.slot, failure.reason, failure.message))
    else:
        _missed(batch, item, failure.reason, failure.message, ForecastOutcome.UNAVAILABLE)


def _crashed(batch: _Batch, item: Item, error: BaseException) -> None:
    # Recorded, not lost; the traceback is for the operator's log, not the API.
    log.error("prediction.crashed", job_id=str(item.job_id), slot=ledger.stamp(item.slot), exc_info=error)
    message = f"internal error ({type(error).__name__}); see the worker's log"
    _missed(batch, item, MissReason.INTERNAL, message, ForecastOutcome.FAILED)


async def _outcome(batch: _Batch, run: _Run, error: BaseException) -> None:
    """Settle ``run`` for what its step raised."""
    if isinstance(error, SlotFailure):
        await _failed(batch, run, error)
    elif isinstance(error, ChronosError):
        await _failed(batch, run, forecast_failure(error))
    else:
        _crashed(batch, run.item, error)


# -- 1. claim --------------------------------------------------------------------------------------


async def _claim(batch: _Batch, items: list[Item]) -> list[_Run]:
    found = await forecasting.claim_runs(
        runs=[(item.job_id, item.slot) for item in items],
        retrying=batch.attempt.retrying,
        token=uuid4().hex,
    )
    runs: list[_Run] = []
    now = utcnow()
    for item in items:
        running = found.get(item.job_id)
        if running is None or not running.claimed:
            config = (running.document.get("prediction_config") or {}) if running else {}
            if overtaken(config, item.slot):
                _late(batch, item)
            else:
                batch.ran.outcomes[ForecastOutcome.SKIPPED] += 1
            continue
        run = await _claimed(batch, item, running.document, now)
        if run is not None:
            runs.append(run)
    return runs


async def _claimed(batch: _Batch, item: Item, document: dict[str, Any], now: datetime) -> _Run | None:
    """The run of a claimed item, or None when it is too late or its job cannot forecast (the item
    is settled then), checked in the single path's order."""
    try:
        job = TrainingJobDocument.model_validate(document)
        run = _Run(item, job, slots.step_of(float(job.prediction_config.interval_seconds or 0)))
    except ValueError as error:  # pydantic's ValidationError too: a document this code cannot read
        _crashed(batch, item, error)
        return None
    _note_start(batch.ran, run, now)
    if slots.late(item.slot, run.step, now):
        _late(batch, item)
        return None
    try:
        service.check_completed(job)
    except ChronosError as error:
        await _failed(batch, run, forecast_failure(error))
        return None
    return run


def _note_start(ran: BatchRan, run: _Run, now: datetime) -> None:
    share = (now - run.item.slot) / run.step
    if share > ran.behind:
        ran.behind, ran.behind_seconds = share, (now - run.item.slot).total_seconds()


# -- 2. read ---------------------------------------------------------------------------------------


class _Breaker:
    """Stops trying a service after ``threshold`` failures in a row: a batch that found it down
    fails its remaining items at once (to be retried) instead of waiting out each one."""

    def __init__(self, threshold: int) -> None:
        self.threshold, self.failures = threshold, 0
        self.reason: str | None = None

    def check(self) -> None:
        if self.reason is not None and self.failures >= self.threshold:
            raise Unavailable(f"{self.reason} (not tried: it failed this batch's previous requests)")

    def record(self, error: BaseException | None) -> None:
        """An answer (None, or a failure that is not unavailability) closes the breaker again."""
        if isinstance(error, Unavailable):
            self.failures, self.reason = self.failures + 1, error.message
        else:
            self.failures = 0


async def _read(batch: _Batch, runs: list[_Run]) -> list[_Run]:
    breaker = _Breaker(batch.limits.read_concurrency)

    async def read(run: _Run) -> service.Context:
        if utcnow() >= run.deadline:  # its turn came after its slot ended
            raise ready_too_late(run.deadline)
        breaker.check()
        try:
            async with asyncio.timeout((run.deadline - utcnow()).total_seconds()):
                ready = await service.context(
                    job=run.job, history=batch.fiware.history, max_gap_steps=batch.limits.max_gap_steps
                )
        except TimeoutError:
            stamp = ledger.stamp(run.deadline)
            error = Unavailable(f"STH-Comet did not answer before the next slot was due ({stamp})")
            breaker.record(error)
            raise error from None
        except Exception as error:
            breaker.record(error)
            raise
        breaker.record(None)
        return ready

    done: list[_Run] = []
    for run, outcome in zip(runs, await _each(runs, read, batch.limits.read_concurrency), strict=True):
        if isinstance(outcome, BaseException):
            await _outcome(batch, run, outcome)
        else:
            run.ready = outcome
            done.append(run)
    return done


async def _each(
    items: Sequence[T], work: Callable[[T], Awaitable[R]], concurrency: int
) -> list[R | BaseException]:
    """``work`` of every item, at most ``concurrency`` at once; each outcome (a result or what it
    raised) in the items' order. Like the STH client's pages: a few workers take the next item."""
    outcomes: list[R | BaseException] = [RuntimeError("not run")] * len(items)
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:
            try:
                outcomes[index] = await work(item)
            except Exception as error:  # noqa: BLE001 - one item's failure is its outcome, not the batch's
                outcomes[index] = error

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, len(items)))):
            group.create_task(worker())
    return outcomes


# -- 3. forecast -----------------------------------------------------------------------------------


async def _forecast(batch: _Batch, runs: list[_Run]) -> list[_Run]:
    """Every run's forecast, one forward pass per network, and the entity that publishes it."""
    networks: dict[SessionKey, list[_Run]] = {}
    alone: list[_Run] = []
    values: dict[_Run, FloatArray | BaseException] = {}
    for run in runs:
        assert run.ready is not None
        if run.ready.served.name != NETWORK:
            alone.append(run)
            continue
        try:
            networks.setdefault(session_key(run.job), []).append(run)
        except ChronosError as error:
            values[run] = error

    async def serve(run: _Run) -> FloatArray:
        assert run.ready is not None
        return await service.served_values(run.ready, forecasters=batch.forecasters)

    values.update(zip(alone, await _each(alone, serve, 1), strict=True))
    for group in networks.values():
        values.update(await _network(group, batch.forecasters))
    ready: list[_Run] = []
    for run in runs:
        outcome = values[run]
        next_step = batch.fiware.store_of(run.job.config.history_store) is HistoryStore.QUANTUMLEAP
        failure = outcome if isinstance(outcome, BaseException) else _entity(run, outcome, next_step)
        if failure is None:
            ready.append(run)
        else:
            await _outcome(batch, run, failure)
    return ready


async def _network(group: list[_Run], forecasters: Forecasters) -> dict[_Run, FloatArray | BaseException]:
    """One forward pass for the windows of ``group``, whose jobs share a network; should it fail,
    one per window, so that only the windows that fail alone are lost."""
    windows = [run.ready.network_input for run in group if run.ready is not None]
    [loaded] = await _each([group[0].job], forecasters.get, 1)
    if isinstance(loaded, BaseException):  # the network is gone: every job of the group has lost it
        return dict.fromkeys(group, loaded)
    forecaster = loaded
    try:
        rows = await asyncio.to_thread(forecaster.forecast_batch, windows)
        return {run: rows[index] for index, run in enumerate(group)}
    except Exception:
        log.warning("prediction.batch_inference_failed", runs=len(group), exc_info=True)

    async def alone(window: tuple[FloatArray, FloatArray]) -> FloatArray:
        return forecaster.forecast(*window)

    return dict(zip(group, await _each(windows, alone, 1), strict=True))


def _entity(run: _Run, values: FloatArray, next_step: bool) -> BaseException | None:
    """Set the run's batch-update entity for ``values`` (with the next-step attributes when
    ``next_step``: :func:`fiware.orion.next_step_attributes`); why it cannot publish, else None."""
    assert run.ready is not None
    forecast = service.assemble(run.ready, values)
    if utcnow() >= run.deadline:
        return ready_too_late(run.deadline)
    try:
        entity_id, series = publication(run.job, forecast)
    except SlotFailure as error:
        return error
    run.entity = forecast_update(
        entity_id, run.job.prediction_config.entity_type, series, next_step=next_step
    )
    return None


# -- 4. publish ------------------------------------------------------------------------------------


async def _publish(batch: _Batch, runs: list[_Run]) -> list[_Run]:
    """Send every run's entity; the runs Orion took. Each request holds one tenant's runs, those
    due first in the first requests."""
    chunks = list(_chunks(runs, batch.limits.publish_size))
    breaker = _Breaker(1)

    async def send(chunk: list[_Run]) -> dict[_Run, BaseException | None]:
        try:
            breaker.check()
        except Unavailable as error:
            return dict.fromkeys(chunk, orion_failure(error))
        sent = await _send(chunk, batch.fiware.orion)
        down = [f for f in sent.values() if isinstance(f, SlotFailure) and f.transient]
        breaker.record(Unavailable(down[0].message) if down else None)
        return sent

    published: list[_Run] = []
    for chunk, outcome in zip(chunks, await _each(chunks, send, PUBLISH_CONCURRENCY), strict=True):
        fates = dict.fromkeys(chunk, outcome) if isinstance(outcome, BaseException) else outcome
        for run in chunk:
            fate = fates[run]
            if fate is None:
                published.append(run)
            else:
                await _outcome(batch, run, fate)
    return published


def _chunks(runs: list[_Run], size: int) -> Iterator[list[_Run]]:
    by_tenant: dict[Tenant, list[_Run]] = {}
    for run in sorted(runs, key=lambda run: run.deadline):
        by_tenant.setdefault(run.tenant, []).append(run)
    for tenant_runs in by_tenant.values():
        for start in range(0, len(tenant_runs), size):
            yield tenant_runs[start : start + size]


async def _send(chunk: list[_Run], orion: OrionClient) -> dict[_Run, BaseException | None]:
    """One batch update; for each run, why Orion did not take it, or None when it did."""
    fates: dict[_Run, BaseException | None] = {
        run: ready_too_late(run.deadline) for run in chunk if utcnow() >= run.deadline
    }
    timely = [run for run in chunk if run not in fates]
    if len(timely) <= 1:  # one entity: the single path's PATCH, whose answer is that entity's own
        fates.update(await _send_each(timely, orion))
        return fates
    # Every item is sent within its slot. The answer is awaited until the FIWARE timeout or the last
    # item's next slot: bounded by the first, a busy Orion would fail the whole request for one item
    # near its slot's end, and an item whose next slot came while Orion answered was sent in time.
    deadline = max(run.deadline for run in timely)
    try:
        async with asyncio.timeout((deadline - utcnow()).total_seconds()):
            await orion.update_entities([run.entity for run in timely if run.entity], timely[0].tenant)
    except TimeoutError:
        fates.update(dict.fromkeys(timely, orion_timeout(deadline)))
    except FiwareUnavailable as error:
        fates.update(dict.fromkeys(timely, orion_failure(translate(error))))
    except FiwareError as error:
        # Orion refused part of it: find out entity by entity (see the module's step 4).
        log.info("prediction.batch_refused", entities=len(timely), error=str(error))
        fates.update(await _send_each(timely, orion))
    else:
        fates.update(dict.fromkeys(timely))
    return fates


async def _send_each(runs: list[_Run], orion: OrionClient) -> dict[_Run, BaseException | None]:
    async def one(run: _Run) -> SlotFailure | None:
        assert run.entity is not None
        attributes = {name: value for name, value in run.entity.items() if name not in ("id", "type")}
        try:
            async with asyncio.timeout((run.deadline - utcnow()).total_seconds()):
                await orion.update_attributes(
                    run.entity["id"], attributes, run.tenant, entity_type=run.entity.get("type")
                )
        except TimeoutError:
            return orion_timeout(run.deadline)
        except FiwareError as error:
            return orion_failure(translate(error))
        return None

    return dict(zip(runs, await _each(runs, one, PUBLISH_CONCURRENCY), strict=True))


# -- 5. settle -------------------------------------------------------------------------------------


async def _settle(batch: _Batch, published: list[_Run]) -> None:
    if not published:
        return
    answered = utcnow()
    batch.ran.lateness.extend((answered - run.item.slot).total_seconds() for run in published)
    streaks = {
        run.job.id: streak.model_dump()
        for run in published
        if (streak := run.job.prediction_config.failure_streak) is not None
    }
    await ledger.settle_published_all(
        slots=[(run.item.job_id, run.item.slot) for run in published], streaks=streaks, token=uuid4().hex
    )
    batch.ran.outcomes[ForecastOutcome.PUBLISHED] += len(published)


__all__ = ["PUBLISH_CONCURRENCY", "BatchRan", "Item", "Limits", "run_batch"]
