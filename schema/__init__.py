"""The Chronos GraphQL schema (Strawberry types and thin resolvers only)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.devices.queries import DeviceQueries
from schema.extensions import ErrorShaping, MaskedErrorShaping, OperationLogger, is_unexpected
from schema.models.mutations import ModelMutations
from schema.models.queries import ModelQueries
from schema.predictions.mutations import PredictionMutations
from schema.predictions.queries import PredictionQueries
from schema.shared_execution import SharingExecutor
from schema.system.queries import SystemQueries
from schema.system.subscriptions import SystemSubscriptions
from schema.training.mutations import TrainingMutations
from schema.training.queries import TrainingQueries
from schema.training.subscriptions import TrainingSubscriptions

CACHE_SIZE = 512


@strawberry.type(description="Read operations.")
class Query(SystemQueries, ModelQueries, TrainingQueries, PredictionQueries, DeviceQueries):
    pass


@strawberry.type(description="Write operations; expected failures are reported in each payload's `errors`.")
class Mutation(ModelMutations, TrainingMutations, PredictionMutations):
    pass


@strawberry.type(description="Live streams, over graphql-transport-ws or the legacy graphql-ws protocol.")
class Subscription(SystemSubscriptions, TrainingSubscriptions):
    pass


class ChronosSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected failures and malformed documents are the client's business; log only the rest.
        super().process_errors([e for e in errors if is_unexpected(e)], execution_context)


def build_schema(*, mask_errors: bool = False) -> Schema:
    extensions: list[type[SchemaExtension] | object] = [
        # Strawberry resumes hooks in list order after the operation: codes first, then the log.
        MaskedErrorShaping if mask_errors else ErrorShaping,
        OperationLogger,
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]
    return ChronosSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(sort_schema=True),
        execution_context_class=SharingExecutor,
    )


schema = build_schema()

__all__ = ["ChronosSchema", "Mutation", "Query", "Subscription", "build_schema", "schema"]
