"""The model aggregate's writes: every change to the ``models`` collection is a named function here.

Each write is one conditional update, so a decision (the model is DRAFT, unlocked, at the revision
read) and the change it allows never come apart. The training lock (``active_job_id``) is taken
by admission and given back by the job that holds it; nothing else moves it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from pymongo import ReturnDocument

from app.models.documents import ModelDocument
from app.models.enums import ModelStatus
from app.models.policy import Monitoring, RetrainingPolicy
from app.timeutil import utcnow
from app.training.documents import TrainingJobDocument, TrainingStatus
from app.training.repository import jobs
from app.training.repository.jobs import JobRemoved


def _models() -> Any:
    return ModelDocument.get_pymongo_collection()


async def insert_model(document: ModelDocument) -> None:
    await document.insert()


def _revision_match(revision: int) -> object:
    # Documents written before revisions existed have none: they are at revision 0.
    return {"$in": [0, None]} if revision == 0 else revision


async def update_draft(*, current: ModelDocument, values: Mapping[str, Any]) -> ModelDocument | None:
    """Set ``values`` on a DRAFT model still as ``current`` was read; None when it changed meanwhile."""
    # Guarded on status and the version we read: a training start or another edit in between wins.
    raw = await _models().find_one_and_update(
        {
            "_id": current.id,
            "status": ModelStatus.DRAFT.value,
            "revision": _revision_match(current.revision),
            # The tenant we checked: a model moved by another edit in between is not ours to touch.
            "fiware_service": current.fiware_service,
            "fiware_service_path": current.fiware_service_path,
        },
        {"$set": dict(values), "$inc": {"revision": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        return None
    updated: ModelDocument = ModelDocument.model_validate(raw)
    return updated


async def delete_idle_model(
    *, model_id: UUID, query: Mapping[str, Any], on_job_removed: JobRemoved | None = None
) -> bool:
    """Delete the model ``query`` matches (not training) with its jobs; False when none matched."""
    result = await _models().delete_one(dict(query))
    if result.deleted_count == 0:
        return False
    await jobs.delete_jobs_of_model(model_id=model_id, on_job_removed=on_job_removed)
    return True


async def reserve_for_training(*, model: ModelDocument, job_id: UUID) -> bool:
    """Lock the model for ``job_id`` (status TRAINING); False when it is locked or was edited."""
    # Guarded on the revision snapshotted: an edit that landed meanwhile would not be trained.
    raw = await _models().find_one_and_update(
        {"_id": model.id, "active_job_id": None, "revision": model.revision},
        {"$set": {"active_job_id": job_id, "active_since": utcnow(), "status": ModelStatus.TRAINING.value}},
        return_document=ReturnDocument.AFTER,
    )
    return raw is not None


async def crown_first(*, model_id: UUID, job_id: UUID) -> None:
    """``job_id`` (just COMPLETED) becomes the model's champion when it has none (idempotent)."""
    await _models().update_one(
        {"_id": model_id, "champion_job_id": None},
        {"$set": {"champion_job_id": job_id, "champion_since": utcnow()}},
    )


async def promote(*, model_id: UUID, job_id: UUID) -> ModelDocument | None:
    """``job_id`` becomes the model's champion; the model after, or None when it is gone."""
    raw = await _models().find_one_and_update(
        {"_id": model_id},
        {"$set": {"champion_job_id": job_id, "champion_since": utcnow()}},
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else ModelDocument.model_validate(raw)


async def uncrown(*, model_id: UUID, job_id: UUID) -> None:
    """Clear the champion if it is still ``job_id`` (a promotion that lost a race with a delete)."""
    await _models().update_one(
        {"_id": model_id, "champion_job_id": job_id},
        {"$set": {"champion_job_id": None, "champion_since": None}},
    )


async def release_model(*, model_id: UUID, job_id: UUID, completed: bool) -> None:
    """Give the model back: TRAINED once any job completed, else DRAFT. Only the holder can. A
    completed job becomes the champion of a model that has none."""
    models = _models()
    held = {"_id": model_id, "active_job_id": job_id}
    if completed:
        await crown_first(model_id=model_id, job_id=job_id)
        await models.update_one(
            held,
            {
                "$set": {
                    "active_job_id": None,
                    "active_since": None,
                    "status": ModelStatus.TRAINED.value,
                    "has_successful_training": True,
                }
            },
        )
        return
    result = await models.update_one(
        {**held, "has_successful_training": True},
        {"$set": {"active_job_id": None, "active_since": None, "status": ModelStatus.TRAINED.value}},
    )
    if result.matched_count == 0:
        await models.update_one(
            held, {"$set": {"active_job_id": None, "active_since": None, "status": ModelStatus.DRAFT.value}}
        )


async def settle_after_job_removal(*, model_id: UUID) -> None:
    """A model whose last completed job is gone has nothing trained left."""
    if await TrainingJobDocument.find_one({"model_id": model_id, "status": TrainingStatus.COMPLETED.value}):
        return
    models = _models()
    # The flag first, even while another job runs: that job's end then settles DRAFT, not TRAINED.
    await models.update_one({"_id": model_id}, {"$set": {"has_successful_training": False}})
    await models.update_one(
        {"_id": model_id, "active_job_id": None}, {"$set": {"status": ModelStatus.DRAFT.value}}
    )


async def locks_older_than(threshold: datetime) -> AsyncIterator[tuple[UUID, UUID]]:
    """``(model_id, job_id)`` of every training lock taken before ``threshold``."""
    locked = {"active_job_id": {"$ne": None}, "active_since": {"$lt": threshold}}
    async for model in _models().find(locked, {"active_job_id": 1}):
        yield model["_id"], model["active_job_id"]


async def set_retraining(
    *, model_id: UUID, policy: RetrainingPolicy | None, next_at: datetime | None
) -> ModelDocument | None:
    """The model's retraining policy and its first scheduled time; None when the model is gone."""
    raw = await _models().find_one_and_update(
        {"_id": model_id},
        {
            "$set": {
                "retraining": None if policy is None else policy.model_dump(mode="python"),
                "retraining_state.next_at": next_at,
                "updated_at": utcnow(),
            },
            # No revision bump: the policy is not what a training snapshots, so a training start
            # racing this write stays valid.
        },
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else ModelDocument.model_validate(raw)


async def due_retrainings(*, now: datetime, batch: int) -> list[ModelDocument]:
    """Models whose scheduled retraining time has come, the most overdue first."""
    query = {"retraining.schedule": {"$ne": None}, "retraining_state.next_at": {"$lte": now}}
    cursor = _models().find(query).sort("retraining_state.next_at", 1).limit(batch)
    return [ModelDocument.model_validate(raw) async for raw in cursor]


async def claim_retraining(*, model_id: UUID, due: datetime, next_at: datetime) -> bool:
    """Move the schedule from ``due`` to ``next_at``: only one beat's tick wins a scheduled time."""
    result = await _models().update_one(
        {"_id": model_id, "retraining_state.next_at": due},
        {"$set": {"retraining_state.next_at": next_at}},
    )
    return bool(result.modified_count)


async def set_challenger(*, model_id: UUID, job_id: UUID, trigger: str) -> bool:
    """Record the retraining in flight; False when another one holds the model already."""
    result = await _models().update_one(
        {"_id": model_id, "retraining_state.challenger_job_id": None},
        {
            "$set": {
                "retraining_state.challenger_job_id": job_id,
                "retraining_state.deciding_since": None,
                "retraining_state.last_started_at": utcnow(),
                "retraining_state.last_trigger": trigger,
                "retraining_state.last_error": None,
                "retraining_state.decision_error": None,
            }
        },
    )
    return bool(result.modified_count)


async def note_retraining(*, model_id: UUID, outcome: str, error: str | None) -> None:
    """What became of the newest retraining attempt (started, skipped, failed, promoted, kept)."""
    await _models().update_one(
        {"_id": model_id},
        {"$set": {"retraining_state.last_outcome": outcome, "retraining_state.last_error": error}},
    )


async def models_with_challengers(*, batch: int) -> list[ModelDocument]:
    cursor = _models().find({"retraining_state.challenger_job_id": {"$ne": None}}).limit(batch)
    return [ModelDocument.model_validate(raw) async for raw in cursor]


async def claim_decision(*, model_id: UUID, job_id: UUID, now: datetime, stale_before: datetime) -> bool:
    """One process decides a challenger at a time; a claim older than ``stale_before`` was lost."""
    result = await _models().update_one(
        {
            "_id": model_id,
            "retraining_state.challenger_job_id": job_id,
            "$or": [
                {"retraining_state.deciding_since": None},
                {"retraining_state.deciding_since": {"$lt": stale_before}},
            ],
        },
        {"$set": {"retraining_state.deciding_since": now}},
    )
    return bool(result.modified_count)


async def end_challenge(*, model_id: UUID, job_id: UUID, outcome: str, error: str | None) -> None:
    """The challenger is decided: the model may retrain again."""
    await _models().update_one(
        {"_id": model_id, "retraining_state.challenger_job_id": job_id},
        {
            "$set": {
                "retraining_state.challenger_job_id": None,
                "retraining_state.deciding_since": None,
                "retraining_state.last_outcome": outcome,
                "retraining_state.last_error": error,
                "retraining_state.decision_error": None,
            }
        },
    )


async def release_decision(*, model_id: UUID, job_id: UUID, error: str) -> None:
    """A decision that could not be made now (STH down): the next tick tries again."""
    await _models().update_one(
        {"_id": model_id, "retraining_state.challenger_job_id": job_id},
        {"$set": {"retraining_state.deciding_since": None, "retraining_state.decision_error": error}},
    )


async def due_checks(*, now: datetime, batch: int) -> list[ModelDocument]:
    """Models with an active version whose live-accuracy check is due (never checked first)."""
    query = {
        "champion_job_id": {"$ne": None},
        "$or": [{"monitoring.next_check_at": None}, {"monitoring.next_check_at": {"$lte": now}}],
    }
    cursor = _models().find(query).sort("monitoring.next_check_at", 1).limit(batch)
    return [ModelDocument.model_validate(raw) async for raw in cursor]


async def claim_check(*, model_id: UUID, due: datetime | None, next_at: datetime) -> bool:
    """Move the check from ``due`` to ``next_at``: one tick evaluates a model once per interval."""
    result = await _models().update_one(
        {"_id": model_id, "monitoring.next_check_at": due},
        {"$set": {"monitoring.next_check_at": next_at}},
    )
    return bool(result.modified_count)


async def record_monitoring(*, model_id: UUID, monitoring: Monitoring) -> None:
    """The evaluation's outcome; the schedule (``next_check_at``) and the episode's retraining stay."""
    values = monitoring.model_dump(mode="python", exclude={"next_check_at", "drift_job_id"})
    await _models().update_one(
        {"_id": model_id}, {"$set": {f"monitoring.{name}": value for name, value in values.items()}}
    )


async def set_drift_job(*, model_id: UUID, job_id: UUID | None) -> None:
    """The drift episode's retraining (None when the episode ends)."""
    await _models().update_one({"_id": model_id}, {"$set": {"monitoring.drift_job_id": job_id}})


__all__ = [
    "claim_check",
    "claim_decision",
    "claim_retraining",
    "crown_first",
    "delete_idle_model",
    "due_checks",
    "due_retrainings",
    "end_challenge",
    "insert_model",
    "locks_older_than",
    "models_with_challengers",
    "note_retraining",
    "promote",
    "record_monitoring",
    "release_decision",
    "release_model",
    "reserve_for_training",
    "set_challenger",
    "set_drift_job",
    "set_retraining",
    "settle_after_job_removal",
    "uncrown",
    "update_draft",
]
