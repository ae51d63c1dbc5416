"""The recurring-forecast schedule and slot ledger of a job (``prediction_config``): its writes.

Each write is one atomic update whose filter is the guard (the job is COMPLETED, the slot is not
settled, ``next_prediction_at`` still holds the value read), so two workers racing for one change
never both make it. What is due and what became of a slot are decided by ``app.predictions``;
the bounds of the lists kept on the job are passed in by it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pymongo import ReturnDocument

from app.timeutil import utcnow
from app.training.documents import MissReason, TrainingJobDocument, TrainingStatus

_CONFIG = "prediction_config"


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


def _field(name: str) -> str:
    return f"{_CONFIG}.{name}"


def _newest(values: list[Any], limit: int, **sort: int) -> dict[str, Any]:
    """A ``$push`` that keeps the newest ``limit`` entries."""
    return {"$each": values, **({"$sort": sort} if sort else {}), "$slice": -limit}


def _misses(slots: list[datetime], reason: MissReason, keep: int) -> dict[str, Any]:
    entries = [{"slot": slot, "reason": reason.value} for slot in slots]
    return _newest(entries, keep, slot=1)


@dataclass(frozen=True)
class ScheduleSettings:
    """What enabling provisioned in FIWARE and chose: recorded together when forecasts go on."""

    entity_id: str
    entity_type: str
    device_id: str
    subscription_id: str
    interval_seconds: float
    attributes: dict[str, object]


async def enable_schedule(
    *,
    job_id: UUID,
    settings: ScheduleSettings,
    model_id: UUID | None = None,
    first_slot: datetime | None = None,
) -> TrainingJobDocument | None:
    """Switch forecasts on for a COMPLETED job, first slot ``first_slot`` (default now), for its
    model when ``model_id`` is given; None when no such job is left. A job publishing for itself is
    never turned into the model's publisher here (the caller refuses that with a reason)."""
    guard: dict[str, Any] = {"_id": job_id, "status": TrainingStatus.COMPLETED.value}
    if model_id is not None:
        guard["$or"] = [{"prediction_config.enabled": False}, {"prediction_config.model_id": model_id}]
    raw = await _jobs().find_one_and_update(
        guard,
        {
            "$set": {
                "prediction_config.enabled": True,
                "prediction_config.model_id": model_id,
                "prediction_config.handed_over_at": None,
                "prediction_config.entity_id": settings.entity_id,
                "prediction_config.entity_type": settings.entity_type,
                "prediction_config.device_id": settings.device_id,
                "prediction_config.subscription_id": settings.subscription_id,
                "prediction_config.interval_seconds": settings.interval_seconds,
                "prediction_config.attributes": settings.attributes,
                # The first forecast runs at the scheduler's next tick (or at the slot a handover
                # continues from); this anchors the slot grid.
                "prediction_config.next_prediction_at": first_slot or utcnow(),
                "prediction_config.last_error": None,
                "prediction_config.failure_streak": None,
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else TrainingJobDocument.model_validate(raw)


async def disable_schedule(*, job_id: UUID) -> TrainingJobDocument | None:
    """Switch forecasts off and forget the (deleted) subscription; None when the job is gone."""
    raw = await _jobs().find_one_and_update(
        {"_id": job_id},
        {"$set": {"prediction_config.enabled": False, "prediction_config.subscription_id": None}},
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else TrainingJobDocument.model_validate(raw)


async def hand_over(*, job_id: UUID, model_id: UUID, due: datetime | None) -> bool:
    """Stop the model's schedule on ``job_id`` if its next slot is still ``due`` (False when a beat
    claimed meanwhile: read again); the slots it claimed before still run here."""
    moved = await _jobs().update_one(
        {"_id": job_id, "prediction_config.model_id": model_id, "prediction_config.next_prediction_at": due},
        {
            "$set": {
                "prediction_config.enabled": False,
                "prediction_config.subscription_id": None,
                "prediction_config.handed_over_at": utcnow(),
            }
        },
    )
    return bool(moved.matched_count)


async def stop_schedule(*, job_id: UUID, reason: str) -> None:
    """Switch forecasts off with the reason, when the scheduler finds the job cannot forecast."""
    await _jobs().update_one(
        {"_id": job_id},
        {"$set": {"prediction_config.enabled": False, "prediction_config.last_error": reason}},
    )


@dataclass(frozen=True)
class DueSchedule:
    job_id: UUID
    due: datetime
    """``next_prediction_at`` as read: the claim is a compare-and-set on it."""
    interval: Any
    """``interval_seconds`` as stored, unchecked (it may be missing or not a number)."""


async def due_schedules(*, now: datetime, batch: int) -> AsyncIterator[DueSchedule]:
    """Enabled jobs whose next slot is at or before ``now``, the longest due first."""
    cursor = (
        _jobs()
        .find(
            {"prediction_config.enabled": True, "prediction_config.next_prediction_at": {"$lte": now}},
            {"prediction_config.next_prediction_at": 1, "prediction_config.interval_seconds": 1},
        )
        .sort("prediction_config.next_prediction_at", 1)
        .limit(batch)
    )
    async for raw in cursor:
        config = raw["prediction_config"]
        yield DueSchedule(raw["_id"], config["next_prediction_at"], config.get("interval_seconds"))


@dataclass(frozen=True)
class Gap:
    """Slots nobody claimed in time, recorded missed with the claim of the current one."""

    missed: int
    slots: list[datetime]
    """The newest of them, oldest first."""
    reason: MissReason
    error: str


async def claim_slot(
    *, job_id: UUID, due: datetime, next_at: datetime, gap: Gap | None, keep_misses: int
) -> bool:
    """Move ``next_prediction_at`` from ``due`` to ``next_at``; False when another beat did first."""
    update = (
        {
            "$set": {_field("next_prediction_at"): next_at, _field("last_error"): gap.error},
            "$inc": {_field("missed_count"): gap.missed},
            "$push": {_field("recent_misses"): _misses(gap.slots, gap.reason, keep_misses)},
        }
        if gap is not None
        else {"$set": {"prediction_config.next_prediction_at": next_at}}
    )
    moved = await _jobs().update_one(
        {"_id": job_id, "prediction_config.enabled": True, "prediction_config.next_prediction_at": due},
        update,
    )
    return bool(moved.modified_count)


async def claim_run(*, job_id: UUID, slot: datetime, retrying: bool) -> float | None:
    """Mark ``slot`` as the job's running slot; its interval, or None when it is not this run's."""
    ran_before = {"$lte": slot} if retrying else {"$lt": slot}
    # A schedule handed to the model's next version still runs the slots it claimed before.
    still_ours = [
        {"prediction_config.enabled": True},
        {
            "prediction_config.handed_over_at": {"$ne": None},
            "prediction_config.next_prediction_at": {"$gt": slot},
        },
    ]
    raw = await _jobs().find_one_and_update(
        {
            "_id": job_id,
            "prediction_config.settled_slots": {"$ne": slot},
            "$and": [
                {"$or": still_ours},
                {"$or": [{"prediction_config.last_slot": None}, {"prediction_config.last_slot": ran_before}]},
            ],
        },
        {"$set": {"prediction_config.last_slot": slot}},
        projection={"prediction_config.interval_seconds": 1},
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else float(raw["prediction_config"]["interval_seconds"])


async def schedule_of(*, job_id: UUID) -> dict[str, Any]:
    """The job's ``prediction_config`` as stored; empty when the job is gone."""
    raw = await _jobs().find_one({"_id": job_id}, {"prediction_config": 1})
    config: dict[str, Any] = (raw or {}).get("prediction_config") or {}
    return config


async def settle_missed(
    *, job_id: UUID, slot: datetime, reason: MissReason, keep_misses: int, keep_settled: int
) -> bool:
    """Count ``slot`` missed unless it is settled already; whether this call counted it."""
    recorded = await _jobs().update_one(
        {"_id": job_id, _field("settled_slots"): {"$ne": slot}},
        {
            "$inc": {_field("missed_count"): 1},
            "$push": {
                _field("recent_misses"): _misses([slot], reason, keep_misses),
                _field("settled_slots"): _newest([slot], keep_settled),
            },
        },
    )
    return bool(recorded.modified_count)


@dataclass(frozen=True)
class Published:
    streak: dict[str, Any] | None
    """The failure streak this publication ended, as stored; None when there was none."""


async def settle_published(*, job_id: UUID, slot: datetime, keep_settled: int) -> Published | None:
    """Count ``slot`` published, clear ``last_error`` and end a failure streak; None for a duplicate."""
    before = await _jobs().find_one_and_update(
        {"_id": job_id, _field("settled_slots"): {"$ne": slot}},
        {
            "$set": {
                _field("last_run_at"): utcnow(),
                _field("last_error"): None,
                _field("failure_streak"): None,
            },
            "$inc": {_field("run_count"): 1},
            "$push": {_field("settled_slots"): _newest([slot], keep_settled)},
        },
        projection={_field("failure_streak"): 1},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        return None
    return Published((before.get(_CONFIG) or {}).get("failure_streak"))


async def start_streak(*, job_id: UUID, now: datetime, error: str) -> bool:
    """Open a failure streak of one failure, reported ``now``; False when one is open already."""
    streak = {"since": now, "failures": 1, "last_error": error, "reported_at": now}
    started = await _jobs().update_one(
        {"_id": job_id, _field("failure_streak"): None},
        {"$set": {_field("failure_streak"): streak, _field("last_error"): error}},
    )
    return bool(started.modified_count)


async def extend_streak(*, job_id: UUID, error: str) -> dict[str, Any] | None:
    """Count one more failure in the open streak; the streak after, None when none is open."""
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
        return None
    streak: dict[str, Any] = raw[_CONFIG]["failure_streak"]
    return streak


async def claim_report(*, job_id: UUID, reported_at: datetime, now: datetime) -> bool:
    """Move the streak's last report from ``reported_at`` to ``now``; False when another did first."""
    claimed = await _jobs().update_one(
        {"_id": job_id, _field("failure_streak.reported_at"): reported_at},
        {"$set": {_field("failure_streak.reported_at"): now}},
    )
    return bool(claimed.modified_count)


__all__ = [
    "DueSchedule",
    "Gap",
    "Published",
    "ScheduleSettings",
    "claim_report",
    "claim_run",
    "claim_slot",
    "disable_schedule",
    "due_schedules",
    "enable_schedule",
    "extend_streak",
    "hand_over",
    "schedule_of",
    "settle_missed",
    "settle_published",
    "start_streak",
    "stop_schedule",
]
