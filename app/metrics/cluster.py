"""Counters every worker adds to in Redis and the API's ``/metrics`` reads back.

Workers run on many hosts and in prefork children that come and go, so they keep nothing of
their own: each finished task adds its duration to a histogram kept in one Redis hash, each
forecast run its outcome to another, each forecast slot recorded as missed its reason to a third,
each publication its lateness to a fourth and each retraining its outcome to a fifth. One scrape of
any API process then sees the whole cluster. Buckets are cumulative as Prometheus wants them, so
reading is a plain copy.

These counters live only in Redis: a Redis restart without persistence starts them from zero
(Prometheus's ``rate`` reads that as a counter reset). What must survive is kept in MongoDB too;
each job's ``missed_count`` is the durable record of its missed slots.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import redis
import redis.asyncio as aioredis

TASK_SECONDS_KEY: Final = "chronos:metrics:task_seconds"
FORECAST_RUNS_KEY: Final = "chronos:metrics:forecast_runs"
SLOTS_MISSED_KEY: Final = "chronos:metrics:forecast_slots_missed"
LATENESS_KEY: Final = "chronos:metrics:forecast_lateness_seconds"
RETRAININGS_KEY: Final = "chronos:metrics:model_retrainings"
# From a forecast (tens of ms) to a long training (hours).
BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0)
# Publication time minus the scheduled slot: fine around the 5 s p99 the fleet aims at, coarse past
# a minute (a slot that late is a missed one soon).
LATENESS_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)
RETRAINING_OUTCOMES: Final = ("promoted", "kept", "failed", "skipped")
_SEP: Final = "\t"


def _bucket_label(bound: float) -> str:
    return f"{bound:g}"


def record_task(client: redis.Redis, *, task: str, outcome: str, seconds: float) -> None:
    """Add one finished task; a Redis error is the caller's to swallow (metrics never fail work)."""
    prefix = f"{task}{_SEP}{outcome}{_SEP}"
    pipe = client.pipeline(transaction=False)
    for bound in BUCKETS:
        if seconds <= bound:
            pipe.hincrby(TASK_SECONDS_KEY, prefix + _bucket_label(bound), 1)
    pipe.hincrby(TASK_SECONDS_KEY, prefix + "count", 1)
    pipe.hincrbyfloat(TASK_SECONDS_KEY, prefix + "sum", seconds)
    pipe.execute()


def record_forecast(client: redis.Redis, *, outcome: str, count: int = 1) -> None:
    client.hincrby(FORECAST_RUNS_KEY, outcome, count)


def record_forecast_lateness(client: redis.Redis, *, seconds: float | Iterable[float]) -> None:
    """Add one publication's lateness, or a batch's in the same round trip; a Redis error is the
    caller's to swallow. A negative lateness (a worker clock ahead of beat's) counts as 0, so the
    histogram's sum never goes down; a non-finite one is ignored."""
    given = (seconds,) if isinstance(seconds, int | float) else seconds
    observed = [max(0.0, float(s)) for s in given if math.isfinite(s)]
    if not observed:
        return
    pipe = client.pipeline(transaction=False)
    for bound in LATENESS_BUCKETS:
        within = sum(1 for s in observed if s <= bound)
        if within:
            pipe.hincrby(LATENESS_KEY, _bucket_label(bound), within)
    pipe.hincrby(LATENESS_KEY, "count", len(observed))
    pipe.hincrbyfloat(LATENESS_KEY, "sum", sum(observed))
    pipe.execute()


def record_retraining(client: redis.Redis, *, outcome: str) -> None:
    """Count one retraining by outcome (:data:`RETRAINING_OUTCOMES`); ValueError for any other, since
    the exposition would never show it."""
    if outcome not in RETRAINING_OUTCOMES:
        raise ValueError(f"retraining outcome {outcome!r} is not one of {', '.join(RETRAINING_OUTCOMES)}")
    client.hincrby(RETRAININGS_KEY, outcome, 1)


async def record_missed_slots(client: aioredis.Redis, *, reason: str, count: int) -> None:
    """Add ``count`` missed slots for ``reason``; a Redis error is the caller's to swallow."""
    await client.hincrby(SLOTS_MISSED_KEY, reason, count)


def _cumulative(
    bounds: Iterable[float], buckets: Mapping[str, float], count: float
) -> list[tuple[str, float]]:
    """Every bound (absent ones filled from below) and ``+Inf``."""
    rows: list[tuple[str, float]] = []
    running = 0.0
    for bound in bounds:
        label = _bucket_label(bound)
        running = max(running, buckets.get(label, 0.0))
        rows.append((label, running))
    rows.append(("+Inf", count))
    return rows


@dataclass
class TaskHistogram:
    task: str
    outcome: str
    buckets: dict[str, float] = field(default_factory=dict)
    """Cumulative counts by upper bound label, without ``+Inf``."""
    count: float = 0.0
    total: float = 0.0

    def cumulative(self) -> list[tuple[str, float]]:
        """Every bound of :data:`BUCKETS` (absent ones filled from below) and ``+Inf``."""
        return _cumulative(BUCKETS, self.buckets, self.count)


@dataclass
class LatenessHistogram:
    buckets: dict[str, float] = field(default_factory=dict)
    """Cumulative counts by upper bound label, without ``+Inf``."""
    count: float = 0.0
    total: float = 0.0

    def cumulative(self) -> list[tuple[str, float]]:
        """Every bound of :data:`LATENESS_BUCKETS` (absent ones filled from below) and ``+Inf``."""
        return _cumulative(LATENESS_BUCKETS, self.buckets, self.count)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def task_histograms(raw: Mapping[bytes | str, bytes | str]) -> list[TaskHistogram]:
    """The task hash as histograms, sorted by task and outcome; malformed fields are ignored."""
    found: dict[tuple[str, str], TaskHistogram] = defaultdict(lambda: TaskHistogram("", ""))
    for key, value in raw.items():
        parts = _text(key).split(_SEP)
        if len(parts) != 3:
            continue
        task, outcome, part = parts
        try:
            number = float(_text(value))
        except ValueError:
            continue
        histogram = found[(task, outcome)]
        histogram.task, histogram.outcome = task, outcome
        if part == "count":
            histogram.count = number
        elif part == "sum":
            histogram.total = number
        else:
            histogram.buckets[part] = number
    return [found[key] for key in sorted(found)]


def lateness_histogram(raw: Mapping[bytes | str, bytes | str]) -> LatenessHistogram:
    """The lateness hash as a histogram (empty when no worker wrote it); garbage is ignored."""
    histogram = LatenessHistogram()
    for key, number in forecast_runs(raw).items():
        if key == "count":
            histogram.count = number
        elif key == "sum":
            histogram.total = number
        else:
            histogram.buckets[key] = number
    return histogram


def forecast_runs(raw: Mapping[bytes | str, bytes | str]) -> dict[str, float]:
    """A counter hash (forecast outcomes, missed slots by reason) as numbers; garbage is ignored."""
    runs: dict[str, float] = {}
    for key, value in raw.items():
        try:
            runs[_text(key)] = float(_text(value))
        except ValueError:
            continue
    return dict(sorted(runs.items()))


__all__ = [
    "BUCKETS",
    "FORECAST_RUNS_KEY",
    "LATENESS_BUCKETS",
    "LATENESS_KEY",
    "RETRAININGS_KEY",
    "RETRAINING_OUTCOMES",
    "SLOTS_MISSED_KEY",
    "TASK_SECONDS_KEY",
    "LatenessHistogram",
    "TaskHistogram",
    "forecast_runs",
    "lateness_histogram",
    "record_forecast",
    "record_forecast_lateness",
    "record_missed_slots",
    "record_retraining",
    "record_task",
    "task_histograms",
]
