"""Hostile requests against the real server: refused quickly, with a reason, and nothing runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.app.test_cli import cli
from tests.support import ApiServer, bearer, create_key, graphql_client, run_api

CHEAP = "{ modelTypes { value } }"


def post(api: ApiServer, body: Any, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.post(api.graphql_url, json=body, headers=api.headers, timeout=30, **kwargs)
    return response, time.perf_counter() - started


def first_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["errors"][0]
    return error


def test_oversized_bodies_are_refused_before_they_are_read(api: ApiServer) -> None:
    padding = " " * (300 * 1024)
    response, seconds = post(api, {"query": "{" + padding + "modelTypes { value } }"})
    assert response.status_code == 413 and seconds < 1
    assert first_error(response)["extensions"] == {"code": "REQUEST_TOO_LARGE", "maxBytes": 256 * 1024}


def test_deep_wide_and_aliased_documents_are_refused_quickly(api: ApiServer) -> None:
    deep = "{ models { edges { node { " + "trainingJobs { edges { node { model { " * 5 + "id" + " } } } }" * 5
    deep += " } } } }"
    aliases = "{ " + " ".join(f"a{i}: modelTypes {{ value }}" for i in range(5000)) + " }"
    costly = (
        "{ models(first: 100) { edges { node { trainingJobs(first: 100) { edges { node { id } } } } } } }"
    )
    fragments = (
        "query { ...f0 } "
        + " ".join(f"fragment f{i} on Query {{ ...f{i + 1} ...f{i + 1} }}" for i in range(30))
        + " fragment f30 on Query { modelTypes { value } }"
    )
    for document, expected in (
        (deep, "exceeds maximum operation depth"),
        (aliases, "more than 2000 tokens"),
        (costly, "Query cost"),
        (fragments, "field selections"),
    ):
        response, seconds = post(api, {"query": document})
        assert response.status_code == 200 and seconds < 1, (expected, seconds)
        body = response.json()
        assert body.get("data") is None and expected in body["errors"][0]["message"], body
        assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", body
    fifteen = "{ " + " ".join(f"a{i}: modelTypes {{ value }}" for i in range(16)) + " }"
    too_many = first_error(post(api, {"query": fifteen})[0])
    assert "16 aliases" in too_many["message"] and too_many["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_batches_and_bodies_that_are_not_requests_are_refused_in_json(api: ApiServer) -> None:
    response, _ = post(api, [{"query": CHEAP}, {"query": CHEAP}])
    assert response.status_code == 400 and first_error(response)["extensions"]["code"] == "BAD_REQUEST"
    for body in (
        b"null",
        b"5",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"query": "{ __typename }", "operationName": [1]}',
    ):
        refused = httpx.post(
            api.graphql_url,
            content=body,
            headers={**api.headers, "content-type": "application/json"},
            timeout=10,
        )
        assert refused.status_code == 400, (body[:20], refused.text)
        assert first_error(refused)["extensions"]["code"] == "BAD_REQUEST"


async def test_an_oversized_websocket_message_closes_the_socket(api: ApiServer) -> None:
    url = api.graphql_url.replace("http", "ws")
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": api.init_payload}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        query = "subscription { healthUpdates { status } }" + " " * (300 * 1024)
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_revoked_key_cannot_start_a_subscription_on_an_open_socket(
    api: ApiServer, service_env: dict[str, str], log_dir: Path
) -> None:
    key = create_key(service_env, role="viewer", tenants=["smart:/"], name="soon revoked", cwd=log_dir)
    url = api.graphql_url.replace("http", "ws")
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": bearer(key)}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        assert cli(service_env, log_dir, "keys", "revoke", key[:12]).returncode == 0
        for number, query in enumerate(
            (
                "subscription { healthUpdates(intervalSeconds: 1) { status } }",
                # Queries and mutations on the socket look at the key again too.
                "{ modelTypes { value } }",
                'mutation { deleteModel(id: "00000000-0000-0000-0000-000000000000") { deletedId } }',
            )
        ):
            await socket.send(
                json.dumps({"id": str(number), "type": "subscribe", "payload": {"query": query}})
            )
            answer = json.loads(await socket.recv())
            errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", answer
            if answer["type"] == "next":
                assert json.loads(await socket.recv())["type"] == "complete"


NO_MODEL = "00000000-0000-0000-0000-000000000000"
NESTED = """mutation($id: ID!) { ...A }
fragment A on Mutation { ...B x: deleteModel(id: $id) { deletedId } }
fragment B on Mutation { y: deleteModel(id: $id) { deletedId } z: deleteModel(id: $id) { deletedId } }"""


async def test_mutations_are_rate_limited_per_key(
    service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    env = {**service_env, "CHRONOS_MUTATION_RATE_LIMIT": "3", "CHRONOS_MUTATION_RATE_WINDOW_SECONDS": "60"}
    other = create_key(service_env, role="editor", tenants=["smart:/"], name="other", cwd=log_dir)
    mine = create_key(service_env, role="editor", tenants=["smart:/"], name="mine", cwd=log_dir)
    third = create_key(service_env, role="editor", tenants=["smart:/"], name="third", cwd=log_dir)
    delete = 'mutation { deleteModel(id: "00000000-0000-0000-0000-000000000000") { errors { code } } }'
    two = 'mutation { a: deleteModel(id: "00000000-0000-0000-0000-000000000000") { deletedId } '
    two += 'b: deleteModel(id: "00000000-0000-0000-0000-000000000001") { deletedId } }'
    with run_api(env, log_dir, key=admin_key) as server:
        async with graphql_client(server, key=mine) as gql:
            assert (await gql.run(delete)).codes == []  # NOT_FOUND is in the payload: it counted
            assert (await gql.run(two)).codes == []  # two root mutations: two hits
            refused = await gql.run(delete)
            assert refused.codes == ["RATE_LIMITED"] and refused.data is None
            assert 0 < refused.errors[0]["extensions"]["retryAfterSeconds"] <= 60
            assert (await gql.run(CHEAP)).codes == [], "queries are not limited"
        async with graphql_client(server, key=other) as gql:
            # Another key has its own window; three mutations hidden in nested fragments count three.
            assert (await gql.run(NESTED, {"id": NO_MODEL})).codes == []
            assert (await gql.run(delete)).codes == ["RATE_LIMITED"]
        async with graphql_client(server, key=third) as gql:
            four = await gql.run(
                NESTED.replace("{ ...B ", "{ ...B w: deleteModel(id: $id) { deletedId } "), {"id": NO_MODEL}
            )
            assert (
                four.codes == ["RATE_LIMITED"] and "4 mutations in one request" in four.errors[0]["message"]
            )
