"""Text Chronos cannot store is refused before anything runs.

JSON may carry lone surrogates (``"\\ud800"``); Python keeps them in ``str``, but neither MongoDB
nor Orion accepts them, and the write fails deep inside a driver. Checked once per operation,
on the document's text and every variable.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import ErrorCode
from schema.refusal import refuse

MESSAGE = "text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) cannot be stored"


def has_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(item) for item in value)
    return False


class ValidText(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if has_lone_surrogate(context.query) or has_lone_surrogate(context.variables):
            refuse(context, GraphQLError(MESSAGE, extensions={"code": ErrorCode.VALIDATION_ERROR.value}))
        yield


__all__ = ["ValidText", "has_lone_surrogate"]
