"""GraphQL shape of expected failures: ``UserError`` in payloads, ``ErrorCode`` everywhere."""

from __future__ import annotations

import strawberry

from app.errors import ChronosError
from app.errors import ErrorCode as DomainErrorCode

ErrorCode = DomainErrorCode
strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description=("Machine-readable reason of a failure; also used as `extensions.code` on top-level errors."),
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
        UserError(code=e.code, message=e.message, field=list(e.field) if e.field else None)
        for e in error.errors
    ]


__all__ = ["ErrorCode", "UserError", "user_errors"]
