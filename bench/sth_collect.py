"""Benchmark: collect 200,000 points of one series from the STH-Comet sandbox.

The sandbox runs in its own process with 20 ms added to every request (a server across a
network) and STH's default page size of 100, so one collection is 2,000+ requests. The client
collects the whole series at concurrency 1 (the baseline: one page at a time) and at the
default concurrency, in the same run, and prints points/s and the speed-up; then the client's
peak memory at both, in separate runs under tracemalloc (which would distort the timings).
(Fetching pages as Celery tasks instead would cap concurrency at the worker's process count.)

    .venv/bin/python bench/sth_collect.py [--points 200000] [--latency-ms 20] [--concurrency 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fiware.history import PagedHistory  # noqa: E402
from fiware.http import Tenant, make_http_client  # noqa: E402
from fiware.quantumleap import QuantumLeapClient  # noqa: E402
from fiware.sandbox import fake_ql, fake_sth  # noqa: E402
from fiware.sandbox.config import SandboxConfig  # noqa: E402
from fiware.sandbox.server import free_port, start_in_thread, stop  # noqa: E402
from fiware.sth import DEFAULT_CONCURRENCY, Series, SthClient  # noqa: E402

SERIES = Series("Sensor", "urn:ngsi-ld:Sensor:bench", "temperature")
TENANT = Tenant("smart", "/")


STORES = ("STH-Comet", "QuantumLeap")


def serve(ports: tuple[int, int], points: int, latency: float, ready: Event, done: Event) -> None:
    sth, ql = fake_sth.SthStore(), fake_ql.QlStore()
    start = datetime(2020, 1, 1, tzinfo=UTC)
    series = [(start + timedelta(seconds=30 * i), 10.0 + (i % 97) / 10) for i in range(points)]
    for store in (sth, ql):
        store.add_points(
            service=TENANT.service, service_path=TENANT.service_path, entity_type=SERIES.entity_type,
            entity_id=SERIES.entity_id, attr_name=SERIES.attribute, attr_type="Number", points=series,
        )  # fmt: skip
    config = SandboxConfig(latency_seconds=latency)
    running = [
        start_in_thread(fake_sth.create_app(config, sth), ports[0]),
        start_in_thread(fake_ql.create_app(config, ql), ports[1]),
    ]
    ready.set()
    done.wait()
    for app in running:
        stop(app)


async def collect(
    store: str, url: str, concurrency: int, points: int, *, trace_memory: bool = False
) -> dict[str, float]:
    async with make_http_client(url, max_connections=max(concurrency, 1) * 2) as http:
        client: PagedHistory = (
            SthClient(http, concurrency=concurrency)
            if store == "STH-Comet"
            else QuantumLeapClient(http, concurrency=concurrency)
        )
        # tracemalloc slows every allocation several times over: memory gets a run of its own.
        if trace_memory:
            tracemalloc.start()
        started = time.perf_counter()
        result = await client.collect(SERIES, TENANT, last_n=points)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
        tracemalloc.stop()
    assert len(result.points) == points and result.stable, (store, len(result.points), points)
    return {"seconds": elapsed, "pps": points / elapsed, "peak_mb": peak / 2**20, "pages": result.pages}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args()

    ports = (free_port(), free_port())
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    server = context.Process(target=serve, args=(ports, args.points, args.latency_ms / 1000, ready, done))
    server.start()
    try:
        if not ready.wait(180):
            raise RuntimeError("the sandbox did not start")
        urls = dict(zip(STORES, (f"http://127.0.0.1:{port}" for port in ports), strict=True))
        _timings(urls, args)
        for store in STORES:
            for concurrency in (1, args.concurrency):
                memory = asyncio.run(collect(store, urls[store], concurrency, args.points, trace_memory=True))
                peak = memory["peak_mb"]
                print(
                    f"peak client memory, {store} at concurrency {concurrency}: {peak:.1f} MB (tracemalloc)"
                )
    finally:
        done.set()
        server.join(30)


def _timings(urls: dict[str, str], args: argparse.Namespace) -> None:
    print(f"collect {args.points:,} points, {args.latency_ms:g} ms per request")
    print(f"{'store':>12}{'concurrency':>12}{'seconds':>10}{'points/s':>12}{'pages':>8}")
    rows = {}
    for store in STORES:
        for concurrency in (1, args.concurrency):
            row = asyncio.run(collect(store, urls[store], concurrency, args.points))
            rows[store, concurrency] = row
            print(
                f"{store:>12}{concurrency:>12}{row['seconds']:>10.2f}{row['pps']:>12,.0f}{row['pages']:>8.0f}"
            )
    # STH-Comet's 100-point pages leave a collection waiting on latency, which concurrency hides (the
    # goal); QuantumLeap's 1,000-row pages leave it parsing, which it cannot.
    for store, goal in zip(STORES, (" (goal: >= 4x)", ""), strict=True):
        speedup = rows[store, args.concurrency]["pps"] / rows[store, 1]["pps"]
        print(f"{store}: speed-up at concurrency {args.concurrency}: {speedup:.2f}x{goal}")
    for concurrency in (1, args.concurrency):
        ratio = rows["QuantumLeap", concurrency]["pps"] / rows["STH-Comet", concurrency]["pps"]
        print(f"QuantumLeap / STH-Comet at concurrency {concurrency}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
