"""Who may run an operation: every operation passes here once its document is known.

Authentication happens before GraphQL (the HTTP gate in ``schema.asgi``, ``on_ws_connect`` for
sockets); this extension checks the role the operation type needs, looks at a socket's key again
when a subscription starts (it may have been revoked since the socket opened), and counts
mutations against the key's rate limit. Tenancy is not decided here: services filter by
``Context.scope``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.auth.mutation_quota import charge_mutations
from app.auth.principal import Principal
from app.auth.roles import Role
from app.errors import ChronosError, Forbidden, Unauthenticated
from schema.context import Context
from schema.refusal import refuse

REQUIRED_ROLE = {
    OperationType.QUERY: Role.VIEWER,
    OperationType.SUBSCRIPTION: Role.VIEWER,
    OperationType.MUTATION: Role.EDITOR,
}


def root_field_count(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> int:
    """Top-level fields of an operation, through fragments at any depth: each is one mutation.

    A fragment counts each time it is spread, as it runs each time; cycles were refused earlier,
    but a spread already being expanded is not followed again, so none can loop here.
    """

    def count(selections: Sequence[SelectionNode], expanding: frozenset[str]) -> int:
        total = 0
        for selection in selections:
            if isinstance(selection, FieldNode):
                total += 1
            elif isinstance(selection, InlineFragmentNode):
                total += count(selection.selection_set.selections, expanding)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in expanding:
                    total += count(fragment.selection_set.selections, expanding | {name})
        return total

    return count(operation.selection_set.selections, frozenset())


def as_graphql_error(error: ChronosError) -> GraphQLError:
    return GraphQLError(error.message, extensions=error.extensions, original_error=error)


class AccessControl(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        operation_type = execution.operation_type
        try:
            context = execution.context
            if not isinstance(context, Context):
                raise Unauthenticated("no caller")
            principal = await self._caller(context, operation_type)
            required = REQUIRED_ROLE[operation_type]
            if not principal.role.includes(required):
                raise Forbidden(
                    f"a {principal.role.value} key cannot run {operation_type.value} operations; "
                    f"it takes {required.value} or above"
                )
            # A refusal by an earlier extension (limits, bad text) leaves the quota alone.
            if operation_type is OperationType.MUTATION and execution.result is None:
                await self._count_mutations(context, principal)
        except ChronosError as refused:
            refuse(execution, as_graphql_error(refused))
        yield

    async def _caller(self, context: Context, operation_type: OperationType) -> Principal:
        if context.token is not None:
            # A socket outlives its key: every operation on it looks again, a subscription (which
            # may run for hours) past the cache.
            fresh = operation_type is OperationType.SUBSCRIPTION
            try:
                context.principal = await context.resources.authenticator.authenticate(
                    context.token, fresh=fresh
                )
            except Unauthenticated:
                context.principal = None
                raise
        if context.principal is None:
            raise Unauthenticated("no API key was checked for this connection")
        return context.principal

    async def _count_mutations(self, context: Context, principal: Principal) -> None:
        document = self.execution_context.graphql_document
        if document is None:
            return
        name = self.execution_context.operation_name
        operation = next(
            (
                d
                for d in document.definitions
                if isinstance(d, OperationDefinitionNode)
                and (name is None or (d.name and d.name.value == name))
            ),
            None,
        )
        if operation is None:
            return
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        settings = context.settings
        await charge_mutations(
            redis=context.resources.redis,
            principal=principal,
            mutations=max(1, root_field_count(operation, fragments)),
            limit=settings.mutation_rate_limit,
            window_seconds=settings.mutation_rate_window_seconds,
        )


__all__ = ["AccessControl", "as_graphql_error", "root_field_count"]
