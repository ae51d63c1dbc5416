"""GraphQL shape of expected failures: ``UserError`` in payloads, ``ErrorCode`` everywhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from app.errors import ChronosError, cut_echoes
from app.errors import ErrorCode as DomainErrorCode
from schema.enums import expose

ErrorCode = DomainErrorCode
expose(
    ErrorCode,
    name="ErrorCode",
    description="Machine-readable reason of a failure; also used as `extensions.code` on top-level errors.",
    values={
        "VALIDATION_ERROR": "An argument or input field is invalid; `field` says which.",
        "NOT_FOUND": "No such object, or it belongs to a tenant the API key does not hold.",
        "CONFLICT": "The object's state forbids this now (e.g. editing a trained model, a second job).",
        "INSUFFICIENT_DATA": "The history store holds too few usable points for what was asked.",
        "UNAVAILABLE": "A dependency (MongoDB, Redis, the broker, FIWARE) cannot be reached; retry later.",
        "UPSTREAM_ERROR": "A FIWARE service refused the request; the message says which and why.",
        "INTERNAL": "An unexpected failure; the message carries a request id to find it in the logs.",
        "UNAUTHENTICATED": "No API key, or one that is unknown or revoked (HTTP 401).",
        "FORBIDDEN": "The API key's role may not do this, or the tenant is not among the key's.",
        "RATE_LIMITED": "Too many mutations with this key; `retryAfterSeconds` says when to retry.",
        "QUERY_TOO_COMPLEX": "The document exceeds a limit on tokens, depth, aliases or cost.",
        "BAD_REQUEST": "Not a GraphQL request (not UTF-8, not JSON, wrong shape): HTTP 400.",
        "REQUEST_TOO_LARGE": "The body or WebSocket message exceeds the size limit (HTTP 413, close 1009).",
    },
)


@strawberry.type(description="An expected failure of a mutation, reported in its payload.")
class UserError:
    code: ErrorCode = strawberry.field(description="What kind of failure this is.")
    message: str = strawberry.field(description="A sentence for people, saying what is wrong.")
    field: list[str] | None = strawberry.field(
        description=(
            "Path to the offending input, starting at the argument name, e.g. "
            '`["input", "rnnLayers", "0", "units"]`; null when no single input is to blame.'
        )
    )


def user_errors(error: ChronosError) -> list[UserError]:
    return [
        UserError(code=e.code, message=cut_echoes(e.message), field=list(e.field) if e.field else None)
        for e in error.errors
    ]


Result = TypeVar("Result")
Payload = TypeVar("Payload")


async def payload_of(
    run: Callable[[], Awaitable[Result]],
    *,
    ok: Callable[[Result], Payload],
    failed: Callable[[ChronosError], Payload],
) -> Payload:
    """A mutation's payload: ``ok`` of what the service returned, or ``failed`` of the expected failure
    it raised. The one place a resolver turns a ``ChronosError`` into the payload's ``errors``; any
    other exception is not expected and stays a top-level error."""
    try:
        value = await run()
    except ChronosError as error:
        return failed(error)
    return ok(value)


__all__ = ["ErrorCode", "UserError", "payload_of", "user_errors"]
