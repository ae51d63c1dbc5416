"""Benchmark: ``predict`` through GraphQL, cold and warm, next to the bare model call.

A default-sized network (LSTM-32, lookback 48, horizon 24, delta targets) is trained once in this
process on a 1-minute series; its artifacts are stored for ``--jobs`` COMPLETED jobs, and the
series goes into the STH-Comet sandbox (in-thread, page size 100). A real uvicorn API answers:

* warm - ``predict`` of one job whose ONNX session is loaded: p50/p99 over ``--calls`` calls,
         each reading its context from STH-Comet (count + newest pages) over HTTP;
* cold - the first ``predict`` of each of the other jobs: artifacts read from GridFS, ONNX
         session built, then the same forecast;
* bare - in this process, the loaded ``OnnxForecaster.forecast`` on the same window, and the STH
         context read alone, for where the time goes.

Goals (issue 7): warm p50 <= 10 ms including the STH read, cold <= 60 ms.

    .venv/bin/python bench/predict_latency.py [--calls 200] [--jobs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import connect_mongo, init_documents  # noqa: E402
from app.devstack import Stack, ensure_services, free_port  # noqa: E402
from app.models.documents import ModelDocument  # noqa: E402
from app.models.enums import ModelType, TargetMode  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.training import storage  # noqa: E402
from app.training.config import snapshot  # noqa: E402
from app.training.documents import DataSummary, TrainingJobDocument, TrainingRequest, TrainingStatus  # noqa: E402
from fiware.http import Tenant, make_http_client  # noqa: E402
from fiware.sandbox.runner import running_sandbox  # noqa: E402
from fiware.sth import Series, SthClient  # noqa: E402
from ml.network import NetworkSpec, RecurrentLayer  # noqa: E402
from ml.pipeline import TrainingConfig, train_regular  # noqa: E402
from ml.series import regularize  # noqa: E402
from ml.serving import OnnxForecaster, recent_window  # noqa: E402
from ml.training import FitSettings  # noqa: E402
from tests.support import run_api  # noqa: E402

LOOKBACK, HORIZON, POINTS = 48, 24, 3_000
ENTITY = "urn:ngsi-ld:Sensor:bench-predict"
QUERY = "query($id: ID!) { predict(trainingJobId: $id) { horizon points { step value targetTimestamp } } }"


def series() -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    rng = np.random.default_rng(7)
    minutes = np.arange(POINTS, dtype=np.float64)
    values = 15 + 4 * np.sin(2 * np.pi * minutes / 1440) + np.cumsum(rng.normal(0, 0.02, POINTS))
    start = (datetime.now(UTC) - timedelta(minutes=POINTS)).timestamp()
    return start + 60.0 * minutes, values


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "n": float(len(ordered)),
    }


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def store_jobs(settings: Settings, outcome: Any, jobs: int, interval: float) -> list[str]:
    client = connect_mongo(settings.mongo_url, timeout_seconds=5)
    await init_documents(client, settings.mongo_database)
    model = ModelDocument(
        name="bench",
        model_type=ModelType.LSTM,
        rnn_layers=[{"units": 32}],
        dense_layers=[],
        lookback_window=LOOKBACK,
        forecast_horizon=HORIZON,
        target_mode=TargetMode.DELTA,
        batch_size=64,
        epochs=2,
        learning_rate=0.001,
        validation_ratio=0.15,
        test_ratio=0.15,
        entity_type="Sensor",
        entity_id=ENTITY,
        feature="temperature",
        fiware_service="smart",
        fiware_service_path="/",
    )
    await model.insert()
    now = datetime.now(UTC)
    ids = []
    for _ in range(jobs):
        job_id = uuid4()
        artifacts = [
            await storage.store_artifact(
                job_id=job_id,
                model_id=model.id,
                run="bench",
                name=name,
                data=data,
                content_type="application/octet-stream",
            )
            for name, data in (
                ("model.onnx", outcome.onnx),
                ("scaler.json", json.dumps(outcome.scaler.to_json()).encode()),
            )
        ]
        await TrainingJobDocument(
            id=job_id,
            model_id=model.id,
            status=TrainingStatus.COMPLETED,
            request=TrainingRequest(last_n=POINTS),
            config=snapshot(model),
            request_fingerprint="bench",
            artifacts=artifacts,
            summary=DataSummary(
                raw_points=POINTS,
                dropped_non_finite=0,
                merged_duplicates=0,
                slots=POINTS,
                filled=0,
                gaps=0,
                missing=0,
                sampling_interval_seconds=interval,
                series_start=now,
                series_end=now,
            ),
        ).insert()
        ids.append(str(job_id))
    await client.close()
    return ids


async def measure(args: argparse.Namespace) -> None:
    timestamps, values = series()
    regular = regularize(timestamps, values)
    config = TrainingConfig(
        network=NetworkSpec("LSTM", lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(32),)),
        fit=FitSettings(epochs=2, patience=0),
    )
    print("training the benchmark network once (2 epochs) ...", flush=True)
    outcome = train_regular(regular, config)
    assert outcome.onnx is not None

    stack = Stack()
    with tempfile.TemporaryDirectory() as work, running_sandbox() as sandbox:
        try:
            broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
            base = Settings(_env_file=None, data_dir=Path(work), celery_broker_url=broker)
            overrides = ensure_services(base, stack=stack, memory_mongo=True, sandbox=False)
            env = {
                **{
                    f"CHRONOS_{name.upper()}": str(getattr(base, name))
                    for name in ("mongo_url", "redis_url", "celery_broker_url")
                },
                **overrides,
                "CHRONOS_ENVIRONMENT": "test",
                "CHRONOS_MONGO_DATABASE": "bench_predict",
                "CHRONOS_STH_COMET_URL": sandbox.sth_url,
                "CHRONOS_ORION_URL": sandbox.orion_url,
                "CHRONOS_IOT_AGENT_URL": sandbox.iota_url,
                "CHRONOS_LOG_LEVEL": "WARNING",
            }
            fields: dict[str, Any] = {k.removeprefix("CHRONOS_").lower(): v for k, v in env.items()}
            settings = Settings(_env_file=None, **fields)
            sandbox.sth.add_points(
                service="smart",
                service_path="/",
                entity_type="Sensor",
                entity_id=ENTITY,
                attr_name="temperature",
                attr_type="Number",
                points=[
                    (datetime.fromtimestamp(t, UTC), float(v))
                    for t, v in zip(timestamps, values, strict=True)
                ],
            )
            jobs = await store_jobs(settings, outcome, args.jobs + 1, regular.interval)
            with run_api(env, Path(work)) as api:
                async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:

                    async def predict(job_id: str) -> None:
                        response = await http.post(
                            "/graphql", json={"query": QUERY, "variables": {"id": job_id}}
                        )
                        body = response.json()
                        assert "errors" not in body, body
                        assert len(body["data"]["predict"]["points"]) == HORIZON

                    cold = []
                    for job in jobs[1:]:
                        started = time.perf_counter()
                        await predict(job)
                        cold.append(time.perf_counter() - started)
                    warm_job = jobs[0]
                    for _ in range(20):
                        await predict(warm_job)
                    warm = [await timed(lambda: predict(warm_job)) for _ in range(args.calls)]

            # Where the time goes, in this process: the STH read alone, and the bare network call.
            sth_http = make_http_client(sandbox.sth_url, timeout=10)
            sth = SthClient(sth_http)
            target = Series("Sensor", ENTITY, "temperature")
            tenant = Tenant("smart", "/")
            for _ in range(10):
                await sth.newest(target, tenant, n=LOOKBACK * 2)
            reads = [
                await timed(lambda: sth.newest(target, tenant, n=int(LOOKBACK * 1.5) + 4))
                for _ in range(args.calls)
            ]
            await sth_http.aclose()
            forecaster = OnnxForecaster(
                outcome.onnx, outcome.scaler, lookback=LOOKBACK, delta=True, channels=outcome.channels
            )
            window = recent_window(
                timestamps, values, interval=regular.interval, lookback=LOOKBACK, max_gap_steps=3
            )
            for _ in range(50):
                forecaster.forecast(window.values, window.timestamps)
            bare = []
            for _ in range(args.calls):
                started = time.perf_counter()
                forecaster.forecast(window.values, window.timestamps)
                bare.append(time.perf_counter() - started)
        finally:
            stack.stop()

    rows = [
        ("warm predict via GraphQL (incl. STH read)", percentiles(warm), 10.0),
        ("cold predict via GraphQL (GridFS + ONNX load)", percentiles(cold), 60.0),
        ("STH context read alone (client in-process)", percentiles(reads), None),
        ("bare OnnxForecaster.forecast", percentiles(bare), None),
    ]
    print(f"\npredict H={HORIZON}, L={LOOKBACK}, LSTM-32; {args.calls} warm calls, {len(cold)} cold calls\n")
    print(f"{'path':<48}{'p50 ms':>10}{'p99 ms':>10}{'goal p50':>10}{'met':>6}")
    for name, figures, goal in rows:
        met = "" if goal is None else ("yes" if figures["p50"] <= goal else "NO")
        print(
            f"{name:<48}{figures['p50']:>10.2f}{figures['p99']:>10.2f}"
            f"{'' if goal is None else goal:>10}{met:>6}"
        )
    warm_p50, bare_p50 = rows[0][1]["p50"], rows[3][1]["p50"]
    print(
        f"\nwarm predict / bare model call: {warm_p50 / bare_p50:,.0f}x"
        " (the network is not where the time goes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=30, help="cold calls: one per job")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
