"""Scheduled and drift-triggered retraining, and the champion/challenger decision that follows.

Beat's retraining tick (``tasks.models``) does two things. It claims each model whose scheduled
time has come by moving ``retraining_state.next_at`` to the next fire with a compare-and-set, so
two beats, a restarted beat or a redelivered tick never start two retrainings for one time, and
starts a training job marked as a challenger (its idempotency key is the trigger and time, so a
retried start is the same job). And it decides every challenger whose job has ended: claimed
(``deciding_since``) so one process decides, judged on the recent holdout
(:mod:`app.models.challenge`), recorded on the job (``challenge``: promoted or not, and why), the
challenger promoted when it won, and the model freed for the next retraining. One retraining per
model at a time: the model's training lock refuses a second job, and ``challenger_job_id`` stays
set until the decision. Nothing lives only in a message: a lost tick is repeated by the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog

from app.auth.tenancy import EVERY_TENANT, TenantScope
from app.errors import ChronosError, Conflict, ErrorCode, FieldError, NotFound, ValidationFailed
from app.models import repository
from app.models.challenge import judge
from app.models.documents import ModelDocument
from app.models.events import ModelEventKind, announce
from app.models.policy import MIN_INTERVAL_SECONDS, RetrainingPolicy, check_policy, next_fire
from app.models.service import get_model
from app.models.versions import promote_job
from app.predictions.forecasters import Forecasters
from app.timeutil import utcnow
from app.training.admission import Dispatch, StartRequest, start_training
from app.training.config import series_of
from app.training.documents import FINISHED_STATUSES, Challenge, TrainingJobDocument, TrainingStatus
from app.training.repository import jobs
from app.upstream import translate
from fiware.errors import FiwareError, FiwareNotFound
from fiware.history import PagedHistory, parse_time

log = structlog.get_logger(__name__)

SCHEDULE, DRIFT = "schedule", "drift"


@dataclass(frozen=True)
class RetrainingDeps:
    history: PagedHistory
    dispatch: Dispatch
    dispatch_timeout: float
    forecasters: Forecasters
    max_gap_steps: int
    # A decision claimed longer ago than this was lost with its process: this tick takes it over.
    decision_stale: timedelta


async def set_policy(
    *,
    model_id: str,
    policy: RetrainingPolicy | None,
    scope: TenantScope,
    history: PagedHistory,
    min_interval: float = MIN_INTERVAL_SECONDS,
) -> ModelDocument:
    """Store the policy (None: no schedule, default drift rule) once it is valid for the model's data;
    VALIDATION_ERROR (nothing written) else."""
    model = await get_model(model_id=model_id, scope=scope)
    if model is None:
        raise NotFound(f"model {model_id} does not exist", field=("modelId",))
    now = utcnow()
    next_at = None
    if policy is not None:
        check_policy(policy, now=now, min_interval=min_interval)
        await _check_window(model, policy, history=history, now=now)
        next_at = next_fire(policy.schedule, after=now) if policy.schedule else None
    updated = await repository.set_retraining(model_id=model.id, policy=policy, next_at=next_at)
    if updated is None:
        raise NotFound(f"model {model_id} does not exist", field=("modelId",))
    return updated


async def _check_window(
    model: ModelDocument, policy: RetrainingPolicy, *, history: PagedHistory, now: datetime
) -> None:
    """A data window longer than the history the model's series holds is refused now, not at 03:00."""
    window = policy.data_window
    if window.last_n is None and window.duration_seconds is None:
        return
    series, tenant = series_of(model)
    try:
        total = await history.count(series, tenant)
        oldest = await history.raw(series, tenant, h_limit=1, h_offset=0) if total else None
    except FiwareNotFound:
        total, oldest = 0, None
    except FiwareError as error:
        raise translate(error) from error
    where = f"{model.entity_id}/{model.feature}"
    if window.last_n is not None and window.last_n > total:
        message = f"lastN {window.last_n} is more than the {total} points the history holds for {where}"
        raise ValidationFailed(
            [FieldError(ErrorCode.VALIDATION_ERROR, message, ("input", "dataWindow", "lastN"))]
        )
    if window.duration_seconds is not None:
        reach = now - timedelta(seconds=window.duration_seconds)
        first = parse_time(oldest.entries[0].recv_time) if oldest and oldest.entries else None
        if first is None or reach < first:
            since = "no reading" if first is None else f"the first reading ({first.isoformat()})"
            message = f"the window reaches back to {reach.isoformat()}, before {since} of {where}"
            path = ("input", "dataWindow", "durationSeconds")
            raise ValidationFailed([FieldError(ErrorCode.VALIDATION_ERROR, message, path)])


async def _request(model: ModelDocument, trigger: str, at: datetime) -> StartRequest:
    """The history a retraining learns from: the policy's window, else as much as the champion had."""
    window = (model.retraining or RetrainingPolicy()).data_window
    key = f"retrain:{trigger}:{at.astimezone(UTC).isoformat()}"
    if window.duration_seconds is not None:
        return StartRequest(
            date_from=utcnow() - timedelta(seconds=window.duration_seconds), idempotency_key=key
        )
    last_n = window.last_n
    if last_n is None and model.champion_job_id is not None:
        champion = await TrainingJobDocument.get(model.champion_job_id)
        last_n = champion.points_requested if champion is not None and champion.points_requested else None
    return StartRequest(last_n=last_n, idempotency_key=key)


async def start_retraining(*, model: ModelDocument, trigger: str, at: datetime, deps: RetrainingDeps) -> str:
    """Start one challenger (``trigger`` at time ``at``); the outcome: started, skipped or failed,
    recorded on the model with its reason."""
    running = model.retraining_state.challenger_job_id
    if running is not None:
        return await _noted(model, "skipped", f"retraining {running} has not been decided yet")
    challenge = Challenge(trigger=trigger, champion_job_id=model.champion_job_id)
    try:
        job = await start_training(
            model_id=str(model.id),
            request=await _request(model, trigger, at),
            scope=EVERY_TENANT,
            history=deps.history,
            dispatch=deps.dispatch,
            dispatch_timeout=deps.dispatch_timeout,
            challenge=challenge,
        )
    except Conflict as error:
        return await _noted(model, "skipped", f"the {trigger} retraining did not start: {error.message}")
    except ChronosError as error:
        return await _noted(model, "failed", f"the {trigger} retraining did not start: {error.message}")
    if not await repository.set_challenger(model_id=model.id, job_id=job.id, trigger=trigger):
        log.warning("retraining.untracked", model_id=str(model.id), job_id=str(job.id))
    log.info("retraining.started", model_id=str(model.id), job_id=str(job.id), trigger=trigger)
    return await _noted(model, "started", None, job_id=job.id)


NOTED = {
    "started": ModelEventKind.RETRAINING_STARTED,
    "skipped": ModelEventKind.RETRAINING_SKIPPED,
    "failed": ModelEventKind.RETRAINING_FAILED,
}
ENDED = {
    "promoted": ModelEventKind.CHALLENGER_PROMOTED,
    "kept": ModelEventKind.CHALLENGER_KEPT,
    "failed": ModelEventKind.RETRAINING_FAILED,
}


async def _noted(model: ModelDocument, outcome: str, error: str | None, *, job_id: UUID | None = None) -> str:
    if error is not None:
        log.warning("retraining.not_started", model_id=str(model.id), outcome=outcome, reason=error)
    await repository.note_retraining(model_id=model.id, outcome=outcome, error=error)
    await announce(model, NOTED[outcome], message=error, job_id=job_id)
    return outcome


async def run_schedules(*, now: datetime, batch: int, deps: RetrainingDeps) -> list[str]:
    """Start the retraining of every model whose scheduled time has come; one outcome each."""
    outcomes = []
    for model in await repository.due_retrainings(now=now, batch=batch):
        policy, due = model.retraining, model.retraining_state.next_at
        if policy is None or policy.schedule is None or due is None:
            continue
        try:
            next_at = next_fire(policy.schedule, after=now)
        except ValueError as error:  # valid when stored; a time-zone database change can undo that
            await repository.set_retraining(model_id=model.id, policy=policy, next_at=None)
            outcomes.append(await _noted(model, "failed", f"the schedule stopped: {error}"))
            continue
        if await repository.claim_retraining(model_id=model.id, due=due, next_at=next_at):
            outcomes.append(await start_retraining(model=model, trigger=SCHEDULE, at=due, deps=deps))
    return outcomes


async def decide_challengers(*, now: datetime, batch: int, deps: RetrainingDeps) -> list[str]:
    """Decide every challenger whose job has ended; one outcome each (promoted, kept, failed)."""
    outcomes = []
    for model in await repository.models_with_challengers(batch=batch):
        job_id = model.retraining_state.challenger_job_id
        assert job_id is not None
        job = await TrainingJobDocument.get(job_id)
        if job is not None and job.status not in FINISHED_STATUSES:
            continue
        if not await repository.claim_decision(
            model_id=model.id, job_id=job_id, now=now, stale_before=now - deps.decision_stale
        ):
            continue
        outcome = await _decide(model, job_id, job, now=now, deps=deps)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


async def _decide(
    model: ModelDocument,
    job_id: UUID,
    job: TrainingJobDocument | None,
    *,
    now: datetime,
    deps: RetrainingDeps,
) -> str | None:
    if job is None:
        return await _ended(model, job_id, "failed", "the retraining job was deleted before its decision")
    if job.status is not TrainingStatus.COMPLETED:
        why = f"the retraining ended {job.status.value}" + (f": {job.error.message}" if job.error else "")
        await _record(job, Challenge(trigger=_trigger(job), promoted=False, reason=why, decided_at=now))
        return await _ended(model, job_id, "failed", why)
    # Read again: a promotion by hand while the challenger trained changed the champion.
    model = await ModelDocument.get(model.id) or model
    champion = await _champion(model)
    if champion is None or champion.id == job.id:
        reason = "the model had no active version: the retraining became it"
        await _record(job, Challenge(trigger=_trigger(job), promoted=True, reason=reason, decided_at=now))
        return await _ended(model, job_id, "promoted", reason)
    try:
        verdict = await judge(
            champion=champion,
            challenger=job,
            margin=(model.retraining or RetrainingPolicy()).promotion_margin,
            history=deps.history,
            forecasters=deps.forecasters,
            max_gap_steps=deps.max_gap_steps,
            now=now,
        )
    except ChronosError as error:  # STH unavailable, an artifact gone: the next tick tries again
        await repository.release_decision(model_id=model.id, job_id=job_id, error=error.message)
        log.warning(
            "retraining.decision_deferred", model_id=str(model.id), job_id=str(job_id), error=error.message
        )
        return None
    return await _apply(model, job, verdict)


async def _apply(model: ModelDocument, job: TrainingJobDocument, verdict: Challenge) -> str:
    if verdict.promoted:
        try:
            await promote_job(job_id=str(job.id), scope=EVERY_TENANT)
        except ChronosError as error:
            verdict = verdict.model_copy(
                update={
                    "promoted": False,
                    "reason": f"{verdict.reason}; but the promotion was refused: {error.message}",
                }
            )
    await _record(job, verdict)
    outcome = "promoted" if verdict.promoted else "kept"
    log.info(
        "retraining.decided",
        model_id=str(model.id),
        job_id=str(job.id),
        outcome=outcome,
        reason=verdict.reason,
    )
    return await _ended(model, job.id, outcome, verdict.reason)


async def _champion(model: ModelDocument) -> TrainingJobDocument | None:
    if model.champion_job_id is None:
        return None
    return await TrainingJobDocument.get(model.champion_job_id)


def _trigger(job: TrainingJobDocument) -> str:
    return job.challenge.trigger if job.challenge is not None else SCHEDULE


async def _record(job: TrainingJobDocument, verdict: Challenge) -> None:
    base = job.challenge or Challenge(trigger=SCHEDULE)
    merged = base.model_copy(update=verdict.model_dump(exclude_unset=True))
    await jobs.record_challenge(job_id=job.id, challenge=merged)


async def _ended(model: ModelDocument, job_id: UUID, outcome: str, reason: str | None) -> str:
    """Free the model for the next retraining; the reason is kept as the outcome's error unless the
    challenger won."""
    error = None if outcome == "promoted" else reason
    await repository.end_challenge(model_id=model.id, job_id=job_id, outcome=outcome, error=error)
    await announce(model, ENDED[outcome], message=reason, job_id=job_id)
    return outcome


__all__ = [
    "DRIFT",
    "SCHEDULE",
    "RetrainingDeps",
    "decide_challengers",
    "run_schedules",
    "set_policy",
    "start_retraining",
]
