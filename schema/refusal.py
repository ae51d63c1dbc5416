"""Refusing an operation from an extension's ``on_execute``, before any resolver runs."""

from __future__ import annotations

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType


def refuse(context: ExecutionContext, error: GraphQLError) -> None:
    """Answer the operation with ``error`` alone.

    Queries and mutations skip execution when a result is already there, and the operation's log
    line and metrics see the refusal. A subscription has no such slot: raised, Strawberry streams
    the error as its one result.
    """
    if context.operation_type is OperationType.SUBSCRIPTION:
        raise error
    context.result = GraphQLExecutionResult(data=None, errors=[error])


__all__ = ["refuse"]
