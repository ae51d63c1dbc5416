"""Benchmark: what access control and the document limits cost, end to end and in process.

One run, one SecantusDB (in memory), the machine's Redis (a database of its own; started when
there is none), 50 stored models and three real uvicorn APIs side by side:

1. The same page (``models(first: 20)``, a few fields) against

   * off      - ``CHRONOS_AUTH_ENABLED=false``, no key (the baseline);
   * cached   - keys on, an admin key, checked once per ``CHRONOS_AUTH_CACHE_SECONDS`` (5 s);
   * uncached - keys on with ``CHRONOS_AUTH_CACHE_SECONDS=0``: every request reads the key from
                MongoDB;

   at concurrency 1 and 8. The variants take turns in short rounds (rotating who goes first), so
   the machine's noise spreads over all three; req/s is over each variant's own rounds.
2. Refusals by the keys-on API (cache on), next to the cheap ``{ modelTypes { value } }``: an
   unknown key (401), a 300 KB body (413), 10,000 aliases (token limit, while parsing), a fragment
   bomb (30 fragments, each spreading the next twice), a page of 100 models with 100 training
   jobs each (cost limit) and a mutation by a viewer key (FORBIDDEN). One request in flight; rows
   marked ``new`` send a different text (a leading comment) or key each time, so the parser and
   validation caches, or the key cache, cannot answer.
3. In process: ``schema.limits.operation_cost`` on the page's document next to graphql-core's
   ``parse`` of the same text, its ``validate`` (the standard rules) and the plain expansion walk
   the cost limiter does on every request.

The client runs in this process on the same machine: compare rows, not absolute figures.

    .venv/bin/python bench/access.py [--quick] [--requests 500] [--refusals 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from graphql import parse, validate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import connect_mongo, init_documents  # noqa: E402
from app.devstack import Stack  # noqa: E402
from app.models import ModelDocument  # noqa: E402
from bench.graphql_models import document  # noqa: E402
from bench.servers import mongo_and_redis  # noqa: E402
from schema import schema as chronos_schema  # noqa: E402
from schema.limits import _expand, operation_cost  # noqa: E402
from tests.support import ApiServer, bearer, create_key, run_api  # noqa: E402

DATABASE = "chronos_bench_access"
MODELS = 50
PAGE = 20
QUERY = """
query Page($first: Int!) {
  models(first: $first) {
    edges { node { id name modelType status entityId createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CHEAP = "{ modelTypes { value } }"
BODY_BYTES = 300 * 1024
ALIASES = 10_000
FRAGMENTS = 30
COSTLY = "{ models(first: 100) { edges { node { trainingJobs(first: 100) { edges { node { id } } } } } } }"
MUTATION = 'mutation { deleteModel(id: "00000000-0000-0000-0000-000000000000") { deletedId } }'

Call = Callable[[], Awaitable[None]]


def alias_bomb() -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(ALIASES)) + " }"


def fragment_bomb() -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(FRAGMENTS - 1)]
    fragments.append(f"fragment F{FRAGMENTS - 1} on Query {{ __typename }}")
    return "query Bomb { ...F0 }\n" + "\n".join(fragments)


@dataclass
class Series:
    """Latencies (ms) and busy time (s) of one row, gathered over several rounds."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def figures(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
        return {
            "rps": len(ordered) / self.elapsed,
            "p50": statistics.median(ordered),
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        }


async def burst(call: Call, requests: int, concurrency: int, into: Series) -> None:
    """``requests`` calls from ``concurrency`` tasks, each one call at a time."""
    latencies: list[float] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            begun = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - begun) * 1000)

    share, extra = divmod(requests, concurrency)
    started = time.perf_counter()
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
    into.elapsed += time.perf_counter() - started
    into.latencies.extend(latencies)


async def interleaved(
    calls: dict[str, Call], *, requests: int, rounds: int, concurrency: int, warmup: int
) -> dict[str, dict[str, float]]:
    """Each call ``requests`` times, in ``rounds`` turns per call, who goes first rotating."""
    names = list(calls)
    for name in names:
        await burst(calls[name], warmup, concurrency, Series())
    series = {name: Series() for name in names}
    share, extra = divmod(requests, rounds)
    for turn in range(rounds):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            await burst(calls[name], share + (turn < extra), concurrency, series[name])
    return {name: s.figures() for name, s in series.items()}


def ratios(row: dict[str, float], base: dict[str, float]) -> tuple[float, float, float]:
    return row["rps"] / base["rps"], row["p50"] / base["p50"], row["p99"] / base["p99"]


def expect(response: httpx.Response, status: int, code: str | None) -> None:
    """Fail loudly when a request is not refused (or answered) the way the row says it is."""
    if response.status_code != status:
        raise AssertionError(f"expected HTTP {status}, got {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    if code is None:
        if codes:
            raise AssertionError(f"expected no errors, got {body['errors']}")
    elif code not in codes:
        raise AssertionError(f"expected {code}, got {response.text[:300]}")


async def auth_cost(
    http: httpx.AsyncClient, servers: dict[str, ApiServer], requests: int, rounds: int
) -> None:
    payload = {"query": QUERY, "variables": {"first": PAGE}}

    def page(server: ApiServer) -> Call:
        async def call() -> None:
            response = await http.post(server.graphql_url, json=payload, headers=server.headers)
            body: dict[str, Any] = response.json()
            assert "errors" not in body, body
            assert len(body["data"]["models"]["edges"]) == PAGE

        return call

    calls = {name: page(server) for name, server in servers.items()}
    print(f"\n1. models(first: {PAGE}), {requests} requests per row in {rounds} alternating rounds")
    print(f"{'variant':<12}{'conc':>6}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'x req/s':>10}{'x p50':>8}{'x p99':>8}")  # fmt: skip
    for concurrency in (1, 8):
        figures = await interleaved(
            calls, requests=requests, rounds=rounds, concurrency=concurrency, warmup=10 * concurrency
        )
        base = figures["off"]
        for name, row in figures.items():
            rps, p50, p99 = ratios(row, base)
            print(f"{name:<12}{concurrency:>6}{row['rps']:>10.1f}{row['p50']:>10.2f}{row['p99']:>10.2f}"
                  f"{rps:>10.2f}{p50:>8.2f}{p99:>8.2f}")  # fmt: skip
    print("(x: ratio to `off`, the API with keys off)")


async def refusal_cost(
    http: httpx.AsyncClient, server: ApiServer, viewer_key: str, requests: int, rounds: int
) -> None:
    admin = server.headers
    unknown = bearer(f"chr_{secrets.token_urlsafe(32)}")
    padded = json.dumps({"query": CHEAP + " " * BODY_BYTES}).encode()
    aliases, bomb = alias_bomb(), fragment_bomb()
    counter = itertools.count()

    def fresh(text: str) -> Callable[[], str]:
        # A comment is no token: the document is the same, its text (the caches' key) is not.
        return lambda: f"# {next(counter)}\n{text}"

    def post(
        text: Callable[[], str], status: int, code: str | None, headers: dict[str, str] | None = None
    ) -> Call:
        async def call() -> None:
            response = await http.post(
                server.graphql_url, json={"query": text()}, headers=admin if headers is None else headers
            )
            expect(response, status, code)

        return call

    async def too_large() -> None:
        response = await http.post(
            server.graphql_url,
            content=padded,
            headers={**admin, "content-type": "application/json"},
        )
        expect(response, 413, "REQUEST_TOO_LARGE")

    def new_key() -> Call:
        async def call() -> None:
            response = await http.post(
                server.graphql_url,
                json={"query": CHEAP},
                headers=bearer(f"chr_{secrets.token_urlsafe(32)}"),
            )
            expect(response, 401, "UNAUTHENTICATED")

        return call

    calls: dict[str, Call] = {
        "cheap": post(lambda: CHEAP, 200, None),
        "cheap new": post(fresh(CHEAP), 200, None),
        "401": post(lambda: CHEAP, 401, "UNAUTHENTICATED", unknown),
        "401 new key": new_key(),
        "413": too_large,
        "tokens": post(lambda: aliases, 200, "QUERY_TOO_COMPLEX"),
        "fragments": post(lambda: bomb, 200, "QUERY_TOO_COMPLEX"),
        "fragm. new": post(fresh(bomb), 200, "QUERY_TOO_COMPLEX"),
        "cost": post(lambda: COSTLY, 200, "QUERY_TOO_COMPLEX"),
        "cost new": post(fresh(COSTLY), 200, "QUERY_TOO_COMPLEX"),
        "forbidden": post(lambda: MUTATION, 200, "FORBIDDEN", bearer(viewer_key)),
        "forbid. new": post(fresh(MUTATION), 200, "FORBIDDEN", bearer(viewer_key)),
    }
    sizes = {
        "413": len(padded),
        "tokens": len(json.dumps({"query": aliases})),
        "fragments": len(json.dumps({"query": bomb})),
    }
    print(f"\n2. refusals by the keys-on API (cache on), {requests} sequential requests per row "
          f"in {rounds} alternating rounds")  # fmt: skip
    print(f"   bodies: 413 {sizes['413']:,} B, tokens {sizes['tokens']:,} B, "
          f"fragments {sizes['fragments']:,} B")  # fmt: skip
    print(f"{'request':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'x p50':>8}{'x p99':>8}")
    figures = await interleaved(calls, requests=requests, rounds=rounds, concurrency=1, warmup=10)
    base = figures["cheap"]
    for name, row in figures.items():
        _, p50, p99 = ratios(row, base)
        print(f"{name:<14}{row['rps']:>10.1f}{row['p50']:>10.2f}{row['p99']:>10.2f}{p50:>8.2f}{p99:>8.2f}")
    print(
        "(x: ratio to `cheap`, { modelTypes { value } } by the admin key; `new`: new text or key each time)"
    )


def per_call_us(call: Callable[[], object], seconds: float, repeats: int) -> tuple[float, float, int]:
    """Median and best of ``repeats`` timings of ~``seconds`` each (µs per call), and calls per timing."""
    started = time.perf_counter()
    for _ in range(10):
        call()
    number = max(10, int(seconds / ((time.perf_counter() - started) / 10)))
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            call()
        timings.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(timings), min(timings), number


def in_process(seconds: float) -> None:
    graphql_schema = chronos_schema._schema
    document = parse(QUERY)
    variables = {"first": PAGE}

    def cost_of() -> int:
        return operation_cost(graphql_schema, document, None, variables, list_default_size=10)

    rows: Sequence[tuple[str, Callable[[], object]]] = (
        ("parse", lambda: parse(QUERY)),
        ("validate", lambda: validate(graphql_schema, document)),
        ("operation_cost", cost_of),
        ("_expand", lambda: _expand(document)),
    )
    print(
        f"\n3. in process, the page's document ({len(QUERY)} chars, cost {cost_of()}), "
        f"7 timings of ~{seconds:g} s per row"
    )
    print(f"{'call':<16}{'µs median':>12}{'µs best':>10}{'x parse':>10}{'calls':>8}")
    base = None
    for name, call in rows:
        median, best, number = per_call_us(call, seconds, 7)
        base = base or median
        print(f"{name:<16}{median:>12.1f}{best:>10.1f}{median / base:>10.2f}{number:>8}")
    print(
        "(validate: graphql-core's specified rules alone; _expand: the plain walk QueryCostLimiter.on_parse"
    )
    print(" does on every request, cached parse or not)")


async def run(env: dict[str, str], work: Path, args: argparse.Namespace) -> None:
    mongo = connect_mongo(env["CHRONOS_MONGO_URL"], timeout_seconds=10)
    try:
        await mongo.drop_database(DATABASE)
        await init_documents(mongo, DATABASE)
        await ModelDocument.insert_many([document(i) for i in range(MODELS)])
        print(f"stored models: {await ModelDocument.count()}")
        admin_key = create_key(env, role="admin", name="bench admin", cwd=work)
        viewer_key = create_key(env, role="viewer", tenants=["smart:/"], name="bench viewer", cwd=work)

        with contextlib.ExitStack() as apis:
            off = apis.enter_context(run_api({**env, "CHRONOS_AUTH_ENABLED": "false"}, work))
            on = {**env, "CHRONOS_AUTH_ENABLED": "true"}
            cached = apis.enter_context(run_api(on, work, key=admin_key))
            uncached = apis.enter_context(
                run_api({**on, "CHRONOS_AUTH_CACHE_SECONDS": "0"}, work, key=admin_key)
            )
            servers = {"off": off, "cached": cached, "uncached": uncached}
            print("APIs: " + ", ".join(f"{name} {server.url}" for name, server in servers.items()))
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
            async with httpx.AsyncClient(timeout=30, limits=limits) as http:
                await auth_cost(http, servers, args.requests, args.rounds)
                await refusal_cost(http, cached, viewer_key, args.refusals, args.rounds)
        # No drop at the end: the database is in memory and goes with SecantusDB.
    finally:
        await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run: fewer requests and calls")
    parser.add_argument("--requests", type=int, default=None, help="per variant and concurrency (500)")
    parser.add_argument("--refusals", type=int, default=None, help="per refusal row (300)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds per table (10)")
    parser.add_argument("--seconds", type=float, default=None, help="per in-process timing (0.3)")
    args = parser.parse_args()
    quick: dict[str, object] = {"requests": 80, "refusals": 40, "rounds": 2, "seconds": 0.05}
    full: dict[str, object] = {"requests": 500, "refusals": 300, "rounds": 10, "seconds": 0.3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)

    stack = Stack()
    try:
        mongo_url, redis_url = mongo_and_redis(stack, redis_db=14)
        env = {
            "CHRONOS_MONGO_URL": mongo_url,
            "CHRONOS_MONGO_DATABASE": DATABASE,
            "CHRONOS_REDIS_URL": redis_url,
            "CHRONOS_LOG_LEVEL": "WARNING",
        }
        with tempfile.TemporaryDirectory(prefix="chronos-bench-access-") as work:
            asyncio.run(run(env, Path(work), args))
        in_process(args.seconds)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
