"""What the benchmarks that run an API process need under it: SecantusDB in memory and a Redis.

Imported as ``bench.servers`` by the scripts beside it, which put the repository on the path.
"""

from __future__ import annotations

from app.devstack import Stack, free_port, port_open, start_redis, start_secantus


def mongo_and_redis(stack: Stack, *, redis_db: int) -> tuple[str, str]:
    """A fresh in-memory SecantusDB, and the machine's Redis (database ``redis_db``) or one of our own."""
    mongo_url = start_secantus(stack, port=free_port(), storage=":memory:")
    if port_open("127.0.0.1", 6379):
        return mongo_url, f"redis://127.0.0.1:6379/{redis_db}"
    redis_url = start_redis(stack, port=free_port())
    if redis_url is None:
        raise RuntimeError("no Redis on 127.0.0.1:6379 and redis-server is not installed")
    return mongo_url, redis_url


__all__ = ["mongo_and_redis"]
