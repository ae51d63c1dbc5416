"""What one worker process holds: an event loop, MongoDB through Beanie, pooled FIWARE clients.

Built lazily in the process that runs tasks (a prefork child, after the fork), never in the
parent: a client or loop created before ``fork`` is shared by every child and breaks. Tasks are
synchronous, so each await they need runs on this one loop, which keeps the HTTP pools warm
between tasks (a MongoClient opened per task and never closed leaks its connections and threads).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
import structlog
from celery.signals import setup_logging, worker_process_init, worker_process_shutdown
from pymongo import AsyncMongoClient

from app.db import connect_mongo, init_documents
from app.log import configure_logging
from app.predictions.forecasters import Forecasters
from app.resources import open_fiware
from app.settings import Settings, get_settings
from app.training import events
from fiware.clients import FiwareClients

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass
class WorkerRuntime:
    settings: Settings
    runner: asyncio.Runner
    mongo: AsyncMongoClient[dict[str, Any]]
    fiware: FiwareClients
    publisher: aioredis.Redis
    forecasters: Forecasters

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        # The caller's context, not the runner's own: log fields bound around a task reach it.
        return self.runner.run(coroutine, context=contextvars.copy_context())

    def close(self) -> None:
        self.run(self.fiware.close())
        self.run(self.publisher.aclose())
        self.run(self.mongo.close())
        self.runner.close()


_runtime: WorkerRuntime | None = None


def runtime() -> WorkerRuntime:
    global _runtime
    if _runtime is None:
        settings = get_settings()
        runner = asyncio.Runner()
        mongo = connect_mongo(settings.mongo_url, timeout_seconds=settings.mongo_timeout_seconds)
        runner.run(init_documents(mongo, settings.mongo_database))
        # httpx binds its pools to the loop that first uses them: open them on ours.
        fiware = runner.run(_open_fiware(settings))
        publisher = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        events.use_sink(publisher)
        _runtime = WorkerRuntime(
            settings=settings,
            runner=runner,
            mongo=mongo,
            fiware=fiware,
            publisher=publisher,
            forecasters=Forecasters(),
        )
        log.info("worker.runtime_ready", pid=os.getpid())
    return _runtime


async def _open_fiware(settings: Settings) -> FiwareClients:
    return open_fiware(settings)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return runtime().run(coroutine)


@setup_logging.connect
def _logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(
        level=settings.log_level, json=settings.json_logs, http_requests=settings.log_http_requests
    )


@worker_process_init.connect
def _forget_parent(**_: Any) -> None:
    # Whatever the parent built belongs to the parent; this child builds its own on first use.
    global _runtime
    _runtime = None


@worker_process_shutdown.connect
def _close(**_: Any) -> None:
    global _runtime
    if _runtime is not None:
        try:
            _runtime.close()
        except Exception:  # a dying process must not hang on a broken connection
            log.warning("worker.close_failed", exc_info=True)
        _runtime = None


__all__ = ["WorkerRuntime", "run", "runtime"]
