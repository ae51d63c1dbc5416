"""The Celery application, configured once from the settings.

The worker and beat load it through ``tasks.worker`` (``celery -A tasks.worker worker``); importing
this module starts nothing. The API sends with ``app.dispatch``'s producer, which this one extends.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue as KombuQueue

from app.dispatch import producer
from app.queues import MONITORING_TICK, RETRAINING_TICK, SCHEDULE_FORECASTS, WATCHDOG, Queue
from app.settings import Settings

TASK_MODULES = ["tasks.training", "tasks.maintenance", "tasks.forecasting", "tasks.models"]


def _queue(queue: Queue) -> KombuQueue:
    return KombuQueue(queue.value, routing_key=queue.value)  # type: ignore[no-untyped-call]  # kombu is untyped


def create_celery(settings: Settings) -> Celery:
    # The API's producer (routes, serialisation, publishing), plus what only workers and beat need.
    # No result backend: nothing reads a task's result, and what a job needs lives in MongoDB.
    celery = producer(settings)
    celery.conf.update(
        include=TASK_MODULES,
        task_queues=[_queue(queue) for queue in Queue],
        task_default_queue=Queue.ORCHESTRATION.value,
        # A task is acknowledged when it ends, and requeued if its process dies: with the claims in
        # app.training.repository.lifecycle, a redelivered step resumes instead of running twice.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # SIGTERM (tasks.run maps it to Celery's cold shutdown) lets running tasks finish for this
        # long, then hands them back to the broker: a redeployed worker never holds a training
        # hostage for hours, and the redelivered step resumes elsewhere.
        worker_soft_shutdown_timeout=settings.shutdown_grace_seconds,
        task_time_limit=settings.training_time_limit_seconds + 300,
        task_soft_time_limit=settings.training_time_limit_seconds,
        # A process that trained keeps ~700 MB of TensorFlow (measured on our 2-core machine):
        # recycle children.
        worker_max_tasks_per_child=20,
        worker_max_memory_per_child=1_500_000,  # KiB
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
    )
    return celery


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    # A tick that waited in the queue longer than a tick is stale: dropped, the next one does its work.
    # So a worker back after an outage runs one watchdog tick, not the burst that queued meanwhile.
    schedule: dict[str, dict[str, Any]] = {
        "training-watchdog": {
            "task": WATCHDOG,
            "schedule": settings.watchdog_interval_seconds,
            "options": {"expires": settings.watchdog_interval_seconds},
        },
        "forecast-scheduler": {
            "task": SCHEDULE_FORECASTS,
            "schedule": settings.forecast_scheduler_interval_seconds,
            "options": {"expires": settings.forecast_scheduler_interval_seconds},
        },
    }
    # 0 switches a model tick off (a cluster that retrains and monitors nothing, or a test run).
    if settings.retraining_tick_seconds > 0:
        schedule["model-retraining"] = {
            "task": RETRAINING_TICK,
            "schedule": settings.retraining_tick_seconds,
            "options": {"expires": settings.retraining_tick_seconds},
        }
    if settings.monitor_interval_seconds > 0:
        # Checks are due per model every monitor_interval_seconds; the tick looks five times as often.
        schedule["model-monitoring"] = {
            "task": MONITORING_TICK,
            "schedule": settings.monitor_interval_seconds / 5,
            "options": {"expires": settings.monitor_interval_seconds / 5},
        }
    return schedule


__all__ = ["TASK_MODULES", "beat_schedule", "create_celery"]
