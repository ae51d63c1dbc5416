"""Schema extensions: one log line per operation, and error codes on every top-level error."""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import ChronosError, ErrorCode, infrastructure_code

log = structlog.get_logger("chronos.graphql")

GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
MASKED_MESSAGE = "Unexpected error."
UNAVAILABLE_MESSAGE = "A service Chronos depends on is unavailable; try again shortly."


def is_unexpected(error: GraphQLError) -> bool:
    """A resolver raised something that is not one of our expected failures: a bug or an outage.

    Only resolver errors carry a ``path``; document and variable errors never do.
    """
    return (
        error.path is not None
        and error.original_error is not None
        and not isinstance(error.original_error, ChronosError)
    )


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if code is not None:
        return str(code)
    if not is_unexpected(error):
        return GRAPHQL_VALIDATION_FAILED
    assert error.original_error is not None
    infrastructure = infrastructure_code(error.original_error)
    return (infrastructure or ErrorCode.INTERNAL).value


class ErrorShaping(SchemaExtension):
    """Give every top-level error an ``extensions.code``; in production, hide unexpected messages.

    Document errors (syntax, unknown fields, bad enum values) get GRAPHQL_VALIDATION_FAILED;
    our own failures carry theirs already; anything else is INTERNAL.
    """

    mask = False

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in result.errors if result and result.errors else []:
            if error.extensions and "code" in error.extensions:
                continue
            code = error_code(error)
            error.extensions = {**(error.extensions or {}), "code": code}
            if code == ErrorCode.UNAVAILABLE.value:
                # Driver messages name hosts and topology: useful in our logs, not to clients.
                error.message = UNAVAILABLE_MESSAGE
            elif self.mask and is_unexpected(error):
                error.message = MASKED_MESSAGE


class MaskedErrorShaping(ErrorShaping):
    mask = True


class OperationLogger(SchemaExtension):
    """Logs the operation name, type, duration and outcome of every GraphQL request."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        result = context.result
        errors = list(result.errors or []) if result else []
        codes = sorted({error_code(e) for e in errors})
        operation_type = getattr(context, "operation_type", None)
        log.info(
            "graphql.operation",
            operation=context.operation_name,
            type=getattr(operation_type, "value", None),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            outcome="error" if errors else "ok",
            error_codes=codes or None,
        )


__all__ = ["ErrorShaping", "MaskedErrorShaping", "OperationLogger", "error_code", "is_unexpected"]
