"""Benchmark: ``trainingProgress`` fan-out, many subscribers on one API process, one baseline subscriber.

One real uvicorn API runs against SecantusDB in memory and the machine's Redis (the broker is the
one ``ensure_services`` settles on; this bench dispatches no task and starts no worker). A model
and a job in status TRAINING are written straight into the API's database, so
``trainingProgress(jobId)`` accepts the job and streams. Then, in one run:

* baseline - one subscriber;
* load     - ``--subscribers`` subscribers (default 1,000), each on its own WebSocket,

each following its own job. Subscribers are raw graphql-transport-ws clients (``websockets``,
permessage-deflate offered as browsers do, ``--no-compression`` not to; the API declines it
unless ``--server-compression`` sets ``CHRONOS_WS_COMPRESSION=true``), spread over
``--client-processes`` processes of their own (default 2), so neither the publisher nor the
API shares an interpreter with them. Once every subscriber has its snapshot and the hub counts
them all, this process PUBLISHes progress events on the job's channel as a worker does
(``event_of`` of the job document, ``seq`` increasing, status TRAINING) at ``--rate`` per second
for ``--seconds`` seconds, the send time (``time.time()``, taken just before the event is
serialised and published) in ``message``; then a COMPLETED event ends every stream. Nothing goes
to the shared ``chronos:training:jobs`` channel: other runs on the same Redis listen there.

Measured per phase: events delivered per subscriber (every published one should arrive; the hub
drops the oldest progress event of a listener whose queue of 16 is full), latency from PUBLISH to
the client's ``recv`` (same host clock) p50/p95/p99/max and p99 second by second, the API's RSS
(VmRSS) before subscribing, with every subscriber connected and idle, at its peak (sampled every
0.2 s from the first connect to the last stream's end) and after; ``info { progressHub { listeners
dropped } }`` polled every second while streaming; CPU time of the API, the client processes and
this process over the streaming window, against the whole machine's (2 cores, shared). The
client's receive time includes any queueing inside a busy client process: read the latency next
to the client processes' CPU share.

Goals (load phase): p99 <= 250 ms, RSS peak - before <= 150 MB.

    .venv/bin/python bench/subscriptions.py [--subscribers 1000] [--rate 20] [--seconds 15]
        [--client-processes 2] [--no-compression] [--server-compression]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import redis.asyncio as aioredis
import websockets
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import connect_mongo, init_documents  # noqa: E402
from app.devstack import Stack, ensure_services  # noqa: E402
from app.models.config import RnnLayer  # noqa: E402
from app.models.documents import ModelDocument  # noqa: E402
from app.models.enums import ModelStatus, ModelType, TargetMode  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.system.info import redact_url  # noqa: E402
from app.timeutil import utcnow  # noqa: E402
from app.training.config import snapshot  # noqa: E402
from app.training.documents import (  # noqa: E402
    Progress,
    TrainingJobDocument,
    TrainingMetrics,
    TrainingRequest,
    TrainingStatus,
)
from app.training.events import event_of, job_channel  # noqa: E402
from bench.training_overhead import RssSampler, rss_kib  # noqa: E402
from tests.support import ApiServer, run_api  # noqa: E402

# What a progress bar in a UI asks for (the fields of tests/schema/training/test_subscriptions.py).
PROGRESS = """
subscription($jobId: ID!) {
  trainingProgress(jobId: $jobId) {
    jobId seq at status phase progress message dataPointsCollected dataPointsRequested
    epoch totalEpochs loss valLoss etaSeconds metrics { rmse theilU } error { code message }
  }
}"""
INFO = "{ info { progressHub { connected channels listeners dropped reconnects } } }"
PROTOCOL = Subprotocol("graphql-transport-ws")
SNAPSHOT_MESSAGE = "bench snapshot"
SNAPSHOT_SEQ = 1  # the job's seq when subscribers join; published events follow it
POINTS = 50_000
EPOCHS = 50
P99_GOAL_MS = 250.0
RSS_GOAL_MB = 150.0
HUB_POLL_SECONDS = 1.0
STREAM_GRACE_SECONDS = 180.0
TICKS = os.sysconf("SC_CLK_TCK")


# --- client processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientJob:
    """What one client process runs: ``clients`` subscribers of one job."""

    url: str
    job_id: str
    clients: int
    compression: bool
    connect_concurrency: int
    stream_timeout: float


@dataclass(frozen=True)
class Ready:
    subscribed: int
    errors: list[str]
    seconds: float


@dataclass(frozen=True)
class Outcome:
    received: list[int]
    """Progress events (neither the snapshot nor the terminal one) per subscriber."""
    completed: int
    """Subscribers that saw the COMPLETED event and then ``complete``."""
    out_of_order: int
    errors: list[str]
    seqs: bytes
    """array('q') of the seq of every progress event received, in step with ``latencies``."""
    latencies: bytes
    """array('d'), milliseconds from PUBLISH to recv."""
    terminal_latencies: bytes


@dataclass
class Tally:
    received: list[int] = field(default_factory=list)
    completed: int = 0
    out_of_order: int = 0
    errors: list[str] = field(default_factory=list)
    seqs: array.array[int] = field(default_factory=lambda: array.array("q"))
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    terminal: array.array[float] = field(default_factory=lambda: array.array("d"))


def raise_nofile(needed: int) -> tuple[int, int, bool]:
    """Soft RLIMIT_NOFILE up to ``needed`` (within the hard limit); (soft, hard, raised)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target, hard, True
    return soft, hard, False


async def follow(
    job: ClientJob, gate: asyncio.Semaphore, tally: Tally, ready: Callable[[str | None], None]
) -> None:
    """One subscriber: connect, subscribe, count the snapshot as ready, then time every event."""
    await gate.acquire()
    holding, signalled = True, False
    received, last = 0, -1
    failure: str | None = None
    try:
        async with connect(
            job.url,
            subprotocols=[PROTOCOL],
            compression="deflate" if job.compression else None,
            open_timeout=60,
            ping_interval=None,
            close_timeout=5,
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init"}))
            ack = json.loads(await socket.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            payload = {"query": PROGRESS, "variables": {"jobId": job.job_id}}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            async for raw in socket:
                now = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "complete":
                    break
                if kind == "ping":
                    await socket.send('{"type":"pong"}')
                    continue
                if kind != "next" or message["payload"].get("errors"):
                    raise RuntimeError(f"unexpected message: {str(message)[:300]}")
                event = message["payload"]["data"]["trainingProgress"]
                seq = int(event["seq"])
                if seq <= last:
                    tally.out_of_order += 1
                last = seq
                if not signalled:
                    if event["message"] != SNAPSHOT_MESSAGE:
                        raise RuntimeError(f"the first event is not the snapshot: {event}")
                    signalled, holding = True, False
                    gate.release()
                    ready(None)
                    continue
                latency = (now - float(event["message"])) * 1000
                if event["status"] == TrainingStatus.COMPLETED.value:
                    tally.terminal.append(latency)
                    tally.completed += 1
                else:
                    received += 1
                    tally.seqs.append(seq)
                    tally.latencies.append(latency)
    except (
        OSError,
        TimeoutError,
        websockets.WebSocketException,
        RuntimeError,
        ValueError,
        KeyError,
    ) as error:
        failure = f"{type(error).__name__}: {error}"[:300]
    except asyncio.CancelledError:
        failure = "timed out"
    finally:
        tally.received.append(received)
        if failure is not None:
            tally.errors.append(failure)
        if holding:
            gate.release()
        if not signalled:
            ready(failure or "closed before the snapshot")


async def run_clients(conn: Connection, job: ClientJob) -> None:
    gate = asyncio.Semaphore(job.connect_concurrency)
    tally = Tally()
    pending = job.clients
    failed: list[str] = []
    all_ready = asyncio.Event()

    def ready(error: str | None) -> None:
        nonlocal pending
        pending -= 1
        if error is not None:
            failed.append(error)
        if pending == 0:
            all_ready.set()

    started = time.perf_counter()
    tasks = [asyncio.create_task(follow(job, gate, tally, ready)) for _ in range(job.clients)]
    await all_ready.wait()
    conn.send(Ready(job.clients - len(failed), failed, time.perf_counter() - started))
    _, late = await asyncio.wait(tasks, timeout=job.stream_timeout)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    conn.send(
        Outcome(
            received=tally.received,
            completed=tally.completed,
            out_of_order=tally.out_of_order,
            errors=tally.errors,
            seqs=tally.seqs.tobytes(),
            latencies=tally.latencies.tobytes(),
            terminal_latencies=tally.terminal.tobytes(),
        )
    )


def client_process(conn: Connection, fd_needed: int) -> None:
    """A spawned process that runs one ClientJob after another until it is sent None."""
    raise_nofile(fd_needed)
    while (job := conn.recv()) is not None:
        asyncio.run(run_clients(conn, job))


# --- measuring the API ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    return 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and iowait since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS


@dataclass(frozen=True)
class CpuMark:
    at: float
    api: float
    clients: float
    bench: float
    machine: float

    @classmethod
    def take(cls, api_pid: int, client_pids: Sequence[int]) -> CpuMark:
        return cls(
            at=time.monotonic(),
            api=cpu_seconds(api_pid),
            clients=sum(cpu_seconds(pid) for pid in client_pids),
            bench=cpu_seconds(os.getpid()),
            machine=machine_busy_seconds(),
        )


@dataclass(frozen=True)
class CpuShare:
    """Share of one core over a window (2.0 = both cores busy)."""

    api: float
    clients: float
    bench: float
    machine: float

    @classmethod
    def between(cls, start: CpuMark, end: CpuMark) -> CpuShare:
        wall = max(end.at - start.at, 1e-9)
        return cls(
            api=(end.api - start.api) / wall,
            clients=(end.clients - start.clients) / wall,
            bench=(end.bench - start.bench) / wall,
            machine=(end.machine - start.machine) / wall,
        )

    @property
    def rest(self) -> float:
        return max(0.0, self.machine - self.api - self.clients - self.bench)


async def hub_stats(http: httpx.AsyncClient, api: ApiServer) -> dict[str, Any]:
    response = await http.post(api.graphql_url, json={"query": INFO})
    stats: dict[str, Any] = response.json()["data"]["info"]["progressHub"]
    return stats


# --- the job and the publisher ----------------------------------------------------------------


async def create_job(label: str) -> TrainingJobDocument:
    """A model locked by a job in TRAINING, written as admission and the worker would leave them."""
    job_id = uuid4()
    model = ModelDocument(
        name=f"bench subscriptions {label}", model_type=ModelType.LSTM, rnn_layers=[RnnLayer(units=32)],
        dense_layers=[], lookback_window=48, forecast_horizon=12, target_mode=TargetMode.DELTA,
        batch_size=64, epochs=EPOCHS, learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15,
        entity_type="Sensor", entity_id=f"urn:ngsi-ld:Sensor:bench-{label}", feature="temperature",
        fiware_service="smart", fiware_service_path="/", status=ModelStatus.TRAINING, active_job_id=job_id,
        active_since=utcnow(),
    )  # fmt: skip
    await model.insert()
    now = utcnow()
    job = TrainingJobDocument(
        id=job_id,
        model_id=model.id,
        status=TrainingStatus.TRAINING,
        request=TrainingRequest(last_n=POINTS),
        config=snapshot(model),
        request_fingerprint="bench",
        points_available=POINTS,
        points_requested=POINTS,
        points_collected=POINTS,
        progress=Progress(fraction=0.3, message=SNAPSHOT_MESSAGE, epoch=0, total_epochs=EPOCHS),
        progress_seq=SNAPSHOT_SEQ,
        created_at=now,
        updated_at=now,
        started_at=now,
    )
    await job.insert()
    return job


@dataclass(frozen=True)
class Published:
    events: int
    seconds: float
    late_max_ms: float
    """Worst lag of a PUBLISH behind its schedule (this process's own lateness)."""
    receivers: frozenset[int]
    """What PUBLISH returned: Redis subscribers of the channel (1: the API's hub)."""


async def publish(
    redis: aioredis.Redis, job: TrainingJobDocument, *, rate: float, seconds: float
) -> Published:
    """``rate`` progress events a second for ``seconds``, then the COMPLETED event."""
    channel = job_channel(job.id)
    total = max(1, round(rate * seconds))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    late = 0.0
    receivers: set[int] = set()
    for i in range(total + 1):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        job.progress_seq += 1
        job.updated_at = utcnow()
        if i == total:
            job.status = TrainingStatus.COMPLETED
            job.finished_at = job.updated_at
            job.metrics = TrainingMetrics(rmse=0.42, mae=0.31, theil_u=0.8, points=POINTS)
        epoch = 1 + i * EPOCHS // total
        job.progress = Progress(
            fraction=0.3 + 0.6 * i / total,
            message=repr(time.time()),
            epoch=min(epoch, EPOCHS),
            total_epochs=EPOCHS,
            loss=0.01 + 1 / (i + 1),
            val_loss=0.02 + 1 / (i + 1),
            eta_seconds=(total - i) / rate,
        )
        receivers.add(int(await redis.publish(channel, event_of(job).to_json())))
    return Published(total, loop.time() - start, late * 1000, frozenset(receivers))


# --- one phase --------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    subscribers: int
    expected: int
    subscribed: int = 0
    connect_seconds: float = 0.0
    connect_errors: list[str] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    completed: int = 0
    out_of_order: int = 0
    errors: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    terminal: list[float] = field(default_factory=list)
    rss_before_kib: int = 0
    rss_connected_kib: int = 0
    rss_peak_kib: int = 0
    rss_after_kib: int = 0
    rss_samples: int = 0
    listeners_max: int = 0
    listeners_connected: int = 0
    dropped: int = 0
    published: Published | None = None
    cpu: CpuShare | None = None
    stream_seconds: float = 0.0

    @property
    def missing(self) -> int:
        return sum(max(0, self.expected - n) for n in self.received)

    @property
    def short_clients(self) -> int:
        return sum(1 for n in self.received if n < self.expected)

    @property
    def rss_delta_mb(self) -> float:
        return (self.rss_peak_kib - self.rss_before_kib) / 1024


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank; NaN when empty."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def shares(total: int, parts: int) -> list[int]:
    return [n for n in (total // parts + (1 if i < total % parts else 0) for i in range(parts)) if n]


async def run_phase(
    phase: Phase,
    *,
    api: ApiServer,
    http: httpx.AsyncClient,
    redis: aioredis.Redis,
    conns: Sequence[Connection],
    client_pids: Sequence[int],
    rate: float,
    seconds: float,
    compression: bool,
    connect_concurrency: int,
) -> None:
    job = await create_job(phase.name)
    pid = api.process.pid
    await asyncio.sleep(1.0)
    phase.rss_before_kib = rss_kib(pid)
    dropped_before = int((await hub_stats(http, api))["dropped"])
    sampler = RssSampler(pid)
    sampler.start()
    split = shares(phase.subscribers, len(conns))
    used = conns[: len(split)]
    url = api.graphql_url.replace("http", "ws", 1)
    for conn, count in zip(used, split, strict=True):
        conn.send(
            ClientJob(
                url, str(job.id), count, compression, connect_concurrency, seconds + STREAM_GRACE_SECONDS
            )
        )
    readies: list[Ready] = await asyncio.gather(*(asyncio.to_thread(conn.recv) for conn in used))
    phase.subscribed = sum(r.subscribed for r in readies)
    phase.connect_seconds = max(r.seconds for r in readies)
    phase.connect_errors = [e for r in readies for e in r.errors]
    print(
        f"  {phase.name}: {phase.subscribed:,}/{phase.subscribers:,} subscribed (snapshot received) "
        f"in {phase.connect_seconds:.1f} s"
        + (f"; first error: {phase.connect_errors[0]}" if phase.connect_errors else "")
    )
    for _ in range(100):  # the hub should count every subscriber before the first PUBLISH
        stats = await hub_stats(http, api)
        if int(stats["listeners"]) >= phase.subscribed:
            break
        await asyncio.sleep(0.1)
    phase.listeners_connected = int(stats["listeners"])
    phase.rss_connected_kib = rss_kib(pid)

    async def poll_hub() -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):  # a slow answer is no reason to stop measuring
                stats = await hub_stats(http, api)
                phase.listeners_max = max(phase.listeners_max, int(stats["listeners"]))
            await asyncio.sleep(HUB_POLL_SECONDS)

    poller = asyncio.create_task(poll_hub())
    started = CpuMark.take(pid, client_pids)
    phase.published = await publish(redis, job, rate=rate, seconds=seconds)
    outcomes: list[Outcome] = await asyncio.gather(*(asyncio.to_thread(conn.recv) for conn in used))
    ended = CpuMark.take(pid, client_pids)
    phase.cpu = CpuShare.between(started, ended)
    phase.stream_seconds = ended.at - started.at
    poller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poller
    sampler.stop()
    phase.rss_peak_kib, phase.rss_samples = sampler.peak_total_kib, sampler.samples
    for outcome in outcomes:
        phase.received += outcome.received
        phase.completed += outcome.completed
        phase.out_of_order += outcome.out_of_order
        phase.errors += outcome.errors
        phase.seqs += array.array("q", outcome.seqs).tolist()
        phase.latencies += array.array("d", outcome.latencies).tolist()
        phase.terminal += array.array("d", outcome.terminal_latencies).tolist()
    for _ in range(50):  # listeners leave as the sockets close; their drops then count in the hub's total
        stats = await hub_stats(http, api)
        if int(stats["listeners"]) == 0:
            break
        await asyncio.sleep(0.1)
    phase.dropped = int(stats["dropped"]) - dropped_before
    await asyncio.sleep(1.0)
    phase.rss_after_kib = rss_kib(pid)


def by_second(phase: Phase, rate: float) -> list[float]:
    """p99 of the events published in each second of the stream."""
    first = SNAPSHOT_SEQ + 1
    buckets: dict[int, list[float]] = {}
    for seq, latency in zip(phase.seqs, phase.latencies, strict=True):
        buckets.setdefault(int((seq - first) // rate), []).append(latency)
    return [percentile(sorted(buckets[k]), 0.99) for k in sorted(buckets)]


def report_phase(phase: Phase, rate: float) -> None:
    ordered = sorted(phase.latencies)
    received = phase.received or [0]
    cpu = phase.cpu
    published = phase.published
    print(
        f"  {phase.name}: {len(ordered):,} progress events timed, "
        f"{phase.completed}/{phase.subscribers} streams "
        f"completed, per subscriber min {min(received)} / mean {sum(received) / len(received):.1f} of "
        f"{phase.expected}; hub dropped {phase.dropped:,}; out of order {phase.out_of_order}"
    )
    if published is not None:
        print(
            f"    published {published.events} + 1 terminal in {published.seconds:.2f} s "
            f"(schedule lag max {published.late_max_ms:.1f} ms, "
            f"PUBLISH receivers {sorted(published.receivers)}); "
            f"streams drained {phase.stream_seconds:.1f} s after the first PUBLISH"
        )
    seconds = " ".join(f"{v:.0f}" for v in by_second(phase, rate))
    print(f"    latency p99 by second of the stream (ms): {seconds}")
    if phase.terminal:
        print(f"    COMPLETED event latency: max {max(phase.terminal):.0f} ms")
    if cpu is not None:
        print(
            f"    CPU while streaming (cores): API {cpu.api:.2f}, clients {cpu.clients:.2f}, "
            f"publisher {cpu.bench:.2f}, rest of machine {cpu.rest:.2f} (Redis, SecantusDB, other users); "
            f"machine {cpu.machine:.2f} of {os.cpu_count()}"
        )
    if phase.errors:
        print(f"    {len(phase.errors)} client errors, first: {phase.errors[0]}")


def open_files_limit(pid: int) -> str:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return " ".join(line.split()[3:5])
    return "?"


def api_warnings(api: ApiServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in api.log_records():
        if str(record.get("level", "")).lower() in {"warning", "error", "critical"}:
            name = str(record.get("event", "?"))
            counts[name] = counts.get(name, 0) + 1
    return counts


async def measure(
    api: ApiServer,
    env: dict[str, str],
    conns: Sequence[Connection],
    client_pids: Sequence[int],
    args: argparse.Namespace,
) -> tuple[Phase, Phase]:
    mongo = connect_mongo(env["CHRONOS_MONGO_URL"], timeout_seconds=10)
    redis = aioredis.Redis.from_url(env["CHRONOS_REDIS_URL"])
    expected = max(1, round(args.rate * args.seconds))
    try:
        await init_documents(mongo, env["CHRONOS_MONGO_DATABASE"])
        async with httpx.AsyncClient(timeout=30) as http:
            stats = await hub_stats(http, api)
            if not stats["connected"]:
                raise SystemExit(f"the API's progress hub is not connected to Redis: {stats}")
            print(
                f"API pid {api.process.pid}, RSS at start {rss_kib(api.process.pid) / 1024:.0f} MB, "
                f"open files limit (soft hard) {open_files_limit(api.process.pid)}"
            )
            phases = (Phase("baseline", 1, expected), Phase("load", args.subscribers, expected))
            for phase in phases:
                await run_phase(
                    phase, api=api, http=http, redis=redis, conns=conns, client_pids=client_pids,
                    rate=args.rate, seconds=args.seconds, compression=not args.no_compression,
                    connect_concurrency=args.connect_concurrency,
                )  # fmt: skip
                report_phase(phase, args.rate)
            return phases
    finally:
        await redis.aclose()
        await mongo.close()


def print_table(baseline: Phase, load: Phase) -> None:
    def lat(phase: Phase, q: float) -> float:
        return percentile(sorted(phase.latencies), q)

    def mb(kib: int) -> str:
        return f"{kib / 1024:,.0f} MB"

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    def ms(value: float) -> str:
        return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"

    p99 = lat(load, 0.99)
    delivered_ok = load.missing == 0 and load.completed == load.subscribers
    rows: list[tuple[str, str, str, str, str]] = [
        ("subscribed (snapshot received)", f"{baseline.subscribed}/{baseline.subscribers}",
         f"{load.subscribed:,}/{load.subscribers:,}", "", ""),
        ("time to subscribe all", f"{baseline.connect_seconds:.1f} s",
         f"{load.connect_seconds:.1f} s", "", ""),
        ("hub listeners (connected / max seen)", f"{baseline.listeners_connected}/{baseline.listeners_max}",
         f"{load.listeners_connected:,}/{load.listeners_max:,}", "", ""),
        ("progress events per subscriber (min)", f"{min(baseline.received or [0])}/{baseline.expected}",
         f"{min(load.received or [0])}/{load.expected}", "", ""),
        ("events missing (total / subscribers short)", f"{baseline.missing}/{baseline.short_clients}",
         f"{load.missing:,}/{load.short_clients:,}", "= 0", met(delivered_ok)),
        ("hub dropped (progressHub.dropped)", f"{baseline.dropped}", f"{load.dropped:,}", "", ""),
        ("streams completed", f"{baseline.completed}/{baseline.subscribers}",
         f"{load.completed:,}/{load.subscribers:,}", "", ""),
        ("latency p50", ms(lat(baseline, 0.5)), ms(lat(load, 0.5)), "", ""),
        ("latency p95", ms(lat(baseline, 0.95)), ms(lat(load, 0.95)), "", ""),
        ("latency p99", ms(lat(baseline, 0.99)), ms(p99), f"<= {P99_GOAL_MS:.0f} ms",
         met(p99 <= P99_GOAL_MS)),
        ("latency max", ms(lat(baseline, 1.0)), ms(lat(load, 1.0)), "", ""),
        ("API RSS before subscribing", mb(baseline.rss_before_kib), mb(load.rss_before_kib), "", ""),
        ("API RSS all connected, idle", mb(baseline.rss_connected_kib), mb(load.rss_connected_kib), "", ""),
        ("API RSS peak while streaming", mb(baseline.rss_peak_kib), mb(load.rss_peak_kib), "", ""),
        ("API RSS delta (peak - before)", f"{baseline.rss_delta_mb:,.1f} MB", f"{load.rss_delta_mb:,.1f} MB",
         f"<= {RSS_GOAL_MB:.0f} MB", met(load.rss_delta_mb <= RSS_GOAL_MB)),
        ("API RSS after the streams ended", mb(baseline.rss_after_kib), mb(load.rss_after_kib), "", ""),
        ("API CPU while streaming (cores)", f"{baseline.cpu.api:.2f}" if baseline.cpu else "-",
         f"{load.cpu.api:.2f}" if load.cpu else "-", "", ""),
        ("client processes' CPU (cores)", f"{baseline.cpu.clients:.2f}" if baseline.cpu else "-",
         f"{load.cpu.clients:.2f}" if load.cpu else "-", "", ""),
        ("rest of the machine's CPU (cores)", f"{baseline.cpu.rest:.2f}" if baseline.cpu else "-",
         f"{load.cpu.rest:.2f}" if load.cpu else "-", "", ""),
    ]  # fmt: skip
    load_head = f"{load.subscribers:,} subs"
    print(f"\n{'figure':<44}{'1 sub':>12}{load_head:>14}{'goal':>12}{'met':>5}")
    for name, one, many, goal, ok in rows:
        print(f"{name:<44}{one:>12}{many:>14}{goal:>12}{ok:>5}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="progress events a second")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long events are published")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="handshakes in flight per process"
    )
    parser.add_argument("--no-compression", action="store_true", help="clients offer no permessage-deflate")
    parser.add_argument(
        "--server-compression",
        action="store_true",
        help="the API accepts permessage-deflate (CHRONOS_WS_COMPRESSION=true; off by default)",
    )
    args = parser.parse_args()
    if args.subscribers < 1 or args.rate <= 0 or args.seconds <= 0 or args.client_processes < 1:
        parser.error("--subscribers, --rate, --seconds and --client-processes must be positive")

    # The API inherits this process's limits: it holds one socket per subscriber, plus its own.
    fd_needed = args.subscribers + 256
    soft, hard, raised = raise_nofile(fd_needed)
    print(
        f"RLIMIT_NOFILE soft {soft} hard {hard}: "
        + (
            f"raised for {fd_needed} (the API inherits it)"
            if raised
            else f"enough for {fd_needed}, not raised"
        )
    )
    print(
        f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])} "
        f"on {os.cpu_count()} cores"
    )

    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(args.client_processes)]
    per_process = math.ceil(args.subscribers / args.client_processes) + 64
    clients = [
        context.Process(
            target=client_process, args=(child, per_process), name=f"bench-clients-{i}", daemon=True
        )
        for i, (_, child) in enumerate(pipes)
    ]
    for process in clients:
        process.start()
    conns = [parent for parent, _ in pipes]
    stack = Stack()
    try:
        with tempfile.TemporaryDirectory(prefix="chronos-bench-") as work:
            data_dir = Path(work) / "data"
            base = Settings(_env_file=None, data_dir=data_dir)
            overrides = ensure_services(base, stack=stack, memory_mongo=True, sandbox=False)
            env = {
                **{
                    f"CHRONOS_{name.upper()}": str(getattr(base, name))
                    for name in ("mongo_url", "redis_url", "celery_broker_url")
                },
                **overrides,
                "CHRONOS_MONGO_DATABASE": "chronos_bench",
                "CHRONOS_DATA_DIR": str(data_dir),
                "CHRONOS_WS_COMPRESSION": str(args.server_compression).lower(),
            }
            print(
                f"services: mongo {env['CHRONOS_MONGO_URL']} (SecantusDB, memory), "
                f"redis {redact_url(env['CHRONOS_REDIS_URL'])}, "
                f"broker {redact_url(env['CHRONOS_CELERY_BROKER_URL'])} (unused: no task is sent)"
            )
            print(
                f"{args.subscribers:,} subscribers over {len(clients)} client processes, "
                f"{args.rate:g} events/s for {args.seconds:g} s, permessage-deflate "
                f"{'not offered' if args.no_compression else 'offered'} by clients, "
                f"{'accepted' if args.server_compression else 'declined'} by the API"
            )
            with run_api(env, Path(work)) as api:
                baseline, load = asyncio.run(measure(api, env, conns, [p.pid or 0 for p in clients], args))
                warnings = api_warnings(api)
            print_table(baseline, load)
            if warnings:
                print(f"API log warnings/errors: {warnings}")
    finally:
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for process in clients:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        stack.stop()


if __name__ == "__main__":
    main()
