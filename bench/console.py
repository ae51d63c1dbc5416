"""Benchmark: the console's first load against GraphiQL's, the page Chronos served people before it.

One run, one SecantusDB (in memory), the machine's Redis (a database of its own) and one uvicorn API
with keys off. Each round loads, in a fresh Chromium profile (a cold cache, every request refused
unless it is loopback), the console at ``/`` until its shell shows who is calling (the ``viewer``
query answered), and GraphiQL at ``/graphql`` until its query editor is on the page; the two take
turns, rotating who goes first. Printed per page: bytes transferred (compressed, as the browser
received them, headers included), requests, and the time from navigation to ready (median and
worst), with the console's ratio to GraphiQL. The console's budget is 300 KB and 1 s.

Needs the console built and GraphiQL's files installed (``make run`` or ``make test`` did both) and
Debian's Chromium.

    .venv/bin/python bench/console.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import console
from app.devstack import Stack
from app.graphiql import CONSOLE_DIR
from bench.servers import mongo_and_redis
from tests.browser import offline_page
from tests.support import run_api

PAGES = {"console": ("/", '[data-testid="viewer"]'), "GraphiQL": ("/graphql", ".graphiql-query-editor")}


@dataclass
class Loads:
    bytes: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    ready_ms: list[float] = field(default_factory=list)


def cold_load(url: str, ready: str) -> tuple[int, int, float]:
    with offline_page() as offline:
        page = offline.page
        page.goto(url)
        page.locator(ready).first.wait_for()
        ready_ms = float(page.evaluate("() => performance.now()"))
        sizes = page.evaluate(
            "() => [...performance.getEntriesByType('navigation'),"
            " ...performance.getEntriesByType('resource')].map(e => e.transferSize)"
        )
        if offline.attempted:
            raise RuntimeError(f"{url} tried to leave the machine: {offline.attempted}")
    return int(sum(sizes)), len(sizes), ready_ms


def measure(base: str, rounds: int) -> dict[str, Loads]:
    found = {name: Loads() for name in PAGES}
    names = list(PAGES)
    for index in range(rounds + 1):
        order = names[index % 2 :] + names[: index % 2]
        for name in order:
            path, ready = PAGES[name]
            size, requests, ms = cold_load(base + path, ready)
            if index:  # the first round warms the API and the disk cache, and is not counted
                found[name].bytes.append(size)
                found[name].requests.append(requests)
                found[name].ready_ms.append(ms)
    return found


def report(found: dict[str, Loads]) -> None:
    print(f"{'page':<10} {'KB':>8} {'requests':>9} {'ready p50 ms':>13} {'worst ms':>9}")
    for name, loads in found.items():
        kb = statistics.median(loads.bytes) / 1024
        print(
            f"{name:<10} {kb:>8.1f} {statistics.median(loads.requests):>9.0f}"
            f" {statistics.median(loads.ready_ms):>13.0f} {max(loads.ready_ms):>9.0f}"
        )
    ours, theirs = found["console"], found["GraphiQL"]
    size = statistics.median(ours.bytes) / statistics.median(theirs.bytes)
    time = statistics.median(ours.ready_ms) / statistics.median(theirs.ready_ms)
    print(f"console / GraphiQL: bytes {size:.2f}x, time to ready {time:.2f}x")
    worst_kb, worst_ms = max(ours.bytes) / 1024, max(ours.ready_ms)
    print(f"budget 300 KB / 1,000 ms: worst console load {worst_kb:.1f} KB, {worst_ms:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    problem = console.built(CONSOLE_DIR / "dist").problem
    if problem:
        sys.exit(f"{problem}: run `{console.BUILD_COMMAND}`")
    stack = Stack()
    try:
        with tempfile.TemporaryDirectory(prefix="chronos-bench-console-") as data:
            mongo_url, redis_url = mongo_and_redis(stack, redis_db=8)
            env = {
                "CHRONOS_MONGO_URL": mongo_url,
                "CHRONOS_MONGO_DATABASE": "bench_console",
                "CHRONOS_REDIS_URL": redis_url,
                "CHRONOS_CELERY_BROKER_URL": redis_url,
                "CHRONOS_AUTH_ENABLED": "false",
                "CHRONOS_DATA_DIR": data,
            }
            with run_api(env, Path(data)) as api:
                report(measure(api.url, rounds))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
