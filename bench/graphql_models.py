"""Benchmark: ``models(first: 50)`` through the full stack vs the same page read with Beanie.

With 1,000 models stored, measures requests/s and p50/p99 latency of

* baseline - the page read directly with Beanie in this process (query + document parsing);
* api      - the GraphQL query over HTTP to a real uvicorn process (ASGI, Strawberry, Beanie,
             JSON), sent by an httpx client,

each at concurrency 1 and 8, in the same run against the same database, and prints the ratios.
MongoDB is SecantusDB (a Python wire server, slower than mongod), started in memory unless
``--mongo-url`` points elsewhere: compare the two paths, not absolute figures across servers.

    .venv/bin/python bench/graphql_models.py [--requests 400] [--mongo-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.auth.tenancy import EVERY_TENANT  # noqa: E402
from app.db import connect_mongo, init_documents  # noqa: E402
from app.devstack import Stack, free_port, start_secantus  # noqa: E402
from app.models import ModelDocument, ModelType, TargetMode  # noqa: E402
from app.models.service import ModelFilter, list_models  # noqa: E402
from tests.support import run_api  # noqa: E402

PAGE = 50
QUERY = """
query Page($first: Int!) {
  models(first: $first) {
    edges { cursor node { id name modelType status entityId feature lookbackWindow forecastHorizon
      createdAt updatedAt rnnLayers { units dropout recurrentDropout } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def document(i: int) -> ModelDocument:
    return ModelDocument(
        name=f"LSTM - temperature {i}",
        model_type=ModelType.LSTM,
        rnn_layers=[{"units": 32}],
        dense_layers=[],
        lookback_window=48,
        forecast_horizon=12,
        target_mode=TargetMode.DELTA,
        batch_size=64,
        epochs=50,
        learning_rate=0.001,
        validation_ratio=0.15,
        test_ratio=0.15,
        entity_type="Sensor",
        entity_id=f"urn:ngsi-ld:Sensor:{i:04d}",
        feature="temperature",
        fiware_service="smart",
        fiware_service_path="/",
    )


async def measure(call: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> dict[str, float]:
    for _ in range(20):
        await call()
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def run(mongo_url: str, requests: int) -> None:
    client = connect_mongo(mongo_url, timeout_seconds=10)
    database = "chronos_bench"
    await client.drop_database(database)
    await init_documents(client, database)
    await ModelDocument.insert_many([document(i) for i in range(1000)])
    print(f"stored models: {await ModelDocument.count()}")

    async def beanie_page() -> None:
        page = await list_models(model_filter=ModelFilter(), first=PAGE, after=None, scope=EVERY_TENANT)
        assert len(page.edges) == PAGE

    env = {"CHRONOS_MONGO_URL": mongo_url, "CHRONOS_MONGO_DATABASE": database, "CHRONOS_LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as logs, run_api(env, Path(logs)) as server:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as http:

            async def api_page() -> None:
                response = await http.post(
                    server.graphql_url, json={"query": QUERY, "variables": {"first": PAGE}}
                )
                body: dict[str, Any] = response.json()
                assert "errors" not in body and len(body["data"]["models"]["edges"]) == PAGE

            print(f"\nmodels(first: {PAGE}), {requests} requests per row")
            print(f"{'path':<10}{'conc':>6}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
            for concurrency in (1, 8):
                base = await measure(beanie_page, requests, concurrency)
                full = await measure(api_page, requests, concurrency)
                for name, row in (("beanie", base), ("api", full)):
                    print(
                        f"{name:<10}{concurrency:>6}{row['rps']:>10.1f}{row['p50']:>10.2f}{row['p99']:>10.2f}"
                    )
                print(
                    f"{'ratio':<10}{concurrency:>6}{full['rps'] / base['rps']:>10.2f}"
                    f"{full['p50'] / base['p50']:>10.2f}{full['p99'] / base['p99']:>10.2f}"
                    "   (api / beanie)"
                )
    await client.drop_database(database)
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--mongo-url", default=None, help="use this MongoDB instead of a fresh SecantusDB")
    args = parser.parse_args()
    stack = Stack()
    try:
        mongo_url = args.mongo_url or start_secantus(stack, port=free_port(), storage=":memory:")
        asyncio.run(run(mongo_url, args.requests))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
