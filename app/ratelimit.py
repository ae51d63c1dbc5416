"""A sliding-window rate limit per key, kept in Redis so every API process counts the same hits.

Each allowed hit is one member of a sorted set scored by the time it happened. One Lua script drops
the members older than the window, counts the rest and adds the new hit only if there is room, so
two processes can never both take the last slot. The clock is the Redis server's ``TIME``: API hosts
whose clocks disagree still agree on the window.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import sys
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

KEY_PREFIX: Final = "chronos:ratelimit:"

# KEYS[1] the set; ARGV: limit, window (µs), TTL (ms), a member unique to this call, its cost.
# Lua turns numbers into strings with 14 significant digits, too few for microseconds since the
# epoch (16 digits): every score handed to Redis is formatted by hand.
_SCRIPT: Final = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local cost = tonumber(ARGV[5])
local count = redis.call('ZCARD', KEYS[1])
if count + cost <= limit then
  local score = string.format('%.0f', now)
  for i = 1, cost do
    redis.call('ZADD', KEYS[1], score, ARGV[4] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, limit - count - cost, 0}
end
-- Refused hits are not added: a client hammering while refused is let in once the window slides.
-- Room for `cost` more opens when the hit at index count + cost - limit - 1 leaves (the set may
-- hold more than `limit` if the limit was lowered).
local index = count + cost - limit - 1
local oldest = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now}
"""
_SHA: Final = hashlib.sha1(_SCRIPT.encode()).hexdigest()

# What an unlimited key has left: as good as infinite, and still an int for a header.
UNLIMITED_REMAINING: Final = sys.maxsize


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    """Hits still allowed in the current window after this one (0 when refused)."""
    retry_after_seconds: float
    """When refused, how long until a hit would be allowed; 0 when allowed."""


async def hit(redis: Redis, *, key: str, limit: int, window_seconds: float, cost: int = 1) -> RateDecision:
    """Count ``cost`` hits of ``key`` if the last ``window_seconds`` leave room for all of them
    under ``limit``; otherwise count none.

    A ``limit`` of 0 means unlimited and never touches Redis. Redis errors (``ConnectionError``
    when it is down) are raised: whether to fail open or closed is the caller's decision.
    """
    if limit < 0:
        raise ValueError(f"limit must be 0 (unlimited) or more, not {limit}")
    if limit == 0:
        return RateDecision(allowed=True, remaining=UNLIMITED_REMAINING, retry_after_seconds=0.0)
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive, not {window_seconds}")
    if cost < 1:
        raise ValueError(f"cost must be 1 or more, not {cost}")
    if cost > limit:
        return RateDecision(allowed=False, remaining=0, retry_after_seconds=window_seconds)
    window_us = max(1, round(window_seconds * 1_000_000))
    # The newest hit is the last to leave the window: the set can expire one window after it.
    ttl_ms = math.ceil(window_us / 1000)
    # Random, not time-based: two hits in the same microsecond must be two members.
    args = (KEY_PREFIX + key, limit, window_us, ttl_ms, secrets.token_hex(8), cost)
    try:
        reply = await redis.evalsha(_SHA, 1, *args)
    except NoScriptError:
        # A restarted or failed-over server forgot the script; loading it once is enough.
        await redis.script_load(_SCRIPT)
        reply = await redis.evalsha(_SHA, 1, *args)
    allowed, remaining, retry_us = (int(value) for value in reply)
    return RateDecision(allowed=bool(allowed), remaining=remaining, retry_after_seconds=retry_us / 1_000_000)


__all__ = ["KEY_PREFIX", "UNLIMITED_REMAINING", "RateDecision", "hit"]
