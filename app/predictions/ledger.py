"""What became of each forecast slot, kept on the job: published or missed with a reason, once each.

Every settlement is one atomic update guarded by the job's list of recently settled slots, so a
duplicate run (two beats, a redelivered message, a retry racing its own slot) never counts a slot
twice nor both ways. Misses are counted for good (``missed_count``) and the newest are listed
(``recent_misses``, bounded), so an outage of thousands of slots adds a count, not a document.

The log tells an operator about an outage without a line per failure: the first failed run of a
streak at WARNING (``prediction.publish_failed``), then at most one summary per
:data:`SUMMARY_SECONDS` (``prediction.still_failing``: failures so far, the last error), then
``prediction.recovered`` at the next published run. The streak lives on the job, not in a worker,
so however many worker processes and hosts run the job's slots, each line is written once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from pymongo import ReturnDocument

from app.predictions.slots import RECENT_MISSES, SETTLED_SLOTS, Position
from app.timeutil import utcnow
from app.training.documents import MissReason, TrainingJobDocument

log = structlog.get_logger(__name__)

SUMMARY_SECONDS = 60.0
_CONFIG = "prediction_config"


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


def _field(name: str) -> str:
    return f"{_CONFIG}.{name}"


def _newest(values: list[Any], limit: int, **sort: int) -> dict[str, Any]:
    """A ``$push`` that keeps the newest ``limit`` entries."""
    return {"$each": values, **({"$sort": sort} if sort else {}), "$slice": -limit}


def _misses(slots: list[datetime], reason: MissReason) -> dict[str, Any]:
    entries = [{"slot": slot, "reason": reason.value} for slot in slots]
    return _newest(entries, RECENT_MISSES, slot=1)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def gap_update(where: Position) -> dict[str, Any]:
    """The update that records the slots nobody claimed, made with the claim of the current one."""
    first, last = where.current - where.missed * where.step, where.current - where.step
    span = stamp(first) if where.missed == 1 else f"{stamp(first)} to {stamp(last)}"
    return {
        "$set": {
            _field("next_prediction_at"): where.next,
            _field("last_error"): f"{where.missed} forecast slot(s) missed ({span}): no worker ran them "
            "while they were due",
        },
        "$inc": {_field("missed_count"): where.missed},
        "$push": {_field("recent_misses"): _misses(where.missed_slots(), MissReason.NO_WORKER)},
    }


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
    recorded = await _jobs().update_one(
        {"_id": job_id, _field("settled_slots"): {"$ne": slot}},
        {
            "$inc": {_field("missed_count"): 1},
            "$push": {
                _field("recent_misses"): _misses([slot], reason),
                _field("settled_slots"): _newest([slot], SETTLED_SLOTS),
            },
        },
    )
    if not recorded.modified_count:
        return False
    await note_failure(job_id=job_id, slot=slot, reason=reason, error=error)
    return True


async def settle_published(*, job_id: UUID, slot: datetime) -> bool:
    """Count ``slot`` as published, clear ``last_error`` and end a failure streak; False for a duplicate."""
    before = await _jobs().find_one_and_update(
        {"_id": job_id, _field("settled_slots"): {"$ne": slot}},
        {
            "$set": {
                _field("last_run_at"): utcnow(),
                _field("last_error"): None,
                _field("failure_streak"): None,
            },
            "$inc": {_field("run_count"): 1},
            "$push": {_field("settled_slots"): _newest([slot], SETTLED_SLOTS)},
        },
        projection={_field("failure_streak"): 1},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        # Two runs of one slot both reached Orion (a message redelivered mid-run): counted once.
        log.warning("prediction.published_twice", job_id=str(job_id), slot=stamp(slot))
        return False
    streak = (before.get(_CONFIG) or {}).get("failure_streak")
    if streak:
        log.info(
            "prediction.recovered",
            job_id=str(job_id),
            slot=stamp(slot),
            failures=streak["failures"],
            failing_seconds=round((utcnow() - streak["since"]).total_seconds(), 1),
        )
    log.info("prediction.published", job_id=str(job_id), slot=slot.isoformat())
    return True


async def note_failure(
    *, job_id: UUID, slot: datetime, reason: MissReason, error: str, summary_seconds: float = SUMMARY_SECONDS
) -> None:
    """Set ``last_error`` and count the failure in the job's streak; log it as the module says."""
    now = utcnow()
    fields = {"job_id": str(job_id), "slot": stamp(slot), "reason": reason.value}
    streak = {"since": now, "failures": 1, "last_error": error, "reported_at": now}
    started = await _jobs().update_one(
        {"_id": job_id, _field("failure_streak"): None},
        {"$set": {_field("failure_streak"): streak, _field("last_error"): error}},
    )
    if started.modified_count:
        log.warning("prediction.publish_failed", **fields, error=error)
        return
    raw = await _jobs().find_one_and_update(
        {"_id": job_id, _field("failure_streak"): {"$ne": None}},
        {
            "$inc": {_field("failure_streak.failures"): 1},
            "$set": {_field("failure_streak.last_error"): error, _field("last_error"): error},
        },
        projection={_field("failure_streak"): 1},
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        return  # the job is gone, or a published run ended the streak meanwhile
    current = raw[_CONFIG]["failure_streak"]
    if now - current["reported_at"] < timedelta(seconds=summary_seconds):
        return
    # Compare-and-set on the last report: of several workers failing together, one writes the line.
    claimed = await _jobs().update_one(
        {"_id": job_id, _field("failure_streak.reported_at"): current["reported_at"]},
        {"$set": {_field("failure_streak.reported_at"): now}},
    )
    if claimed.modified_count:
        log.warning(
            "prediction.still_failing",
            **fields,
            failures=current["failures"],
            since=stamp(current["since"]),
            last_error=error,
        )


__all__ = [
    "SUMMARY_SECONDS",
    "gap_update",
    "log_gap",
    "note_failure",
    "settle_missed",
    "settle_published",
    "stamp",
]
