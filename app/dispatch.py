"""Enqueueing from the API: send tasks by name, in a thread, so a slow broker never blocks the loop.

The API's Celery app is a producer only: the broker, the routes and a short publish retry. It has no
result backend, and neither have the workers (``tasks.app``): nothing a job needs travels through
one, so a Redis outage cannot refuse or stall a dispatch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from celery import Celery

from app.queues import ORCHESTRATE_TRAINING, ROUTES
from app.settings import Settings


def producer(settings: Settings) -> Celery:
    """A Celery app that only sends, configured like the workers' for routing and publishing."""
    celery = Celery("chronos", broker=settings.celery_broker_url)
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_routes={name: {"queue": queue.value} for name, queue in ROUTES.items()},
        task_ignore_result=True,
        broker_connection_timeout=settings.dispatch_timeout_seconds,
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
    )
    return celery


@dataclass
class TaskQueue:
    celery: Celery

    @classmethod
    def open(cls, settings: Settings) -> TaskQueue:
        return cls(producer(settings))

    async def orchestrate(self, job_id: UUID) -> None:
        await asyncio.to_thread(
            self.celery.send_task, ORCHESTRATE_TRAINING, args=[str(job_id)], task_id=f"{job_id}:orchestrate"
        )

    def close(self) -> None:
        self.celery.close()


__all__ = ["TaskQueue", "producer"]
