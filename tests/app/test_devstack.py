from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from app.devstack import (
    ROOT,
    Stack,
    alive,
    banner,
    descendants,
    ensure_services,
    free_port,
    host_port,
    hosts,
    mongo_reachable,
    port_open,
    start_rabbitmq,
    with_db,
    with_port,
)
from app.settings import Settings
from app.system.amqp_probe import probe_amqp
from fiware.sandbox.demo import SENSORS
from tests.support import wait_until

# Starts and kills real servers (RabbitMQ, Redis, SecantusDB, the whole stack of `make run`).
pytestmark = pytest.mark.services

DEMO = SENSORS[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mongodb://127.0.0.1:27017/?directConnection=true", ("127.0.0.1", 27017)),
        ("mongodb://u:p@h1:1,h2:2/db", ("h1", 1)),
        ("redis://redis/0", ("redis", 6379)),
        ("amqp://guest:guest@[::1]:5673//", ("::1", 5673)),
    ],
)
def test_host_port(url: str, expected: tuple[str, int]) -> None:
    assert host_port(url, 6379 if url.startswith("redis") else 27017) == expected


def test_every_mongo_host_counts_and_srv_urls_are_never_replaced(test_settings: Settings) -> None:
    live_host, live_port = host_port(test_settings.mongo_url, 27017)
    dead = free_port()
    assert hosts("mongodb://a:1,[::1]:2,b/x", 27017) == [("a", 1), ("::1", 2), ("b", 27017)]
    assert mongo_reachable(f"mongodb://127.0.0.1:{dead},{live_host}:{live_port}/?replicaSet=rs0")
    assert not mongo_reachable(f"mongodb://127.0.0.1:{dead}/")
    assert mongo_reachable("mongodb+srv://user:pw@cluster0.example.net/chronos")


def test_url_rewrites_keep_credentials_and_paths() -> None:
    assert with_port("redis://:pw@127.0.0.1:6379/1", 7000) == "redis://:pw@127.0.0.1:7000/1"
    assert with_db("redis://127.0.0.1:7000/0", 2) == "redis://127.0.0.1:7000/2"
    assert with_db("redis://127.0.0.1:7000", 2) == "redis://127.0.0.1:7000/2"
    assert with_port("redis://[::1]:6379/0", 7001) == "redis://[::1]:7001/0"


def test_unreachable_rabbitmq_falls_back_to_redis_broker(tmp_path: Path) -> None:
    dead = free_port()
    settings = Settings(
        _env_file=None, data_dir=tmp_path, celery_broker_url=f"amqp://guest:guest@127.0.0.1:{dead}//"
    )
    stack = Stack()
    try:
        overrides = ensure_services(
            settings, stack=stack, memory_mongo=True, rabbitmq_allowed=False, sandbox=False
        )
        mongo_host, mongo_port = host_port(overrides["CHRONOS_MONGO_URL"], 27017)
        assert port_open(mongo_host, mongo_port)
    finally:
        stack.stop()
    broker = overrides["CHRONOS_CELERY_BROKER_URL"]
    assert broker.startswith("redis://") and broker.endswith("/2")
    assert not port_open(mongo_host, mongo_port), "stopping the stack stops what it started"


def test_reachable_services_are_used_as_they_are(tmp_path: Path, test_settings: Settings) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        mongo_url=test_settings.mongo_url,
        redis_url=test_settings.redis_url,
        celery_broker_url=test_settings.celery_broker_url,
    )
    stack = Stack()
    try:
        assert ensure_services(settings, stack=stack, memory_mongo=False, sandbox=False) == {}
        assert stack.children == []
    finally:
        stack.stop()


def read_banner(stdout: IO[str]) -> list[str]:
    """``make run``'s banner, up to its last line (or to the end of output if that never comes)."""
    banner = []
    for line in stdout:
        banner.append(line)
        if line.startswith("  Allowed now:"):
            break
    return banner


def paste(command: str, *, env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(shlex.split(command), env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=150, check=False)  # fmt: skip
    except subprocess.TimeoutExpired as slow:
        worker = (data_dir / "worker.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"{command} ran 150 s: {slow.stdout!r}\nworker log:\n{worker}") from None


@pytest.mark.parametrize("store", ["sth-comet", "quantumleap"])
def test_run_starts_the_stack_and_interrupt_stops_only_its_children(
    tmp_path: Path, test_settings: Settings, store: str
) -> None:
    api_port, mongo_port = free_port(), free_port()
    env = {
        **os.environ,
        "CHRONOS_PORT": str(api_port),
        "CHRONOS_MONGO_URL": f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
        "CHRONOS_REDIS_URL": test_settings.redis_url,
        # A RabbitMQ node of its own: on the session's, the session's worker would take this stack's
        # training tasks (same queue names) and look for their jobs in another database.
        "CHRONOS_CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//",
        "CHRONOS_DATA_DIR": str(tmp_path),
        "CHRONOS_LOG_FORMAT": "json",
        # Nothing answers here: make run starts the FIWARE sandbox with its demo sensors.
        "CHRONOS_ORION_URL": f"http://127.0.0.1:{free_port()}",
        "CHRONOS_STH_COMET_URL": f"http://127.0.0.1:{free_port()}",
        "CHRONOS_IOT_AGENT_URL": f"http://127.0.0.1:{free_port()}",
        "CHRONOS_ALLOWED_ORIGINS": "http://localhost:5173",
        # Either mode trains and forecasts the demo: QuantumLeap's with an Orion 4 notifying it.
        "CHRONOS_HISTORY_STORE": store,
        "CHRONOS_QUANTUMLEAP_URL": f"http://127.0.0.1:{free_port()}",
    }
    with open(tmp_path / "devstack.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.devstack"], env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        assert process.stdout is not None
        # Logs go to stderr; stdout carries only the banner, printed once the API answers.
        banner = read_banner(process.stdout)
        assert banner[-1] == "  Allowed now: http://localhost:5173\n", banner
        assert f"  Chronos GraphiQL: http://127.0.0.1:{api_port}/graphql  (Ctrl-C stops)\n" in banner
        root = f"http://127.0.0.1:{api_port}/"
        assert f"  Chronos console: {root}  (models, training jobs live, forecasts)\n" in banner, banner
        assert any(line.split()[:1] == [DEMO.entity_id] for line in banner), banner
        query = "{ health { status } devices { entityType entities { entityId attributes } } }"

        def answer() -> Any:
            return httpx.post(
                f"http://127.0.0.1:{api_port}/graphql", json={"query": query}, timeout=30
            ).json()

        # The worker starts beside the API: health is UP once its first heartbeat is heard.
        assert wait_until(lambda: answer()["data"]["health"]["status"] == "UP", timeout=30), answer()
        devices = answer()["data"]["devices"]
        entities = {e["entityId"]: e["attributes"] for g in devices for e in g["entities"]}
        assert entities[DEMO.entity_id] == [DEMO.attribute]
        assert (tmp_path / "mongo").is_dir(), "SecantusDB keeps its data in the data folder"
        # The command the banner offers, pasted as it is: it trains and forecasts a demo sensor.
        command = banner[banner.index("  Train and forecast the first one, from another terminal:\n") + 1]
        pasted = paste(command, env=env, data_dir=tmp_path)
        assert pasted.returncode == 0 and "COMPLETED" in pasted.stdout, pasted.stdout + pasted.stderr
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            # Ctrl-C first, even on failure: a bare SIGKILL would leave the stack's children running.
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    assert process.returncode == 0
    assert not port_open("127.0.0.1", api_port) and not port_open("127.0.0.1", mongo_port)
    redis_host, redis_port = host_port(test_settings.redis_url, 6379)
    assert port_open(redis_host, redis_port), "services it did not start keep running"


def test_the_banner_adapts_to_keys_graphiql_and_the_sandbox() -> None:
    keys = banner(
        Settings(_env_file=None, auth_enabled=True, allowed_origins="http://a.test,http://b.test"), demo=True
    )
    assert "It opens on a walkthrough" in keys and ".venv/bin/python -m app.cli demo\n" in keys
    assert "keys create --name demo --role editor --tenant smart:/)" in keys
    assert keys.endswith("  Allowed now: http://a.test, http://b.test\n")
    # FIWARE that is someone else's has no demo sensors; GraphiQL off has no page to open.
    plain = banner(
        Settings(_env_file=None, graphiql=False, auth_enabled=False, console_dir=Path("/nowhere")), demo=False
    )
    assert "  Chronos console: http://127.0.0.1:8000/  (not built: run `npm ci" in plain
    assert "GraphiQL is off" in plain and "app.cli demo" not in plain and DEMO.entity_id not in plain
    assert plain.endswith("  Allowed now: none\n")


def test_rabbitmq_of_our_own_starts_answers_and_stops_entirely(tmp_path: Path) -> None:
    if shutil.which("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed here")
    port = free_port()
    stack = Stack()
    try:
        assert start_rabbitmq(stack, port=port, data_dir=tmp_path)
        assert "RabbitMQ" in asyncio.run(probe_amqp(f"amqp://guest:guest@127.0.0.1:{port}//"))
        tree = [pid for _, process in stack.children for pid in (process.pid, *descendants(process.pid))]
    finally:
        stack.stop()
    assert not port_open("127.0.0.1", port)
    assert wait_until(lambda: not any(map(alive, tree)), timeout=5), "no process of the node survives"
