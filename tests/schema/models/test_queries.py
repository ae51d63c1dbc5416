from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

from tests.conftest import unique
from tests.schema.models.fragments import CREATE, GET, LIST
from tests.schema.models.test_mutations import create, new_input
from tests.support import GraphQL


async def walk(gql: GraphQL, model_filter: dict[str, Any], first: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql.ok(LIST, {"filter": model_filter, "first": first, "after": after}))["models"]
        nodes.extend(edge["node"] for edge in page["edges"])
        assert len(page["edges"]) <= first
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]


async def test_model_types(gql: GraphQL) -> None:
    types = (await gql.ok("{ modelTypes { value label description } }"))["modelTypes"]
    assert [t["value"] for t in types] == ["LSTM", "GRU"]
    assert all(t["label"] and t["description"] for t in types)


async def test_model_by_id_or_null(gql: GraphQL) -> None:
    model = await create(gql)
    assert (await gql.ok(GET, {"id": model["id"]}))["model"]["id"] == model["id"]
    assert (await gql.ok(GET, {"id": str(uuid.uuid4())}))["model"] is None
    bad = await gql.run(GET, {"id": "42"})
    assert bad.codes == ["VALIDATION_ERROR"] and bad.data == {"model": None}


async def test_pagination_walks_250_models_while_others_are_inserted(gql: GraphQL) -> None:
    entity = unique()
    created: list[str] = []
    for start in range(0, 250, 25):
        batch = await asyncio.gather(*(create(gql, entityId=entity, name=f"m{start + i}") for i in range(25)))
        created.extend(m["id"] for m in batch)

    inserted_during_walk: list[str] = []

    async def insert_more() -> None:
        for _ in range(30):
            inserted_during_walk.append((await create(gql, entityId=entity))["id"])

    inserter = asyncio.create_task(insert_more())
    walked = await walk(gql, {"entityId": entity}, first=7)
    inserted_while_walking = len(inserted_during_walk)
    await inserter
    assert inserted_while_walking > 0, "the walk overlapped with inserts"

    ids = [node["id"] for node in walked]
    assert len(ids) == len(set(ids)), "no model twice"
    assert set(created) <= set(ids), "no model skipped"
    keys = [(node["createdAt"], uuid.UUID(node["id"]).bytes) for node in walked]
    assert keys == sorted(keys, reverse=True), "newest first, ties broken by id"
    total = (await gql.ok(LIST, {"filter": {"entityId": entity}, "first": 1}))["models"]["totalCount"]
    assert total == 280


async def test_filters(gql: GraphQL) -> None:
    entity = unique()
    lstm = await create(gql, entityId=entity, name="Kitchen (v1.0)", feature="temperature")
    gru = await create(
        gql, entityId=entity, modelType="GRU", name="Garage", feature="humidity", entityType="Room"
    )

    async def ids(**criteria: Any) -> set[str]:
        nodes = await walk(gql, {"entityId": entity, **criteria}, first=100)
        return {n["id"] for n in nodes}

    assert await ids() == {lstm["id"], gru["id"]}
    assert await ids(modelType="GRU") == {gru["id"]}
    assert await ids(status="DRAFT") == {lstm["id"], gru["id"]}
    assert await ids(status="TRAINED") == set()
    assert await ids(entityType="Room") == {gru["id"]}
    assert await ids(feature="temperature") == {lstm["id"]}
    assert await ids(nameContains="kitchen") == {lstm["id"]}, "case-insensitive"
    assert await ids(nameContains="(v1.0)") == {lstm["id"]}, "regex characters are literal"
    assert await ids(nameContains=".*") == set()


async def test_page_size_and_cursor_are_checked(gql: GraphQL) -> None:
    too_many = await gql.run(LIST, {"first": 101})
    assert too_many.codes == ["VALIDATION_ERROR"]
    assert too_many.errors[0]["extensions"]["field"] == ["first"]
    negative = await gql.run(LIST, {"first": -1})
    assert negative.codes == ["VALIDATION_ERROR"]
    bad_cursor = await gql.run(LIST, {"after": "bm90IGEgY3Vyc29y"})
    assert bad_cursor.codes == ["VALIDATION_ERROR"]
    assert bad_cursor.errors[0]["extensions"]["field"] == ["after"]
    for forged in (
        base64.urlsafe_b64encode(f"v1:{'9' * 20}:{uuid.uuid4().hex}".encode()).decode(),
        "9" * 400,
    ):
        refused = await gql.run(LIST, {"after": forged})
        assert refused.codes == ["VALIDATION_ERROR"], refused.errors
    both = await gql.run(LIST, {"first": 500, "after": "nope"})
    assert [e["field"] for e in both.errors[0]["extensions"]["errors"]] == [["first"], ["after"]]


async def test_first_zero_counts_without_listing(gql: GraphQL) -> None:
    entity = unique()
    await create(gql, entityId=entity)
    empty = (await gql.ok(LIST, {"filter": {"entityId": entity}, "first": 0}))["models"]
    assert empty["edges"] == [] and empty["totalCount"] == 1 and empty["pageInfo"]["hasNextPage"]


async def test_default_page_is_twenty(gql: GraphQL) -> None:
    entity = unique()
    await asyncio.gather(*(gql.ok(CREATE, {"input": new_input(entityId=entity)}) for _ in range(21)))
    page = (await gql.ok(LIST, {"filter": {"entityId": entity}}))["models"]
    assert len(page["edges"]) == 20 and page["pageInfo"]["hasNextPage"] and page["totalCount"] == 21
