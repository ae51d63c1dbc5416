"""The recurring-forecast schedule and slot ledger of a job (``prediction_config``): its writes.

Each write is one atomic update whose filter is the guard (the job is COMPLETED, the slot is not
settled, ``next_prediction_at`` still holds the value read), so two workers racing for one change
never both make it. What is due and what became of a slot are decided by ``app.predictions``;
the bounds of the lists kept on the job are passed in by it.

The bulk forms (``claim_slots``, ``claim_runs``, ``settle_published_many``) send the guarded
updates of many jobs in one ``bulk_write``. MongoDB's answer counts the updates that took effect
but does not name them, so each update also pushes a token of its own onto the job's
``prediction_config.marks`` (the newest :data:`KEEP_MARKS`); when the count falls short, the jobs
holding their token are the ones this call changed. Each guard is evaluated per document, as in the
single form (``claim_runs`` splits ``claim_run``'s guard into the branch a job was read in, and
falls back to the whole guard for a job that changed meanwhile), so the bulk forms keep every
guarantee of the single ones. Many jobs are read :data:`READ_CHUNK` ids at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pymongo import ReturnDocument, UpdateOne

from app.timeutil import utcnow
from app.training.documents import MissReason, TrainingJobDocument, TrainingStatus

_CONFIG = "prediction_config"
_MARKS = "prediction_config.marks"
# Tokens kept per job: a bulk write reads its own back within milliseconds, while a job sees at most
# three marks per slot (claim, run, settlement).
KEEP_MARKS = 12
# Ids per read of many jobs: SecantusDB matches ``$in`` against each document in turn, so lists of
# thousands cost quadratic time there (1,000 ids: 1 s; 20 batches of 50: 0.1 s).
READ_CHUNK = 50
# Rounds of extend_streak's compare-and-set before it counts without one (only many failures of
# one job at the same moment lose a round).
STREAK_ATTEMPTS = 8


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


def _slot_guard(job_id: UUID, due: datetime) -> dict[str, Any]:
    return {"_id": job_id, "prediction_config.enabled": True, "prediction_config.next_prediction_at": due}


def _slot_update(next_at: datetime, gap: Gap | None, keep_misses: int) -> dict[str, Any]:
    if gap is None:
        return {"$set": {"prediction_config.next_prediction_at": next_at}}
    return {
        "$set": {_field("next_prediction_at"): next_at, _field("last_error"): gap.error},
        "$inc": {_field("missed_count"): gap.missed},
        "$push": {_field("recent_misses"): _misses(gap.slots, gap.reason, keep_misses)},
    }


async def claim_slot(
    *, job_id: UUID, due: datetime, next_at: datetime, gap: Gap | None, keep_misses: int
) -> bool:
    """Move ``next_prediction_at`` from ``due`` to ``next_at``; False when another beat did first."""
    moved = await _jobs().update_one(_slot_guard(job_id, due), _slot_update(next_at, gap, keep_misses))
    return bool(moved.modified_count)


@dataclass(frozen=True)
class SlotClaim:
    """One :func:`claim_slot` of :func:`claim_slots`."""

    job_id: UUID
    due: datetime
    next_at: datetime
    gap: Gap | None


async def claim_slots(*, claims: Sequence[SlotClaim], token: str, keep_misses: int) -> set[UUID]:
    """:func:`claim_slot` for many jobs in one bulk write: the jobs whose slot this call claimed
    (another beat may have claimed some first, exactly as with :func:`claim_slot`)."""
    marks = {claim.job_id: f"{token}:{index}" for index, claim in enumerate(claims)}
    writes = [
        UpdateOne(
            _slot_guard(claim.job_id, claim.due),
            _marked(_slot_update(claim.next_at, claim.gap, keep_misses), marks[claim.job_id]),
        )
        for claim in claims
    ]
    return await _applied(writes, marks)


def _marked(update: dict[str, Any], mark: str) -> dict[str, Any]:
    """``update`` that also leaves ``mark`` on the job, to tell afterwards that it took effect."""
    push = {**update.get("$push", {}), _MARKS: _newest([mark], KEEP_MARKS)}
    return {**update, "$push": push}


async def _applied(writes: list[UpdateOne], marks: dict[UUID, str]) -> set[UUID]:
    """Send ``writes`` (one per job, each leaving its job's mark); the jobs whose write took effect."""
    if not writes:
        return set()
    result = await _jobs().bulk_write(writes, ordered=False)
    if result.modified_count == len(writes):
        return set(marks)
    found = set()
    async for raw in _documents(marks, {_MARKS: 1}):
        if marks[raw["_id"]] in (raw.get(_CONFIG) or {}).get("marks", []):
            found.add(raw["_id"])
    return found


async def _documents(
    job_ids: Iterable[UUID], projection: dict[str, Any] | None
) -> AsyncIterator[dict[str, Any]]:
    """The jobs' documents (or ``projection`` of them), read :data:`READ_CHUNK` at a time."""
    ids = list(job_ids)
    for start in range(0, len(ids), READ_CHUNK):
        async for raw in _jobs().find({"_id": {"$in": ids[start : start + READ_CHUNK]}}, projection):
            yield raw


def _run_guard(job_id: UUID, slot: datetime, retrying: bool) -> dict[str, Any]:
    ran_before = {"$lte": slot} if retrying else {"$lt": slot}
    # A schedule handed to the model's next version still runs the slots it claimed before.
    still_ours = [
        {"prediction_config.enabled": True},
        {
            "prediction_config.handed_over_at": {"$ne": None},
            "prediction_config.next_prediction_at": {"$gt": slot},
        },
    ]
    return {
        "_id": job_id,
        "prediction_config.settled_slots": {"$ne": slot},
        "$and": [
            {"$or": still_ours},
            {"$or": [{"prediction_config.last_slot": None}, {"prediction_config.last_slot": ran_before}]},
        ],
    }


async def claim_run(*, job_id: UUID, slot: datetime, retrying: bool) -> float | None:
    """Mark ``slot`` as the job's running slot; its interval, or None when it is not this run's."""
    raw = await _jobs().find_one_and_update(
        _run_guard(job_id, slot, retrying),
        {"$set": {"prediction_config.last_slot": slot}},
        projection={"prediction_config.interval_seconds": 1},
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else float(raw["prediction_config"]["interval_seconds"])


@dataclass(frozen=True)
class Running:
    """A job of :func:`claim_runs`."""

    document: dict[str, Any]
    """The job as stored, raw: what forecasting it needs, or why its slot was not claimed."""
    claimed: bool
    """Whether this call claimed the slot (as :func:`claim_run` answering an interval)."""


def _run_branch(config: Mapping[str, Any], slot: datetime, retrying: bool) -> dict[str, Any] | None:
    """The conditions of ``claim_run``'s guard that ``config`` (as read) meets, all of them plain
    ones: the guard's ``$or`` makes SecantusDB scan every document of the collection, where these
    use the ``_id`` index (14 ms against 0.3 ms per update among 1,000 jobs, measured). None when
    ``config`` meets no branch of the guard: its slot is not this run's."""
    last = config.get("last_slot")
    if slot in config.get("settled_slots", []) or (
        last is not None and (last > slot or (last == slot and not retrying))
    ):
        return None
    guard: dict[str, Any] = {
        _field("settled_slots"): {"$ne": slot},
        _field("last_slot"): {"$not": {"$gt" if retrying else "$gte": slot}},  # null, missing or earlier
    }
    if config.get("enabled") is True:
        return {**guard, _field("enabled"): True}
    handed_over, next_at = config.get("handed_over_at"), config.get("next_prediction_at")
    if handed_over is not None and next_at is not None and next_at > slot:
        return {
            **guard,
            _field("enabled"): {"$ne": True},
            _field("handed_over_at"): {"$ne": None},
            _field("next_prediction_at"): {"$gt": slot},
        }
    return None


async def claim_runs(
    *, runs: Sequence[tuple[UUID, datetime]], retrying: bool, token: str
) -> dict[UUID, Running]:
    """:func:`claim_run` for many (job, slot) pairs, one job each: every job still there, read whole,
    and whether this call claimed its slot. Each claim is a compare-and-set on the conditions the
    job met when read (:func:`_run_branch`), sent in one bulk write; one that finds the job changed
    meanwhile is tried again with ``claim_run``'s own guard, so the outcome is the single form's."""
    slots = dict(runs)
    read = {raw["_id"]: raw async for raw in _documents(slots, None)}
    guards = {
        job_id: guard
        for job_id, raw in read.items()
        if (guard := _run_branch(raw.get(_CONFIG) or {}, slots[job_id], retrying)) is not None
    }
    won = await _claim_all(guards, slots, token)
    retry = {job_id: _run_guard(job_id, slots[job_id], retrying) for job_id in guards if job_id not in won}
    if retry:
        won |= await _claim_all(retry, slots, f"{token}-again")
        # What kept those from being claimed is in their documents as they are now.
        read.update({raw["_id"]: raw async for raw in _documents(set(retry) - won, None)})
    for job_id in won:
        read[job_id].setdefault(_CONFIG, {})["last_slot"] = slots[job_id]
    return {job_id: Running(raw, job_id in won) for job_id, raw in read.items()}


async def _claim_all(
    guards: Mapping[UUID, dict[str, Any]], slots: Mapping[UUID, datetime], token: str
) -> set[UUID]:
    marks = {job_id: f"{token}:{index}" for index, job_id in enumerate(guards)}
    writes = [
        UpdateOne(
            {"_id": job_id, **guard},
            _marked({"$set": {"prediction_config.last_slot": slots[job_id]}}, marks[job_id]),
        )
        for job_id, guard in guards.items()
    ]
    return await _applied(writes, marks)


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
        _missed_update(slot, reason, keep_misses, keep_settled),
    )
    return bool(recorded.modified_count)


def _missed_update(slot: datetime, reason: MissReason, keep_misses: int, keep_settled: int) -> dict[str, Any]:
    return {
        "$inc": {_field("missed_count"): 1},
        "$push": {
            _field("recent_misses"): _misses([slot], reason, keep_misses),
            _field("settled_slots"): _newest([slot], keep_settled),
        },
    }


async def settle_missed_many(
    *, misses: Sequence[tuple[UUID, datetime, MissReason]], token: str, keep_misses: int, keep_settled: int
) -> set[UUID]:
    """:func:`settle_missed` for many (job, slot, reason), one job each, in one bulk write: the jobs
    whose slot this call counted (the others were settled already)."""
    marks = {job_id: f"{token}:{index}" for index, (job_id, _, _) in enumerate(misses)}
    writes = [
        UpdateOne(
            {"_id": job_id, _field("settled_slots"): {"$ne": slot}},
            _marked(_missed_update(slot, reason, keep_misses, keep_settled), marks[job_id]),
        )
        for job_id, slot, reason in misses
    ]
    return await _applied(writes, marks)


async def start_streaks(*, failures: Sequence[tuple[UUID, str]], now: datetime, token: str) -> set[UUID]:
    """:func:`start_streak` for many (job, error), one job each, in one bulk write: the jobs whose
    streak this call opened (the others had one open already, or are gone)."""
    marks = {job_id: f"{token}:{index}" for index, (job_id, _) in enumerate(failures)}
    writes = [
        UpdateOne(
            {"_id": job_id, _field("failure_streak"): None},
            _marked(
                _streak_start(now, error),
                marks[job_id],
            ),
        )
        for job_id, error in failures
    ]
    return await _applied(writes, marks)


async def extend_streaks(*, failures: Sequence[tuple[UUID, str]]) -> dict[UUID, dict[str, Any]]:
    """Count one more failure in each job's open streak, in one bulk write; each streak after, read
    back (it may hold failures counted meanwhile: it only tells whether a summary line is due)."""
    if not failures:
        return {}
    await _jobs().bulk_write(
        [
            UpdateOne(
                {"_id": job_id, _field("failure_streak"): {"$ne": None}},
                _streak_failure(error),
            )
            for job_id, error in failures
        ],
        ordered=False,
    )
    streaks: dict[UUID, dict[str, Any]] = {}
    async for raw in _documents([job_id for job_id, _ in failures], {_field("failure_streak"): 1}):
        streak = (raw.get(_CONFIG) or {}).get("failure_streak")
        if streak is not None:
            streaks[raw["_id"]] = streak
    return streaks


@dataclass(frozen=True)
class Published:
    streak: dict[str, Any] | None
    """The failure streak this publication ended, as stored; None when there was none."""


def _published_update(slot: datetime, keep_settled: int) -> dict[str, Any]:
    return {
        "$set": {
            _field("last_run_at"): utcnow(),
            _field("last_error"): None,
            _field("failure_streak"): None,
        },
        "$inc": {_field("run_count"): 1},
        "$push": {_field("settled_slots"): _newest([slot], keep_settled)},
    }


async def settle_published(*, job_id: UUID, slot: datetime, keep_settled: int) -> Published | None:
    """Count ``slot`` published, clear ``last_error`` and end a failure streak; None for a duplicate."""
    before = await _jobs().find_one_and_update(
        {"_id": job_id, _field("settled_slots"): {"$ne": slot}},
        _published_update(slot, keep_settled),
        projection={_field("failure_streak"): 1},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        return None
    return Published((before.get(_CONFIG) or {}).get("failure_streak"))


async def settle_published_many(
    *, slots: Sequence[tuple[UUID, datetime]], streaking: Set[UUID], token: str, keep_settled: int
) -> set[UUID]:
    """:func:`settle_published` for many (job, slot) pairs, one job each, in one bulk write: the
    jobs this call settled. A job in ``streaking`` (a failure streak open when the caller read it)
    has its streak ended whatever it holds now; any other is settled only while it has none. Those
    it did not settle (the slot was settled already, or a streak opened meanwhile) are the caller's
    to settle one at a time."""
    marks = {job_id: f"{token}:{index}" for index, (job_id, _) in enumerate(slots)}
    writes = [
        UpdateOne(
            {
                "_id": job_id,
                _field("settled_slots"): {"$ne": slot},
                **({} if job_id in streaking else {_field("failure_streak"): None}),
            },
            _marked(_published_update(slot, keep_settled), marks[job_id]),
        )
        for job_id, slot in slots
    ]
    return await _applied(writes, marks)


async def start_streak(*, job_id: UUID, now: datetime, error: str) -> bool:
    """Open a failure streak of one failure, reported ``now``; False when one is open already."""
    started = await _jobs().update_one(
        {"_id": job_id, _field("failure_streak"): None}, _streak_start(now, error)
    )
    return bool(started.modified_count)


def _streak_start(now: datetime, error: str) -> dict[str, Any]:
    streak = {"since": now, "failures": 1, "last_error": error, "reported_at": now}
    return {"$set": {_field("failure_streak"): streak, _field("last_error"): error}}


def _streak_failure(error: str) -> dict[str, Any]:
    return {
        "$inc": {_field("failure_streak.failures"): 1},
        "$set": {_field("failure_streak.last_error"): error, _field("last_error"): error},
    }


async def extend_streak(*, job_id: UUID, error: str) -> dict[str, Any] | None:
    """Count one more failure in the open streak; the streak after, None when none is open.

    A read and a compare-and-set on the count read, not one ``findAndModify``: SecantusDB runs
    that by scanning the whole collection (170 ms against 5 ms per update among 10,000 jobs,
    measured), and every missed slot of a failing fleet comes here. Each failure is counted once
    and each caller learns its own count, as the atomic form told it."""
    inc = _streak_failure(error)
    for _ in range(STREAK_ATTEMPTS):
        raw = await _jobs().find_one({"_id": job_id}, {_field("failure_streak"): 1})
        streak: dict[str, Any] | None = ((raw or {}).get(_CONFIG) or {}).get("failure_streak")
        if streak is None:
            return None
        guard = {_field(f"failure_streak.{key}"): streak[key] for key in ("since", "failures")}
        if (await _jobs().update_one({"_id": job_id, **guard}, inc)).modified_count:
            return {**streak, "failures": streak["failures"] + 1, "last_error": error}
    # Other failures of this job won every round: counted all the same, with no summary from this one.
    await _jobs().update_one({"_id": job_id, _field("failure_streak"): {"$ne": None}}, inc)
    return None


async def claim_report(*, job_id: UUID, reported_at: datetime, now: datetime) -> bool:
    """Move the streak's last report from ``reported_at`` to ``now``; False when another did first."""
    claimed = await _jobs().update_one(
        {"_id": job_id, _field("failure_streak.reported_at"): reported_at},
        {"$set": {_field("failure_streak.reported_at"): now}},
    )
    return bool(claimed.modified_count)


__all__ = [
    "KEEP_MARKS",
    "READ_CHUNK",
    "DueSchedule",
    "Gap",
    "Published",
    "Running",
    "ScheduleSettings",
    "SlotClaim",
    "claim_report",
    "claim_run",
    "claim_runs",
    "claim_slot",
    "claim_slots",
    "disable_schedule",
    "due_schedules",
    "enable_schedule",
    "extend_streak",
    "extend_streaks",
    "hand_over",
    "schedule_of",
    "settle_missed",
    "settle_missed_many",
    "settle_published",
    "settle_published_many",
    "start_streak",
    "start_streaks",
    "stop_schedule",
]
