"""The progress hub against a real Redis: fan-out, bounded queues, reconnects, clean exits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
import redis.asyncio as aioredis

from app.models.events import ModelEvent
from app.settings import Settings
from app.training.documents import TrainingStatus
from app.training.events import ProgressEvent, TrainingPhase, job_channel
from app.training.hub import RESYNC, Listener, ProgressHub, Resync


def event(job_id: UUID, seq: int, status: TrainingStatus = TrainingStatus.TRAINING) -> ProgressEvent:
    return ProgressEvent(
        job_id=job_id, model_id=job_id, seq=seq, at=datetime.now(UTC), status=status,
        phase=TrainingPhase.TRAINING, progress=0.5, message=None, points_collected=1, points_requested=1,
        epoch=seq, total_epochs=9, loss=0.1, val_loss=None, eta_seconds=None, metrics=None, error=None,
    )  # fmt: skip


@pytest.fixture
async def redis_client(test_settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    counts = await client.pubsub_numsub(channel)
    return int(counts[0][1])


async def drain(listener: Listener, until_seq: int) -> list[ProgressEvent | Resync]:
    received: list[ProgressEvent | Resync] = []
    while True:
        item = await asyncio.wait_for(listener.get(), 5)
        assert not isinstance(item, ModelEvent)  # a job channel carries none
        received.append(item)
        if isinstance(item, ProgressEvent) and item.seq >= until_seq:
            return received


async def test_events_reach_every_listener_and_channels_follow_listeners(
    hub: ProgressHub, redis_client: aioredis.Redis
) -> None:
    job = uuid4()
    channel = job_channel(job)
    async with hub.listen(channel) as first, hub.listen(channel) as second:
        assert await subscribers(redis_client, channel) == 1  # one connection for the process
        await redis_client.publish(channel, event(job, 1).to_json())
        await redis_client.publish(channel, event(job, 2, TrainingStatus.COMPLETED).to_json())
        for listener in (first, second):
            received = await drain(listener, 2)
            assert [e.seq for e in received if isinstance(e, ProgressEvent)] == [1, 2]
    assert await subscribers(redis_client, channel) == 0
    assert hub.stats().channels == 0 and hub.stats().listeners == 0


async def test_a_slow_listener_loses_progress_but_never_the_terminal_event(
    hub: ProgressHub, redis_client: aioredis.Redis
) -> None:
    job = uuid4()
    channel = job_channel(job)
    async with hub.listen(channel) as slow:
        for seq in range(1, 101):
            await redis_client.publish(channel, event(job, seq).to_json())
        await redis_client.publish(channel, event(job, 101, TrainingStatus.FAILED).to_json())
        # The listener reads nothing until the hub has queued everything: a client that slow.
        for _ in range(100):
            if any(isinstance(item, ProgressEvent) and item.terminal for item in slow.items):
                break
            await asyncio.sleep(0.05)
        received = await drain(slow, 101)
        seqs = [e.seq for e in received if isinstance(e, ProgressEvent)]
    assert seqs[-1] == 101 and len(seqs) <= 8
    assert seqs == sorted(seqs)
    assert hub.stats().dropped >= 93


async def test_two_hundred_subscribers_see_the_end_and_leave_nothing_behind(
    hub: ProgressHub, redis_client: aioredis.Redis
) -> None:
    job = uuid4()
    channel = job_channel(job)
    tasks_before = len(asyncio.all_tasks())

    async def follow(ready: asyncio.Event, count: list[int]) -> int:
        async with hub.listen(channel) as listener:
            count.append(1)
            if len(count) == 200:
                ready.set()
            received = await drain(listener, 3)
            return received[-1].seq if isinstance(received[-1], ProgressEvent) else -1

    ready, count = asyncio.Event(), list[int]()
    followers = [asyncio.create_task(follow(ready, count)) for _ in range(200)]
    await asyncio.wait_for(ready.wait(), 5)
    assert hub.stats().listeners == 200 and await subscribers(redis_client, channel) == 1
    for seq in (1, 2):
        await redis_client.publish(channel, event(job, seq).to_json())
    await redis_client.publish(channel, event(job, 3, TrainingStatus.COMPLETED).to_json())
    assert await asyncio.gather(*followers) == [3] * 200
    assert hub.stats().listeners == 0 and hub.stats().channels == 0
    assert await subscribers(redis_client, channel) == 0
    assert len(asyncio.all_tasks()) == tasks_before


async def test_cancelled_subscribers_free_their_listeners(
    hub: ProgressHub, redis_client: aioredis.Redis
) -> None:
    channel = job_channel(uuid4())

    async def wait_forever() -> None:
        async with hub.listen(channel) as listener:
            await listener.get()

    waiting = [asyncio.create_task(wait_forever()) for _ in range(50)]
    await asyncio.sleep(0.2)
    assert hub.stats().listeners == 50
    for task in waiting:
        task.cancel()
    for task in waiting:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert hub.stats().listeners == 0 and await subscribers(redis_client, channel) == 0


async def test_a_lost_redis_connection_is_rebuilt_and_listeners_told_to_resync(
    hub: ProgressHub, redis_client: aioredis.Redis
) -> None:
    job = uuid4()
    channel = job_channel(job)
    async with hub.listen(channel) as listener:
        ours = [c for c in await redis_client.client_list() if c.get("name") == hub.client_name]
        assert ours, "the hub's connection is named"
        assert await redis_client.client_kill_filter(_id=ours[0]["id"]) == 1
        item = await asyncio.wait_for(listener.get(), 10)
        assert isinstance(item, Resync)
        assert await hub.wait_connected(10) and hub.stats().reconnects >= 1
        assert await subscribers(redis_client, channel) == 1
        await redis_client.publish(channel, event(job, 7, TrainingStatus.COMPLETED).to_json())
        received = await drain(listener, 7)
    assert isinstance(received[-1], ProgressEvent) and received[-1].terminal


async def test_a_quiet_listener_is_told_to_resync_and_a_busy_one_is_not(hub: ProgressHub) -> None:
    channel = job_channel(uuid4())
    async with hub.listen(channel, quiet_after=0.2) as quiet, hub.listen(channel, quiet_after=0.2) as fed:
        started = asyncio.get_running_loop().time()
        for seq in range(8):  # 0.4 s of events every 0.05 s, offered straight to one listener
            fed.offer(event(uuid4(), seq))
            await asyncio.sleep(0.05)
        assert isinstance(await asyncio.wait_for(quiet.get(), 1), Resync)
        assert asyncio.get_running_loop().time() - started >= 0.2
        assert not any(isinstance(item, Resync) for item in fed.items)
        # A listener whose follower lags keeps its events and gains no markers while it lags.
        await asyncio.sleep(0.5)
        assert len(fed.items) == 8 and not any(isinstance(item, Resync) for item in fed.items)
        assert quiet.items.count(RESYNC) <= 1
