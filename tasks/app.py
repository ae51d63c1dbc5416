"""The Celery application, configured once from the settings.

The worker and beat load it through ``tasks.worker`` (``celery -A tasks.worker worker``); the API
builds one from its own settings only to send tasks, so importing this module starts nothing.
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue as KombuQueue

from app.settings import Settings
from tasks.names import ROUTES, SCHEDULE_FORECASTS, WATCHDOG, Queue

TASK_MODULES = ["tasks.training", "tasks.maintenance", "tasks.forecasting"]


def _queue(queue: Queue) -> KombuQueue:
    return KombuQueue(queue.value, routing_key=queue.value)  # type: ignore[no-untyped-call]  # kombu is untyped


def create_celery(settings: Settings) -> Celery:
    celery = Celery("chronos", broker=settings.celery_broker_url, backend=settings.celery_result_backend)
    celery.conf.update(
        include=TASK_MODULES,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=[_queue(queue) for queue in Queue],
        task_default_queue=Queue.ORCHESTRATION.value,
        task_routes={name: {"queue": queue.value} for name, queue in ROUTES.items()},
        # A task is acknowledged when it ends, and requeued if its process dies: with the claims in
        # app.training.lifecycle, a redelivered step resumes instead of running twice.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # SIGTERM (tasks.run maps it to Celery's cold shutdown) lets running tasks finish for this
        # long, then hands them back to the broker: a redeployed worker never holds a training
        # hostage for hours, and the redelivered step resumes elsewhere.
        worker_soft_shutdown_timeout=settings.shutdown_grace_seconds,
        task_time_limit=settings.training_time_limit_seconds + 300,
        task_soft_time_limit=settings.training_time_limit_seconds,
        # Results only feed the collection chord; series data never goes through them.
        result_expires=3600,
        task_track_started=True,
        # A process that trained keeps ~700 MB of TensorFlow (measured on our 2-core machine):
        # recycle children.
        worker_max_tasks_per_child=20,
        worker_max_memory_per_child=1_500_000,  # KiB
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.dispatch_timeout_seconds,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        worker_hijack_root_logger=False,
        beat_schedule={
            "training-watchdog": {"task": WATCHDOG, "schedule": settings.watchdog_interval_seconds},
            "forecast-scheduler": {
                "task": SCHEDULE_FORECASTS,
                "schedule": settings.forecast_scheduler_interval_seconds,
                # A tick that waited longer than a tick is stale: the next one does its work.
                "options": {"expires": settings.forecast_scheduler_interval_seconds},
            },
        },
    )
    return celery


__all__ = ["TASK_MODULES", "create_celery"]
