"""Structured logging: one structlog pipeline for our records and the standard library's.

uvicorn, celery and pymongo log through ``logging``; their records are rendered by the same
processors as ours (JSON in production, a readable console otherwise), so nothing is lost and
every line has the same shape.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor

# Always quiet: driver chatter (pymongo logs every heartbeat at DEBUG).
_NOISY = {"pymongo": logging.WARNING, "asyncio": logging.WARNING}
# Quiet unless the level is DEBUG: a line per tick or per task message drowns what matters. Chronos
# logs each task's start and end itself, with its duration (tasks/metrics.py).
_CHATTY = ("celery.beat", "celery.worker.strategy", "celery.app.trace")
# A line per outgoing request (2,250 of one worker log's 3,048 lines): off unless asked for.
_HTTP_CLIENTS = ("httpx", "httpcore")


def _drop_color_message(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    # uvicorn duplicates its message with ANSI colours for its own formatter; we render our own.
    event.pop("color_message", None)
    return event


def configure_logging(
    *, level: str, json: bool, http_requests: bool = False, stream: TextIO | None = None
) -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=(stream or sys.stderr).isatty())
    )
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    floors = {
        **_NOISY,
        **{name: logging.WARNING for name in _CHATTY if numeric > logging.DEBUG},
        **{name: logging.WARNING for name in _HTTP_CLIENTS if not http_requests},
    }
    for name in (*_NOISY, *_CHATTY, *_HTTP_CLIENTS):
        logging.getLogger(name).setLevel(max(floors.get(name, logging.NOTSET), numeric))
    # uvicorn installs its own handlers unless told otherwise; route them to the root instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


__all__ = ["configure_logging"]
