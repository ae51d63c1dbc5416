"""One place that turns whatever a training step raised into a recorded, explained job state.

Transient upstream failures retry with backoff; deterministic ones fail the job at once with a
code and message (retrying bad data only delays the same failure, and must never flip a FAILED job
back to running). Nothing escapes as an unexplained crash: an unexpected error fails the job as
INTERNAL and is logged in full.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import structlog
from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from pymongo.errors import ConnectionFailure

from app.queues import CLEANUP_DELAY_SECONDS, CLEANUP_TRAINING_TASKS
from app.training.failures import StepFailed, TaskIdentity, describe_fiware, is_transient
from app.training.repository import lifecycle
from fiware.errors import FiwareError
from fiware.history import ReadStopped
from tasks.runtime import run

log = structlog.get_logger(__name__)

MAX_RETRIES = 5


def identity(task: Task[Any, Any], *, driven: bool = False) -> TaskIdentity:
    request = task.request
    redelivered = bool((request.delivery_info or {}).get("redelivered"))
    return TaskIdentity(
        task_id=str(request.id),
        worker=f"{request.hostname or 'worker'}:{os.getpid()}",
        redelivered=redelivered,
        retried=bool(request.retries),
        driven=driven,
    )


def backoff(retries: int) -> float:
    return min(60.0, 2.0 ** (retries + 1)) * random.uniform(0.8, 1.2)


def _fail(task: Task[Any, Any], job_id: UUID, code: str, message: str) -> None:
    if run(lifecycle.fail_job(job_id=job_id, code=code, message=message)) is not None:
        task.app.send_task(CLEANUP_TRAINING_TASKS, args=[str(job_id)], countdown=CLEANUP_DELAY_SECONDS)


@contextmanager
def guarded(task: Task[Any, Any], job_id: UUID) -> Iterator[None]:
    structlog.contextvars.bind_contextvars(job_id=str(job_id), task=task.name)
    try:
        yield
    except Retry:
        raise
    except SoftTimeLimitExceeded:
        _fail(task, job_id, "TIME_LIMIT", f"{task.name} ran past its time limit")
    except StepFailed as failure:
        _fail(task, job_id, failure.code, failure.message)
    except ReadStopped:
        run(lifecycle.finish_cancel(job_id=job_id))
    except (FiwareError, ConnectionFailure) as error:
        if is_transient(error) and task.request.retries < MAX_RETRIES:
            log.warning("training.step_retry", error=str(error), retries=task.request.retries)
            raise task.retry(
                exc=error, countdown=backoff(task.request.retries), max_retries=MAX_RETRIES
            ) from error
        log.warning("training.upstream_failed", error=str(error))
        if isinstance(error, FiwareError):
            final = describe_fiware(error)
            _fail(task, job_id, final.code, final.message)
        else:
            _fail(task, job_id, "UNAVAILABLE", "MongoDB stayed unreachable after retries")
    except Exception as error:
        log.exception("training.step_crashed")
        _fail(
            task, job_id, "INTERNAL", f"unexpected {type(error).__name__} in {task.name}; see the worker log"
        )
    finally:
        structlog.contextvars.unbind_contextvars("job_id", "task")


__all__ = ["MAX_RETRIES", "backoff", "guarded", "identity"]
