"""Benchmark: one training job through the whole system against the bare ``ml`` path, in one run.

A realistic series (1-minute readings: daily and weekly cycles plus AR(1) noise, seeded) goes into
the STH-Comet sandbox (in-thread, no added latency, page size 100). A real uvicorn API and a real
Celery worker (prefork, concurrency 2, beat on) run against SecantusDB in memory, the machine's
Redis and a RabbitMQ broker. A model with the default configuration (LSTM-32, lookback 48,
horizon 12, batch 64, delta targets), ``--epochs`` epochs and early stopping off is created through
GraphQL and trained on the newest ``--points`` points. Measured:

* end to end   - wall time from the ``startTraining`` call to the poll that sees COMPLETED (polls
                 of the job's status every 0.2 s), with the job's phases and the worker tree's
                 peak RSS (parent + all descendants, VmRSS summed, sampled every 0.2 s; shared
                 copy-on-write pages count once per process, so the sum overstates real memory);
* bare ml      - in this process, after the services are gone: ``regularize`` then
                 ``train_regular(export=True)`` on the same points, with the ml config that
                 ``app.training.fitting.pipeline_config`` builds from the job's own stored config
                 snapshot. The TensorFlow import is timed separately and included in the total, as
                 a fresh worker child pays it inside its first training job;
* training     - samples/s of ``ml.training.fit`` (tf.data, XLA, batch 64, last epoch, which
                 includes the validation pass) against plain Keras ``model.fit`` on numpy arrays
                 (batch 32, no XLA, no validation, last epoch), on the same training windows;
* checkpoints  - what the job's training checkpoints cost (count, bytes, seconds: capture,
                 serialise, GridFS write and record, from the worker's ``training.completed``
                 record) next to its fit; and, in this process on the same windows, ``fit`` with a
                 checkpoint after every epoch (captured and serialised, not stored) against the
                 same fit without, for the job's network and for a tiny one (LSTM-4, lookback 8).
                 A checkpoint against a steady epoch is the figure to read: two whole fits differ
                 mostly by XLA compilation and the other processes on the machine;
* quality      - U2 of ``bench/ml_quality.py`` at H=1 and H=12 (``--skip-quality`` to skip).

The broker is a RabbitMQ node of this run's own, started by ``ensure_services`` on a free port:
workers of other runs (a test session) consume the same queue names on the machine's broker and
would take this run's tasks (and hand theirs to this worker). ``--shared-broker`` uses the
configured broker instead, when nothing else consumes from it.

    .venv/bin/python bench/training_overhead.py [--points 50000] [--epochs 5] [--skip-quality]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import connect_mongo, init_documents  # noqa: E402
from app.devstack import Stack, ensure_services, free_port  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.system.info import redact_url  # noqa: E402
from app.training.documents import TrainingJobDocument  # noqa: E402
from app.training.fitting import pipeline_config  # noqa: E402
from fiware.sandbox.runner import Sandbox, running_sandbox  # noqa: E402
from ml.network import NetworkSpec, RecurrentLayer, build_network  # noqa: E402
from ml.pipeline import TrainingConfig, train_regular  # noqa: E402
from ml.preprocess import prepare  # noqa: E402
from ml.series import Regular, regularize  # noqa: E402
from ml.training import FitState, fit  # noqa: E402
from tests.support import ApiServer, GraphQL, WorkerProcess, graphql_client, run_api, run_worker  # noqa: E402
from tests.tasks.pipeline import CREATE, FINISHED, job, start  # noqa: E402

FloatArray = npt.NDArray[np.float64]

ENTITY_TYPE = "Sensor"
FEATURE = "temperature"
SERVICE, SERVICE_PATH = "smart", "/"
INTERVAL_SECONDS = 60
SEED = 20261125
JOB_TIMEOUT_SECONDS = 3600.0
POLL_SECONDS = 0.2
RSS_EVERY_SECONDS = 0.2
OVERHEAD_GOAL = 1.25
SPEED_GOAL = 1.5
# Checkpoints are offered at most once per ``FitSettings.checkpoint_cost_ratio`` (10) times their own
# cost of training: they should stay near a tenth of the fit, whatever the network.
CHECKPOINT_GOAL = 0.10
# Polled instead of the full job document: a lighter read keeps the polling off the 2 cores the job needs.
STATUS = "query($id: ID!) { trainingJob(id: $id) { status } }"


def synthetic_series(points: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """Epoch seconds on whole minutes ending at the current minute, and a temperature-like signal."""
    rng = np.random.default_rng(seed)
    end = math.floor(time.time() / INTERVAL_SECONDS) * INTERVAL_SECONDS
    timestamps = end - INTERVAL_SECONDS * np.arange(points - 1, -1, -1, dtype=np.float64)
    minutes = np.arange(points, dtype=np.float64)
    shocks = rng.normal(0.0, 0.1, points)
    noise = np.empty(points)
    noise[0] = shocks[0]
    for i in range(1, points):
        noise[i] = 0.95 * noise[i - 1] + shocks[i]
    daily = 4.0 * np.sin(2 * np.pi * minutes / 1440 + rng.uniform(0, 2 * np.pi))
    weekly = 1.5 * np.sin(2 * np.pi * minutes / 10080 + rng.uniform(0, 2 * np.pi))
    return timestamps, np.round(20.0 + daily + weekly + noise, 2)


def seed_sth(sandbox: Sandbox, timestamps: FloatArray, values: FloatArray) -> str:
    entity = f"urn:ngsi-ld:Sensor:bench-{int(timestamps[-1])}"
    sandbox.sth.add_points(
        service=SERVICE, service_path=SERVICE_PATH, entity_type=ENTITY_TYPE, entity_id=entity,
        attr_name=FEATURE, attr_type="Number",
        points=((datetime.fromtimestamp(t, UTC), v) for t, v in zip(timestamps.tolist(), values.tolist(),
                                                                     strict=True)),
    )  # fmt: skip
    return entity


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant, from /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for listing in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                todo.extend(int(child) for child in listing.read_text().split())
    return found


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Peak summed RSS of a process tree, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_total_kib = 0
        self.peak_process_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def sample(self) -> int:
        sizes = [rss_kib(pid) for pid in process_tree(self.pid)]
        total = sum(sizes)
        self.peak_total_kib = max(self.peak_total_kib, total)
        self.peak_process_kib = max(self.peak_process_kib, max(sizes, default=0))
        self.samples += 1
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(RSS_EVERY_SECONDS)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@dataclass(frozen=True)
class JobFigures:
    job_id: str
    wall_seconds: float
    """From the startTraining call to the poll that saw COMPLETED."""
    server_seconds: float
    """The job's own durationSeconds: admission to finish."""
    queued_seconds: float
    """Admission to the start of collection."""
    collecting_seconds: float
    preprocessing_seconds: float
    training_seconds: float
    points_collected: int
    slots: int
    train_windows: int
    epochs_run: int
    fit_seconds: float | None
    """The fit alone, from the worker's ``training.completed`` log record."""
    checkpoints: int
    checkpoint_seconds: float
    """Every checkpoint of the fit: capture, serialise, store in GridFS, record on the job."""
    checkpoint_bytes: int
    idle_rss_mb: float
    peak_rss_mb: float
    peak_process_mb: float
    rss_samples: int
    config: TrainingConfig
    """The ml config ``pipeline_config`` builds from the job's stored snapshot."""


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _span(phase: dict[str, Any]) -> float:
    return (_moment(phase["endedAt"]) - _moment(phase["startedAt"])).total_seconds()


def _fail(message: str, worker: WorkerProcess) -> None:
    raise SystemExit(f"{message}\n--- worker log (tail) ---\n{worker.log_text()[-4000:]}")


def _completed_record(worker: WorkerProcess, job_id: str) -> dict[str, Any]:
    for line in worker.log_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError, TypeError, ValueError):
            record = json.loads(line)
            if record.get("event") == "training.completed" and record.get("job_id") == job_id:
                return dict(record)
    return {}


async def _stored_config(env: dict[str, str], job_id: str) -> TrainingConfig:
    client = connect_mongo(env["CHRONOS_MONGO_URL"], timeout_seconds=10)
    try:
        await init_documents(client, env["CHRONOS_MONGO_DATABASE"])
        stored = await TrainingJobDocument.get(UUID(job_id))
        assert stored is not None, job_id
        return pipeline_config(stored.config)
    finally:
        await client.close()


async def _wait_for_status(gql: GraphQL, job_id: str, worker: WorkerProcess) -> str:
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while True:
        status: str = (await gql.ok(STATUS, {"id": job_id}))["trainingJob"]["status"]
        if status in FINISHED:
            return status
        if time.monotonic() > deadline:
            _fail(f"job {job_id} still {status} after {JOB_TIMEOUT_SECONDS:.0f} s", worker)
        await asyncio.sleep(POLL_SECONDS)


async def run_job(
    api: ApiServer, worker: WorkerProcess, env: dict[str, str], entity: str, points: int, epochs: int
) -> JobFigures:
    async with graphql_client(api) as gql:
        model_input = {
            "entityType": ENTITY_TYPE,
            "entityId": entity,
            "feature": FEATURE,
            "epochs": epochs,
            "earlyStoppingPatience": 0,
        }
        created = (await gql.ok(CREATE, {"input": model_input}))["createModel"]
        if created["errors"]:
            raise SystemExit(f"createModel failed: {created['errors']}")
        sampler = RssSampler(worker.process.pid)
        idle_kib = sampler.sample()
        sampler.peak_total_kib = sampler.peak_process_kib = sampler.samples = 0
        sampler.start()
        started = time.perf_counter()
        payload = await start(gql, created["model"]["id"], lastN=points)
        if payload["errors"]:
            sampler.stop()
            _fail(f"startTraining failed: {payload['errors']}", worker)
        job_id: str = payload["trainingJob"]["id"]
        try:
            status = await _wait_for_status(gql, job_id, worker)
            wall = time.perf_counter() - started
        finally:
            sampler.stop()
        done = await job(gql, job_id)
    if status != "COMPLETED":
        _fail(f"job {job_id} ended {status}: {done['error']}", worker)
    phases = done["phases"]
    record = _completed_record(worker, job_id)
    return JobFigures(
        job_id=job_id,
        wall_seconds=wall,
        server_seconds=(_moment(done["finishedAt"]) - _moment(done["createdAt"])).total_seconds(),
        queued_seconds=(
            _moment(phases["collecting"]["startedAt"]) - _moment(done["createdAt"])
        ).total_seconds(),
        collecting_seconds=_span(phases["collecting"]),
        preprocessing_seconds=_span(phases["preprocessing"]),
        training_seconds=_span(phases["training"]),
        points_collected=done["pointsCollected"],
        slots=done["data"]["slots"],
        train_windows=done["data"]["trainWindows"],
        epochs_run=len(done["history"]),
        fit_seconds=float(record["seconds"]) if "seconds" in record else None,
        checkpoints=int(record.get("checkpoints", 0)),
        checkpoint_seconds=float(record.get("checkpoint_seconds", 0.0)),
        checkpoint_bytes=int(record.get("checkpoint_bytes", 0)),
        idle_rss_mb=idle_kib / 1024,
        peak_rss_mb=sampler.peak_total_kib / 1024,
        peak_process_mb=sampler.peak_process_kib / 1024,
        rss_samples=sampler.samples,
        config=await _stored_config(env, job_id),
    )


def end_to_end(
    work: Path, timestamps: FloatArray, values: FloatArray, *, epochs: int, shared_broker: bool
) -> JobFigures:
    stack = Stack()
    data_dir = work / "data"
    try:
        with running_sandbox() as sandbox:
            if shared_broker:
                base = Settings(_env_file=None, data_dir=data_dir)
            else:
                # A closed local port: ensure_services starts rabbitmq-server there, as devstack does.
                broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
                base = Settings(_env_file=None, data_dir=data_dir, celery_broker_url=broker)
            overrides = ensure_services(base, stack=stack, memory_mongo=True, sandbox=False)
            env = {
                **{
                    f"CHRONOS_{name.upper()}": str(getattr(base, name))
                    for name in ("mongo_url", "redis_url", "celery_broker_url")
                },
                **overrides,
                "CHRONOS_MONGO_DATABASE": "chronos_bench",
                "CHRONOS_DATA_DIR": str(data_dir),
                "CHRONOS_ORION_URL": sandbox.orion_url,
                "CHRONOS_STH_COMET_URL": sandbox.sth_url,
                "CHRONOS_IOT_AGENT_URL": sandbox.iota_url,
            }
            print(
                f"services: mongo {env['CHRONOS_MONGO_URL']} (SecantusDB, memory), "
                f"redis {redact_url(env['CHRONOS_REDIS_URL'])}, "
                f"broker {redact_url(env['CHRONOS_CELERY_BROKER_URL'])}"
                f" ({'shared' if shared_broker else 'own RabbitMQ node'})"
            )
            entity = seed_sth(sandbox, timestamps, values)
            print(f"seeded {len(values):,} points at {INTERVAL_SECONDS} s into STH for {entity}")
            with (
                run_api(env, work) as api,
                run_worker(env, work, name="bench", concurrency=2, beat=True) as worker,
            ):
                return asyncio.run(run_job(api, worker, env, entity, len(values), epochs))
    finally:
        stack.stop()


@dataclass(frozen=True, eq=False)
class BareFigures:
    tf_import_seconds: float
    regularize_seconds: float
    train_seconds: float
    """train_regular: prepare, fit, score, export."""
    fit_seconds: float
    samples_per_second: float | None
    regular: Regular

    @property
    def total_seconds(self) -> float:
        return self.tf_import_seconds + self.regularize_seconds + self.train_seconds


def bare_ml(timestamps: FloatArray, values: FloatArray, config: TrainingConfig) -> BareFigures:
    if "tensorflow" in sys.modules:
        print("warning: TensorFlow was already imported; the import time below is not a cold import")
    started = time.perf_counter()
    importlib.import_module("tensorflow")
    importlib.import_module("keras")
    imported = time.perf_counter()
    max_gap_steps = Settings.model_fields["training_max_gap_steps"].default
    regular = regularize(timestamps, values, max_gap_steps=max_gap_steps)
    regularized = time.perf_counter()
    outcome = train_regular(regular, config, export=True)
    finished = time.perf_counter()
    assert outcome.keras is not None and outcome.onnx is not None
    return BareFigures(
        tf_import_seconds=imported - started,
        regularize_seconds=regularized - imported,
        train_seconds=finished - regularized,
        fit_seconds=outcome.fit.seconds,
        samples_per_second=outcome.fit.samples_per_second,
        regular=regular,
    )


@dataclass(frozen=True)
class SpeedFigures:
    windows: int
    ours: float
    plain: float
    plain_epochs: list[float]
    """Samples/s of every plain-Keras epoch."""

    @property
    def ratio(self) -> float:
        return self.ours / self.plain


def training_speed(regular: Regular, config: TrainingConfig, epochs: int) -> SpeedFigures:
    keras = importlib.import_module("keras")
    spec = config.network
    prepared = prepare(
        regular,
        lookback=spec.lookback,
        horizon=spec.horizon,
        validation_ratio=config.validation_ratio,
        test_ratio=config.test_ratio,
        delta=config.delta,
    )
    x, y = prepared.train.x, prepared.train.y
    settings = dataclasses.replace(config.fit, epochs=epochs, patience=0)
    _, result = fit(spec, (x, y), (prepared.validation.x, prepared.validation.y), settings=settings)
    assert result.samples_per_second is not None

    keras.utils.set_random_seed(settings.seed)
    model = build_network(spec, learning_rate=settings.learning_rate, jit_compile=False)
    began: list[float] = [0.0]
    seconds: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: began.__setitem__(0, time.perf_counter()),
        on_epoch_end=lambda epoch, logs: seconds.append(time.perf_counter() - began[0]),
    )
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[timer])
    plain = [len(x) / s for s in seconds]
    return SpeedFigures(windows=len(x), ours=result.samples_per_second, plain=plain[-1], plain_epochs=plain)


@dataclass(frozen=True)
class CheckpointFigures:
    network: str
    epoch_ms: float
    """Median epoch of the fit without checkpoints, the first (XLA compilation) left out."""
    plain_seconds: float
    """The fit without checkpoints: the faster of two."""
    checked_seconds: float
    """The same fit with a checkpoint after every epoch (captured and serialised): the faster of two."""
    per_checkpoint_ms: float
    size_bytes: int


def _timed_fit(
    spec: NetworkSpec, data: Any, settings: Any, checkpoint: Any
) -> tuple[float, list[float], Any]:
    epochs: list[float] = []

    def timing(event: Any) -> None:
        if event.kind == "epoch":
            epochs.append(event.epoch_seconds)

    _, result = fit(spec, data[0], data[1], settings=settings, progress=timing, checkpoint=checkpoint)
    return result.seconds, epochs, result


def checkpoint_cost(regular: Regular, config: TrainingConfig, epochs: int) -> list[CheckpointFigures]:
    """``fit`` with and without a checkpoint after every epoch, for the job's network and a tiny one.

    Each variant runs twice, alternating, and the faster run counts: on a shared machine the
    difference between two fits is otherwise mostly other processes.
    """
    tiny = NetworkSpec(cell="LSTM", lookback=8, horizon=2, recurrent=(RecurrentLayer(4),))
    figures = []
    for name, spec in (("job's network", config.network), ("tiny LSTM-4, L=8", tiny)):
        prepared = prepare(
            regular, lookback=spec.lookback, horizon=spec.horizon,
            validation_ratio=config.validation_ratio, test_ratio=config.test_ratio, delta=config.delta,
        )  # fmt: skip
        data = ((prepared.train.x, prepared.train.y), (prepared.validation.x, prepared.validation.y))
        settings = dataclasses.replace(config.fit, epochs=epochs, patience=5, checkpoint_cost_ratio=0.0)
        sizes: list[int] = []

        def keep(state: FitState, sizes: list[int] = sizes) -> None:
            sizes.append(len(state.to_bytes()))

        plain, checked, epoch_times, costs = [], [], [], []
        for _ in range(2):
            seconds, times, _ = _timed_fit(spec, data, settings, None)
            plain.append(seconds)
            epoch_times.extend(times[1:])
            seconds, _, result = _timed_fit(spec, data, settings, keep)
            checked.append(seconds)
            costs.append(result.checkpoint_seconds / max(1, result.checkpoints))
        figures.append(
            CheckpointFigures(name, 1000 * statistics.median(epoch_times), min(plain), min(checked),
                              1000 * min(costs), sizes[-1])
        )  # fmt: skip
    return figures


def _u2(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of every fit (at least 2)")
    parser.add_argument("--skip-quality", action="store_true", help="skip bench/ml_quality.py's U2")
    parser.add_argument(
        "--shared-broker",
        action="store_true",
        help="use the configured broker, not a RabbitMQ node of our own",
    )
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the last epoch is the steady-state one")

    timestamps, values = synthetic_series(args.points, SEED)
    with tempfile.TemporaryDirectory(prefix="chronos-bench-") as work:
        job_figures = end_to_end(
            Path(work), timestamps, values, epochs=args.epochs, shared_broker=args.shared_broker
        )
    j = job_figures
    collect_rate = j.points_collected / j.collecting_seconds
    fit_note = f", fit {j.fit_seconds:.1f} s" if j.fit_seconds is not None else ""
    print(
        f"job {j.job_id}: COMPLETED in {j.wall_seconds:.1f} s wall ({j.server_seconds:.1f} s by the job), "
        f"{j.points_collected:,} points, {j.slots:,} slots, {j.train_windows:,} train windows, "
        f"{j.epochs_run} epochs"
    )
    print(
        f"  phases: queued {j.queued_seconds:.2f} s, collecting {j.collecting_seconds:.2f} s "
        f"({collect_rate:,.0f} points/s), preprocessing {j.preprocessing_seconds:.2f} s, "
        f"training {j.training_seconds:.1f} s{fit_note}"
    )
    print(
        f"  worker tree RSS: idle {j.idle_rss_mb:,.0f} MB, peak {j.peak_rss_mb:,.0f} MB "
        f"(largest process {j.peak_process_mb:,.0f} MB; {j.rss_samples} samples)"
    )

    # Only this process, now that the worker is gone: TensorFlow's C++ INFO lines drown the figures.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    bare = bare_ml(timestamps, values, j.config)
    print(
        f"bare ml: TensorFlow import {bare.tf_import_seconds:.1f} s + regularize "
        f"{bare.regularize_seconds:.2f} s + train_regular {bare.train_seconds:.1f} s (fit "
        f"{bare.fit_seconds:.1f} s) = {bare.total_seconds:.1f} s"
    )
    if len(bare.regular.values) != j.slots:
        print(f"warning: bare ml regularised {len(bare.regular.values)} slots, the job {j.slots}")
    ratio = j.wall_seconds / bare.total_seconds
    overhead_ok = ratio <= OVERHEAD_GOAL
    ratio_warm = j.wall_seconds / (bare.total_seconds - bare.tf_import_seconds)

    speed = training_speed(bare.regular, j.config, args.epochs)
    plain_steady = statistics.median(speed.plain_epochs[1:])
    print(
        f"training speed on {speed.windows:,} windows, last of {args.epochs} epochs: ml.training.fit "
        f"{speed.ours:,.0f} samples/s (batch {j.config.fit.batch_size}, tf.data, XLA, incl. validation) "
        f"vs plain Keras {speed.plain:,.0f} samples/s (batch 32, numpy; median of epochs 2+: "
        f"{plain_steady:,.0f}) = {speed.ratio:.2f}x"
    )

    costs = checkpoint_cost(bare.regular, j.config, args.epochs)
    job_share = j.checkpoint_seconds / j.fit_seconds if j.fit_seconds else math.nan
    print(
        f"checkpoints in the job: {j.checkpoints} of {j.checkpoint_bytes / 1024:,.0f} KiB, "
        f"{1000 * j.checkpoint_seconds / max(1, j.checkpoints):.1f} ms each with GridFS "
        f"({j.checkpoint_seconds:.2f} s = {job_share:.1%} of the fit's {j.fit_seconds or 0:.1f} s)"
    )
    for cost in costs:
        print(
            f"checkpoint every epoch, {cost.network}: {cost.size_bytes / 1024:,.1f} KiB, "
            f"{cost.per_checkpoint_ms:.1f} ms to capture and serialise against {cost.epoch_ms:,.0f} ms "
            f"an epoch; fit {cost.checked_seconds:.1f} s with, {cost.plain_seconds:.1f} s without"
        )

    quality: list[tuple[int, float | None]] = []
    if not args.skip_quality:
        from bench.ml_quality import measure_quality

        for row in measure_quality((1, 12)):
            quality.append((row.horizon, row.theil_u))
            print(
                f"quality H={row.horizon}: U2 {_u2(row.theil_u)} ({row.epochs_run} epochs, best "
                f"{row.best_epoch}, {row.seconds:.0f} s)"
            )

    rows: list[tuple[str, str, str, str]] = [
        ("end-to-end job, startTraining -> COMPLETED", f"{j.wall_seconds:.1f} s", "", ""),
        ("bare ml, TF import + regularize + train + export", f"{bare.total_seconds:.1f} s", "", ""),
        ("  of which TensorFlow import", f"{bare.tf_import_seconds:.1f} s", "", ""),
        ("overhead ratio (job / bare ml)", f"{ratio:.2f}", f"<= {OVERHEAD_GOAL}", _met(overhead_ok)),
        ("  ratio against bare ml without TF import", f"{ratio_warm:.2f}", "", ""),
        ("collection throughput", f"{collect_rate:,.0f} points/s", "", ""),
        ("points collected", f"{j.points_collected:,}", f"= {args.points:,}",
         _met(j.points_collected == args.points)),
        ("phase: queued (admission -> collecting)", f"{j.queued_seconds:.2f} s", "", ""),
        ("phase: collecting", f"{j.collecting_seconds:.2f} s", "", ""),
        ("phase: preprocessing", f"{j.preprocessing_seconds:.2f} s", "", ""),
        ("phase: training", f"{j.training_seconds:.1f} s", "", ""),
        ("train windows", f"{j.train_windows:,}", "", ""),
        ("peak worker tree RSS", f"{j.peak_rss_mb:,.0f} MB", "", ""),
        ("ml.training.fit samples/s (last epoch)", f"{speed.ours:,.0f}", "", ""),
        ("plain Keras samples/s (last epoch)", f"{speed.plain:,.0f}", "", ""),
        ("training speed ratio", f"{speed.ratio:.2f}x", f">= {SPEED_GOAL}x", _met(speed.ratio >= SPEED_GOAL)),
        ("job checkpoints (count, KiB each)", f"{j.checkpoints}, {j.checkpoint_bytes / 1024:,.0f}", "", ""),
        ("job checkpoint time / fit time", f"{job_share:.1%}", f"<= {CHECKPOINT_GOAL:.0%}",
         _met(job_share <= CHECKPOINT_GOAL)),
    ]  # fmt: skip
    for cost in costs:
        rows.append((f"checkpoint ms / epoch ms, {cost.network}",
                     f"{cost.per_checkpoint_ms:.1f} / {cost.epoch_ms:,.0f}", "", ""))  # fmt: skip
        rows.append(("  fit with / without every-epoch checkpoints",
                     f"{cost.checked_seconds / cost.plain_seconds:.2f}", "", ""))  # fmt: skip
    for horizon, theil_u in quality:
        met = _met(theil_u is not None and theil_u < 1)
        rows.append((f"U2 at H={horizon} (SST buoy)", _u2(theil_u), "< 1", met))
    print(f"\n{'figure':<50}{'value':>18}{'goal':>10}{'met':>5}")
    for name, value, goal, met in rows:
        print(f"{name:<50}{value:>18}{goal:>10}{met:>5}")


if __name__ == "__main__":
    main()
