"""Periodic housekeeping run by beat: the watchdog, which moves on every job that went silent."""

from __future__ import annotations

import structlog
from celery import shared_task

from app.queues import WATCHDOG
from app.settings import get_settings
from app.training import watchdog
from tasks.runtime import run
from tasks.training import collect_data_chunk, orchestrate_training, process_collected_data, train_model_task

log = structlog.get_logger(__name__)


@shared_task(name=WATCHDOG, ignore_result=True)
def training_watchdog() -> None:
    swept = run(watchdog.sweep(stale_seconds=get_settings().job_stale_seconds))
    if swept.ended:
        log.warning("training.watchdog_ended", jobs=[str(job) for job in swept.ended])
    for drive in swept.drives:
        log.warning(
            "training.watchdog_drives",
            job_id=str(drive.job_id),
            step=drive.step,
            chunks=list(drive.chunks) or None,
            worker_lost=drive.job_id in swept.lost,
        )
        send(drive)


def send(drive: watchdog.Drive) -> None:
    """The step again, with the task id its claims know, marked driven."""
    job_id = str(drive.job_id)
    driven = {"driven": True}
    if drive.step == "orchestrate":
        orchestrate_training.apply_async(args=[job_id], kwargs=driven, task_id=f"{job_id}:orchestrate")
    elif drive.step == "process":
        process_collected_data.apply_async(args=[job_id], kwargs=driven, task_id=f"{job_id}:process")
    elif drive.step == "train":
        train_model_task.apply_async(args=[job_id], kwargs=driven, task_id=f"{job_id}:train")
    for index in drive.chunks:
        collect_data_chunk.apply_async(args=[job_id, index], kwargs=driven, task_id=f"{job_id}:chunk:{index}")


__all__ = ["send", "training_watchdog"]
