from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
)

from app import system
from schema import schema
from schema.export import sdl

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_equals_the_exported_one() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == sdl(), "schema.graphql is stale: run `make schema` and commit it"


def test_every_public_type_field_and_argument_is_described() -> None:
    missing: list[str] = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID", "DateTime"}:
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing.extend(
                    f"{name}.{field_name}({arg_name})"
                    for arg_name, arg in field.args.items()
                    if not arg.description
                )
        elif isinstance(graphql_type, GraphQLInputObjectType):
            missing.extend(
                f"{name}.{field_name}"
                for field_name, field in graphql_type.fields.items()
                if not field.description
            )
        elif isinstance(graphql_type, GraphQLEnumType):
            # GraphiQL's docs pane shows each value's description; a blank one tells nothing.
            missing.extend(
                f"{name}.{value_name}"
                for value_name, value in graphql_type.values.items()
                if not value.description
            )
    assert missing == []


def test_dependency_names_are_all_described() -> None:
    dependency = schema._schema.type_map["DependencyHealth"]
    assert isinstance(dependency, GraphQLObjectType)
    description = dependency.fields["name"].description or ""
    assert [name for name in system.DEPENDENCIES if f"`{name}`" not in description] == []


def test_names_are_camel_case() -> None:
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType | GraphQLInputObjectType):
            continue
        assert all("_" not in field for field in graphql_type.fields), name
