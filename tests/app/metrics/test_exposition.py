"""GET /metrics on the real API: operations, subscriptions and the cluster's series move."""

from __future__ import annotations

import asyncio
import time

import httpx
import redis
import redis.asyncio as aioredis
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from prometheus_client import generate_latest

from app.devstack import free_port
from app.dispatch import producer
from app.metrics import cluster
from app.metrics.exposition import MAX_OPERATION_NAMES, OTHER, ProcessMetrics, read_cluster
from app.settings import Settings
from app.system.workers import WorkerWatch
from app.timeutil import utcnow
from app.training.documents import MissReason
from tests.app.metrics.test_monitoring import IDLE_HUB, full_windows, model_document
from tests.support import ApiServer, GraphQL, WorkerProcess, sample, scrape

DURATION = "chronos_graphql_operation_duration_seconds_count"


async def test_operations_are_timed_by_name_and_outcome(api: ApiServer, gql: GraphQL) -> None:
    before = scrape(api)
    for _ in range(3):
        await gql.ok("query MetricsProbe { modelTypes { value } }")
    await gql.run("query MetricsBroken { noSuchField }")
    after = scrape(api)
    ok = {"operation": "MetricsProbe", "type": "query", "outcome": "ok"}
    assert sample(after, DURATION, **ok) - sample(before, DURATION, **ok) == 3
    assert sample(after, "chronos_graphql_operation_duration_seconds_bucket", **ok, le="+Inf") >= 3
    broken = {"operation": "MetricsBroken", "type": "unknown", "outcome": "error"}
    refused = sample(after, DURATION, **broken) or sample(after, DURATION, **{**broken, "type": "query"})
    assert refused >= 1, "a document that fails validation is counted as an error"
    for status in ("PENDING", "TRAINING", "COMPLETED", "FAILED", "CANCELLED"):
        assert ("chronos_training_jobs", frozenset({("status", status)})) in after
    assert sample(after, "chronos_progress_hub_connected") == 1
    # The standard collectors of the API process itself.
    assert sample(after, "process_resident_memory_bytes") > 10_000_000
    assert sample(after, "process_cpu_seconds_total") > 0 and sample(after, "process_open_fds") > 0
    assert sample(after, "process_start_time_seconds") > 1_700_000_000
    names = {name for name, _ in after}
    assert "python_info" in names and any(name.startswith("python_gc_") for name in names)


async def test_open_subscriptions_are_counted_while_they_stream(api: ApiServer) -> None:
    transport = WebsocketsTransport(url=api.graphql_url.replace("http", "ws"), init_payload=api.init_payload)
    request = GraphQLRequest("subscription MetricsHealth { healthUpdates(intervalSeconds: 1) { status } }")
    before = scrape(api)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        async for _ in session.subscribe(request):
            during = scrape(api)
            break
    active = "chronos_graphql_active_subscriptions"
    assert sample(during, active) == sample(before, active) + 1
    ended = "chronos_graphql_subscriptions_total"
    for _ in range(50):  # the server notices the client leaving on its own time
        after = scrape(api)
        if sample(after, active) == sample(before, active):
            break
        await asyncio.sleep(0.1)
    assert sample(after, active) == sample(before, active)
    assert sample(after, ended, operation="MetricsHealth", outcome="ok") == 1


def test_client_invented_operation_names_cannot_grow_the_label_set() -> None:
    metrics = ProcessMetrics()
    labels = {metrics.operation_label(f"Op{n}") for n in range(MAX_OPERATION_NAMES + 50)}
    assert len(labels) == MAX_OPERATION_NAMES + 1 and OTHER in labels
    assert metrics.operation_label("Op0") == "Op0" and metrics.operation_label(None) == "anonymous"


def test_a_name_no_document_can_declare_is_other_and_the_exposition_still_renders() -> None:
    # A client's operationName with a lone surrogate once made /metrics answer 500 until a restart.
    metrics = ProcessMetrics()
    for name in ("\ud800", "not a name", "1st", "Ünïcode"):
        assert metrics.operation_label(name) == OTHER
        metrics.observe_operation(name=name, kind="query", outcome="error", seconds=0.01)
    assert generate_latest(metrics.registry).decode().count('operation="other"') >= 1


async def test_missed_forecast_slots_are_exported_for_every_reason_and_only_those(
    api: ApiServer, test_settings: Settings
) -> None:
    client = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        before = scrape(api)
        await cluster.record_missed_slots(client, reason=MissReason.INSUFFICIENT_DATA.value, count=2)
        # A field no worker writes (an old version's reason, a typo) never becomes a label.
        await cluster.record_missed_slots(client, reason="NOT_A_REASON", count=1)
        after = scrape(api)
    finally:
        await client.aclose()
    missed = "chronos_forecast_slots_missed_total"
    assert (
        sample(after, missed, reason="INSUFFICIENT_DATA") - sample(before, missed, reason="INSUFFICIENT_DATA")
        == 2
    )
    labels = {dict(labels)["reason"] for name, labels in after if name == missed}
    assert labels == {reason.value for reason in MissReason}
    text = httpx.get(f"{api.url}/metrics", headers=api.headers, timeout=10).text
    assert "# TYPE chronos_forecast_slots_missed_total counter" in text
    assert "missedCount in MongoDB is the durable record" in text


async def test_lateness_and_retrainings_are_exported_from_the_start_and_add_up(
    api: ApiServer, test_settings: Settings
) -> None:
    before = scrape(api)
    buckets = {
        dict(labels)["le"] for name, labels in before if name == "chronos_forecast_lateness_seconds_bucket"
    }
    assert buckets == {f"{bound:g}" for bound in cluster.LATENESS_BUCKETS} | {"+Inf"}
    retrainings = "chronos_model_retrainings_total"
    assert {dict(labels)["outcome"] for name, labels in before if name == retrainings} == set(
        cluster.RETRAINING_OUTCOMES
    )
    client = redis.Redis.from_url(test_settings.redis_url)
    try:
        cluster.record_forecast_lateness(client, seconds=[0.2, 0.2, 0.2])
        cluster.record_retraining(client, outcome="skipped")
    finally:
        client.close()
    after = scrape(api)
    # Workers running in the session may add their own meanwhile: at least ours.
    lateness = "chronos_forecast_lateness_seconds_bucket"
    assert sample(after, lateness, le="0.25") - sample(before, lateness, le="0.25") >= 3
    assert (
        sample(after, "chronos_forecast_lateness_seconds_count")
        - sample(before, "chronos_forecast_lateness_seconds_count")
        >= 3
    )
    assert sample(after, retrainings, outcome="skipped") - sample(before, retrainings, outcome="skipped") >= 1
    text = httpx.get(f"{api.url}/metrics", headers=api.headers, timeout=10).text
    assert "# TYPE chronos_forecast_lateness_seconds histogram" in text
    assert "# TYPE chronos_workers_alive gauge" in text
    assert "# HELP chronos_model_live_rmse" in text and "most recently evaluated models are exported" in text


async def test_workers_alive_counts_the_workers_the_api_hears(api: ApiServer, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + 30
    while (alive := sample(scrape(api), "chronos_workers_alive")) < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert alive >= 1


async def test_a_reading_gathers_the_models_and_no_worker_when_the_broker_is_unheard(
    beanie_db: str, test_settings: Settings
) -> None:
    model = model_document(evaluated_at=utcnow(), windows=full_windows())
    await model.insert()
    broker = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    watch = WorkerWatch(
        broker_url=broker, celery=producer(Settings(_env_file=None, celery_broker_url=broker)), timeout=1.0
    )
    watch.start()
    client = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        reading = await read_cluster(redis=client, hub=IDLE_HUB, workers=watch)
    finally:
        await client.aclose()
        await asyncio.to_thread(watch.stop)
    assert reading.workers_alive == 0
    assert [m.id for m in reading.models] == [model.id]
    assert set(reading.retrainings) <= set(cluster.RETRAINING_OUTCOMES)
