"""Turning a presented credential into a :class:`Principal`, with a short per-process cache.

The cache keeps hot keys from costing a MongoDB read per request. Its price: a revoked key keeps
working for up to ``cache_seconds`` on every API process that saw it recently. Unknown
credentials are remembered too, so a repeated bad key costs no read, but apart: a flood of
made-up keys can only push out other made-up keys, never a real one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TypeVar

import structlog
from pymongo.errors import PyMongoError

from app.auth import keys
from app.auth.principal import UNAUTHENTICATED_ADMIN, Principal
from app.errors import Unauthenticated, Unavailable

log = structlog.get_logger(__name__)

MAX_CACHED = 10_000
T = TypeVar("T")
MISSING = "send an API key as `Authorization: Bearer <key>` (WebSocket: in the connection_init payload)"
REJECTED = "the API key is not valid (unknown or revoked)"


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; None when absent or another scheme."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def connection_token(params: Mapping[str, object] | None) -> str | None:
    """The bearer token of a WebSocket ``connection_init`` payload (``Authorization`` in any case)."""
    for name, value in (params or {}).items():
        if isinstance(name, str) and name.lower() == "authorization" and isinstance(value, str):
            return bearer_token(value)
    return None


class Authenticator:
    def __init__(
        self, *, required: bool, cache_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.required = required
        self._ttl = cache_seconds
        self._clock = clock
        self._known: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()

    async def authenticate(self, token: str | None, *, fresh: bool = False) -> Principal:
        """The caller behind ``token``; ``fresh`` skips the cache (a subscription's second look)."""
        if not self.required:
            return UNAUTHENTICATED_ADMIN
        if token is None:
            raise Unauthenticated(MISSING)
        digest = keys.hash_secret(token)
        now = self._clock()
        if not fresh:
            known = self._known.get(digest)
            if known is not None and known[0] > now:
                return known[1]
            if self._unknown.get(digest, 0.0) > now:
                raise Unauthenticated(REJECTED)
        try:
            document = await keys.find_active(token)
        except PyMongoError as error:
            log.warning("auth.unavailable", error=type(error).__name__)
            raise Unavailable("cannot check the API key now; try again shortly") from error
        if document is None:
            self._known.pop(digest, None)
            _remember(self._unknown, digest, now + self._ttl, self._ttl)
            raise Unauthenticated(REJECTED)
        principal = keys.principal_of(document)
        self._unknown.pop(digest, None)
        _remember(self._known, digest, (now + self._ttl, principal), self._ttl)
        return principal


def _remember(cache: OrderedDict[str, T], digest: str, entry: T, ttl: float) -> None:
    if ttl <= 0:
        return
    cache[digest] = entry
    cache.move_to_end(digest)
    while len(cache) > MAX_CACHED:
        cache.popitem(last=False)


__all__ = ["Authenticator", "bearer_token", "connection_token"]
