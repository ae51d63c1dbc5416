"""The sliding-window limiter against the real Redis: what it allows, refuses and forgets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from app.ratelimit import KEY_PREFIX, UNLIMITED_REMAINING, hit
from app.settings import Settings

# Real Redis servers (the machine's, or ones the tests start and kill).
pytestmark = pytest.mark.services


@pytest.fixture
async def redis(test_settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(test_settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def new_key(redis: Redis) -> AsyncIterator[Callable[[], str]]:
    """Keys of this test's own (the server is shared), deleted afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(f"test:{uuid4().hex}")
        return made[-1]

    yield make
    if made:
        await redis.delete(*(KEY_PREFIX + key for key in made))


async def test_allows_the_limit_then_refuses_until_the_oldest_hit_leaves(
    redis: Redis, new_key: Callable[[], str]
) -> None:
    key = new_key()
    decisions = [await hit(redis, key=key, limit=3, window_seconds=10) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    assert all(d.retry_after_seconds == 0 for d in decisions)
    refused = await hit(redis, key=key, limit=3, window_seconds=10)
    assert not refused.allowed and refused.remaining == 0
    assert 9 < refused.retry_after_seconds <= 10, "the first hit leaves ten seconds after it came"


async def test_the_window_slides(redis: Redis, new_key: Callable[[], str]) -> None:
    key = new_key()
    assert (await hit(redis, key=key, limit=2, window_seconds=0.5)).allowed
    await asyncio.sleep(0.25)
    assert (await hit(redis, key=key, limit=2, window_seconds=0.5)).allowed
    refused = await hit(redis, key=key, limit=2, window_seconds=0.5)
    assert not refused.allowed and 0 < refused.retry_after_seconds <= 0.25 + 0.05
    await asyncio.sleep(refused.retry_after_seconds + 0.02)
    # Only the first hit left: one slot, not a fresh window of two.
    decision = await hit(redis, key=key, limit=2, window_seconds=0.5)
    assert decision.allowed and decision.remaining == 0
    assert not (await hit(redis, key=key, limit=2, window_seconds=0.5)).allowed


async def test_refused_hits_are_not_counted(redis: Redis, new_key: Callable[[], str]) -> None:
    key = new_key()
    assert (await hit(redis, key=key, limit=1, window_seconds=0.3)).allowed
    hammering = [await hit(redis, key=key, limit=1, window_seconds=0.3) for _ in range(20)]
    assert not any(d.allowed for d in hammering)
    assert await redis.zcard(KEY_PREFIX + key) == 1
    await asyncio.sleep(0.35)
    assert (await hit(redis, key=key, limit=1, window_seconds=0.3)).allowed


async def test_a_lowered_limit_waits_for_enough_hits_to_leave(
    redis: Redis, new_key: Callable[[], str]
) -> None:
    key = new_key()
    for _ in range(3):
        await hit(redis, key=key, limit=5, window_seconds=1)
    await asyncio.sleep(0.3)
    for _ in range(2):
        await hit(redis, key=key, limit=5, window_seconds=1)
    refused = await hit(redis, key=key, limit=2, window_seconds=1)
    # Five in the window, two allowed: room comes when the fourth hit leaves, not the first.
    assert not refused.allowed and refused.retry_after_seconds > 0.9


async def test_keys_are_independent(redis: Redis, new_key: Callable[[], str]) -> None:
    first, second = new_key(), new_key()
    assert (await hit(redis, key=first, limit=1, window_seconds=10)).allowed
    assert not (await hit(redis, key=first, limit=1, window_seconds=10)).allowed
    assert (await hit(redis, key=second, limit=1, window_seconds=10)).allowed


async def test_concurrent_hits_take_exactly_the_limit(redis: Redis, new_key: Callable[[], str]) -> None:
    key = new_key()
    decisions = await asyncio.gather(*(hit(redis, key=key, limit=20, window_seconds=10) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 20
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(20))
    assert await redis.zcard(KEY_PREFIX + key) == 20


async def test_the_key_expires_with_its_window(redis: Redis, new_key: Callable[[], str]) -> None:
    key = new_key()
    await hit(redis, key=key, limit=5, window_seconds=2)
    assert 1500 < await redis.pttl(KEY_PREFIX + key) <= 2000
    await hit(redis, key=key, limit=5, window_seconds=0.2)
    await asyncio.sleep(0.3)
    assert await redis.exists(KEY_PREFIX + key) == 0


class Forgetful(Redis):
    """A server that has just restarted: the first EVALSHA finds no script."""

    forgot = False

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        if not self.forgot:
            self.forgot = True
            raise NoScriptError("No matching script. Please use EVAL.")
        return await super().evalsha(sha, numkeys, *keys_and_args)


async def test_the_script_is_loaded_again_when_redis_forgot_it(
    test_settings: Settings, new_key: Callable[[], str]
) -> None:
    # Not SCRIPT FLUSH: the server is shared with whatever else runs on the machine.
    forgetful = Forgetful.from_url(test_settings.redis_url)
    assert isinstance(forgetful, Forgetful)
    try:
        key = new_key()
        assert (await hit(forgetful, key=key, limit=2, window_seconds=10)).remaining == 1
        assert forgetful.forgot
        assert (await hit(forgetful, key=key, limit=2, window_seconds=10)).remaining == 0
    finally:
        await forgetful.aclose()


async def test_zero_is_unlimited_and_never_touches_redis() -> None:
    # A port nothing listens on: any round trip would raise.
    nowhere = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    try:
        decisions = [await hit(nowhere, key="any", limit=0, window_seconds=0) for _ in range(100)]
        assert all(d.allowed and d.remaining == UNLIMITED_REMAINING for d in decisions)
        with pytest.raises(RedisConnectionError):
            await hit(nowhere, key="any", limit=1, window_seconds=1)
    finally:
        await nowhere.aclose()


async def test_nonsense_arguments_are_refused(redis: Redis) -> None:
    with pytest.raises(ValueError, match="limit"):
        await hit(redis, key="any", limit=-1, window_seconds=1)
    with pytest.raises(ValueError, match="window_seconds"):
        await hit(redis, key="any", limit=1, window_seconds=0)


async def test_a_costly_hit_is_all_or_nothing(redis: Redis, new_key: Callable[[], str]) -> None:
    key = new_key()
    first = await hit(redis, key=key, limit=5, window_seconds=10, cost=3)
    assert first.allowed and first.remaining == 2
    refused = await hit(redis, key=key, limit=5, window_seconds=10, cost=3)
    assert not refused.allowed and 9 < refused.retry_after_seconds <= 10
    assert await redis.zcard(KEY_PREFIX + key) == 3, "a refused costly hit takes nothing"
    assert (await hit(redis, key=key, limit=5, window_seconds=10, cost=2)).remaining == 0
    never = await hit(redis, key=new_key(), limit=5, window_seconds=10, cost=6)
    assert not never.allowed and never.retry_after_seconds == 10
