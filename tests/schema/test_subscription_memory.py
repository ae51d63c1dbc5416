"""Subscriptions keep no memory per event (graphql-core 3.3.2 kept ~4 KB each, for their lifetime)."""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator
from typing import Any

from graphql import build_schema, parse, subscribe
from graphql.execution.collect_fields import CollectedFields

from schema import subscription_memory

SCHEMA = build_schema(
    """
    type Query { x: Int }
    type Progress { seq: Int phase: String loss: Float metrics: Metrics }
    type Metrics { rmse: Float }
    type Subscription { progress: Progress }
    """
)


def live_collected_fields() -> int:
    gc.collect()
    return sum(1 for item in gc.get_objects() if isinstance(item, CollectedFields))


async def test_events_leave_nothing_behind_while_the_subscription_lives() -> None:
    subscription_memory.apply()

    async def events(*_: Any, **__: Any) -> AsyncIterator[dict[str, Any]]:
        for seq in range(2_000):
            yield {"progress": {"seq": seq, "phase": "TRAINING", "loss": 0.1, "metrics": {"rmse": 1.0}}}

    SCHEMA.subscription_type.fields["progress"].subscribe = events  # type: ignore[union-attr]
    stream: Any = subscribe(SCHEMA, parse("subscription { progress { seq phase loss metrics { rmse } } }"))
    if inspect.isawaitable(stream):
        stream = await stream
    counts: dict[int, int] = {}
    seen = 0
    async for result in stream:
        assert result.errors is None and result.data["progress"]["seq"] == seen
        seen += 1
        if seen in (100, 2_000):
            counts[seen] = live_collected_fields()
    await stream.aclose()
    # Without the fix the count grows by one (and ~4 KB) per event: 100 -> 2,000.
    assert counts[2_000] <= counts[100] + 5
