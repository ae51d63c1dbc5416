"""Turning a presented credential into a :class:`Principal`, with a short per-process cache.

The cache keeps hot keys from costing a MongoDB read per request. Its price: a revoked key keeps
working for up to ``cache_seconds`` on processes that saw it recently (the process that revokes
forgets at once). Unknown credentials are cached too, so a flood of bad keys does not become a
flood of reads.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from app.auth import keys
from app.auth.principal import UNAUTHENTICATED_ADMIN, Principal
from app.errors import Unauthenticated

MAX_CACHED = 10_000
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
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    async def authenticate(self, token: str | None, *, fresh: bool = False) -> Principal:
        """The caller behind ``token``; ``fresh`` skips the cache (a subscription's second look)."""
        if not self.required:
            return UNAUTHENTICATED_ADMIN
        if token is None:
            raise Unauthenticated(MISSING)
        digest = keys.hash_secret(token)
        now = self._clock()
        cached = None if fresh else self._cache.get(digest)
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            document = await keys.find_active(token)
            principal = keys.principal_of(document) if document else None
            self._remember(digest, now + self._ttl, principal)
        if principal is None:
            raise Unauthenticated(REJECTED)
        return principal

    def forget(self, secret_hash: str) -> None:
        self._cache.pop(secret_hash, None)

    def _remember(self, digest: str, until: float, principal: Principal | None) -> None:
        if self._ttl <= 0:
            return
        self._cache[digest] = (until, principal)
        self._cache.move_to_end(digest)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)


__all__ = ["Authenticator", "bearer_token", "connection_token"]
