"""GraphQL fields derived from the pydantic declaration of the model configuration.

A decorated Strawberry class gets one field per declared field it does not declare itself, with the
declared type (nested models mapped to their GraphQL classes through ``nested``) and the declared
description, and for inputs the declared default. Apply the decorators under ``@strawberry.type``
or ``@strawberry.input``. ``to_graphql`` and ``from_graphql`` convert values between the two.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

import strawberry
from pydantic import BaseModel
from pydantic.fields import FieldInfo

T = TypeVar("T")
# Each nested pydantic model and the Strawberry class that shows it in this direction.
Nested = Mapping[type[BaseModel], type[Any]]
# What one declared field becomes: from its name, declaration, GraphQL type and description.
MakeField = Callable[[str, FieldInfo, Any, str], Any]

_NO_NESTING: Nested = types.MappingProxyType({})


def output_fields(
    config: type[BaseModel], *, nested: Nested = _NO_NESTING, non_null: Collection[str] = ()
) -> Callable[[type[T]], type[T]]:
    """Fields of an output type; ``non_null``: fields the declaration lets be None that are always
    answered (the API fills in the effective value)."""

    def make(name: str, info: FieldInfo, graphql_type: Any, description: str) -> Any:
        return strawberry.field(
            graphql_type=_without_none(graphql_type) if name in non_null else graphql_type,
            description=description,
        )

    return _derive(config, nested, make)


def input_fields(
    config: type[BaseModel], *, nested: Nested = _NO_NESTING, omissible: Mapping[str, str] | None = None
) -> Callable[[type[T]], type[T]]:
    """Fields of an input that takes the declared defaults; ``omissible``: fields that may be null
    or left out instead, each with what that means (said after the field's description)."""
    omitted = omissible or {}

    def make(name: str, info: FieldInfo, graphql_type: Any, description: str) -> Any:
        if name in omitted:
            return strawberry.field(
                graphql_type=graphql_type | None, default=None, description=f"{description} {omitted[name]}"
            )
        if info.is_required():
            return strawberry.field(graphql_type=graphql_type, description=description)
        default = functools.partial(_declared_default, info, nested)
        return strawberry.field(graphql_type=graphql_type, default_factory=default, description=description)

    return _derive(config, nested, make)


def patch_fields(
    config: type[BaseModel], *, nested: Nested = _NO_NESTING, remarks: Mapping[str, str] | None = None
) -> Callable[[type[T]], type[T]]:
    """Fields of an input of changes: each optional and UNSET unless given. Null resets the
    ``nullable_fields`` to their defaults (and says so); ``remarks`` are said after some others."""
    said = remarks or {}
    resets = nullable_fields(config)

    def make(name: str, info: FieldInfo, graphql_type: Any, description: str) -> Any:
        if name in said:
            description = f"{description} {said[name]}"
        if name in resets:
            description = f"{description} Null resets it to its default."
        return strawberry.field(
            graphql_type=graphql_type | None, default=strawberry.UNSET, description=description
        )

    return _derive(config, nested, make)


def nullable_fields(config: type[BaseModel]) -> list[str]:
    """The fields ``config`` lets be None, in declaration order."""
    return [name for name, info in config.model_fields.items() if type(None) in get_args(info.annotation)]


def _derive(config: type[BaseModel], nested: Nested, make: MakeField) -> Callable[[type[T]], type[T]]:
    def derive(cls: type[T]) -> type[T]:
        declared = {*vars(cls), *vars(cls).get("__annotations__", {})}
        for name, info in config.model_fields.items():
            if name in declared:
                continue
            if not info.description:
                raise ValueError(f"{config.__name__}.{name}: declare a description, GraphQL shows it")
            setattr(cls, name, make(name, info, _graphql_type(info.annotation, nested), info.description))
        return cls

    return derive


def _graphql_type(annotation: Any, nested: Nested) -> Any:
    args = get_args(annotation)
    if get_origin(annotation) is list:
        return list[_graphql_type(args[0], nested)]  # type: ignore[misc]
    if get_origin(annotation) in (Union, types.UnionType):
        return functools.reduce(operator.or_, (_graphql_type(arg, nested) for arg in args))
    return nested.get(annotation, annotation)


def _without_none(graphql_type: Any) -> Any:
    if get_origin(graphql_type) not in (Union, types.UnionType):
        return graphql_type
    return functools.reduce(operator.or_, (arg for arg in get_args(graphql_type) if arg is not type(None)))


def _declared_default(info: FieldInfo, nested: Nested) -> Any:
    return to_graphql(info.get_default(call_default_factory=True), nested)


def to_graphql(value: Any, nested: Nested) -> Any:
    """``value`` with each nested pydantic model (in lists too) made its Strawberry class."""
    if isinstance(value, list):
        return [to_graphql(item, nested) for item in value]
    if isinstance(value, BaseModel) and type(value) in nested:
        return nested[type(value)](**declared_values(value, type(value), nested))
    return value


def declared_values(source: object, config: type[BaseModel], nested: Nested) -> dict[str, Any]:
    """The fields ``config`` declares, read from ``source``, ready for a Strawberry class."""
    plain, holding_models = _field_kinds(config)
    values = {name: getattr(source, name) for name in plain}
    values.update((name, to_graphql(getattr(source, name), nested)) for name in holding_models)
    return values


@functools.cache
def _field_kinds(config: type[BaseModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``config``'s fields that are copied as they are, and those that may hold nested models (a
    list page converts every model of it: only these are walked)."""
    holding = tuple(name for name, info in config.model_fields.items() if _holds_model(info.annotation))
    return tuple(name for name in config.model_fields if name not in holding), holding


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in get_args(annotation))


def from_graphql(value: Any, nested: Nested) -> Any:
    """``value`` with each Strawberry object of ``nested`` (in lists too) made its pydantic model."""
    if isinstance(value, list):
        return [from_graphql(item, nested) for item in value]
    models = {graphql: model for model, graphql in nested.items()}
    if type(value) in models:
        fields = {
            field.name: from_graphql(getattr(value, field.name), nested)
            for field in dataclasses.fields(value)
        }
        return models[type(value)].model_validate(fields)
    return value


__all__ = [
    "Nested",
    "declared_values",
    "from_graphql",
    "input_fields",
    "nullable_fields",
    "output_fields",
    "patch_fields",
    "to_graphql",
]
