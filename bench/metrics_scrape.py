"""Benchmark: what metrics cost. A ``/metrics`` scrape against ``/healthz``, and a worker's report of
one task against a bare Redis round trip.

With 10,000 training jobs stored and the task histogram holding 8 tasks x 3 outcomes, measures in
one run against a real uvicorn API (SecantusDB in memory, the machine's Redis on a database of its
own):

* scrape   - ``GET /metrics`` (one MongoDB aggregation, two Redis HGETALLs, the text format);
* baseline - ``GET /healthz`` through the same stack (the cheapest request there is);
* record   - ``app.metrics.cluster.record_task`` (one pipelined round trip, what every task costs a
             worker), next to a bare ``PING`` round trip.

    .venv/bin/python bench/metrics_scrape.py [--requests 300] [--jobs 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import connect_mongo  # noqa: E402
from app.devstack import Stack, free_port, start_secantus  # noqa: E402
from app.metrics import cluster  # noqa: E402
from app.training.documents import TrainingStatus  # noqa: E402
from tests.support import run_api  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/14"
TASKS = 8
OUTCOMES = ("succeeded", "failed", "retried")


def row(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / elapsed,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def measure(call: Callable[[], Awaitable[None]], requests: int) -> dict[str, float]:
    for _ in range(10):
        await call()
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(requests):
        begun = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - begun) * 1000)
    return row(latencies, time.perf_counter() - started)


def measure_sync(call: Callable[[], object], requests: int) -> dict[str, float]:
    for _ in range(20):
        call()
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(requests):
        begun = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - begun) * 1000)
    return row(latencies, time.perf_counter() - started)


def print_row(name: str, figures: dict[str, float]) -> None:
    print(f"{name:<10}{figures['rps']:>10.1f}{figures['p50']:>10.2f}{figures['p99']:>10.2f}")


async def run(mongo_url: str, requests: int, jobs: int) -> None:
    database = "chronos_bench_metrics"
    mongo = connect_mongo(mongo_url, timeout_seconds=10)
    await mongo.drop_database(database)
    statuses = list(TrainingStatus)
    documents = [{"_id": uuid.uuid4(), "status": statuses[i % len(statuses)].value} for i in range(jobs)]
    await mongo[database]["training_jobs"].insert_many(documents)
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(cluster.TASK_SECONDS_KEY, cluster.FORECAST_RUNS_KEY)
    for task in range(TASKS):
        for outcome in OUTCOMES:
            for seconds in (0.01, 0.3, 4.0, 120.0):
                cluster.record_task(client, task=f"chronos.task_{task}", outcome=outcome, seconds=seconds)
    print(f"stored jobs: {jobs:,}; task histograms: {TASKS * len(OUTCOMES)}")

    env = {
        "CHRONOS_MONGO_URL": mongo_url,
        "CHRONOS_MONGO_DATABASE": database,
        "CHRONOS_REDIS_URL": REDIS_URL,
        "CHRONOS_LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryDirectory() as logs, run_api(env, Path(logs)) as server:
        async with httpx.AsyncClient(timeout=30) as http:

            async def scrape() -> None:
                response = await http.get(f"{server.url}/metrics")
                assert response.status_code == 200 and "chronos_training_jobs" in response.text

            async def healthz() -> None:
                assert (await http.get(f"{server.url}/healthz")).status_code == 200

            size = len((await http.get(f"{server.url}/metrics")).content)
            print(f"\n/metrics body: {size:,} bytes; {requests} sequential requests per row")
            print(f"{'path':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
            base = await measure(healthz, requests)
            full = await measure(scrape, requests)
            print_row("healthz", base)
            print_row("metrics", full)
            print(f"{'ratio':<10}{full['rps'] / base['rps']:>10.2f}{full['p50'] / base['p50']:>10.2f}"
                  f"{full['p99'] / base['p99']:>10.2f}   (metrics / healthz)")  # fmt: skip

    print(f"\nworker side, {requests * 5} calls per row")
    print(f"{'call':<10}{'calls/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    ping = measure_sync(client.ping, requests * 5)

    def report() -> None:
        cluster.record_task(client, task="chronos.bench", outcome="succeeded", seconds=2.0)

    record = measure_sync(report, requests * 5)
    print_row("ping", ping)
    print_row("record", record)
    print(f"{'ratio':<10}{record['rps'] / ping['rps']:>10.2f}{record['p50'] / ping['p50']:>10.2f}"
          f"{record['p99'] / ping['p99']:>10.2f}   (record / ping)")  # fmt: skip
    client.delete(cluster.TASK_SECONDS_KEY, cluster.FORECAST_RUNS_KEY)
    client.close()
    await mongo.drop_database(database)
    await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    stack = Stack()
    try:
        mongo_url = start_secantus(stack, port=free_port(), storage=":memory:")
        asyncio.run(run(mongo_url, args.requests, args.jobs))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
