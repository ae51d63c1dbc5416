"""What every bulk operation shares: id lists, error paths, items a few at a time, the charge."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import Conflict, ErrorCode, FieldError, RateLimited, ValidationFailed
from app.fleet.bulk import CONCURRENCY, MAX_ITEMS, OverBudget, checked_ids, relocated, run_each
from app.ratelimit import KEY_PREFIX
from tests.app.fleet.conftest import Fleet


def test_an_id_list_holds_at_most_the_limit_and_no_repeat() -> None:
    assert checked_ids(["a", "b"], field="modelIds") == ["a", "b"]
    with pytest.raises(ValidationFailed) as long:
        checked_ids([str(i) for i in range(MAX_ITEMS + 1)], field="modelIds")
    assert [e.field for e in long.value.errors] == [("modelIds",)]
    with pytest.raises(ValidationFailed) as repeated:
        checked_ids(["a", "b", "a", "b"], field="modelIds")
    assert [(e.field, e.message) for e in repeated.value.errors] == [
        (("modelIds", "2"), "'a' is already listed at index 0"),
        (("modelIds", "3"), "'b' is already listed at index 1"),
    ]


def test_paths_move_by_their_longest_known_prefix() -> None:
    errors = [
        FieldError(ErrorCode.VALIDATION_ERROR, "a", ("input", "rnnLayers", "0")),
        FieldError(ErrorCode.VALIDATION_ERROR, "b", ("input", "entityId")),
        FieldError(ErrorCode.NOT_FOUND, "c", ("modelId",)),
        FieldError(ErrorCode.CONFLICT, "d", None),
    ]
    moves = {("input",): ("input", "template"), ("input", "entityId"): None, ("other",): ("x",)}
    assert [(e.code, e.message, e.field) for e in relocated(errors, moves)] == [
        (ErrorCode.VALIDATION_ERROR, "a", ("input", "template", "rnnLayers", "0")),
        (ErrorCode.VALIDATION_ERROR, "b", None),
        (ErrorCode.NOT_FOUND, "c", ("modelId",)),
        (ErrorCode.CONFLICT, "d", None),
    ]


async def test_items_run_a_few_at_a_time_in_order_and_fail_alone() -> None:
    running = 0
    most = 0

    async def work(index: int, item: int) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        for _ in range(3):
            await asyncio.sleep(0)  # hand the loop over: every waiting item may start meanwhile
        running -= 1
        if item == 3:
            raise Conflict("busy", field=("modelId",))
        if item == 4:
            raise RuntimeError("a bug")
        if item == 5:
            raise ConnectionError("gone")
        return f"ok {item}"

    def failed(index: int, item: int, errors: list[FieldError]) -> str:
        return f"{index}: " + ", ".join(f"{e.code.value} {e.field}" for e in errors)

    results = await run_each(list(range(20)), work, failed=failed)
    assert most == CONCURRENCY
    assert results[:7] == [
        "ok 0", "ok 1", "ok 2", "3: CONFLICT ('modelId',)", "4: INTERNAL None", "5: UNAVAILABLE None", "ok 6",
    ]  # fmt: skip
    assert results[7:] == [f"ok {i}" for i in range(7, 20)]


async def hits(fleet: Fleet) -> int:
    count: int = await fleet.redis.zcard(f"{KEY_PREFIX}mutations:{fleet.principal.rate_key}")
    return count


async def test_a_bulk_call_is_charged_per_item_beyond_its_root_field_or_refused_whole(fleet: Fleet) -> None:
    charge = fleet.charge(limit=5)
    await charge(1)
    assert await hits(fleet) == 0, "the root field's own mutation is access control's to count"
    await charge(4)
    assert await hits(fleet) == 3
    with pytest.raises(RateLimited) as full:
        await charge(4)
    assert await hits(fleet) == 3, "a refused call is charged nothing"
    assert "counts 4 mutations" in full.value.message and "retry in" in full.value.message
    assert 0 < full.value.retry_after_seconds <= 60
    with pytest.raises(OverBudget) as never:
        await charge(6)
    assert "more than this key's 5 mutations per 60 s: send fewer items" in never.value.message
    await fleet.charge(limit=0)(400)
    assert await hits(fleet) == 3, "an unlimited key is not counted"
