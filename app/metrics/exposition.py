"""``GET /metrics``: this API process's own measurements and the cluster's, in Prometheus text.

The process measures its GraphQL operations (latency by operation name, type and outcome) and
its open subscriptions. At each scrape it also reads what belongs to the whole cluster: jobs by
status (one MongoDB aggregation), the live accuracy of the most recently evaluated models (one
projection query, see :mod:`app.metrics.monitoring`), task durations, forecast outcomes, missed
forecast slots, forecast lateness and retraining outcomes (Redis hashes the workers add to, see
:mod:`app.metrics.cluster`), the live workers its heartbeat listener knows and its progress hub.
Cluster-wide series are the same from every API process: aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import redis.asyncio as aioredis
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from app.metrics.cluster import (
    FORECAST_RUNS_KEY,
    LATENESS_KEY,
    RETRAINING_OUTCOMES,
    RETRAININGS_KEY,
    SLOTS_MISSED_KEY,
    TASK_SECONDS_KEY,
    LatenessHistogram,
    TaskHistogram,
    forecast_runs,
    lateness_histogram,
    task_histograms,
)
from app.metrics.monitoring import MonitoredModel, model_families, read_monitored
from app.system.health import Finding
from app.training import service as training_service
from app.training.documents import MissReason
from app.training.hub import HubStats

# Operation names come from clients: past this many distinct ones, the rest count as "other"
# so a client inventing names cannot grow the process's memory without end.
MAX_OPERATION_NAMES: Final = 200
ANONYMOUS: Final = "anonymous"
OTHER: Final = "other"
# The GraphQL spec's Name: what an operation in a document can be called.
GRAPHQL_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ProcessMetrics:
    """What one API process measures as it works; owned by its resources."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The standard process_* (CPU, memory, file descriptors, start time), python_gc_* and
        # python_info series every Prometheus dashboard expects: the library's own collectors.
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(standard)
        self._names: set[str] = set()
        self.operations = Histogram(
            "chronos_graphql_operation_duration_seconds",
            "Queries and mutations by operation name, type and outcome (ok or error).",
            ["operation", "type", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.subscriptions = Counter(
            "chronos_graphql_subscriptions",
            "Subscriptions started, by operation name and how they ended (ok or error).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.active_subscriptions = Gauge(
            "chronos_graphql_active_subscriptions",
            "Subscriptions streaming now in this process.",
            registry=self.registry,
        )

    def operation_label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._names:
            return name
        if not GRAPHQL_NAME.fullmatch(name):
            # Not a name any document can declare (a client's stray operationName): one label for
            # all, and never text the exposition cannot encode.
            return OTHER
        if len(self._names) >= MAX_OPERATION_NAMES:
            return OTHER
        self._names.add(name)
        return name

    def observe_operation(self, *, name: str | None, kind: str, outcome: str, seconds: float) -> None:
        self.operations.labels(self.operation_label(name), kind, outcome).observe(seconds)

    def subscription_started(self) -> None:
        self.active_subscriptions.inc()

    def subscription_ended(self, *, name: str | None, outcome: str) -> None:
        self.active_subscriptions.dec()
        self.subscriptions.labels(self.operation_label(name), outcome).inc()


class WorkerRoster(Protocol):
    """What knows the live workers: the API's heartbeat listener (:class:`app.system.workers.WorkerWatch`)."""

    async def probe(self) -> Finding: ...


@dataclass(frozen=True)
class ClusterReading:
    jobs_by_status: Mapping[str, int]
    tasks: list[TaskHistogram]
    forecasts: Mapping[str, float]
    hub: HubStats
    slots_missed: Mapping[str, float] = field(default_factory=dict)
    lateness: LatenessHistogram = field(default_factory=LatenessHistogram)
    retrainings: Mapping[str, float] = field(default_factory=dict)
    workers_alive: int = 0
    models: Sequence[MonitoredModel] = ()


class _Reading(Collector):
    def __init__(self, reading: ClusterReading) -> None:
        self.reading = reading

    def collect(self) -> Iterator[Metric]:
        yield from self._jobs()
        yield from self._forecasting()
        yield from model_families(self.reading.models)
        yield from self._hub()

    def _jobs(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("chronos_training_jobs", "Training jobs by status.", labels=["status"])
        for status, count in self.reading.jobs_by_status.items():
            jobs.add_metric([status], count)
        yield jobs
        tasks = HistogramMetricFamily(
            "chronos_task_duration_seconds",
            "Celery task run time across every worker, by task and outcome.",
            labels=["task", "outcome"],
        )
        for histogram in self.reading.tasks:
            tasks.add_metric([histogram.task, histogram.outcome], histogram.cumulative(), histogram.total)
        yield tasks
        yield GaugeMetricFamily(
            "chronos_workers_alive",
            "Celery workers alive by their heartbeats, as this API process hears them; 0 also while "
            "it cannot hear the broker.",
            self.reading.workers_alive,
        )
        retrainings = CounterMetricFamily(
            "chronos_model_retrainings",
            f"Model retrainings across every worker, by outcome ({', '.join(RETRAINING_OUTCOMES)}).",
            labels=["outcome"],
        )
        # Every outcome from the start, at 0, as for missed slots.
        for outcome in RETRAINING_OUTCOMES:
            retrainings.add_metric([outcome], self.reading.retrainings.get(outcome, 0.0))
        yield retrainings

    def _forecasting(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "chronos_forecast_runs",
            "Recurring forecast runs across every worker, by outcome (published, failed, "
            "unavailable, disabled, late, skipped).",
            labels=["outcome"],
        )
        for outcome, total in self.reading.forecasts.items():
            runs.add_metric([outcome], total)
        yield runs
        yield self._slots_missed()
        lateness = HistogramMetricFamily(
            "chronos_forecast_lateness_seconds",
            "Recurring forecasts' publication time minus their scheduled slot, across every worker.",
        )
        # Present from the start, at 0: alerts on its quantiles see a series before the first run.
        lateness.add_metric([], self.reading.lateness.cumulative(), self.reading.lateness.total)
        yield lateness

    def _hub(self) -> Iterator[Metric]:
        hub = self.reading.hub
        yield GaugeMetricFamily(
            "chronos_progress_hub_connected", "1 when this process's Redis pub/sub link is up.", hub.connected
        )
        yield GaugeMetricFamily(
            "chronos_progress_hub_listeners", "Progress listeners in this process.", hub.listeners
        )
        yield GaugeMetricFamily(
            "chronos_progress_hub_channels", "Job channels this process subscribes.", hub.channels
        )
        yield CounterMetricFamily(
            "chronos_progress_hub_dropped", "Progress events dropped for slow clients.", hub.dropped
        )
        yield CounterMetricFamily(
            "chronos_progress_hub_reconnects", "Times the pub/sub link was rebuilt.", hub.reconnects
        )

    def _slots_missed(self) -> Metric:
        missed = CounterMetricFamily(
            "chronos_forecast_slots_missed",
            "Recurring forecast slots recorded as not published, across every worker, by reason "
            f"({', '.join(MissReason)}). Kept in Redis, so a Redis restart may reset it; each "
            "job's missedCount in MongoDB is the durable record.",
            labels=["reason"],
        )
        # Every reason from the start, at 0: rate() and alerts see a series before its first miss.
        for reason in MissReason:
            missed.add_metric([reason.value], self.reading.slots_missed.get(reason.value, 0.0))
        return missed


async def _read_redis(redis: aioredis.Redis) -> list[Mapping[bytes | str, bytes | str]]:
    async with redis.pipeline(transaction=False) as pipe:
        for key in (TASK_SECONDS_KEY, FORECAST_RUNS_KEY, SLOTS_MISSED_KEY, LATENESS_KEY, RETRAININGS_KEY):
            pipe.hgetall(key)
        hashes: list[Mapping[bytes | str, bytes | str]] = await pipe.execute()
    return hashes


async def read_cluster(*, redis: aioredis.Redis, hub: HubStats, workers: WorkerRoster) -> ClusterReading:
    # MongoDB, Redis and the roster (which may wait briefly right after it connects) at once.
    counts, models, hashes, roster = await asyncio.gather(
        training_service.count_by_status(), read_monitored(), _read_redis(redis), workers.probe()
    )
    tasks, runs, missed, lateness, retrainings = hashes
    return ClusterReading(
        jobs_by_status={status.value: count for status, count in counts.items()},
        tasks=task_histograms(tasks),
        forecasts=forecast_runs(runs),
        hub=hub,
        slots_missed=forecast_runs(missed),
        lateness=lateness_histogram(lateness),
        retrainings=forecast_runs(retrainings),
        workers_alive=roster.instances or 0,
        models=models,
    )


def render(process: ProcessMetrics, reading: ClusterReading) -> bytes:
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Reading(reading))
    return generate_latest(process.registry) + generate_latest(scrape)


CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "ClusterReading", "ProcessMetrics", "WorkerRoster", "read_cluster", "render"]
