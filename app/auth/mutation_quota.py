"""Each API key's mutation budget: ``limit`` root mutation fields per sliding window."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import ratelimit
from app.auth.principal import Principal
from app.errors import RateLimited

log = structlog.get_logger("chronos.access")


async def charge_mutations(
    *, redis: Redis, principal: Principal, mutations: int, limit: int, window_seconds: float
) -> None:
    """Count ``mutations`` against the key, or raise RateLimited once its window is full."""
    if limit == 0:
        return
    try:
        # All or nothing: a request that does not fit is refused whole and charged nothing.
        decision = await ratelimit.hit(
            redis,
            key=f"mutations:{principal.rate_key}",
            limit=limit,
            window_seconds=window_seconds,
            cost=mutations,
        )
    except RedisError as error:
        # The limit guards capacity, not data: without Redis, mutations go on and we say so.
        log.warning("ratelimit.unavailable", error=type(error).__name__)
        return
    if not decision.allowed:
        too_many = f"{mutations} mutations in one request" if mutations > limit else "more mutations"
        raise RateLimited(
            f"{too_many} than this key's {limit} per {window_seconds:g} s; retry in "
            f"{decision.retry_after_seconds:.1f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )


__all__ = ["charge_mutations"]
