"""Cluster counters in a real Redis: what workers add is what the API reads back."""

from __future__ import annotations

import math
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


@pytest.fixture
def own_keys(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """The lateness and retraining hashes under keys of this test's own: they have no label to keep
    a test's additions apart from a running worker's."""
    keys = (f"test:lateness:{uuid4().hex}", f"test:retrainings:{uuid4().hex}")
    monkeypatch.setattr(cluster, "LATENESS_KEY", keys[0])
    monkeypatch.setattr(cluster, "RETRAININGS_KEY", keys[1])
    try:
        yield keys
    finally:
        client.delete(*keys)


def test_lateness_becomes_a_cumulative_histogram_one_or_a_batch_at_a_time(
    client: redis.Redis, own_keys: tuple[str, str]
) -> None:
    cluster.record_forecast_lateness(client, seconds=0.05)
    cluster.record_forecast_lateness(client, seconds=0.1)  # a bound is inside its bucket
    cluster.record_forecast_lateness(client, seconds=-3.0)  # a worker clock ahead: counts as 0
    cluster.record_forecast_lateness(client, seconds=[0.3, 0.3, 4.0, 1_000.0, math.nan, math.inf])
    cluster.record_forecast_lateness(client, seconds=[])
    histogram = cluster.lateness_histogram(client.hgetall(own_keys[0]))
    rows = dict(histogram.cumulative())
    assert list(rows) == [f"{b:g}" for b in cluster.LATENESS_BUCKETS] + ["+Inf"]
    assert rows["0.1"] == 3 and rows["0.25"] == 3 and rows["0.5"] == 5 and rows["3"] == 5
    assert rows["5"] == 6 and rows["300"] == 6, "beyond the last bound only +Inf counts it"
    assert rows["+Inf"] == histogram.count == 7, "NaN and infinity are not observations"
    assert histogram.total == pytest.approx(0.05 + 0.1 + 0.6 + 4.0 + 1_000.0)


def test_retrainings_are_counted_by_outcome_and_only_known_outcomes(
    client: redis.Redis, own_keys: tuple[str, str]
) -> None:
    for outcome, times in (("promoted", 2), ("kept", 3), ("failed", 1)):
        for _ in range(times):
            cluster.record_retraining(client, outcome=outcome)
    with pytest.raises(ValueError, match="not one of promoted, kept, failed, skipped"):
        cluster.record_retraining(client, outcome="promotd")
    assert cluster.forecast_runs(client.hgetall(own_keys[1])) == {"failed": 1, "kept": 3, "promoted": 2}


def test_an_empty_or_garbled_lateness_hash_reads_as_zero() -> None:
    empty = cluster.lateness_histogram({})
    assert empty.count == 0 and all(count == 0 for _, count in empty.cumulative())
    garbled = cluster.lateness_histogram({b"count": b"x", b"sum": b"2.5", b"0.1": b"1", b"+Inf": b"?"})
    assert garbled.count == 0 and garbled.total == 2.5 and dict(garbled.cumulative())["0.1"] == 1
