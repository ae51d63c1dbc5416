"""Document limits: cost rule, each limiter's refusal, and how cheap refusals are."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest
import strawberry
from graphql import (
    GraphQLError,
    GraphQLObjectType,
    get_introspection_query,
    parse,
)
from strawberry.extensions import SchemaExtension, ValidationCache
from strawberry.types import ExecutionResult

from schema import Query, Subscription
from schema import schema as chronos_schema
from schema.extensions import ParserCacheKeepingErrors
from schema.limits import QUERY_TOO_COMPLEX, QueryLimits, limit_extensions, operation_cost

NESTED_PAGES = (
    "{ models(first: 100) { edges { node { trainingJobs(first: 100) { edges { node { id } } } } } } }"
)
# Seconds. Unbounded, these documents keep a server busy for minutes; bounded, they take
# milliseconds, but a loaded 2-core machine has been seen to stretch one to 1.3 s.
QUICK = 2.0

# What each limiter says; documents within the limits must meet none of these.
LIMIT_MARKERS = (
    "tokens. Parsing aborted",
    "exceeds maximum operation depth",
    "aliases found",
    "introspection",
    "nested too deeply",
)


# A schema of its own that records every resolver call, to show a refused operation runs none.
CALLS: list[str] = []


@strawberry.type
class Item:
    @strawberry.field
    def children(self) -> list[int]:
        CALLS.append("children")
        return [1]


@strawberry.type
class MiniQuery:
    @strawberry.field
    def items(self, first: int = 10) -> list[Item]:
        CALLS.append("items")
        return [Item()] * first


@strawberry.type
class MiniSubscription:
    @strawberry.subscription
    async def items(self, first: int = 10) -> AsyncGenerator[list[Item], None]:
        CALLS.append("subscription")
        yield [Item()] * first


def build(limits: QueryLimits | None = None, *, caches: bool = False) -> strawberry.Schema:
    extensions: list[Callable[[], SchemaExtension]] = list(limit_extensions(limits or QueryLimits()))
    if caches:
        # Caches first: the guards must hold whatever order build_schema puts them in.
        extensions = [
            lambda: ParserCacheKeepingErrors(maxsize=16),
            lambda: ValidationCache(maxsize=16),
            *extensions,
        ]
    return strawberry.Schema(query=Query, subscription=Subscription, extensions=extensions)


def cost(document: str, variables: dict[str, Any] | None = None, operation_name: str | None = None) -> int:
    return operation_cost(
        chronos_schema._schema, parse(document), operation_name, variables, list_default_size=10
    )


def limit_errors(result: ExecutionResult) -> list[GraphQLError]:
    return [
        error
        for error in result.errors or []
        if (error.extensions or {}).get("code") == QUERY_TOO_COMPLEX
        or any(marker in error.message for marker in LIMIT_MARKERS)
    ]


def only_message(result: ExecutionResult) -> str:
    assert result.data is None
    assert result.errors is not None
    assert len(result.errors) == 1, result.errors
    return result.errors[0].message


async def timed(schema: strawberry.Schema, document: str) -> tuple[ExecutionResult, float]:
    start = time.perf_counter()
    result = await schema.execute(document)
    return result, time.perf_counter() - start


def nested(levels: int) -> str:
    """`model { latestTrainingJob { model { latestTrainingJob … } } } }`, `levels` fields deep."""
    inner = "id"
    for level in reversed(range(1, levels)):
        inner = f"{'latestTrainingJob' if level % 2 else 'model'} {{ {inner} }}"
    return f'{{ model(id: "x") {{ {inner} }} }}'


def fragment_doubling(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels fields once expanded, in a few hundred bytes."""
    fragments = "\n".join(f"fragment F{i} on Model {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f'{{ model(id: "x") {{ ...F0 }} }}\n{fragments}\nfragment F{levels} on Model {{ id }}'


def fragment_clique(size: int) -> str:
    """Fragments that all spread each other: a path-walking limiter visits size! paths."""
    fragments = "\n".join(
        f"fragment F{i} on Model {{ {' '.join(f'...F{j}' for j in range(size) if j != i)} }}"
        for i in range(size)
    )
    return f'{{ model(id: "x") {{ ...F0 }} }}\n{fragments}'


def test_defaults() -> None:
    assert QueryLimits() == QueryLimits(
        max_depth=10,
        max_tokens=2000,
        max_aliases=15,
        max_cost=5000,
        list_default_size=10,
        allow_introspection=True,
    )


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ info { name version } }", 3),
        # 1 + edges (1 + 100 × (node 1 + id 1)): `edges` takes the page size, not 10 more.
        ("{ models(first: 100) { edges { node { id } } } }", 202),
        # The schema default `first: 20`; pageInfo and totalCount are charged once.
        ("{ models { totalCount pageInfo { hasNextPage } edges { cursor node { id name } } } }", 85),
        # Lists without `first`: 10 each, nested.
        ("{ devices { entities { attributes } } }", 111),
        ('{ model(id: "x") { trainingJobs(first: 5) { edges { node { history { epoch } } } } } }', 63),
        (NESTED_PAGES, 20302),
        ("{ models(first: 0) { totalCount edges { node { id } } } }", 3),
        ("subscription { healthUpdates { status dependencies { name status } } }", 23),
    ],
)
def test_cost_of_representative_documents(document: str, expected: int) -> None:
    assert cost(document) == expected


def test_first_comes_from_variables_their_defaults_or_the_schema() -> None:
    document = "query Page($n: Int!) { models(first: $n) { edges { node { id } } } }"
    assert cost(document, {"n": 7}) == 1 + 1 + 7 * 2
    assert cost("query($n: Int! = 3) { models(first: $n) { edges { node { id } } } }") == 1 + 1 + 3 * 2
    assert cost("query($n: Int! = 3) { models(first: $n) { edges { node { id } } } }", {"n": 50}) == 102
    # Missing: the argument's schema default (20).
    assert cost(document) == 1 + 1 + 20 * 2
    # GraphQL coerces 100.0 to 100: charged as 100, not waved through at the default.
    assert cost(document, {"n": 100.0}) == 1 + 1 + 100 * 2
    assert cost(document, {"n": 7.0}) == 1 + 1 + 7 * 2
    # Garbage fails at execution; until then it is charged the largest page.
    assert cost(document, {"n": "many"}) == 1 + 1 + 100 * 2
    assert cost(document, {"n": True}) == 1 + 1 + 100 * 2
    assert cost(document, {"n": 7.5}) == 1 + 1 + 100 * 2
    assert cost(document, {"n": -5}) == 2


def test_fragments_are_expanded() -> None:
    plain = "{ models(first: 100) { totalCount edges { node { id name } } } }"
    named = """
        { models(first: 100) { ...Page } }
        fragment Page on ModelConnection { totalCount edges { node { ...M } } }
        fragment M on Model { id name }
    """
    inline = (
        "{ models(first: 100) { ... on ModelConnection { totalCount edges { ... { node { id name } } } } } }"
    )
    assert cost(plain) == cost(named) == cost(inline) == 1 + 1 + 1 + 100 * 3


def test_skip_and_include_spare_selections() -> None:
    document = """
        query($skip: Boolean!, $with: Boolean!) {
          info { name }
          models(first: 100) @skip(if: $skip) { edges { node { id } } }
          devices @include(if: $with) { entityType }
        }
    """
    assert cost(document, {"skip": True, "with": False}) == 2
    assert cost(document, {"skip": False, "with": True}) == 2 + 202 + 11
    # Not a definite flag: charged.
    assert cost(document, {}) == 2 + 202 + 11


def test_operation_is_chosen_by_name() -> None:
    document = "query Small { info { name } } query Big { models(first: 100) { edges { node { id } } } }"
    assert cost(document, operation_name="Small") == 2
    assert cost(document, operation_name="Big") == 202
    assert cost(document) == 2
    assert cost(document, operation_name="Missing") == 0


def test_introspection_is_charged_one_per_field() -> None:
    assert cost(get_introspection_query()) == 220


@pytest.mark.parametrize(
    ("limits", "document", "message"),
    [
        (
            QueryLimits(max_tokens=50),
            "{ info { " + "name " * 60 + "} }",
            "Syntax Error: Document contains more than 50 tokens. Parsing aborted.",
        ),
        (QueryLimits(max_depth=3), nested(5), "'anonymous' exceeds maximum operation depth of 3"),
        (
            QueryLimits(),
            "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }",
            "16 aliases found. Allowed: 15",
        ),
        (QueryLimits(), NESTED_PAGES, "Query cost 20302 exceeds the limit of 5000."),
        (
            QueryLimits(allow_introspection=False),
            "{ __schema { queryType { name } } }",
            "GraphQL introspection has been disabled, "
            "but the requested query contained the field '__schema'.",
        ),
        (
            QueryLimits(),
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
            "Maximum introspection depth exceeded",
        ),
    ],
)
async def test_each_limit_refuses_with_its_message(limits: QueryLimits, document: str, message: str) -> None:
    result = await build(limits).execute(document)
    assert result.data is None
    assert result.errors
    assert result.errors[0].message == message


async def test_cost_refusal_carries_code_cost_and_limit() -> None:
    document = "query($n: Int!) { models(first: $n) { edges { node { id rnnLayers { units } } } } }"
    result = await build(QueryLimits(max_cost=1000)).execute(document, variable_values={"n": 100})
    assert only_message(result) == "Query cost 1302 exceeds the limit of 1000."
    assert result.errors and result.errors[0].extensions == {
        "code": QUERY_TOO_COMPLEX,
        "cost": 1302,
        "maxCost": 1000,
    }
    passing = await build(QueryLimits(max_cost=1000)).execute(document, variable_values={"n": 10})
    assert limit_errors(passing) == []


@pytest.mark.parametrize(
    "document",
    [
        "{ info { name version environment dependencies { name url } } }",
        "{ models(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }",
        '{ trainingJob(id: "x") { id status history { epoch loss valLoss } metrics { rmse rmsePerStep } } }',
        get_introspection_query(),
        "{ " + " ".join(f"a{i}: __typename" for i in range(15)) + " }",
        nested(10),
    ],
)
async def test_documents_within_the_limits_meet_no_limit_error(document: str) -> None:
    # They fail later for want of a context; only the limits matter here.
    assert limit_errors(await build().execute(document)) == []
    assert limit_errors(await build(caches=True).execute(document)) == []


async def test_introspection_off_leaves_typename() -> None:
    schema = build(QueryLimits(allow_introspection=False))
    assert limit_errors(await schema.execute("{ __typename }")) == []
    result = await schema.execute('{ __type(name: "Model") { name } }')
    assert "introspection has been disabled" in only_message(result)


async def test_cost_refusal_runs_no_resolver_for_queries_and_subscriptions() -> None:
    CALLS.clear()
    mini = strawberry.Schema(
        query=MiniQuery,
        subscription=MiniSubscription,
        extensions=limit_extensions(QueryLimits(max_cost=50)),
    )
    # 1 + 100 × (children 1): over 50.
    result = await mini.execute("{ items(first: 100) { children } }")
    assert only_message(result) == "Query cost 101 exceeds the limit of 50."

    stream = await mini.subscribe("subscription { items(first: 100) { children } }")
    assert not isinstance(stream, ExecutionResult)
    results = [result async for result in stream]
    assert len(results) == 1
    assert only_message(results[0]) == "Query cost 101 exceeds the limit of 50."
    assert results[0].errors and results[0].errors[0].extensions == {
        "code": QUERY_TOO_COMPLEX,
        "cost": 101,
        "maxCost": 50,
    }
    assert CALLS == []

    # Within the limit both run, so the refusal above is the limiter's doing.
    assert (await mini.execute("{ items(first: 2) { children } }")).data == {
        "items": [{"children": [1]}, {"children": [1]}]
    }
    stream = await mini.subscribe("subscription { items(first: 1) { children } }")
    assert not isinstance(stream, ExecutionResult)
    assert [result.data async for result in stream] == [{"items": [{"children": [1]}]}]
    assert CALLS == ["items", "children", "children", "subscription", "children"]


async def test_chronos_subscription_over_the_cost_is_refused() -> None:
    stream = await build(QueryLimits(max_cost=20)).subscribe(
        "subscription { healthUpdates { status dependencies { name status } } }"
    )
    assert not isinstance(stream, ExecutionResult)
    results = [result async for result in stream]
    assert len(results) == 1
    assert only_message(results[0]) == "Query cost 23 exceeds the limit of 20."


@pytest.mark.parametrize("caches", [False, True])
async def test_alias_bomb_deep_nesting_and_a_megabyte_are_refused_quickly(caches: bool) -> None:
    schema = build(caches=caches)
    alias_bomb = "{ " + " ".join(f"a{i}: info {{ name }}" for i in range(10_000)) + " }"
    megabyte = "{ info { " + "name " * 200_000 + "} }"
    assert len(megabyte) > 1_000_000
    refusals = {
        alias_bomb: "Syntax Error: Document contains more than 2000 tokens. Parsing aborted.",
        megabyte: "Syntax Error: Document contains more than 2000 tokens. Parsing aborted.",
        # The parser refuses 200 levels itself; just below that the depth limiter does.
        nested(200): "Syntax Error: Document is nested too deeply. Parsing aborted.",
        nested(190): "'anonymous' exceeds maximum operation depth of 10",
        "{ " + " ".join(f"a{i}: __typename" for i in range(600)) + " }": "600 aliases found. Allowed: 15",
    }
    for document, message in refusals.items():
        result, seconds = await timed(schema, document)
        assert result.data is None
        assert result.errors and result.errors[0].message == message
        assert seconds < QUICK, (message, seconds)


@pytest.mark.parametrize("caches", [False, True])
async def test_fragment_bombs_are_refused_before_the_path_walking_limiters(caches: bool) -> None:
    # Strawberry's depth and alias limiters walk every expansion path: these two would keep
    # them busy for hours (2**40 paths; 14! paths) before any other rule ran.
    schema = build(caches=caches)
    result, seconds = await timed(schema, fragment_doubling(40))
    assert only_message(result) == (
        f"Document expands to {2**40 + 1} field selections; at most 5000 are allowed."
    )
    assert result.errors and (result.errors[0].extensions or {}).get("code") == QUERY_TOO_COMPLEX
    assert seconds < QUICK

    result, seconds = await timed(schema, fragment_clique(14))
    assert result.data is None
    assert result.errors and result.errors[0].message == "Cannot spread fragment 'F0' within itself via 'F1'."
    assert seconds < QUICK

    # The same guard stands before a stream.
    bomb = fragment_doubling(40).replace('{ model(id: "x") {', "subscription { healthUpdates {")
    bomb = bomb.replace("on Model", "on SystemHealth").replace("{ id }", "{ status }")
    stream = await schema.subscribe(bomb)
    assert not isinstance(stream, ExecutionResult)
    results = [result async for result in stream]
    assert len(results) == 1
    assert only_message(results[0]).startswith(f"Document expands to {2**40 + 1} field selections")


async def test_small_fragment_reuse_is_not_refused() -> None:
    assert limit_errors(await build().execute(fragment_doubling(8))) == []


def test_paginated_fields_default_to_at_most_100_items() -> None:
    paginated: dict[str, object] = {}
    for type_name, graphql_type in chronos_schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            if "first" in field.args:
                paginated[f"{type_name}.{field_name}"] = field.args["first"].default_value
    assert paginated, "no field takes `first`: the cost rule's page sizes are unused"
    too_big = {
        name: default for name, default in paginated.items() if not isinstance(default, int) or default > 100
    }
    assert too_big == {}
