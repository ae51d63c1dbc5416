"""Expected failures of Chronos services.

    ChronosError            code + message (+ field path); ``extensions`` feed GraphQL errors
    ├── ValidationFailed    several FieldErrors of one input, reported together
    ├── NotFound
    ├── Conflict
    ├── InsufficientData
    ├── Unavailable         a dependency cannot be reached
    ├── UpstreamError       a dependency answered, but not usefully
    ├── Unauthenticated     no API key, or one Chronos does not know (or revoked)
    ├── Forbidden           the key's role may not do this
    └── RateLimited         the key sent too many mutations in the window

Mutations turn these into ``errors { code message field }``; queries let them surface as
top-level GraphQL errors, whose ``extensions.code`` graphql-core copies from ``extensions``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# How much of a caller's input an error message quotes: enough to recognise it, never enough to
# turn a 200 KB argument into a 400 KB answer.
ECHO_PREFIX: Final = 40
_LONG_RUN: Final = re.compile(r"\S{200,}")
MAX_MESSAGE: Final = 2_000


def quoted(value: object) -> str:
    """``value`` as a message quotes it: its repr, cut to a short prefix that says how long it was."""
    text = str(value)
    if len(text) <= ECHO_PREFIX:
        return repr(text)
    return f"{text[:ECHO_PREFIX]!r}… ({len(text):,} characters)"


def cut_echoes(message: str) -> str:
    """A message fit to send: runs of 200+ non-blank characters (echoed input: library messages
    quote arguments, field names and literals whole) cut to a prefix, and 2,000 characters at most."""
    cut = _LONG_RUN.sub(lambda run: f"{run[0][:ECHO_PREFIX]}… ({len(run[0]):,} characters)", message)
    return cut if len(cut) <= MAX_MESSAGE else f"{cut[:MAX_MESSAGE]}… (message cut)"


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
    UNAVAILABLE = "UNAVAILABLE"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    INTERNAL = "INTERNAL"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    # Refusals of the transport, before GraphQL runs: never in a payload, only in `extensions.code`.
    BAD_REQUEST = "BAD_REQUEST"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"


FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class FieldError:
    code: ErrorCode
    message: str
    field: FieldPath | None = None


class ChronosError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, field: FieldPath | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def errors(self) -> Sequence[FieldError]:
        return [FieldError(self.code, self.message, self.field)]

    @property
    def extensions(self) -> dict[str, object]:
        extensions: dict[str, object] = {"code": self.code.value}
        if self.field is not None:
            extensions["field"] = list(self.field)
        return extensions


class ValidationFailed(ChronosError):
    code = ErrorCode.VALIDATION_ERROR

    def __init__(self, errors: Sequence[FieldError]) -> None:
        first = errors[0] if errors else FieldError(self.code, "invalid input")
        summary = first.message if len(errors) <= 1 else f"{len(errors)} invalid fields"
        super().__init__(summary, field=first.field)
        self._errors = list(errors) or [first]

    @property
    def errors(self) -> Sequence[FieldError]:
        return self._errors

    @property
    def extensions(self) -> dict[str, object]:
        # Top-level errors carry every problem, as payload errors do.
        return {
            **super().extensions,
            "errors": [
                {"message": e.message, "field": list(e.field) if e.field else None} for e in self._errors
            ],
        }


class NotFound(ChronosError):
    code = ErrorCode.NOT_FOUND


class Conflict(ChronosError):
    code = ErrorCode.CONFLICT


class InsufficientData(ChronosError):
    code = ErrorCode.INSUFFICIENT_DATA


class Unavailable(ChronosError):
    code = ErrorCode.UNAVAILABLE


class UpstreamError(ChronosError):
    code = ErrorCode.UPSTREAM_ERROR


class Unauthenticated(ChronosError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ChronosError):
    code = ErrorCode.FORBIDDEN


class RateLimited(ChronosError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    @property
    def extensions(self) -> dict[str, object]:
        return {**super().extensions, "retryAfterSeconds": round(self.retry_after_seconds, 3)}


def infrastructure_code(exc: BaseException) -> ErrorCode | None:
    """UNAVAILABLE for failures to reach a dependency (a driver's own exceptions), else None."""
    # Imported here: errors.py stays importable by code that has no drivers loaded.
    from pymongo.errors import ConnectionFailure
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(
        exc, ConnectionFailure | RedisConnectionError | RedisTimeoutError | ConnectionError | TimeoutError
    ):
        return ErrorCode.UNAVAILABLE
    return None


__all__ = [
    "ChronosError",
    "Conflict",
    "ErrorCode",
    "FieldError",
    "FieldPath",
    "Forbidden",
    "InsufficientData",
    "NotFound",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "UpstreamError",
    "ValidationFailed",
    "cut_echoes",
    "infrastructure_code",
    "quoted",
]
