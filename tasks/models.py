"""Beat's model ticks: scheduled retrainings with their champion/challenger decisions, and the
live-accuracy checks that mark drift (``app.models.retraining``, ``app.models.monitoring``).

Each tick is safe to run twice or concurrently: every model it acts on is claimed with a
compare-and-set first, and a tick that is lost is made up by the next one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

import structlog
from celery import shared_task

from app.models import monitoring, retraining
from app.queues import MONITORING_TICK, RETRAINING_TICK
from app.settings import get_settings
from app.timeutil import utcnow
from tasks import metrics
from tasks.runtime import run, runtime
from tasks.training import orchestrate_training

log = structlog.get_logger(__name__)


async def _dispatch(job_id: UUID) -> None:
    # The same task id the API uses: a retried start never queues a second orchestration.
    await asyncio.to_thread(
        orchestrate_training.apply_async, args=[str(job_id)], task_id=f"{job_id}:orchestrate"
    )


def _deps() -> retraining.RetrainingDeps:
    worker, settings = runtime(), get_settings()
    return retraining.RetrainingDeps(
        history=worker.fiware.history,
        dispatch=_dispatch,
        dispatch_timeout=settings.dispatch_timeout_seconds,
        forecasters=worker.forecasters,
        max_gap_steps=settings.training_max_gap_steps,
        decision_stale=timedelta(seconds=settings.retraining_decision_stale_seconds),
    )


@shared_task(name=RETRAINING_TICK, ignore_result=True)
def retraining_tick() -> list[str]:
    settings, deps = get_settings(), _deps()
    batch = settings.models_tick_batch
    outcomes = run(retraining.decide_challengers(now=utcnow(), batch=batch, deps=deps))
    outcomes += run(retraining.run_schedules(now=utcnow(), batch=batch, deps=deps))
    for outcome in outcomes:
        metrics.count_retraining(outcome)
    return outcomes


@shared_task(name=MONITORING_TICK, ignore_result=True)
def monitoring_tick() -> int:
    settings = get_settings()
    checked = run(
        monitoring.check_due(
            now=utcnow(),
            batch=settings.models_tick_batch,
            interval_seconds=settings.monitor_interval_seconds,
            windows=settings.live_windows_seconds,
            deps=_deps(),
        )
    )
    if checked.drifting:
        log.info("monitoring.checked", evaluated=checked.evaluated, drifting=checked.drifting)
    return checked.evaluated


__all__ = ["monitoring_tick", "retraining_tick"]
