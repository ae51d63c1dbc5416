"""Periodic housekeeping run by beat: the watchdog for jobs whose worker died."""

from __future__ import annotations

import structlog
from celery import shared_task

from app.queues import WATCHDOG
from app.settings import get_settings
from app.training import lifecycle
from tasks.runtime import run
from tasks.training import orchestrate_training, process_collected_data

log = structlog.get_logger(__name__)


@shared_task(name=WATCHDOG, ignore_result=True)
def training_watchdog() -> list[str]:
    stale_seconds = get_settings().job_stale_seconds
    ended = run(lifecycle.sweep_stale_jobs(stale_seconds=stale_seconds))
    if ended:
        log.warning("training.watchdog_ended", jobs=[str(job) for job in ended])
    for job_id in run(lifecycle.stalled_pending(stale_seconds=stale_seconds)):
        log.warning("training.watchdog_requeues", job_id=str(job_id))
        orchestrate_training.apply_async(args=[str(job_id)], task_id=f"{job_id}:orchestrate")
    for job_id in run(lifecycle.stalled_collections(stale_seconds=stale_seconds)):
        log.warning("training.watchdog_restarts_preprocessing", job_id=str(job_id))
        process_collected_data.apply_async(args=[str(job_id)], task_id=f"{job_id}:process")
    return [str(job) for job in ended]


__all__ = ["training_watchdog"]
