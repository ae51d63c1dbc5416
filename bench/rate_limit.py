"""Benchmark: what a rate-limit check costs next to a bare Redis round trip.

Against the machine's Redis (a database of its own), in one run, through one ``redis.asyncio``
client:

* ping    - ``PING``, the cheapest round trip there is (the baseline);
* allowed - ``app.ratelimit.hit`` with room left: the Lua script trims, counts, adds and sets the
            TTL (the key grows to every call of the row, as a busy client's would);
* refused - ``hit`` on a full key: trims, counts and looks up when the oldest hit leaves.

Each row once sequentially (one call in flight) and once with ``--concurrency`` tasks sharing the
client, the way concurrent requests of one API process would.

    .venv/bin/python bench/rate_limit.py [--calls 5000] [--concurrency 16] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import ratelimit  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/14"
WINDOW_SECONDS = 60.0


def row(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / elapsed,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def measure(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> dict[str, float]:
    """``calls`` calls in ``concurrency`` tasks, each task one call at a time; latencies in ms."""
    for _ in range(20):
        await call()
    latencies: list[float] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            begun = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - begun) * 1000)

    share, extra = divmod(calls, concurrency)
    started = time.perf_counter()
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
    return row(latencies, time.perf_counter() - started)


def print_row(name: str, figures: dict[str, float]) -> None:
    print(f"{name:<10}{figures['rps']:>10.0f}{figures['p50']:>10.3f}{figures['p99']:>10.3f}")


def print_ratio(figures: dict[str, float], base: dict[str, float], what: str) -> None:
    print(f"{'ratio':<10}{figures['rps'] / base['rps']:>10.2f}{figures['p50'] / base['p50']:>10.2f}"
          f"{figures['p99'] / base['p99']:>10.2f}   ({what} / ping)")  # fmt: skip


async def run(redis_url: str, calls: int, concurrency: int) -> None:
    redis = Redis.from_url(redis_url)
    run_id = uuid.uuid4().hex[:8]
    keys: list[str] = []
    try:
        for tasks in (1, concurrency):
            # A fresh key per row: the allowed row never runs into its limit, the refused row is
            # full from the start.
            roomy, full = f"bench:{run_id}:roomy:{tasks}", f"bench:{run_id}:full:{tasks}"
            keys += [roomy, full]
            for _ in range(10):
                await ratelimit.hit(redis, key=full, limit=10, window_seconds=WINDOW_SECONDS)

            async def allowed(key: str = roomy) -> None:
                decision = await ratelimit.hit(redis, key=key, limit=calls * 2, window_seconds=WINDOW_SECONDS)
                assert decision.allowed

            async def refused(key: str = full) -> None:
                decision = await ratelimit.hit(redis, key=key, limit=10, window_seconds=WINDOW_SECONDS)
                assert not decision.allowed

            ping = await measure(redis.ping, calls, tasks)
            hit_allowed = await measure(allowed, calls, tasks)
            hit_refused = await measure(refused, calls, tasks)
            label = "sequential" if tasks == 1 else f"{tasks} concurrent tasks"
            print(f"\n{label}, {calls} calls per row")
            print(f"{'call':<10}{'calls/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
            print_row("ping", ping)
            print_row("allowed", hit_allowed)
            print_row("refused", hit_refused)
            print_ratio(hit_allowed, ping, "allowed")
            print_ratio(hit_refused, ping, "refused")
            size = await redis.zcard(ratelimit.KEY_PREFIX + roomy)
            print(f"(the allowed key ends holding {size:,} hits, the refused one 10)")
    finally:
        if keys:
            await redis.delete(*(ratelimit.KEY_PREFIX + key for key in keys))
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    asyncio.run(run(args.redis_url, args.calls, args.concurrency))


if __name__ == "__main__":
    main()
