"""Benchmark: what a flood of request bodies that are not UTF-8 costs the API's event loop.

One API process as ``make run`` starts it (development: console logs, keys off), against SecantusDB
and Redis. ``GET /healthz`` is timed alone (the baseline), then while ``--flood`` concurrent 2 KB
bodies of random bytes arrive at ``/graphql`` in each of ``--rounds`` rounds; the same for bodies
that are valid JSON with one ``\\xff`` inside a string. Each flood must be answered 400.

    .venv/bin/python bench/bad_bodies.py [--flood 20] [--rounds 10] [--probes 200]

Before the fix (2026-12-07) each such body was a 500 and a ~1,100-line traceback logged on the
event loop: 20 bodies took 10.5 s and /healthz went from 2 ms to a 5.5 s median.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devstack import Stack  # noqa: E402
from bench.servers import mongo_and_redis  # noqa: E402
from tests.support import ApiServer, run_api  # noqa: E402

NOISE = random.Random(7)


def random_body() -> bytes:
    return bytes(NOISE.randrange(256) for _ in range(2048))


def json_with_ff() -> bytes:
    return b'{"query": "{ __typename }", "variables": {"x": "' + b"a" * 1990 + b'\xff"}}'


async def healthz(http: httpx.AsyncClient, server: ApiServer, into: list[float]) -> None:
    started = time.perf_counter()
    (await http.get(f"{server.url}/healthz")).raise_for_status()
    into.append((time.perf_counter() - started) * 1000)


async def flood(
    http: httpx.AsyncClient, server: ApiServer, make: Callable[[], bytes], count: int, into: list[float]
) -> float:
    """``count`` bad bodies at once while /healthz is probed back to back; the flood's seconds."""
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    posts = [http.post(server.graphql_url, content=make(), headers=headers) for _ in range(count)]
    answers = asyncio.gather(*posts)
    while not answers.done():
        await healthz(http, server, into)
    statuses = {response.status_code for response in await answers}
    assert statuses == {400}, statuses
    return time.perf_counter() - started


def figures(name: str, latencies: list[float], base: float | None = None) -> float:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    ratio = f"{p50 / base:>8.2f}" if base else f"{'1.00':>8}"
    print(f"{name:<30}{len(ordered):>8}{p50:>10.2f}{p99:>10.2f}{ratio}")
    return p50


async def run(server: ApiServer, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=args.flood + 4, max_keepalive_connections=args.flood + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        quiet: list[float] = []
        for _ in range(args.probes):
            await healthz(http, server, quiet)
        print(f"{'/healthz':<30}{'probes':>8}{'p50 ms':>10}{'p99 ms':>10}{'ratio':>8}")
        base = figures("alone (baseline)", quiet)
        bodies: list[tuple[str, Callable[[], bytes]]] = [
            ("random bytes", random_body),
            ("JSON with one \\xff", json_with_ff),
        ]
        for name, make in bodies:
            during: list[float] = []
            seconds = [await flood(http, server, make, args.flood, during) for _ in range(args.rounds)]
            figures(f"during {args.flood} {name}", during, base)
            median_ms = statistics.median(seconds) * 1000
            print(f"{'':<4}{args.flood} bodies answered 400 in {median_ms:.1f} ms (median of the floods)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flood", type=int, default=20, help="bad bodies sent at once")
    parser.add_argument("--rounds", type=int, default=10, help="floods per kind of body")
    parser.add_argument("--probes", type=int, default=200, help="/healthz probes for the baseline")
    args = parser.parse_args()
    stack = Stack()
    try:
        mongo_url, redis_url = mongo_and_redis(stack, redis_db=13)
        # Development, as `make run` serves it: console logs (where tracebacks were costliest).
        env = {
            "CHRONOS_ENVIRONMENT": "development",
            "CHRONOS_LOG_FORMAT": "console",
            "CHRONOS_MONGO_URL": mongo_url,
            "CHRONOS_MONGO_DATABASE": "bench_bad_bodies",
            "CHRONOS_REDIS_URL": redis_url,
        }
        with (
            tempfile.TemporaryDirectory(prefix="chronos-bench-bad-bodies-") as work,
            run_api(env, Path(work)) as server,
        ):
            asyncio.run(run(server, args))
            lines = server.log_path.read_text(errors="replace").count("\n")
            print(f"API log: {lines} lines for {2 * args.flood * args.rounds} bad bodies and the probes")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
