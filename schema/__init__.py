"""The Chronos GraphQL schema (Strawberry types and thin resolvers only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from schema.access import AccessControl
from schema.devices.queries import DeviceQueries
from schema.extensions import (
    ErrorShaping,
    MaskedErrorShaping,
    OperationLogger,
    ParserCacheKeepingErrors,
    is_unexpected,
)
from schema.fleet.mutations import FleetMutations
from schema.limits import QueryLimits, limit_extensions
from schema.models.mutations import ModelMutations
from schema.models.queries import ModelQueries
from schema.models.subscriptions import ModelSubscriptions
from schema.predictions.mutations import PredictionMutations
from schema.predictions.queries import PredictionQueries
from schema.shared_execution import SharingExecutor
from schema.system.queries import SystemQueries
from schema.system.subscriptions import SystemSubscriptions
from schema.training.mutations import TrainingMutations
from schema.training.queries import TrainingQueries
from schema.training.subscriptions import TrainingSubscriptions
from schema.valid_text import ValidText

CACHE_SIZE = 512


@strawberry.type(description="Read operations.")
class Query(SystemQueries, ModelQueries, TrainingQueries, PredictionQueries, DeviceQueries):
    pass


@strawberry.type(description="Write operations; expected failures are reported in each payload's `errors`.")
class Mutation(ModelMutations, TrainingMutations, PredictionMutations, FleetMutations):
    pass


@strawberry.type(
    description=(
        "Live streams, over WebSocket (graphql-transport-ws or the legacy graphql-ws) or SSE "
        "(POST with `Accept: text/event-stream`)."
    )
)
class Subscription(SystemSubscriptions, TrainingSubscriptions, ModelSubscriptions):
    pass


class SubscriptionNeedsAStream(InvalidOperationTypeError):
    def __init__(self) -> None:
        super().__init__(OperationType.SUBSCRIPTION)

    def as_http_error_reason(self, method: str) -> str:
        return (
            f"subscriptions have no single result to answer a plain {method}: use a WebSocket "
            "(graphql-transport-ws or graphql-ws) or send `Accept: text/event-stream` (SSE)"
        )


class ChronosSchema(Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # Strawberry lets a plain POST run a subscription as if it were a query, which fails with
        # a null root field; streams go through `stream` (WebSocket, SSE), never through here.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES) - {
            OperationType.SUBSCRIPTION
        }
        try:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed,
                operation_extensions,
            )
        except InvalidOperationTypeError as refused:
            if refused.operation_type is OperationType.SUBSCRIPTION:
                raise SubscriptionNeedsAStream() from refused
            raise

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected failures and malformed documents are the client's business; log only the rest.
        super().process_errors([e for e in errors if is_unexpected(e)], execution_context)


def build_schema(*, mask_errors: bool = False, limits: QueryLimits | None = None) -> Schema:
    limits = limits or QueryLimits()
    extensions: list[type[SchemaExtension] | object] = [
        # Strawberry resumes hooks in list order after the operation: codes first, then the log.
        MaskedErrorShaping if mask_errors else ErrorShaping,
        OperationLogger,
        # The token limit is checked while parsing, so the caches only ever hold bounded documents.
        *limit_extensions(limits),
        ValidText,
        # Last of the on_execute checks, so a document refused above costs no mutation quota.
        AccessControl,
        lambda: ParserCacheKeepingErrors(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]
    return ChronosSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,  # type: ignore[arg-type]
        # Suggestions ("did you mean …?") map the schema for someone who may not see it.
        config=StrawberryConfig(sort_schema=True, disable_field_suggestions=not limits.allow_introspection),
        execution_context_class=SharingExecutor,
    )


schema = build_schema()

__all__ = ["ChronosSchema", "Mutation", "Query", "Subscription", "build_schema", "schema"]
