"""The training pipeline's tasks: thin wrappers that claim a step and call its service.

    orchestrate_training ─► collect_data_chunk × chunks ─► process_collected_data ─► train_model_task
    cleanup_training_tasks: a minute after a job fails, anything a step wrote on its way out

Messages carry only the job id (and a chunk index, and ``driven`` when the watchdog sent the step
again: see ``app.training.watchdog``); every task id is derived from the job, so a
duplicate message is recognisable and the claims in ``app.training.repository.lifecycle`` make it harmless.
The fan-in after collection is durable: each chunk counts itself done on the job document, and the
chunk whose count completes the set queues preprocessing (no chord, no result backend to lose).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from celery import Task, shared_task

from app.queues import (
    CLEANUP_TRAINING_TASKS,
    COLLECT_DATA_CHUNK,
    ORCHESTRATE_TRAINING,
    PROCESS_COLLECTED_DATA,
    TRAIN_MODEL,
)
from app.settings import get_settings
from app.training import collection, fitting, preprocessing
from app.training.documents import TrainingStatus
from app.training.repository import lifecycle
from tasks.guard import guarded, identity
from tasks.runtime import run, runtime

_settings = get_settings()


@shared_task(name=ORCHESTRATE_TRAINING, bind=True)
def orchestrate_training(self: Task[Any, Any], job_id: str, driven: bool = False) -> None:
    key = UUID(job_id)
    with guarded(self, key):
        plan = run(
            collection.begin_collection(
                job_id=key,
                me=identity(self, driven=driven),
                history=runtime().fiware.history,
                chunk_points=_settings.training_chunk_points,
            )
        )
        if plan is None:
            return
        for index in plan.indexes:
            collect_data_chunk.apply_async(args=[job_id, index], task_id=f"{job_id}:chunk:{index}")
        run(lifecycle.hand_off(job_id=key, status=TrainingStatus.COLLECTING_DATA, run=plan.run))


@shared_task(
    name=COLLECT_DATA_CHUNK,
    bind=True,
    soft_time_limit=_settings.collection_time_limit_seconds,
    time_limit=_settings.collection_time_limit_seconds + 60,
)
def collect_data_chunk(self: Task[Any, Any], job_id: str, index: int, driven: bool = False) -> None:
    key = UUID(job_id)
    with guarded(self, key):
        last = run(
            collection.collect_chunk(
                job_id=key, index=index, me=identity(self, driven=driven), history=runtime().fiware.history
            )
        )
        if last:
            # Lost with a broker outage? The watchdog sends it again (lifecycle.stalled_collections).
            process_collected_data.apply_async(args=[job_id], task_id=f"{job_id}:process")


@shared_task(name=PROCESS_COLLECTED_DATA, bind=True)
def process_collected_data(self: Task[Any, Any], job_id: str, driven: bool = False) -> None:
    key = UUID(job_id)
    with guarded(self, key):
        lease_run = run(
            preprocessing.preprocess(
                job_id=key, me=identity(self, driven=driven), max_gap_steps=_settings.training_max_gap_steps
            )
        )
        if lease_run is not None:
            train_model_task.apply_async(args=[job_id], task_id=f"{job_id}:train")
            run(lifecycle.hand_off(job_id=key, status=TrainingStatus.PREPROCESSING, run=lease_run))


@shared_task(name=TRAIN_MODEL, bind=True)
def train_model_task(self: Task[Any, Any], job_id: str, driven: bool = False) -> None:
    key = UUID(job_id)
    with guarded(self, key):
        fitting.train_job(job_id=key, me=identity(self, driven=driven), run=run)


@shared_task(name=CLEANUP_TRAINING_TASKS)
def cleanup_training_tasks(job_id: str) -> None:
    run(lifecycle.clean_up(job_id=UUID(job_id)))


__all__ = [
    "cleanup_training_tasks",
    "collect_data_chunk",
    "orchestrate_training",
    "process_collected_data",
    "train_model_task",
]
