"""Log an outage once, then a summary now and then, then its end: not one line per failed call.

A dependency down makes every call fail, often many a second; logging each one buries the rest of
the log. ``OutageLog`` logs the first failure at WARNING, then at most one summary per ``every``
seconds (how many failed since, the last error), and one line when a call succeeds again. One per
process and per kind of call; safe from several threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog


class OutageLog:
    def __init__(
        self, event: str, *, every_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        self.event = event
        self.every_seconds = every_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._since_summary = 0
        self._started = 0.0
        self._summarised = 0.0
        self._log = structlog.get_logger("chronos.outages")

    def failed(self, error: BaseException | str, **context: Any) -> None:
        text = error if isinstance(error, str) else (str(error) or type(error).__name__)
        with self._lock:
            now = self._clock()
            self._failures += 1
            self._since_summary += 1
            if self._failures == 1:
                self._started = self._summarised = now
                self._since_summary = 0
                self._log.warning(self.event, error=text, **context)
                return
            if now - self._summarised < self.every_seconds:
                return
            failed, self._since_summary, self._summarised = self._since_summary, 0, now
        self._log.warning(
            f"{self.event}.ongoing",
            failed_since_last=failed,
            seconds=round(now - self._started, 1),
            last_error=text,
            **context,
        )

    def succeeded(self, **context: Any) -> None:
        with self._lock:
            if self._failures == 0:
                return
            failures, seconds = self._failures, self._clock() - self._started
            self._failures = self._since_summary = 0
        self._log.warning(f"{self.event}.recovered", failures=failures, seconds=round(seconds, 1), **context)

    @property
    def failing(self) -> bool:
        return self._failures > 0


__all__ = ["OutageLog"]
