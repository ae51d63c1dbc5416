"""Each task's start and end: one log line each (the end with its outcome and duration), and the
cluster's counters in Redis; forecast outcomes too.

Connected once in ``tasks.worker``, before the pool forks, so every child reports. Celery's own
"received" and "succeeded in" lines are quiet below DEBUG (``app.log``); periodic tasks log at DEBUG
here, so a tick is not two lines every few seconds. Metrics never fail work: a Redis error is
logged at debug level and the task's own outcome stands.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
import structlog
from celery.signals import task_postrun, task_prerun
from redis.exceptions import RedisError

from app.metrics import cluster
from app.queues import PERIODIC

log = structlog.get_logger(__name__)

OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried", "REVOKED": "revoked"}

_started: dict[str, float] = {}
_client: tuple[int, redis.Redis] | None = None
_redis_url = ""


def _redis() -> redis.Redis:
    # One client per process: a forked child must not share its parent's sockets.
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(_redis_url, socket_connect_timeout=1, socket_timeout=1))
    return _client[1]


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.monotonic()
    if task is not None:
        (log.debug if task.name in PERIODIC else log.info)("task.started", task=task.name, task_id=task_id)


def _on_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None) if task_id is not None else None
    if started is None or task is None:
        return
    outcome = OUTCOMES.get(state or "", (state or "unknown").lower())
    seconds = time.monotonic() - started
    report = log.warning if outcome == "failed" else log.debug if task.name in PERIODIC else log.info
    report("task.finished", task=task.name, task_id=task_id, outcome=outcome, seconds=round(seconds, 3))
    try:
        cluster.record_task(_redis(), task=task.name, outcome=outcome, seconds=seconds)
    except (RedisError, OSError) as error:
        log.debug("metrics.unrecorded", task=task.name, error=str(error))


def count_forecast(outcome: str, count: int = 1) -> None:
    try:
        cluster.record_forecast(_redis(), outcome=outcome, count=count)
    except (RedisError, OSError) as error:
        log.debug("metrics.unrecorded", forecast=outcome, error=str(error))


def record_lateness(seconds: list[float]) -> None:
    """Published forecasts' lateness (Orion's answer minus the slot), in one round trip."""
    if not seconds:
        return
    try:
        cluster.record_forecast_lateness(_redis(), seconds=seconds)
    except (RedisError, OSError) as error:
        log.debug("metrics.unrecorded", lateness=len(seconds), error=str(error))


def count_retraining(outcome: str) -> None:
    """One retraining's end (promoted, kept, failed, skipped); a start is not an outcome."""
    if outcome not in cluster.RETRAINING_OUTCOMES:
        return
    try:
        cluster.record_retraining(_redis(), outcome=outcome)
    except (RedisError, OSError) as error:
        log.debug("metrics.unrecorded", retraining=outcome, error=str(error))


def connect(redis_url: str) -> None:
    """Report every task this process and its pool children run (idempotent)."""
    global _redis_url
    _redis_url = redis_url
    task_prerun.connect(_on_prerun, weak=False, dispatch_uid="chronos-metrics-prerun")
    task_postrun.connect(_on_postrun, weak=False, dispatch_uid="chronos-metrics-postrun")


__all__ = ["connect", "count_forecast", "count_retraining", "record_lateness"]
