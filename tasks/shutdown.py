"""A worker that shuts down hands its running training steps back: they wait, they are not lost.

SIGTERM starts Celery's cold shutdown (``tasks.run``): running tasks get the grace, then the pool is
stopped and their messages go back to the broker. The moment SIGTERM arrives, the worker's parent
releases the leases of the steps it runs (Celery has no signal of its own before the grace, so its
SIGTERM handler is wrapped once the worker is ready), so the watchdog does not count them as lost
workers while they wait for the next worker, and the redelivery resumes them without using up an
attempt. A step that finishes within the grace completes as usual.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType
from typing import Any
from uuid import UUID

import structlog
from celery.signals import worker_ready
from celery.worker import state
from pymongo.errors import PyMongoError

from app.db import connect_mongo, init_documents
from app.queues import COLLECT_DATA_CHUNK, ORCHESTRATE_TRAINING, PROCESS_COLLECTED_DATA, TRAIN_MODEL
from app.settings import get_settings
from app.training.repository import lifecycle

log = structlog.get_logger(__name__)

STEPS = frozenset({ORCHESTRATE_TRAINING, COLLECT_DATA_CHUNK, PROCESS_COLLECTED_DATA, TRAIN_MODEL})
# The shutdown must not wait long on an unreachable MongoDB: the watchdog covers what this misses.
MONGO_TIMEOUT_SECONDS = 3.0


def running_jobs() -> set[UUID]:
    """Jobs whose steps this worker runs now (its parent's view of the pool)."""
    jobs: set[UUID] = set()
    for request in tuple(state.active_requests):
        if request.task_name in STEPS and request.args:
            try:
                jobs.add(UUID(str(request.args[0])))
            except ValueError:
                continue
    return jobs


async def _release(jobs: set[UUID], worker: str) -> int:
    settings = get_settings()
    client = connect_mongo(settings.mongo_url, timeout_seconds=MONGO_TIMEOUT_SECONDS)
    try:
        await init_documents(client, settings.mongo_database)
        return await lifecycle.hand_back(job_ids=jobs, worker=worker)
    finally:
        await client.close()


def hand_back(worker: str) -> None:
    jobs = running_jobs()
    if not jobs:
        return
    try:
        released = asyncio.run(_release(jobs, worker))
    except (PyMongoError, OSError, RuntimeError) as error:  # a shutdown goes on whatever MongoDB says
        log.warning("worker.hand_back_failed", jobs=len(jobs), error=str(error) or type(error).__name__)
        return
    log.info("worker.handed_back", jobs=[str(job) for job in jobs], released=released)


def _wrap_sigterm(sender: Any = None, **_: Any) -> None:
    celerys = signal.getsignal(signal.SIGTERM)
    if not callable(celerys):
        return
    worker = str(getattr(sender, "hostname", None) or "worker")
    handed = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal handed
        if not handed:  # a second SIGTERM is Celery's hard shutdown: no more waiting on MongoDB
            handed = True
            hand_back(worker)
        celerys(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def connect() -> None:
    """Hand steps back when this worker shuts down (called in the worker's parent, idempotent)."""
    worker_ready.connect(_wrap_sigterm, weak=False, dispatch_uid="chronos-hand-back")


__all__ = ["connect", "hand_back", "running_jobs"]
