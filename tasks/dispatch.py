"""Enqueueing from the API: send tasks by name, in a thread, so a slow broker never blocks the loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from celery import Celery

from app.settings import Settings
from tasks.app import create_celery
from tasks.names import ORCHESTRATE_TRAINING


@dataclass
class TaskQueue:
    celery: Celery

    @classmethod
    def open(cls, settings: Settings) -> TaskQueue:
        return cls(create_celery(settings))

    async def orchestrate(self, job_id: UUID) -> None:
        await asyncio.to_thread(
            self.celery.send_task, ORCHESTRATE_TRAINING, args=[str(job_id)], task_id=f"{job_id}:orchestrate"
        )

    def close(self) -> None:
        self.celery.close()


__all__ = ["TaskQueue"]
