"""Schema extensions: one log line per operation, and error codes on every top-level error."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import structlog
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.types.graphql import OperationType

from app.errors import ChronosError, ErrorCode, cut_echoes, infrastructure_code
from app.metrics.exposition import ProcessMetrics
from schema.limits import is_limit_error

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
    if is_limit_error(error):
        return ErrorCode.QUERY_TOO_COMPLEX.value
    if not is_unexpected(error):
        return GRAPHQL_VALIDATION_FAILED
    assert error.original_error is not None
    infrastructure = infrastructure_code(error.original_error)
    return (infrastructure or ErrorCode.INTERNAL).value


# Payload error codes that mean the server, not the request, failed.
SERVER_SIDE = frozenset(
    {ErrorCode.UNAVAILABLE.value, ErrorCode.INTERNAL.value, ErrorCode.UPSTREAM_ERROR.value}
)


def _payload_codes(data: object) -> set[str]:
    """The codes in mutation payloads' ``errors`` (when the client selected them)."""
    if not isinstance(data, dict):
        return set()
    return {
        str(error["code"])
        for payload in data.values()
        if isinstance(payload, dict) and isinstance(payload.get("errors"), list)
        for error in payload["errors"]
        if isinstance(error, dict) and error.get("code")
    }


class ErrorShaping(SchemaExtension):
    """Give every top-level error an ``extensions.code``; in production, hide unexpected messages.

    Unexpected errors also carry ``extensions.requestId``, the id our log records of them bear.

    Document errors (syntax, unknown fields, bad enum values) get GRAPHQL_VALIDATION_FAILED;
    our own failures carry theirs already; anything else is INTERNAL.
    """

    mask = False

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in result.errors if result and result.errors else []:
            error.message = cut_echoes(error.message)
            if error.extensions and "code" in error.extensions:
                continue
            code = error_code(error)
            error.extensions = {**(error.extensions or {}), "code": code}
            if is_unexpected(error):
                # The log line of the full error carries the same id (bound for the whole request).
                request_id = getattr(self.execution_context.context, "request_id", "")
                if request_id:
                    error.extensions["requestId"] = request_id
            if code == ErrorCode.UNAVAILABLE.value:
                # Driver messages name hosts and topology: useful in our logs, not to clients.
                error.message = UNAVAILABLE_MESSAGE
            elif self.mask and is_unexpected(error):
                error.message = MASKED_MESSAGE


class ParserCacheKeepingErrors(ParserCache):
    """Strawberry's parser cache, minus its one flaw: a document that does not parse.

    Strawberry turns a parse error into an error result only when its own parse raises it; raised
    from this hook, it escapes every extension (no code, no log line) and breaks WebSocket
    subscriptions. Such documents are left for Strawberry to parse, and so are not cached.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


class MaskedErrorShaping(ErrorShaping):
    mask = True


class OperationLogger(SchemaExtension):
    """Logs and measures the operation name, type, duration and outcome of every GraphQL request.

    A subscription's operation lasts as long as its stream: it is counted as open from the moment
    it executes until it ends, not timed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._streaming = False

    def _metrics(self) -> ProcessMetrics | None:
        resources = getattr(self.execution_context.context, "resources", None)
        return getattr(resources, "metrics", None)

    def on_execute(self) -> Iterator[None]:
        metrics = self._metrics()
        if metrics is not None and self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            self._streaming = True
            metrics.subscription_started()
        yield

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            # Also when the stream is cancelled (a client that leaves a subscription).
            self._record(time.perf_counter() - started)

    def _record(self, seconds: float) -> None:
        context = self.execution_context
        result = context.result
        errors = list(result.errors or []) if result else []
        codes = sorted({error_code(e) for e in errors} | _payload_codes(result.data if result else None))
        try:
            kind: str | None = context.operation_type.value
        except RuntimeError:
            # Strawberry raises this for a document that did not parse; the parse error stands.
            kind = None
        # A mutation that answered with its own failure (the broker away, say) failed all the same.
        failed = bool(errors) or not SERVER_SIDE.isdisjoint(codes)
        outcome = "error" if failed else "ok"
        (log.warning if failed and not errors else log.info)(
            "graphql.operation",
            operation=context.operation_name,
            type=kind,
            duration_ms=round(seconds * 1000, 2),
            outcome=outcome,
            error_codes=codes or None,
        )
        metrics = self._metrics()
        if metrics is None:
            return
        if self._streaming:
            metrics.subscription_ended(name=context.operation_name, outcome=outcome)
        else:
            metrics.observe_operation(
                name=context.operation_name, kind=kind or "unknown", outcome=outcome, seconds=seconds
            )


__all__ = [
    "ErrorShaping",
    "MaskedErrorShaping",
    "OperationLogger",
    "ParserCacheKeepingErrors",
    "error_code",
    "is_unexpected",
]
