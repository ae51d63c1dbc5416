"""Benchmark: a fleet of N models forecasting on one worker, today's per-job path against the batched
one, in one run.

Training is not what it measures: one small network (LSTM-16, lookback 24, horizon 12, delta targets,
2 epochs) is trained once in this process on a 1-minute series, its ``model.onnx`` and
``scaler.json`` stored once in GridFS, and every job of the fleet is a COMPLETED job document pointing
at those same files, with a source series of its own (the same readings under N entity ids, 60
points each, seeded into the sandbox's STH-Comet) and a forecast entity of its own in Orion.

Started here, as the other benches do: SecantusDB in memory, a RabbitMQ node of this run's own, the
machine's Redis (or one of ours), the FIWARE sandbox (Orion and STH-Comet) in a process of its own so
that its CPU is measured apart, then per path ``--workers`` Celery workers (default 1; prefork,
concurrency 2, no beat; on this one machine a second worker stands for a second worker host, sharing
its cores) and beat as its own process, both with ``CHRONOS_FORECAST_SCHEDULER_INTERVAL_SECONDS=--tick`` and
``CHRONOS_FORECAST_BATCH_SIZE`` large enough to claim every due slot of a tick.

For each path (``--path both``: per-job, then batched, each with N jobs of its own; the other
path's jobs stay in the collection, switched off): the N schedules are switched on every
``--interval`` seconds, their first slots spread evenly over one interval (as a fleet enabled over
time would be), and run for one interval of warm-up plus ``--minutes``. Over those ``--minutes``:

* forecasts per second: first forecasts of a slot that Orion took within the window;
* for the slots whose next slot came due within the window (each must by then be published or
  missed): p50/p99 **lateness**, the time Orion answered the update that carried the slot's forecast
  (recorded in the sandbox's Orion, before its notification to STH-Comet) minus the slot's
  scheduled time; **missed** slots, on the grid but never reaching Orion (the ledger's own count is
  printed beside); **duplicated** slots, two different forecasts (``generatedAt``) of one slot
  reaching Orion;
* the worker's CPU seconds (parent and pool children, live and reaped, from ``/proc``), per forecast
  taken, its peak RSS (parent and children summed, sampled every 0.5 s) and how many pool processes
  started (Celery replaces one after 20 tasks); CPU seconds of SecantusDB, the sandbox, RabbitMQ and
  beat over the same window.

Orion's subscription: one for every forecast entity (``idPattern``), where ``togglePrediction``
creates one per job; the sandbox's Orion matches each update against every subscription of the
tenant. Its entity lookup by id scans every entity of the tenant (27 ms per update at 10,000
entities, measured): this bench indexes those lookups in its sandbox process (``--plain-sandbox``
keeps the scan).

    .venv/bin/python bench/fleet.py --models 1000 --minutes 3 [--interval 60] [--path both]

The last line is machine-readable, for the batched path (or the one path run):
``fleet models=N forecasts_per_s=… p50_lateness_s=… p99_lateness_s=… missed=… duplicated=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import connect_mongo, init_documents  # noqa: E402
from app.devstack import Stack, beat_command, descendants, ensure_services, free_port, stop_process  # noqa: E402
from app.models.documents import ModelDocument  # noqa: E402
from app.models.enums import ModelType, TargetMode  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.training import storage  # noqa: E402
from app.training.config import snapshot  # noqa: E402
from app.training.documents import (  # noqa: E402
    Artifact,
    DataSummary,
    PredictionConfig,
    TrainingJobDocument,
    TrainingRequest,
    TrainingStatus,
)
from fiware.http import Tenant, make_http_client  # noqa: E402
from fiware.orion import OrionClient, forecast_entity  # noqa: E402
from tasks.app import create_celery  # noqa: E402
from tests.support import WorkerProcess, run_worker  # noqa: E402

SERVICE, FEATURE, ENTITY_TYPE = "smart", "temperature", "Prediction"
LOOKBACK, HORIZON, UNITS, SAMPLING = 24, 12, 16, 60.0
SOURCE_POINTS = 60
PATHS = ("per-job", "batched")
RSS_EVERY_SECONDS = 0.5


# -- the sandbox, in a process of its own ---------------------------------------------------------


class Recorder:
    """ASGI middleware in front of the sandbox's Orion: when and what each forecast update Orion
    took (a 2xx answer to a PATCH of an entity's attributes or to ``POST /v2/op/update``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.taken: list[tuple[float, str, str, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        method = str(scope.get("method", ""))
        if scope["type"] != "http" or not (path == "/v2/op/update" or path.endswith("/attrs")):
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def receiving() -> Any:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] < 300:
                self.taken.append((time.time(), method, path, bytes(body)))
            await send(message)

        await self.app(scope, receiving, sending)

    def publications(self) -> list[tuple[float, str, str]]:
        """(time Orion answered, entity id, the forecast's ``generatedAt``) of every update taken."""
        found = []
        for moment, method, path, body in self.taken:
            payload = json.loads(body)
            if method == "POST":
                entities = payload.get("entities", [])
            else:  # /v2/entities/<id>/attrs
                entities = [{"id": path.split("/")[3], **payload}]
            for entity in entities:
                series = entity.get("forecastSeries")
                if isinstance(series, dict):
                    found.append((moment, str(entity["id"]), str(series["value"]["generatedAt"])))
        return found


def _index_lookups() -> None:
    """Look entities up by (id, type, service path), the store's own key, when a query names exactly
    one of each (every update Chronos sends does): the same answer as the scan, in constant time."""
    from fiware.sandbox.fake_orion import store

    scan = store.OrionStore.query

    def query(self: Any, service: str, paths: Any, **given: Any) -> list[Any]:
        ids, types = given.get("ids"), given.get("types")
        others = {key: value for key, value in given.items() if key not in {"ids", "types"}}
        plain = len(paths) == 1 and "#" not in paths[0] and not any(others.values())
        if plain and ids is not None and types is not None and len(ids) == 1 and len(types) == 1:
            with self.lock:
                found = self.tenant(service).entities.get((ids[0], types[0], paths[0]))
            return [] if found is None else [found]
        return scan(self, service, paths, **given)

    store.OrionStore.query = query  # type: ignore[method-assign]


def serve_sandbox(
    conn: Connection, sources: list[str], points: list[tuple[float, float]], indexed: bool
) -> None:
    """The sandbox process: STH-Comet seeded with every source series, Orion behind a Recorder."""
    from fiware.sandbox import fake_orion, fake_sth
    from fiware.sandbox.config import SandboxConfig
    from fiware.sandbox.server import start_in_thread, stop

    if indexed:
        _index_lookups()
    config = SandboxConfig()
    sth_store = fake_sth.SthStore()
    readings = [(datetime.fromtimestamp(moment, UTC), value) for moment, value in points]
    for source in sources:
        sth_store.add_points(
            service=SERVICE, service_path="/", entity_type="Sensor", entity_id=source, attr_name=FEATURE,
            attr_type="Number", points=readings,
        )  # fmt: skip
    recorder = Recorder(fake_orion.create_app(config, fake_orion.OrionStore()))
    running = [start_in_thread(recorder), start_in_thread(fake_sth.create_app(config, sth_store))]
    conn.send((running[0].url, running[1].url, os.getpid()))
    while (command := conn.recv()) != "stop":
        if command == "log":
            conn.send(recorder.publications())
    for app in running:
        stop(app)


@dataclass
class SandboxProcess:
    orion_url: str
    sth_url: str
    pid: int
    conn: Connection
    process: Any

    def publications(self) -> list[tuple[float, str, str]]:
        self.conn.send("log")
        found: list[tuple[float, str, str]] = self.conn.recv()
        return found

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.process.join(timeout=15)


def start_sandbox(sources: list[str], points: list[tuple[float, float]], indexed: bool) -> SandboxProcess:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_sandbox, args=(theirs, sources, points, indexed), daemon=True)
    process.start()
    orion_url, sth_url, pid = ours.recv()
    return SandboxProcess(orion_url, sth_url, pid, ours, process)


# -- what a process costs -------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds of ``pid`` and every descendant, live ones and those already reaped."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = _stat(pid)
        total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    for child in descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = _stat(child)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssPeak:
    """Peak summed RSS of process trees, sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak_kib = pids, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            total = sum(rss_kib(pid) + sum(rss_kib(child) for child in descendants(pid)) for pid in self.pids)
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(RSS_EVERY_SECONDS)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the network and the fleet --------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    onnx: bytes
    scaler: dict[str, object]
    channels: tuple[str, ...]
    points: list[tuple[float, float]]
    """The newest readings of the training series: every source series of the fleet."""


def train() -> Network:
    from ml.network import NetworkSpec, RecurrentLayer
    from ml.pipeline import TrainingConfig, train_regular
    from ml.series import regularize
    from ml.training import FitSettings

    rng = np.random.default_rng(11)
    points = 3_000
    minutes = np.arange(points, dtype=np.float64)
    values = 15 + 4 * np.sin(2 * np.pi * minutes / 1440) + np.cumsum(rng.normal(0, 0.02, points))
    timestamps = (datetime.now(UTC) - timedelta(minutes=points)).timestamp() + SAMPLING * minutes
    config = TrainingConfig(
        network=NetworkSpec("LSTM", lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(UNITS),)),
        fit=FitSettings(epochs=2, patience=0),
    )
    outcome = train_regular(regularize(timestamps, values), config)
    assert outcome.onnx is not None
    now = time.time()
    newest = [
        (now - SAMPLING * (SOURCE_POINTS - k), float(values[-SOURCE_POINTS + k]))
        for k in range(SOURCE_POINTS)
    ]
    return Network(outcome.onnx, outcome.scaler.to_json(), tuple(outcome.channels), newest)


def source_of(index: int) -> str:
    return f"urn:ngsi-ld:Sensor:fleet-{index:05d}"


@dataclass
class Fleet:
    """One path's jobs: ids, forecast entities, and where each one's slot grid starts."""

    path: str
    model_id: UUID
    jobs: list[UUID]
    entities: dict[str, int] = field(default_factory=dict)
    """Forecast entity id -> job index."""
    anchors_ms: list[int] = field(default_factory=list)


async def store_network(settings: Settings, network: Network) -> list[Artifact]:
    client = connect_mongo(settings.mongo_url, timeout_seconds=10)
    await init_documents(client, settings.mongo_database)
    owner = uuid4()
    files = [
        await storage.store_artifact(
            job_id=owner,
            model_id=owner,
            run="bench",
            name=name,
            data=data,
            content_type="application/octet-stream",
        )
        for name, data in (("model.onnx", network.onnx), ("scaler.json", json.dumps(network.scaler).encode()))
    ]
    await client.close()
    return files


def template(path: str) -> ModelDocument:
    return ModelDocument(
        name=f"fleet-{path}", model_type=ModelType.LSTM, rnn_layers=[{"units": UNITS}], dense_layers=[],
        lookback_window=LOOKBACK, forecast_horizon=HORIZON, target_mode=TargetMode.DELTA, batch_size=64,
        epochs=2, learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15, entity_type="Sensor",
        entity_id=source_of(0), feature=FEATURE, fiware_service=SERVICE, fiware_service_path="/",
    )  # fmt: skip


async def create_fleet(
    settings: Settings, path: str, size: int, files: list[Artifact], network: Network
) -> Fleet:
    """``size`` COMPLETED jobs of one model, every one a copy pointing at the same files, switched off."""
    client = connect_mongo(settings.mongo_url, timeout_seconds=10)
    await init_documents(client, settings.mongo_database)
    model = template(path)
    await model.insert()
    now = datetime.now(UTC)
    fleet = Fleet(path, model.id, [])
    base = snapshot(model)
    documents = []
    for index in range(size):
        job = TrainingJobDocument(
            model_id=model.id, status=TrainingStatus.COMPLETED, request=TrainingRequest(last_n=3000),
            config=base.model_copy(update={"entity_id": source_of(index)}), request_fingerprint="bench",
            artifacts=files, input_channels=list(network.channels),
            summary=DataSummary(
                raw_points=3000, dropped_non_finite=0, merged_duplicates=0, slots=3000, filled=0, gaps=0,
                missing=0, sampling_interval_seconds=SAMPLING, series_start=now, series_end=now,
            ),
        )  # fmt: skip
        entity_id = f"urn:ngsi-ld:Chronos:Prediction:{job.id.hex}"
        job.prediction_config = PredictionConfig(entity_id=entity_id, entity_type=ENTITY_TYPE)
        fleet.jobs.append(job.id)
        fleet.entities[entity_id] = index
        documents.append(job)
    for start in range(0, size, 500):
        await TrainingJobDocument.insert_many(documents[start : start + 500])
    await client.close()
    return fleet


async def provision_orion(orion_url: str, fleets: list[Fleet], sth_url: str) -> None:
    """Every forecast entity, and one subscription taking their forecasts to STH-Comet."""
    tenant = Tenant(SERVICE, "/")
    now = datetime.now(UTC)
    async with make_http_client(orion_url, timeout=60) as http:
        orion = OrionClient(http)
        bodies = [
            forecast_entity(
                entity_id=entity_id,
                entity_type=ENTITY_TYPE,
                source_entity=source_of(index),
                feature=FEATURE,
                horizon=HORIZON,
                generated_at=now,
                attributes={},
            )
            for fleet in fleets
            for entity_id, index in fleet.entities.items()
        ]
        for start in range(0, len(bodies), 200):
            await orion.update_entities(bodies[start : start + 200], tenant, action="append")
        subscription = {
            "description": "fleet bench: every forecast to STH-Comet",
            "subject": {
                "entities": [{"idPattern": ".*", "type": ENTITY_TYPE}],
                "condition": {"attrs": ["forecastSeries"]},
            },
            "notification": {
                "http": {"url": f"{sth_url}/notify"},
                "attrs": ["forecastSeries"],
                "attrsFormat": "legacy",
            },
        }
        await orion.create_subscription(subscription, tenant)


async def switch(settings: Settings, fleet: Fleet, *, interval: float, on: bool, lead: float) -> None:
    """On: every job's schedule from a first slot spread over one interval starting ``lead`` s from
    now (what enabling writes, as one bulk write); off: every one stopped."""
    from pymongo import UpdateOne

    client = connect_mongo(settings.mongo_url, timeout_seconds=30)
    jobs = client[settings.mongo_database][TrainingJobDocument.Settings.name]
    if not on:
        await jobs.update_many({"model_id": fleet.model_id}, {"$set": {"prediction_config.enabled": False}})
        await client.close()
        return
    # The switch itself takes a while among thousands of jobs (SecantusDB: 5 ms and more per update
    # at 10,000): the first slots must come after it ended, or the run starts with a backlog.
    probe = fleet.jobs[:500]
    began = time.perf_counter()
    await jobs.bulk_write(
        [
            UpdateOne({"_id": job_id}, {"$set": {"prediction_config.interval_seconds": interval}})
            for job_id in probe
        ]
    )
    per_write = (time.perf_counter() - began) / len(probe)
    lead = max(lead, 3.0 + 1.5 * per_write * len(fleet.jobs))
    start_ms = int((time.time() + lead) * 1000)
    step_ms = interval * 1000 / len(fleet.jobs)
    fleet.anchors_ms = [start_ms + int(index * step_ms) for index in range(len(fleet.jobs))]
    writes = [
        UpdateOne(
            {"_id": job_id},
            {
                "$set": {
                    "prediction_config.enabled": True,
                    "prediction_config.interval_seconds": interval,
                    "prediction_config.next_prediction_at": datetime.fromtimestamp(anchor / 1000, UTC),
                }
            },
        )
        for job_id, anchor in zip(fleet.jobs, fleet.anchors_ms, strict=True)
    ]
    for start in range(0, len(writes), 1000):
        await jobs.bulk_write(writes[start : start + 1000], ordered=False)
    await client.close()


async def ledger(settings: Settings, fleet: Fleet) -> dict[str, Any]:
    client = connect_mongo(settings.mongo_url, timeout_seconds=30)
    jobs = client[settings.mongo_database][TrainingJobDocument.Settings.name]
    runs = missed = 0
    reasons: Counter[str] = Counter()
    async for raw in jobs.find({"model_id": fleet.model_id}, {"prediction_config": 1}):
        config = raw.get("prediction_config") or {}
        runs += int(config.get("run_count", 0))
        missed += int(config.get("missed_count", 0))
        reasons.update(str(miss["reason"]) for miss in config.get("recent_misses", []))
    await client.close()
    return {"run_count": runs, "missed_count": missed, "reasons": dict(reasons)}


# -- one path ---------------------------------------------------------------------------------------


@dataclass
class Figures:
    path: str
    window_seconds: float
    expected: int
    published: int
    duplicated: int
    lateness: list[float]
    taken: int
    worker_cpu: float
    peak_rss_mib: float
    cpu: dict[str, float]
    ledger: dict[str, Any]
    child_starts: int
    """Pool processes that built their runtime in the window: a new child after 20 tasks."""

    @property
    def per_second(self) -> float:
        return self.taken / self.window_seconds

    @property
    def missed(self) -> int:
        return self.expected - self.published

    def quantile(self, q: float) -> float:
        if not self.lateness:
            return math.nan
        ordered = sorted(self.lateness)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Grid:
    expected: int
    """Slots whose next slot came due within the window: each must be published or missed by its end."""
    published: int
    duplicated: int
    lateness: list[float]
    taken: int
    """Forecasts (of any slot) Orion took within the window: the rate, and what the CPU paid for."""


def grid_figures(
    fleet: Fleet, publications: list[tuple[float, str, str]], *, interval: float, window: tuple[float, float]
) -> Grid:
    """The window's slots against what reached Orion: published, duplicated, and each one's lateness."""
    step = interval * 1000
    first_seen: dict[tuple[int, int], float] = {}
    forecasts: dict[tuple[int, int], set[str]] = defaultdict(set)
    for moment, entity_id, generated in publications:
        index = fleet.entities.get(entity_id)
        if index is None:
            continue
        generated_ms = datetime.fromisoformat(generated.replace("Z", "+00:00")).timestamp() * 1000
        slot = int((generated_ms - fleet.anchors_ms[index]) // step)
        forecasts[(index, slot)].add(generated)
        first_seen[(index, slot)] = min(first_seen.get((index, slot), math.inf), moment)
    start_ms, end_ms = window[0] * 1000, window[1] * 1000
    grid = Grid(0, 0, 0, [], sum(window[0] <= moment <= window[1] for moment in first_seen.values()))
    for index, anchor in enumerate(fleet.anchors_ms):
        first = max(0, math.ceil((start_ms - anchor) / step))
        for slot in range(first, int((end_ms - anchor) // step)):
            grid.expected += 1
            if (index, slot) in first_seen:
                grid.published += 1
                grid.duplicated += len(forecasts[(index, slot)]) > 1
                grid.lateness.append(first_seen[(index, slot)] - (anchor + slot * step) / 1000)
    return grid


@dataclass
class Run:
    """What every path shares: settings, environment, services and the sandbox."""

    args: argparse.Namespace
    settings: Settings
    env: dict[str, str]
    work: Path
    pids: dict[str, int]
    sandbox: SandboxProcess


def start_beat(run: Run, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    with open(run.work / f"beat-{name}.log", "wb") as output:
        return subprocess.Popen(
            beat_command(run.work / f"beat-{name}"),
            env={**inherited, **env},
            cwd=run.work,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def run_path(run: Run, fleet: Fleet) -> Figures:
    args = run.args
    env = {**run.env, "CHRONOS_FORECAST_BATCHING": str(fleet.path == "batched").lower()}
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(
                run_worker(env, run.work, name=f"{fleet.path}-{i}", concurrency=2, beat=False)
            )
            for i in range(args.workers)
        ]
        beat = start_beat(run, env, fleet.path)
        try:
            figures = measure(run, fleet, workers, beat.pid)
        finally:
            asyncio.run(switch(run.settings, fleet, interval=args.interval, on=False, lead=0))
            stop_process(beat, timeout=10)
    # What this path's worker left queued is not the next path's to run.
    create_celery(run.settings).control.purge()
    return figures


def child_starts(workers: list[WorkerProcess], window: tuple[float, float]) -> int:
    """Pool processes that started (built their runtime) within ``window``, from the workers' logs."""
    started = 0
    for line in "\n".join(worker.log_text() for worker in workers).splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            record = json.loads(line)
            if record.get("event") == "worker.runtime_ready":
                moment = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
                started += window[0] <= moment <= window[1]
    return started


def measure(run: Run, fleet: Fleet, workers: list[WorkerProcess], beat_pid: int) -> Figures:
    args = run.args
    lead = 3.0 + len(fleet.jobs) / 2000
    asyncio.run(switch(run.settings, fleet, interval=args.interval, on=True, lead=lead))
    first = fleet.anchors_ms[0] / 1000
    window = (first + args.interval, first + args.interval + args.minutes * 60)
    pids = {**run.pids, "sandbox": run.sandbox.pid, "beat": beat_pid}
    print(f"[{fleet.path}] {len(fleet.jobs)} schedules on, every {args.interval:g} s; warm-up until "
          f"{time.strftime('%H:%M:%S', time.localtime(window[0]))}, measuring until "
          f"{time.strftime('%H:%M:%S', time.localtime(window[1]))}", flush=True)  # fmt: skip
    sleep_until(window[0])
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    worker_pids = [worker.process.pid for worker in workers]
    worker_before = sum(cpu_seconds(pid) for pid in worker_pids)
    with RssPeak(worker_pids) as rss:
        sleep_until(window[1])
    worker_cpu = sum(cpu_seconds(pid) for pid in worker_pids) - worker_before
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    grid = grid_figures(fleet, run.sandbox.publications(), interval=args.interval, window=window)
    return Figures(
        child_starts=child_starts(workers, window),
        path=fleet.path,
        window_seconds=window[1] - window[0],
        expected=grid.expected,
        published=grid.published,
        duplicated=grid.duplicated,
        lateness=grid.lateness,
        taken=grid.taken,
        worker_cpu=worker_cpu,
        peak_rss_mib=rss.peak_kib / 1024,
        cpu=cpu,
        ledger=asyncio.run(ledger(run.settings, fleet)),
    )


# -- the report -------------------------------------------------------------------------------------


def _cpu_cell(name: str) -> Callable[[Figures], str]:
    return lambda figures: f"{figures.cpu.get(name, math.nan):,.1f}"


def report(figures: list[Figures], args: argparse.Namespace) -> None:
    print(
        f"\nfleet: {args.models} models forecasting every {args.interval:g} s (beat tick {args.tick:g} s), "
        f"{args.minutes:g} min measured after one interval of warm-up; "
        f"{args.workers} worker(s): prefork, concurrency 2\n"
    )
    rows: list[tuple[str, Callable[[Figures], str]]] = [
        ("forecasts Orion took / s", lambda f: f"{f.per_second:,.1f}"),
        ("slots due and ended in the window", lambda f: f"{f.expected:,}"),
        ("lateness p50 s (Orion's answer - slot)", lambda f: f"{f.quantile(0.5):.2f}"),
        ("lateness p99 s", lambda f: f"{f.quantile(0.99):.2f}"),
        ("lateness max s", lambda f: f"{max(f.lateness, default=math.nan):.2f}"),
        ("missed slots (never reached Orion)", lambda f: f"{f.missed:,}"),
        ("duplicated slots (two forecasts)", lambda f: f"{f.duplicated:,}"),
        ("worker CPU s", lambda f: f"{f.worker_cpu:,.1f}"),
        ("worker CPU ms / forecast", lambda f: f"{1000 * f.worker_cpu / max(1, f.taken):,.2f}"),
        ("worker peak RSS MiB (tree)", lambda f: f"{f.peak_rss_mib:,.0f}"),
        ("worker pool processes started", lambda f: f"{f.child_starts:,}"),
        *[(f"{name} CPU s", _cpu_cell(name)) for name in ("secantusdb", "sandbox", "rabbitmq", "beat")],
        (
            "ledger: runs / missed (whole run)",
            lambda f: f"{f.ledger['run_count']:,} / {f.ledger['missed_count']:,}",
        ),
        ("ledger: newest misses by reason", lambda f: json.dumps(f.ledger["reasons"]) or "{}"),
    ]
    print(f"{'':<42}" + "".join(f"{f.path:>20}" for f in figures))
    for name, cell in rows:
        print(f"{name:<42}" + "".join(f"{cell(f):>20}" for f in figures))
    by_path = {f.path: f for f in figures}
    if len(by_path) == 2:
        batched, per_job = by_path["batched"], by_path["per-job"]
        cpu_ratio = (batched.worker_cpu / max(1, batched.taken)) / max(
            1e-9, per_job.worker_cpu / max(1, per_job.taken)
        )
        print(
            f"\nbatched / per-job: forecasts/s {batched.per_second / max(1e-9, per_job.per_second):.2f}x, "
            f"worker CPU per forecast {cpu_ratio:.2f}x, p99 lateness "
            f"{batched.quantile(0.99) / max(1e-9, per_job.quantile(0.99)):.2f}x"
        )
    last = by_path.get("batched", figures[-1])
    print(
        f"fleet models={args.models} forecasts_per_s={last.per_second:.2f} "
        f"p50_lateness_s={last.quantile(0.5):.3f} p99_lateness_s={last.quantile(0.99):.3f} "
        f"missed={last.missed} duplicated={last.duplicated}"
    )


# -- setting up -------------------------------------------------------------------------------------


def environment(
    base: Settings, overrides: dict[str, str], sandbox: SandboxProcess, args: argparse.Namespace
) -> dict[str, str]:
    return {
        **{
            f"CHRONOS_{name.upper()}": str(getattr(base, name))
            for name in ("mongo_url", "redis_url", "celery_broker_url")
        },
        **overrides,
        "CHRONOS_ENVIRONMENT": "test",
        "CHRONOS_MONGO_DATABASE": "bench_fleet",
        "CHRONOS_DATA_DIR": str(base.data_dir),
        "CHRONOS_ORION_URL": sandbox.orion_url,
        "CHRONOS_STH_COMET_URL": sandbox.sth_url,
        "CHRONOS_IOT_AGENT_URL": sandbox.orion_url,  # never called on the forecast path
        "CHRONOS_FORECAST_SCHEDULER_INTERVAL_SECONDS": str(args.tick),
        "CHRONOS_FORECAST_BATCH_SIZE": str(min(10_000, max(100, args.models))),
        "CHRONOS_LOG_FORMAT": "json",
    }


def service_pids(stack: Stack) -> dict[str, int]:
    return {name: process.pid for name, process in stack.children if name in {"secantusdb", "rabbitmq"}}


def bench(args: argparse.Namespace) -> list[Figures]:
    print(
        f"training the fleet's network once ({UNITS} units, lookback {LOOKBACK}, horizon {HORIZON}) ...",
        flush=True,
    )
    network = train()
    paths = list(PATHS) if args.path == "both" else [args.path]
    sources = [source_of(index) for index in range(args.models)]
    stack = Stack()
    sandbox = start_sandbox(sources, network.points, indexed=not args.plain_sandbox)
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory() as folder:
        try:
            work = Path(args.logs or folder)
            work.mkdir(parents=True, exist_ok=True)
            base = Settings(
                _env_file=None,
                data_dir=work,
                celery_broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
            )
            overrides = ensure_services(base, stack=stack, memory_mongo=True, sandbox=False)
            env = environment(base, overrides, sandbox, args)
            fields: dict[str, Any] = {k.removeprefix("CHRONOS_").lower(): v for k, v in env.items()}
            settings = Settings(_env_file=None, **fields)
            run = Run(args, settings, env, work, service_pids(stack), sandbox)
            files = asyncio.run(store_network(settings, network))
            fleets = [
                asyncio.run(create_fleet(settings, path, args.models, files, network)) for path in paths
            ]
            asyncio.run(provision_orion(sandbox.orion_url, fleets, sandbox.sth_url))
            for fleet in fleets:
                figures.append(run_path(run, fleet))
        finally:
            sandbox.stop()
            stack.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, required=True, help="forecasting jobs per path")
    parser.add_argument(
        "--minutes", type=float, required=True, help="measured, after one interval of warm-up"
    )
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between a job's forecasts")
    parser.add_argument("--path", choices=[*PATHS, "both"], default="both")
    parser.add_argument("--tick", type=float, default=1.0, help="CHRONOS_FORECAST_SCHEDULER_INTERVAL_SECONDS")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (concurrency 2 each)")
    parser.add_argument("--plain-sandbox", action="store_true", help="keep the sandbox Orion's entity scan")
    parser.add_argument("--logs", help="keep the worker and beat logs in this folder")
    args = parser.parse_args()
    report(bench(args), args)


if __name__ == "__main__":
    main()
