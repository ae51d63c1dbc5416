"""Shared subscription results: one execution and one JSON text per event for identical asks."""

from __future__ import annotations

import gc
import inspect
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
import strawberry
from graphql import ExecutionResult as CoreResult
from graphql import build_schema, parse, subscribe
from graphql.execution.collect_fields import CollectedFields

from schema.shared_execution import (
    RESULTS,
    IdentityMemo,
    SharedResult,
    SharedResults,
    SharingExecutor,
    shareable,
)

calls = {"doubled": 0}


@shareable
@strawberry.type
class Tick:
    n: int

    @strawberry.field
    def doubled(self) -> int:
        calls["doubled"] += 1
        return self.n * 2

    @strawberry.field
    def checked(self) -> int:
        if self.n < 0:
            raise ValueError("negative")
        return self.n


@strawberry.type
class Plain:
    n: int

    @strawberry.field
    def doubled(self) -> int:
        calls["doubled"] += 1
        return self.n * 2


TICKS = [Tick(n=n) for n in range(5)]
NEGATIVE = Tick(n=-1)


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, start: int = 0) -> AsyncGenerator[Tick, None]:
        for tick in TICKS[start:]:
            yield tick

    @strawberry.subscription
    async def negative(self) -> AsyncGenerator[Tick, None]:
        yield NEGATIVE

    @strawberry.subscription
    async def plain(self) -> AsyncGenerator[Plain, None]:
        for n in range(3):
            yield Plain(n=n)


@pytest.fixture
def schema() -> strawberry.Schema:
    calls["doubled"] = 0
    return strawberry.Schema(query=Query, subscription=Subscription, execution_context_class=SharingExecutor)


async def collect(
    schema: strawberry.Schema, query: str, variables: dict[str, Any] | None = None
) -> list[Any]:
    stream = await schema.subscribe(query, variable_values=variables)
    return [result async for result in stream]


async def test_identical_subscriptions_share_each_events_result(schema: strawberry.Schema) -> None:
    document = "subscription($start: Int!) { ticks(start: $start) { n doubled } }"
    first = await collect(schema, document, {"start": 0})
    second = await collect(schema, document, {"start": 0})
    assert [r.data["ticks"]["doubled"] for r in first] == [0, 2, 4, 6, 8]
    assert [r.errors for r in second] == [None] * 5
    assert all(a.data is b.data for a, b in zip(first, second, strict=True)), "one result per event"
    assert calls["doubled"] == 5, "executed once per event, not once per subscriber"


async def test_other_variables_or_documents_execute_on_their_own(schema: strawberry.Schema) -> None:
    first = await collect(schema, "subscription($s: Int!) { ticks(start: $s) { doubled } }", {"s": 3})
    other_variables = await collect(
        schema, "subscription($s: Int!) { ticks(start: $s) { doubled } }", {"s": 4}
    )
    other_document = await collect(schema, "subscription { ticks(start: 3) { n doubled } }")
    assert [r.data["ticks"] for r in first] == [{"doubled": 6}, {"doubled": 8}]
    assert other_variables[0].data == first[1].data and other_variables[0].data is not first[1].data
    assert other_document[0].data == {"ticks": {"n": 3, "doubled": 6}}
    assert calls["doubled"] == 2 + 1 + 2


async def test_types_not_marked_shareable_and_failed_results_are_never_shared(
    schema: strawberry.Schema,
) -> None:
    plain = [await collect(schema, "subscription { plain { doubled } }") for _ in range(2)]
    assert [r.data for r in plain[0]] == [r.data for r in plain[1]]
    assert calls["doubled"] == 6
    failed = [await collect(schema, "subscription { negative { checked } }") for _ in range(2)]
    assert failed[0][0].errors and failed[1][0].errors
    assert failed[0][0].errors[0] is not failed[1][0].errors[0]


async def test_a_shared_results_json_is_made_once_and_framed_per_subscriber(
    schema: strawberry.Schema,
) -> None:
    [result] = await collect(schema, "subscription { ticks(start: 4) { n doubled } }")
    for kind, op_id in (("next", "1"), ("data", 'é"2')):
        message = {"id": op_id, "type": kind, "payload": {"data": result.data}}
        encoded = RESULTS.encode_message(message)
        assert encoded is not None and json.loads(encoded) == message
        assert encoded == json.dumps(message, separators=(",", ":"))
    assert RESULTS.json_of(result.data) is RESULTS.json_of(result.data), "serialised once"
    assert RESULTS.encode_message({"data": result.data}) == json.dumps({"data": result.data}).replace(" ", "")
    assert RESULTS.encode_message({"id": "1", "type": "next", "payload": {"data": {"ticks": None}}}) is None
    extended = {"id": "1", "type": "next", "payload": {"data": result.data, "extensions": {}}}
    assert RESULTS.encode_message(extended) is None, "anything but bare data goes through json.dumps"


def test_the_store_forgets_the_oldest_results() -> None:
    store = SharedResults(size=2)
    kept = []
    for n in range(3):
        data = {"n": n}
        kept.append(data)
        store.put(n, SharedResult(object(), CoreResult(data, None)))
    assert len(store) == 2 and store.get(0) is None and store.get(2) is not None
    assert store.json_of(kept[0]) is None and store.json_of(kept[2]) == '{"n":2}'
    assert store.json_of({"n": 2}) is None, "found by identity, never by value"
    replacement = {"n": 22}
    store.put(2, SharedResult(object(), CoreResult(replacement, None)))
    assert store.json_of(kept[2]) is None and store.json_of(replacement) == '{"n":22}'
    assert len(store._by_data) == len(store) == 2, "a replaced result is forgotten everywhere"


def test_identity_memo_converts_each_object_once() -> None:
    made: list[int] = []

    def convert(source: list[int]) -> int:
        made.append(len(source))
        return len(source)

    memo = IdentityMemo(convert, size=2)
    a, b, c = [1], [1, 2], [1, 2, 3]
    assert [memo(a), memo(a), memo(b), memo(a), memo(c), memo(a)] == [1, 1, 2, 1, 3, 1]
    assert made == [1, 2, 3, 1], "equal lists are not the same object; evicted ones are made again"


# --- graphql-core 3.3.2 kept ~4 KB per event for a subscription's lifetime -------------------

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
    async def events(*_: Any, **__: Any) -> AsyncIterator[dict[str, Any]]:
        for seq in range(2_000):
            yield {"progress": {"seq": seq, "phase": "TRAINING", "loss": 0.1, "metrics": {"rmse": 1.0}}}

    SCHEMA.subscription_type.fields["progress"].subscribe = events  # type: ignore[union-attr]
    stream: Any = subscribe(
        SCHEMA,
        parse("subscription { progress { seq phase loss metrics { rmse } } }"),
        executor_class=SharingExecutor,
    )
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
