"""Beat's live-accuracy check of each model: score what it published, decide drift, maybe retrain.

Every ``monitor_interval_seconds`` each model with an active version is claimed once (a
compare-and-set on ``monitoring.next_check_at``, so two beats never evaluate one model twice per
interval). When the model publishes its forecasts (``setModelForecasting``), its live accuracy
over the configured windows and its drift window is computed from the history store
(:mod:`app.predictions.accuracy`) and stored on the model with the RMSE history the drift rule
reads. The model is drifting while its live RMSE has stayed above ``factor`` × the active version's
test RMSE for ``sustain_seconds`` (:func:`ml.accuracy.drift_since`); the first evaluation that finds
it so logs it, and starts one retraining when the policy asks (once per drift episode: the episode's
job is kept until the drift ends). A new active version starts a new history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from app.auth.tenancy import EVERY_TENANT
from app.errors import ChronosError
from app.models import repository
from app.models.documents import ModelDocument
from app.models.events import ModelEventKind, announce
from app.models.policy import (
    HISTORY_KEPT,
    DriftRule,
    Monitoring,
    RetrainingPolicy,
    RmseSample,
    WindowScore,
)
from app.models.retraining import DRIFT, RetrainingDeps, start_retraining
from app.predictions.accuracy import job_live_accuracy
from app.predictions.model_forecasts import publisher
from app.training.documents import TrainingJobDocument
from ml.accuracy import LiveAccuracy, drift_since

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Checked:
    evaluated: int = 0
    drifting: int = 0
    retrainings: int = 0


async def check_due(
    *, now: datetime, batch: int, interval_seconds: float, windows: Sequence[float], deps: RetrainingDeps
) -> Checked:
    """Evaluate every model whose check is due; how many were evaluated, drifting, retrained."""
    evaluated = drifting = retrainings = 0
    for model in await repository.due_checks(now=now, batch=batch):
        claimed = await repository.claim_check(
            model_id=model.id,
            due=model.monitoring.next_check_at,
            next_at=now + timedelta(seconds=interval_seconds),
        )
        if not claimed:
            continue
        verdict = await check_model(model, now=now, windows=windows, deps=deps)
        if verdict is not None:
            evaluated += 1
            drifting += verdict.drifting
            retrainings += await _maybe_retrain(model, verdict, deps=deps)
    return Checked(evaluated, drifting, retrainings)


async def check_model(
    model: ModelDocument, *, now: datetime, windows: Sequence[float], deps: RetrainingDeps
) -> Monitoring | None:
    """The model's new monitoring state, stored; None when it publishes nothing to score."""
    job = await publisher(model_id=model.id, scope=EVERY_TENANT)
    previous = model.monitoring
    if job is None or not job.prediction_config.enabled:
        if previous.drifting:  # nothing is published any more: no alert should stay up for it
            idle = previous.model_copy(update={"drifting": False, "error": "the model's forecasts are off"})
            await repository.record_monitoring(model_id=model.id, monitoring=idle)
        return None
    rule = (model.retraining or RetrainingPolicy()).drift
    wanted = sorted({*windows, rule.window_seconds})
    try:
        scores = await job_live_accuracy(
            job_id=str(job.id), windows=wanted, scope=EVERY_TENANT, history=deps.history, now=now
        )
    except ChronosError as error:  # recorded, and the next check tries again
        failed = previous.model_copy(update={"error": error.message, "evaluated_at": now})
        await repository.record_monitoring(model_id=model.id, monitoring=failed)
        return None
    monitoring = _evaluated(job, previous, scores, now=now, rule=rule)
    await repository.record_monitoring(model_id=model.id, monitoring=monitoring)
    await _announce_change(model, previous, monitoring, rule=rule)
    return monitoring


async def _announce_change(
    model: ModelDocument, previous: Monitoring, current: Monitoring, *, rule: DriftRule
) -> None:
    if not current.drifting:
        if previous.drifting:  # back within the rule, or a new active version took over
            log.info("model.drift_ended", model_id=str(model.id), job_id=str(current.job_id))
            await announce(model, ModelEventKind.DRIFT_ENDED, job_id=current.job_id)
        return
    if previous.drifting and previous.job_id == current.job_id:
        return  # the same drift, still on
    since = current.drifting_since.isoformat() if current.drifting_since else None
    window = next((w for w in current.windows if w.window_seconds == rule.window_seconds), None)
    message = (
        f"live RMSE over {rule.window_seconds:g} s ({window.rmse if window else None}) above "
        f"{rule.factor:g} × the test RMSE {current.reference_rmse} since {since}"
    )
    log.warning("model.drifting", model_id=str(model.id), job_id=str(current.job_id), reason=message)
    await announce(model, ModelEventKind.DRIFTING, message=message, job_id=current.job_id)


def _evaluated(
    job: TrainingJobDocument,
    previous: Monitoring,
    scores: Sequence[LiveAccuracy],
    *,
    now: datetime,
    rule: DriftRule,
) -> Monitoring:
    reference = _reference_rmse(job)
    history = list(previous.history) if previous.job_id == job.id else []
    current = next(score for score in scores if score.window_seconds == rule.window_seconds)
    history = [*history, RmseSample(at=now, rmse=current.rmse)][-HISTORY_KEPT:]
    since = None
    if reference is not None:
        since = drift_since(
            [(sample.at.timestamp(), sample.rmse) for sample in history],
            reference_rmse=reference,
            factor=rule.factor,
            sustain_seconds=rule.sustain_seconds,
        )
    return Monitoring(
        next_check_at=previous.next_check_at,
        evaluated_at=now,
        job_id=job.id,
        reference_rmse=reference,
        windows=[_window(score) for score in scores],
        history=history,
        drifting=since is not None,
        drifting_since=None if since is None else datetime.fromtimestamp(since, tz=UTC),
        drift_job_id=previous.drift_job_id,
    )


def _reference_rmse(job: TrainingJobDocument) -> float | None:
    """The served forecaster's test RMSE: what live accuracy is held against."""
    if job.served_by is not None and job.served_by.rmse is not None:
        return job.served_by.rmse
    return job.metrics.rmse if job.metrics is not None else None


def _window(score: LiveAccuracy) -> WindowScore:
    return WindowScore(
        window_seconds=score.window_seconds,
        forecasts=score.forecasts,
        pairs=score.pairs,
        mae=score.mae,
        rmse=score.rmse,
        u2=score.u2,
        coverage=score.coverage,
        bias=score.bias,
    )


async def _maybe_retrain(model: ModelDocument, monitoring: Monitoring, *, deps: RetrainingDeps) -> int:
    """One retraining per drift episode, when the policy asks; an episode ends when drift does."""
    episode = model.monitoring.drift_job_id
    if not monitoring.drifting:
        if episode is not None:
            await repository.set_drift_job(model_id=model.id, job_id=None)
        return 0
    policy = model.retraining or RetrainingPolicy()
    if not policy.drift.retrain or episode is not None or monitoring.drifting_since is None:
        return 0
    fresh = await ModelDocument.get(model.id)
    if fresh is None:
        return 0
    outcome = await start_retraining(model=fresh, trigger=DRIFT, at=monitoring.drifting_since, deps=deps)
    if outcome != "started":
        return 0
    started = await ModelDocument.get(model.id)
    job_id = started.retraining_state.challenger_job_id if started is not None else None
    await repository.set_drift_job(model_id=model.id, job_id=job_id)
    return 1


__all__ = ["Checked", "check_due", "check_model"]
