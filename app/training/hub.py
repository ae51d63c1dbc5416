"""One Redis pub/sub connection per API process, fanned out to every subscriber in it.

Channels are reference-counted: the first local listener of a job SUBSCRIBEs, the last one
UNSUBSCRIBEs. Each listener has a bounded queue: when a slow client lets it fill up, the oldest
progress event is dropped (a newer one says more), but a terminal event or a resync marker is
never dropped. When Redis goes away the hub reconnects with backoff and jitter, subscribes again
to every channel in use, and hands each listener a :data:`RESYNC` marker, so it re-reads the job
(events published during the gap are lost: pub/sub is at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from app.models.events import MODELS_CHANNEL, ModelEvent
from app.training.events import ProgressEvent

log = structlog.get_logger(__name__)

# The hub stays subscribed to this one so its connection (and its reconnect loop) always runs.
HUB_CHANNEL: Final = "chronos:hub"
QUEUE_SIZE = 16
BACKOFF_START, BACKOFF_MAX = 0.1, 5.0


class Resync:
    """Events may have been lost: re-read the snapshot."""


RESYNC: Final = Resync()
Item = ProgressEvent | ModelEvent | Resync


class Listener:
    """One subscriber's bounded queue of events.

    With ``quiet_after``, a listener that has been offered nothing for that long is offered a
    :data:`RESYNC` marker, so its follower re-reads the snapshot. One timer per listener,
    re-armed only when it fires: an event costs no timer work, which matters when one event
    goes to a thousand listeners.
    """

    def __init__(self, channel: str, size: int, *, quiet_after: float | None = None) -> None:
        self.channel = channel
        self.size = size
        self.items: deque[Item] = deque()
        self.dropped = 0
        self._loop = asyncio.get_running_loop()
        # A bare future rather than an asyncio.Event: cheaper to wake, once per event per listener.
        self._waiter: asyncio.Future[None] | None = None
        self._quiet_after = quiet_after
        self._heard = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        if quiet_after is not None:
            self._timer = self._loop.call_at(self._heard + quiet_after, self._check_quiet)

    def offer(self, item: Item) -> None:
        self._heard = self._loop.time()
        if len(self.items) >= self.size:
            # Make room by dropping the oldest progress event; terminal events and markers stay.
            for index, queued in enumerate(self.items):
                if isinstance(queued, ProgressEvent) and not queued.terminal:
                    del self.items[index]
                    self.dropped += 1
                    break
            else:
                if isinstance(item, ProgressEvent) and not item.terminal:
                    self.dropped += 1
                    return
        self.items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _check_quiet(self) -> None:
        assert self._quiet_after is not None
        due = self._heard + self._quiet_after
        if self._loop.time() >= due:
            if not self.items:  # a follower with events waiting is busy, not starved
                self.offer(RESYNC)
            due = self._loop.time() + self._quiet_after
        self._timer = self._loop.call_at(due, self._check_quiet)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def get(self) -> Item:
        while not self.items:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.items.popleft()


@dataclass
class HubStats:
    connected: bool
    channels: int
    listeners: int
    dropped: int
    reconnects: int


class ProgressHub:
    def __init__(self, redis_url: str, *, queue_size: int = QUEUE_SIZE) -> None:
        # Named, so an operator (or a test) can find this process's connection in CLIENT LIST.
        self.client_name = f"chronos-hub-{os.getpid()}-{id(self):x}"
        # No socket timeout: a pub/sub connection is quiet between events. Health checks find a
        # dead socket instead.
        self._redis = aioredis.Redis.from_url(
            redis_url, health_check_interval=10, socket_connect_timeout=2, client_name=self.client_name
        )
        self._queue_size = queue_size
        self._listeners: dict[str, set[Listener]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._dropped = 0
        self._reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="progress-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        await self._redis.aclose()

    def stats(self) -> HubStats:
        return HubStats(
            connected=self._connected.is_set(),
            channels=len(self._listeners),
            listeners=sum(len(group) for group in self._listeners.values()),
            dropped=self._dropped
            + sum(listener.dropped for group in self._listeners.values() for listener in group),
            reconnects=self._reconnects,
        )

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @contextlib.asynccontextmanager
    async def listen(self, channel: str, *, quiet_after: float | None = None) -> AsyncIterator[Listener]:
        """A listener of ``channel`` for the duration of the block; nothing of it remains after."""
        listener = Listener(channel, self._queue_size, quiet_after=quiet_after)
        group = self._listeners.setdefault(channel, set())
        group.add(listener)
        if len(group) == 1:
            await self._subscribe(channel)
        try:
            yield listener
        finally:
            listener.close()
            group.discard(listener)
            self._dropped += listener.dropped
            if not group and self._listeners.get(channel) is group:
                del self._listeners[channel]
                await self._unsubscribe(channel)

    async def _subscribe(self, channel: str) -> None:
        async with self._lock:
            if self._pubsub is not None and self._connected.is_set():
                with contextlib.suppress(RedisError, OSError):
                    # A failure here is a lost connection: the reader loop resubscribes everything.
                    await self._pubsub.subscribe(channel)

    async def _unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if self._pubsub is not None and self._connected.is_set():
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel)

    def _deliver(self, channel: str, data: bytes) -> None:
        group = self._listeners.get(channel)
        if not group:
            return
        try:
            event: ProgressEvent | ModelEvent = (
                ModelEvent.from_json(data) if channel == MODELS_CHANNEL else ProgressEvent.from_json(data)
            )
        except (ValueError, KeyError, TypeError):
            log.warning("hub.bad_message", channel=channel)
            return
        for listener in group:
            listener.offer(event)

    async def _run(self) -> None:
        backoff = BACKOFF_START
        first = True
        while True:
            try:
                async with self._lock:
                    self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    await self._pubsub.subscribe(HUB_CHANNEL, *self._listeners)
                    self._connected.set()
                if not first:
                    self._reconnects += 1
                    log.info("hub.reconnected", channels=len(self._listeners))
                    for group in self._listeners.values():
                        for listener in group:
                            listener.offer(RESYNC)
                first = False
                backoff = BACKOFF_START
                pubsub = self._pubsub
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None and message.get("type") == "message":
                        channel = message["channel"]
                        self._deliver(
                            channel.decode() if isinstance(channel, bytes) else channel, message["data"]
                        )
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                self._connected.clear()
                log.warning(
                    "hub.disconnected", error=str(error) or type(error).__name__, retry_in=round(backoff, 2)
                )
                if self._pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.aclose()
                    self._pubsub = None
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(BACKOFF_MAX, backoff * 2)


__all__ = ["RESYNC", "HubStats", "Listener", "ProgressHub", "Resync"]
