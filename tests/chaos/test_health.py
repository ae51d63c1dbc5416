"""Readiness and health under faults: what a load balancer and an operator see while a part is down.

The standard: ``/readyz`` answers 503 only when this process cannot serve (MongoDB or the task
broker is unreachable); Orion, STH-Comet, Redis and the workers being down make ``health``
DEGRADED with the detail, and ``/readyz`` stays 200. ``/healthz`` touches nothing and answers fast
throughout. Each scenario runs an API process of its own against the part it breaks, records with
the ``chaos`` fixture what held and what was lost, and then asserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.devstack import Stack, free_port, start_redis, start_secantus
from tests.app.system.silent import silent_port
from tests.chaos.conftest import ChaosReport
from tests.support import ApiServer, GraphQL, create_key, get, graphql_client, run_api, run_worker

HEALTH = "{ health { status dependencies { name status message instances } } }"
# The same without the live-worker count, for an API that does not have it.
HEALTH_BEFORE_WORKERS = "{ health { status dependencies { name status message } } }"
MONGO_ONLY = "{ models(first: 1) { totalCount } modelTypes { value } }"
# The probe timeout plus the request's own round trip on a busy 2-core machine.
ANSWER_WITHIN = 2.5
# Longer than the progress hub's first reconnect attempts, so a freeze while it retries would show.
OUTAGE_SECONDS = 6.0
# And watched a while once it is back, while the hub subscribes again.
BACK_SECONDS = 3.0


def record(chaos: ChaosReport, scenario: str, checks: dict[str, bool]) -> None:
    chaos.record(
        scenario,
        held=[what for what, ok in checks.items() if ok],
        lost=[what for what, ok in checks.items() if not ok],
    )


@dataclass
class Health:
    status: str
    entries: dict[str, dict[str, Any]]

    def status_of(self, name: str) -> str | None:
        return self.entries.get(name, {}).get("status")

    def message_of(self, name: str) -> str:
        return str(self.entries.get(name, {}).get("message") or "")


async def health(gql: GraphQL) -> Health:
    answer = await gql.run(HEALTH)
    found = answer.data if not answer.errors and answer.data else await gql.ok(HEALTH_BEFORE_WORKERS)
    return Health(found["health"]["status"], {d["name"]: d for d in found["health"]["dependencies"]})


def took(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f} s"


def timed_get(server: ApiServer, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = get(server, path)
    return response, time.perf_counter() - started


async def poll(check: Callable[[], Awaitable[bool]], *, within: float) -> float | None:
    """Seconds until ``check`` holds, or None if it did not within ``within`` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def slowest(self) -> float:
        return max(self.seconds, default=float("inf"))

    def summary(self) -> str:
        ordered = sorted(self.seconds)
        p50 = ordered[len(ordered) // 2] * 1000 if ordered else float("nan")
        return f"{len(ordered)} answers, p50 {p50:.1f} ms, slowest {self.slowest * 1000:.1f} ms"


@contextlib.contextmanager
def watching_healthz(server: ApiServer) -> Iterator[Latencies]:
    """GET /healthz back to back in a thread for as long as the block runs."""
    found = Latencies()
    done = threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=10) as client:
            while not done.is_set():
                started = time.perf_counter()
                try:
                    if client.get(f"{server.url}/healthz").text != "ok":
                        found.failures.append("not ok")
                    found.seconds.append(time.perf_counter() - started)
                except httpx.HTTPError as error:
                    found.failures.append(type(error).__name__)
                done.wait(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        done.set()
        thread.join(timeout=15)


async def test_orion_refusing_and_sth_comet_hanging_leave_the_api_ready(
    service_env: dict[str, str], log_dir: Path, admin_key: str, chaos: ChaosReport
) -> None:
    with silent_port() as hanging:
        env = {
            **service_env,
            "CHRONOS_ORION_URL": f"http://127.0.0.1:{free_port()}",
            "CHRONOS_STH_COMET_URL": f"http://127.0.0.1:{hanging}",
        }
        with run_api(env, log_dir, key=admin_key) as server:
            ready, ready_took = timed_get(server, "/readyz")
            async with graphql_client(server) as gql:
                found = await health(gql)
                mongo_only = await gql.run(MONGO_ONLY)
    checks = {
        f"/readyz 200 (answered {ready.status_code} in {ready_took:.2f} s)": ready.status_code == 200,
        f"/readyz within {ANSWER_WITHIN} s although STH-Comet hangs": ready_took < ANSWER_WITHIN,
        "/readyz names orion DOWN": ready.json().get("dependencies", {}).get("orion") == "DOWN",
        f"health DEGRADED (was {found.status})": found.status == "DEGRADED",
        "health: orion DOWN, with why": found.status_of("orion") == "DOWN"
        and bool(found.message_of("orion")),
        "health: sthComet DOWN after the probe timeout": "no answer within" in found.message_of("sthComet"),
        "a MongoDB-only query answers": not mongo_only.errors,
    }
    record(chaos, "Orion refusing connections, STH-Comet hanging", checks)
    assert all(checks.values()), checks


async def test_dead_mongo_makes_the_api_unready_and_queries_unavailable(
    service_env: dict[str, str], log_dir: Path, chaos: ChaosReport
) -> None:
    stack = Stack()
    try:
        mongo_url = start_secantus(stack, port=free_port(), storage=":memory:")
        # A key remembered for the whole test: keys are checked against MongoDB, which goes away.
        env = {
            **service_env,
            "CHRONOS_MONGO_URL": mongo_url,
            "CHRONOS_MONGO_TIMEOUT_SECONDS": "1",
            "CHRONOS_AUTH_CACHE_SECONDS": "300",
        }
        key = create_key(env, role="admin", cwd=log_dir)
        with run_api(env, log_dir, key=key) as server:
            assert get(server, "/graphql", params={"query": "{ modelTypes { value } }"}).status_code == 200
            stack.stop()
            ready, ready_took = timed_get(server, "/readyz")
            alive = get(server, "/healthz").status_code
            async with graphql_client(server) as gql:
                found = await health(gql)
                stored = await gql.run("{ models { totalCount } }")
            static = httpx.post(
                server.graphql_url,
                json={"query": "{ modelTypes { value } }"},
                headers=server.headers,
                timeout=10,
            )
            # A key it has not seen cannot be checked now: unavailable, not refused.
            unknown = httpx.post(
                server.graphql_url,
                json={"query": "{ modelTypes { value } }"},
                headers={"Authorization": "Bearer chr_unknown"},
                timeout=10,
            )
    finally:
        stack.stop()
    checks = {
        f"/readyz 503 (answered {ready.status_code})": ready.status_code == 503,
        f"/readyz within {ANSWER_WITHIN} s": ready_took < ANSWER_WITHIN,
        "/readyz names mongo DOWN": ready.json()["dependencies"].get("mongo") == "DOWN",
        "/healthz 200": alive == 200,
        f"health DOWN (was {found.status})": found.status == "DOWN",
        "a query of stored data answers UNAVAILABLE": stored.codes == ["UNAVAILABLE"],
        "UNAVAILABLE names no host": "127.0.0.1" not in str(stored.errors),
        "a query that needs no MongoDB answers": static.status_code == 200 and bool(static.json()["data"]),
        "an unknown key is UNAVAILABLE (503), not refused": unknown.status_code == 503
        and unknown.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE",
    }
    record(chaos, "MongoDB down", checks)
    assert all(checks.values()), checks


async def test_unreachable_rabbitmq_makes_the_api_unready(
    service_env: dict[str, str], log_dir: Path, admin_key: str, chaos: ChaosReport
) -> None:
    env = {**service_env, "CHRONOS_CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"}
    with run_api(env, log_dir, key=admin_key) as server:
        ready, ready_took = timed_get(server, "/readyz")
        async with graphql_client(server) as gql:
            found = await health(gql)
            mongo_only = await gql.run(MONGO_ONLY)
    checks = {
        f"/readyz 503 (answered {ready.status_code})": ready.status_code == 503,
        f"/readyz within {ANSWER_WITHIN} s": ready_took < ANSWER_WITHIN,
        "/readyz names rabbitmq DOWN": ready.json()["dependencies"].get("rabbitmq") == "DOWN",
        f"health DOWN (was {found.status})": found.status == "DOWN",
        "health: workers DOWN, saying the broker cannot be heard": found.status_of("workers") == "DOWN"
        and "cannot hear" in found.message_of("workers"),
        "a MongoDB-only query answers": not mongo_only.errors,
    }
    record(chaos, "RabbitMQ unreachable", checks)
    assert all(checks.values()), checks


async def test_every_worker_down_is_degraded_and_a_new_worker_is_counted(
    service_env: dict[str, str], worker_env: dict[str, str], log_dir: Path, admin_key: str, chaos: ChaosReport
) -> None:
    stack = Stack()
    try:
        # A broker of this test's own: no other worker of the session listens there.
        broker = start_redis(stack, port=free_port())
        assert broker is not None
        env = {**service_env, "CHRONOS_CELERY_BROKER_URL": broker}
        with run_api(env, log_dir, key=admin_key) as server:
            async with graphql_client(server) as gql:
                idle = await health(gql)
                ready = get(server, "/readyz")
                counted: float | None = None
                gone: float | None = None

                async def one_worker() -> bool:
                    now = await health(gql)
                    return now.status_of("workers") == "UP" and now.entries["workers"].get("instances") == 1

                async def no_worker() -> bool:
                    return (await health(gql)).entries.get("workers", {}).get("instances") == 0

                worker_broker = {**worker_env, "CHRONOS_CELERY_BROKER_URL": broker}
                with run_worker(worker_broker, log_dir, name="heartbeats", concurrency=1, beat=False):
                    counted = await poll(one_worker, within=10)
                    working = await health(gql)
                gone = await poll(no_worker, within=10)
    finally:
        stack.stop()
    idle_workers = idle.entries.get("workers", {})
    checks = {
        f"workers DEGRADED with none (was {idle_workers.get('status')})": idle_workers.get("status")
        == "DEGRADED"
        and idle_workers.get("instances") == 0,
        f"workers says why it matters ({idle.message_of('workers')!r})": idle.message_of(
            "workers"
        ).startswith("no live worker")
        and "wait" in idle.message_of("workers"),
        f"health DEGRADED (was {idle.status})": idle.status == "DEGRADED",
        f"/readyz 200 without workers (answered {ready.status_code})": ready.status_code == 200,
        f"a started worker counted within 10 s (took {took(counted)})": counted is not None,
        "the counted worker is named, for admins": "heartbeats@" in working.message_of("workers"),
        f"a stopped worker uncounted within 10 s (took {took(gone)})": gone is not None,
    }
    record(chaos, "every worker down, then one started and stopped", checks)
    assert all(checks.values()), checks


@pytest.mark.parametrize("fault", ["killed", "hanging"])
async def test_redis_down_leaves_healthz_fast_and_mongo_queries_working(
    fault: str, service_env: dict[str, str], log_dir: Path, admin_key: str, chaos: ChaosReport
) -> None:
    stack = Stack()
    port = free_port()
    try:
        redis_url = start_redis(stack, port=port)
        assert redis_url is not None
        ((_, redis_process),) = stack.children
        with run_api({**service_env, "CHRONOS_REDIS_URL": redis_url}, log_dir, key=admin_key) as server:
            async with graphql_client(server) as gql:
                assert (await health(gql)).status_of("redis") == "UP"
                with watching_healthz(server) as down:
                    if fault == "killed":
                        stack.stop()
                    else:
                        # Stopped, not dead: the kernel still accepts connections and nobody answers.
                        redis_process.send_signal(signal.SIGSTOP)
                    started = time.perf_counter()
                    sick = await health(gql)
                    sick_took = time.perf_counter() - started
                    ready = get(server, "/readyz")
                    queries = await hold(gql, seconds=OUTAGE_SECONDS)
                with watching_healthz(server) as back:
                    if fault == "killed":
                        assert start_redis(stack, port=port) == redis_url
                    else:
                        redis_process.send_signal(signal.SIGCONT)
                    revived = await poll(lambda: redis_up(gql), within=20)
                    await hold(gql, seconds=BACK_SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            redis_process.send_signal(signal.SIGCONT)
        stack.stop()
    checks = {
        f"health: redis DOWN within {ANSWER_WITHIN} s (took {sick_took:.2f} s)": sick.status_of("redis")
        == "DOWN"
        and sick_took < ANSWER_WITHIN,
        f"health DEGRADED (was {sick.status})": sick.status == "DEGRADED",
        f"MongoDB-only queries for {OUTAGE_SECONDS:g} s: {queries.summary()}": not queries.failures
        and queries.slowest < 2.0,
        f"/readyz 200 (answered {ready.status_code})": ready.status_code == 200,
        f"/healthz while Redis is down: {down.summary()}": down.slowest < 2.0 and not down.failures,
        f"/healthz while Redis comes back: {back.summary()}": back.slowest < 2.0 and not back.failures,
        f"redis and the progress hub back within 20 s (took {took(revived)})": revived is not None,
    }
    record(chaos, f"Redis {fault}, then back", checks)
    assert all(checks.values()), checks


async def hold(gql: GraphQL, *, seconds: float) -> Latencies:
    """MongoDB-only queries back to back for ``seconds``: the outage lasts, the API keeps serving."""
    found = Latencies()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        answer = await gql.run(MONGO_ONLY)
        found.seconds.append(time.perf_counter() - started)
        found.failures.extend(answer.codes)
        await asyncio.sleep(0.1)
    return found


async def redis_up(gql: GraphQL) -> bool:
    found = await gql.ok("{ health { dependencies { name status } } info { progressHub { connected } } }")
    statuses = {d["name"]: d["status"] for d in found["health"]["dependencies"]}
    return statuses["redis"] == "UP" and bool(found["info"]["progressHub"]["connected"])
