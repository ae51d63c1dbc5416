"""A workaround for graphql-core 3.3.2 growing every subscription's memory with each event.

Each event of a subscription runs on a shallow copy of the subscription's executor, so all events
share the executor's sub-field cache. The cache is keyed by the identity of lists built afresh for
every event, so it never hits and keeps about 4 KB per event until the subscription ends: a
dashboard watching a long training grows the API by megabytes an hour (measured with
bench/subscriptions.py). Giving each event's executor a cache of its own keeps what caching does
within an event and frees it with the event. Strawberry pins graphql-core 3.3.x, so the fix
cannot come from choosing another release; remove this when graphql-core no longer shares it.
"""

from __future__ import annotations

from typing import Any

from graphql.execution.executor import Executor

_shared_cache_copy = Executor.build_per_event_executor


def _per_event_executor(self: Executor[Any], payload: Any) -> Executor[Any]:
    executor = _shared_cache_copy(self, payload)
    executor._relevant_sub_fields = {}
    return executor


def apply() -> None:
    """Idempotent: every schema build calls it."""
    Executor.build_per_event_executor = _per_event_executor  # type: ignore[method-assign]


__all__ = ["apply"]
