"""Test helpers: real API server processes and a real GraphQL client."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from prometheus_client.parser import text_string_to_metric_families

from app.devstack import api_command, free_port, stop_process, wait_for_port, worker_command


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # The API key tests call with (an admin's), when the server checks keys.
    key: str | None = None

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key)

    @property
    def init_payload(self) -> dict[str, str]:
        """What a WebSocket client sends in connection_init."""
        return bearer(self.key)

    def log_records(self) -> list[dict[str, Any]]:
        """The server's JSON log lines so far."""
        records = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
        return records


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def create_key(
    env: Mapping[str, str], *, role: str, tenants: Sequence[str] = (), name: str = "tests", cwd: Path
) -> str:
    """A new API key, made the way operators make one: ``python -m app.cli keys create``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    command = [sys.executable, "-m", "app.cli", "keys", "create", "--name", name, "--role", role, "--json"]
    for tenant in tenants:
        command.append(f"--tenant={tenant}")
    done = subprocess.run(
        command, env={**inherited, **env}, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    key: str = json.loads(done.stdout)["key"]
    return key


@contextlib.contextmanager
def run_api(
    env: Mapping[str, str], log_dir: Path, *, key: str | None = None, port: int | None = None
) -> Iterator[ApiServer]:
    """A real uvicorn process serving the app with these ``CHRONOS_*`` variables and no others.

    It runs in ``log_dir``, away from any developer ``.env`` in the repository. ``key`` is the API
    key the returned server's helpers call with; ``port`` one to take again (a restarted API).
    """
    port = port or free_port()
    log_path = log_dir / f"api-{port}-{uuid.uuid4().hex[:6]}.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    with open(log_path, "wb") as output:
        process = subprocess.Popen(
            api_command("127.0.0.1", port),
            env={**inherited, "CHRONOS_LOG_FORMAT": "json", **env},
            cwd=log_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        if not wait_for_port("127.0.0.1", port, timeout=60, process=process):
            raise RuntimeError(f"API did not start:\n{log_path.read_text()}")
        yield ApiServer(f"http://127.0.0.1:{port}", process, log_path, key)
    finally:
        stop_process(process, timeout=10)


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """Pids of the prefork pool processes (the ones that run tasks)."""
        listed = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in listed.read_text().split()] if listed.exists() else []


@contextlib.contextmanager
def run_worker(
    env: Mapping[str, str], log_dir: Path, *, name: str, concurrency: int = 2, beat: bool = True
) -> Iterator[WorkerProcess]:
    """A real Celery worker process (prefork pool, optionally with beat) on every queue."""
    log_path = log_dir / f"worker-{name}.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    command = worker_command(
        concurrency=concurrency, name=name, beat_schedule=log_dir / f"beat-{name}" if beat else None
    )
    with open(log_path, "wb") as output:
        process = subprocess.Popen(
            command,
            env={**inherited, "CHRONOS_LOG_FORMAT": "json", **env},
            cwd=log_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(process, log_path)
    try:
        deadline = time.monotonic() + 60
        while "ready" not in worker.log_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{worker.log_text()}")
            time.sleep(0.1)
        yield worker
    finally:
        stop_process(process, timeout=20, tree=True)


@dataclass
class Result:
    data: dict[str, Any] | None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code", "") for e in self.errors]


@dataclass
class GraphQL:
    """A gql session that returns errors instead of raising them, so tests can look at them."""

    session: Any
    # The store the test helpers' models read (HistoryStore's GraphQL name); None: the server's.
    history_store: str | None = None

    async def run(self, query: str, variables: Mapping[str, Any] | None = None) -> Result:
        request = GraphQLRequest(query, variable_values=dict(variables or {}))
        try:
            data = await self.session.execute(request)
        except TransportQueryError as error:
            return Result(error.data, list(error.errors or []))
        return Result(data)

    async def ok(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        result = await self.run(query, variables)
        assert not result.errors, result.errors
        assert result.data is not None
        return result.data


@contextlib.asynccontextmanager
async def graphql_client(server: ApiServer, *, key: str | None = None) -> AsyncIterator[GraphQL]:
    """A client calling with ``key``, or with the server's own key when none is given."""
    transport = HTTPXAsyncTransport(url=server.graphql_url, timeout=30, headers=bearer(key or server.key))
    # gql's own deadline (10 s by default) runs on the test process's clock: when that process
    # stalls (seen once for 17 s late in a full run, with the API log showing every request it got
    # answered in milliseconds), requests still queued in the client expire before they are sent.
    # The transport's 30 s is the bound that matters.
    client = Client(transport=transport, fetch_schema_from_transport=False, execute_timeout=60)
    async with client as session:
        yield GraphQL(session)


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def get(server: ApiServer, path: str, **kwargs: Any) -> httpx.Response:
    headers = {**server.headers, **kwargs.pop("headers", {})}
    return httpx.get(f"{server.url}{path}", timeout=10, headers=headers, **kwargs)


def scrape(server: ApiServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics, parsed: (sample name, labels) -> value."""
    response = httpx.get(f"{server.url}/metrics", timeout=10, headers=server.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(
    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """One sample's value, 0 when it is absent."""
    return samples.get((name, frozenset(labels.items())), 0.0)
