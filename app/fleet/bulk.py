"""What every bulk operation shares: its size limit, its charge to the caller's mutation budget,
items run a few at a time, and each item's failure kept to that item."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

import structlog
from redis.asyncio import Redis

from app.auth.mutation_quota import charge_mutations
from app.auth.principal import Principal
from app.errors import (
    ChronosError,
    ErrorCode,
    FieldError,
    FieldPath,
    RateLimited,
    ValidationFailed,
    infrastructure_code,
    quoted,
)

log = structlog.get_logger(__name__)

MAX_ITEMS = 500
# Items in flight at once per request: enough to hide FIWARE's latency, few enough that a bulk
# call of 500 never floods Orion, STH-Comet or the IoT Agent.
CONCURRENCY = 8

I = TypeVar("I")  # noqa: E741 (an item)
R = TypeVar("R")

Charge = Callable[[int], Awaitable[None]]
"""Counts a request's mutations (all of them, the root field's included) against the caller's
budget before any item runs, or raises RateLimited."""


def quota_charge(*, redis: Redis, principal: Principal, limit: int, window_seconds: float) -> Charge:
    """The :data:`Charge` of a key. Access control already counted the root field once: the bulk
    call adds one mutation per item beyond it, all or nothing."""

    async def charge(mutations: int) -> None:
        if mutations <= 1:
            return
        try:
            await charge_mutations(
                redis=redis,
                principal=principal,
                mutations=mutations - 1,
                limit=limit,
                window_seconds=window_seconds,
            )
        except RateLimited as refused:
            raise _refusal(mutations, limit, window_seconds, refused.retry_after_seconds) from refused

    return charge


class OverBudget(RateLimited):
    """A request of more mutations than the key's whole budget: no wait makes it fit."""


def _refusal(mutations: int, limit: int, window_seconds: float, retry_after: float) -> RateLimited:
    budget = f"this key's {limit} mutations per {window_seconds:g} s"
    if mutations > limit:
        return OverBudget(
            f"this request counts {mutations} mutations (one per item), more than {budget}: send fewer "
            "items per request; nothing was written",
            retry_after_seconds=retry_after,
        )
    return RateLimited(
        f"this request counts {mutations} mutations (one per item) and {budget} have no room for them "
        f"now; nothing was written: retry in {retry_after:.1f} s or send fewer items",
        retry_after_seconds=retry_after,
    )


def checked_ids(ids: Sequence[str], *, field: str) -> list[str]:
    """At most :data:`MAX_ITEMS` ids, none repeated; every problem at its path."""
    if len(ids) > MAX_ITEMS:
        raise ValidationFailed(
            [
                FieldError(
                    ErrorCode.VALIDATION_ERROR,
                    f"at most {MAX_ITEMS} per request (got {len(ids)}); page through them",
                    (field,),
                )
            ]
        )
    first_at: dict[str, int] = {}
    problems = []
    for index, value in enumerate(ids):
        if value in first_at:
            problems.append(
                FieldError(
                    ErrorCode.VALIDATION_ERROR,
                    f"{quoted(value)} is already listed at index {first_at[value]}",
                    (field, str(index)),
                )
            )
        first_at.setdefault(value, index)
    if problems:
        raise ValidationFailed(problems)
    return list(ids)


def relocated(errors: Sequence[FieldError], moves: Mapping[FieldPath, FieldPath | None]) -> list[FieldError]:
    """``errors`` with each path that starts with a key of ``moves`` starting with its value instead
    (the longest key wins; None drops the path): a single mutation's paths, as a bulk input has them."""
    placed = []
    for error in errors:
        field = error.field
        if field is not None:
            prefix = max((p for p in moves if field[: len(p)] == p), key=len, default=None)
            if prefix is not None:
                target = moves[prefix]
                field = None if target is None else target + field[len(prefix) :]
        placed.append(FieldError(error.code, error.message, field))
    return placed


def unexpected(error: Exception) -> FieldError:
    """An item's failure that is not one of ours: logged with its traceback, kept to that item."""
    code = infrastructure_code(error) or ErrorCode.INTERNAL
    log.exception("fleet.item_failed", error=type(error).__name__)
    if code is ErrorCode.UNAVAILABLE:
        return FieldError(code, "a service Chronos depends on is unavailable; retry this item shortly")
    return FieldError(code, "an unexpected error; the server log has its details")


async def run_each(
    items: Sequence[I],
    work: Callable[[int, I], Awaitable[R]],
    *,
    failed: Callable[[int, I, list[FieldError]], R],
    concurrency: int = CONCURRENCY,
) -> list[R]:
    """``work`` on every item, ``concurrency`` at a time, in the items' order; an item whose work
    raises gets ``failed`` with the errors, and the others go on."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, item: I) -> R:
        async with gate:
            try:
                return await work(index, item)
            except ChronosError as error:
                return failed(index, item, list(error.errors))
            except Exception as error:  # noqa: BLE001 - one item's surprise never fails the others
                return failed(index, item, [unexpected(error)])

    return list(await asyncio.gather(*(one(index, item) for index, item in enumerate(items))))


__all__ = [
    "CONCURRENCY",
    "MAX_ITEMS",
    "Charge",
    "OverBudget",
    "checked_ids",
    "quota_charge",
    "relocated",
    "run_each",
    "unexpected",
]
