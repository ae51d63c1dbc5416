"""Cluster counters in a real Redis: what workers add is what the API reads back."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis
import redis.asyncio as aioredis

from app.metrics import cluster
from app.settings import Settings


@pytest.fixture
def client(test_settings: Settings) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(test_settings.redis_url)
    try:
        yield connection
    finally:
        connection.close()


def test_task_durations_become_cumulative_histograms(client: redis.Redis) -> None:
    task = f"test.task.{uuid4().hex}"  # the hash is shared with running workers: a name of our own
    for seconds in (0.07, 3.0, 100_000.0):
        cluster.record_task(client, task=task, outcome="succeeded", seconds=seconds)
    cluster.record_task(client, task=task, outcome="failed", seconds=0.2)
    found = [h for h in cluster.task_histograms(client.hgetall(cluster.TASK_SECONDS_KEY)) if h.task == task]
    assert [h.outcome for h in found] == ["failed", "succeeded"]
    succeeded = dict(found[1].cumulative())
    assert succeeded["0.05"] == 0 and succeeded["0.1"] == 1 and succeeded["2.5"] == 1
    assert succeeded["5"] == 2 and succeeded["86400"] == 2, "beyond the last bound only +Inf counts it"
    assert succeeded["+Inf"] == found[1].count == 3
    assert found[1].total == pytest.approx(100_003.07)
    assert list(succeeded) == [f"{b:g}" for b in cluster.BUCKETS] + ["+Inf"]
    assert dict(found[0].cumulative())["0.25"] == 1


def test_forecast_outcomes_are_counted_and_garbage_is_ignored(client: redis.Redis) -> None:
    outcome = f"test-{uuid4().hex}"
    before = cluster.forecast_runs(client.hgetall(cluster.FORECAST_RUNS_KEY)).get(outcome, 0)
    for _ in range(3):
        cluster.record_forecast(client, outcome=outcome)
    assert cluster.forecast_runs(client.hgetall(cluster.FORECAST_RUNS_KEY))[outcome] == before + 3
    assert cluster.task_histograms({b"no-tabs": b"1", b"a\tb\tcount": b"x"}) == []


async def test_missed_slots_add_up_by_reason(test_settings: Settings) -> None:
    reason = f"test-{uuid4().hex}"  # the hash is shared with running workers: a name of our own
    client = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        await cluster.record_missed_slots(client, reason=reason, count=3)
        await cluster.record_missed_slots(client, reason=reason, count=4000)
        counted = cluster.forecast_runs(await client.hgetall(cluster.SLOTS_MISSED_KEY))
    finally:
        await client.aclose()
    assert counted[reason] == 4003
