"""What became of each forecast slot, kept on the job: published or missed with a reason, once each.

Every settlement is one atomic update (:mod:`app.training.repository.forecasting`) guarded by the
job's list of recently settled slots, so a duplicate run (two beats, a redelivered message, a retry
racing its own slot) never counts a slot twice nor both ways. A batch settles its published slots
in one bulk write of those same guarded updates (:func:`settle_published_all`). Misses are counted for good
(``missed_count``) and the newest are listed (``recent_misses``, bounded), so an outage of
thousands of slots adds a count, not a document.

The log tells an operator about an outage without a line per failure: the first failed run of a
streak at WARNING (``prediction.publish_failed``), then at most one summary per
:data:`SUMMARY_SECONDS` (``prediction.still_failing``: failures so far, the last error), then
``prediction.recovered`` at the next published run. The streak lives on the job, not in a worker,
so however many worker processes and hosts run the job's slots, each line is written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from app.predictions.slots import RECENT_MISSES, SETTLED_SLOTS, Position
from app.timeutil import utcnow
from app.training.documents import MissReason
from app.training.repository import forecasting

log = structlog.get_logger(__name__)

SUMMARY_SECONDS = 60.0


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def gap_of(where: Position) -> forecasting.Gap | None:
    """The slots nobody claimed, to record with the claim of the current one; None when none."""
    if not where.missed:
        return None
    first, last = where.current - where.missed * where.step, where.current - where.step
    span = stamp(first) if where.missed == 1 else f"{stamp(first)} to {stamp(last)}"
    return forecasting.Gap(
        missed=where.missed,
        slots=where.missed_slots(),
        reason=MissReason.NO_WORKER,
        error=f"{where.missed} forecast slot(s) missed ({span}): no worker ran them while they were due",
    )


def log_gap(job_id: UUID, where: Position) -> None:
    log.warning(
        "prediction.slots_missed",
        job_id=str(job_id),
        missed=where.missed,
        first=stamp(where.current - where.missed * where.step),
        last=stamp(where.current - where.step),
        reason=MissReason.NO_WORKER.value,
        running=stamp(where.current),
    )


async def settle_missed(*, job_id: UUID, slot: datetime, reason: MissReason, error: str) -> bool:
    """Record ``slot`` as missed unless it is settled already; whether this call recorded it."""
    recorded = await forecasting.settle_missed(
        job_id=job_id, slot=slot, reason=reason, keep_misses=RECENT_MISSES, keep_settled=SETTLED_SLOTS
    )
    if not recorded:
        return False
    await note_failure(job_id=job_id, slot=slot, reason=reason, error=error)
    return True


async def settle_published(*, job_id: UUID, slot: datetime) -> bool:
    """Count ``slot`` as published, clear ``last_error`` and end a failure streak; False for a duplicate."""
    published = await forecasting.settle_published(job_id=job_id, slot=slot, keep_settled=SETTLED_SLOTS)
    if published is None:
        # Two runs of one slot both reached Orion (a message redelivered mid-run): counted once.
        log.warning("prediction.published_twice", job_id=str(job_id), slot=stamp(slot))
        return False
    _recovered(job_id, slot, published.streak)
    log.info("prediction.published", job_id=str(job_id), slot=slot.isoformat())
    return True


def _recovered(job_id: UUID, slot: datetime, streak: Mapping[str, Any] | None) -> None:
    if streak:
        log.info(
            "prediction.recovered",
            job_id=str(job_id),
            slot=stamp(slot),
            failures=streak["failures"],
            failing_seconds=round((utcnow() - streak["since"]).total_seconds(), 1),
        )


async def settle_published_all(
    *,
    slots: Sequence[tuple[UUID, datetime]],
    streaks: Mapping[UUID, Mapping[str, Any]],
    token: str,
) -> set[UUID]:
    """:func:`settle_published` for many (job, slot) pairs, one job each: the jobs whose slot this
    call counted, in one bulk write. ``streaks`` holds the failure streaks open when the jobs were
    read: those end with the write, and their recovery line tells them as read. A job whose streak
    opened after the read is not settled by the bulk write; it, and any slot settled already, is
    settled one at a time, so the log says what the single form says (a recovery, a slot published
    twice)."""
    settled = await forecasting.settle_published_many(
        slots=slots, streaking=set(streaks), token=token, keep_settled=SETTLED_SLOTS
    )
    for job_id, slot in slots:
        if job_id in settled:
            _recovered(job_id, slot, streaks.get(job_id))
            log.info("prediction.published", job_id=str(job_id), slot=slot.isoformat())
    for job_id, slot in slots:
        if job_id not in settled and await settle_published(job_id=job_id, slot=slot):
            settled.add(job_id)
    return settled


async def note_failure(
    *, job_id: UUID, slot: datetime, reason: MissReason, error: str, summary_seconds: float = SUMMARY_SECONDS
) -> None:
    """Set ``last_error`` and count the failure in the job's streak; log it as the module says."""
    now = utcnow()
    failure = Failure(job_id, slot, reason, error)
    if await forecasting.start_streak(job_id=job_id, now=now, error=error):
        log.warning("prediction.publish_failed", **_fields(failure), error=error)
        return
    current = await forecasting.extend_streak(job_id=job_id, error=error)
    if current is None:
        return  # the job is gone, or a published run ended the streak meanwhile
    if now - current["reported_at"] >= timedelta(seconds=summary_seconds):
        await _summary(failure, current, now)


def _fields(failure: Failure) -> dict[str, str]:
    return {"job_id": str(failure.job_id), "slot": stamp(failure.slot), "reason": failure.reason.value}


async def _summary(failure: Failure, current: Mapping[str, Any], now: datetime) -> None:
    # Compare-and-set on the last report: of several workers failing together, one writes the line.
    if await forecasting.claim_report(job_id=failure.job_id, reported_at=current["reported_at"], now=now):
        log.warning(
            "prediction.still_failing",
            **_fields(failure),
            failures=current["failures"],
            since=stamp(current["since"]),
            last_error=failure.error,
        )


@dataclass(frozen=True)
class Failure:
    """A slot's failure to record: missed for good, or (:func:`note_failures`) to be retried."""

    job_id: UUID
    slot: datetime
    reason: MissReason
    error: str


async def settle_missed_all(*, misses: Sequence[Failure], token: str) -> set[UUID]:
    """:func:`settle_missed` for many slots, one job each, in bulk writes: the jobs whose slot this
    call recorded (a slot settled already is not)."""
    if not misses:
        return set()
    recorded = await forecasting.settle_missed_many(
        misses=[(miss.job_id, miss.slot, miss.reason) for miss in misses],
        token=token,
        keep_misses=RECENT_MISSES,
        keep_settled=SETTLED_SLOTS,
    )
    await note_failures([miss for miss in misses if miss.job_id in recorded], token=token)
    return recorded


async def note_failures(
    failures: Sequence[Failure], *, token: str, summary_seconds: float = SUMMARY_SECONDS
) -> None:
    """:func:`note_failure` for many slots, one job each, in bulk writes, with the same log lines."""
    if not failures:
        return
    now = utcnow()
    started = await forecasting.start_streaks(
        failures=[(f.job_id, f.error) for f in failures], now=now, token=f"{token}-streak"
    )
    for failure in failures:
        if failure.job_id in started:
            log.warning("prediction.publish_failed", **_fields(failure), error=failure.error)
    rest = [failure for failure in failures if failure.job_id not in started]
    streaks = await forecasting.extend_streaks(failures=[(f.job_id, f.error) for f in rest])
    for failure in rest:
        current = streaks.get(failure.job_id)
        if current is not None and now - current["reported_at"] >= timedelta(seconds=summary_seconds):
            await _summary(failure, current, now)


__all__ = [
    "SUMMARY_SECONDS",
    "Failure",
    "gap_of",
    "log_gap",
    "note_failure",
    "note_failures",
    "settle_missed",
    "settle_missed_all",
    "settle_published",
    "settle_published_all",
    "stamp",
]
