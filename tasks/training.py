"""The training pipeline's tasks: thin wrappers that claim a step and call its service.

    orchestrate_training ─► chord( collect_data_chunk × chunks ) ─► process_collected_data
                                                                     └─► train_model_task
    cleanup_training_tasks: a minute after a job fails, anything a step wrote on its way out

Messages carry only the job id (and a chunk index); every task id is derived from the job, so a
duplicate message is recognisable and the claims in ``app.training.lifecycle`` make it harmless.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from celery import Task, chord, group, shared_task

from app.settings import get_settings
from app.training import collection, fitting, lifecycle, preprocessing
from app.training.documents import TrainingStatus
from tasks.guard import guarded, identity
from tasks.names import (
    CLEANUP_TRAINING_TASKS,
    COLLECT_DATA_CHUNK,
    ORCHESTRATE_TRAINING,
    PROCESS_COLLECTED_DATA,
    TRAIN_MODEL,
)
from tasks.runtime import run, runtime

_settings = get_settings()


@shared_task(name=ORCHESTRATE_TRAINING, bind=True)
def orchestrate_training(self: Task[Any, Any], job_id: str) -> None:
    key = UUID(job_id)
    with guarded(self, key):
        plan = run(
            collection.begin_collection(
                job_id=key,
                me=identity(self),
                sth=runtime().fiware.sth,
                chunk_points=_settings.training_chunk_points,
            )
        )
        if plan is None:
            return
        header = group(
            collect_data_chunk.si(job_id, index).set(task_id=f"{job_id}:chunk:{index}")
            for index in plan.indexes
        )
        chord(header)(process_collected_data.si(job_id).set(task_id=f"{job_id}:process"))
        run(lifecycle.hand_off(job_id=key, status=TrainingStatus.COLLECTING_DATA, run=plan.run))


@shared_task(
    name=COLLECT_DATA_CHUNK,
    bind=True,
    soft_time_limit=_settings.collection_time_limit_seconds,
    time_limit=_settings.collection_time_limit_seconds + 60,
)
def collect_data_chunk(self: Task[Any, Any], job_id: str, index: int) -> bool:
    key = UUID(job_id)
    collected = False
    with guarded(self, key):
        collected = run(
            collection.collect_chunk(job_id=key, index=index, me=identity(self), sth=runtime().fiware.sth)
        )
    # Only a flag goes back through the result backend: the points are in the chunk document.
    return collected


@shared_task(name=PROCESS_COLLECTED_DATA, bind=True)
def process_collected_data(self: Task[Any, Any], job_id: str) -> None:
    key = UUID(job_id)
    with guarded(self, key):
        lease_run = run(
            preprocessing.preprocess(
                job_id=key, me=identity(self), max_gap_steps=_settings.training_max_gap_steps
            )
        )
        if lease_run is not None:
            train_model_task.apply_async(args=[job_id], task_id=f"{job_id}:train")
            run(lifecycle.hand_off(job_id=key, status=TrainingStatus.PREPROCESSING, run=lease_run))


@shared_task(name=TRAIN_MODEL, bind=True)
def train_model_task(self: Task[Any, Any], job_id: str) -> None:
    key = UUID(job_id)
    with guarded(self, key):
        fitting.train_job(job_id=key, me=identity(self), run=run)


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
