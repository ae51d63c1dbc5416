from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from pymongo import AsyncMongoClient
from websockets.typing import Origin, Subprotocol

from app.devstack import api_command, free_port
from app.settings import Settings
from tests.support import ApiServer, create_key, get, run_api, wait_until

QUERY = "query Types { modelTypes { value } }"


def test_get_runs_queries_but_not_mutations(api: ApiServer) -> None:
    ok = get(api, "/graphql", params={"query": QUERY})
    assert ok.status_code == 200 and ok.json()["data"]["modelTypes"][0]["value"] == "LSTM"
    refused = get(
        api,
        "/graphql",
        params={
            "query": 'mutation { deleteModel(id: "00000000-0000-0000-0000-000000000000") { deletedId } }'
        },
    )
    assert refused.status_code == 400 and "mutations are not allowed" in refused.text.lower()


def test_browser_gets_graphiql(api: ApiServer) -> None:
    page = get(api, "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    # The root is the console (make test builds it), which only this origin may serve or answer.
    console = get(api, "/")
    assert console.status_code == 200 and console.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in console.headers["content-security-policy"]


def test_each_operation_is_logged(api: ApiServer) -> None:
    httpx.post(
        api.graphql_url, json={"query": QUERY, "operationName": "Types"}, headers=api.headers, timeout=10
    )
    httpx.post(
        api.graphql_url,
        json={"query": "query Broken { nope }", "operationName": "Broken"},
        headers=api.headers,
        timeout=10,
    )

    def logged() -> dict[str, dict[str, object]]:
        return {
            str(r.get("operation")): r for r in api.log_records() if r.get("event") == "graphql.operation"
        }

    assert wait_until(lambda: {"Types", "Broken"} <= set(logged()))
    records = logged()
    assert records["Types"]["outcome"] == "ok" and records["Types"]["type"] == "query"
    assert isinstance(records["Types"]["duration_ms"], float)
    assert records["Broken"]["outcome"] == "error"
    assert records["Broken"]["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert any(r.get("logger") == "uvicorn.access" for r in api.log_records()), "stdlib records kept"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_websocket_protocols_stream_subscriptions(api: ApiServer, protocol: str) -> None:
    transport = WebsocketsTransport(
        url=api.graphql_url.replace("http", "ws"), subprotocols=[protocol], init_payload=api.init_payload
    )
    request = GraphQLRequest("subscription { healthUpdates(intervalSeconds: 1) { status checkedAt } }")
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        events = []
        async for event in session.subscribe(request):
            events.append(event["healthUpdates"])
            if len(events) == 2:
                break
        if protocol == "graphql-transport-ws":
            assert (await session.execute(GraphQLRequest(QUERY)))["modelTypes"][0]["value"] == "LSTM"
    # No worker runs beside this API process: DEGRADED (the `workers` entry), never DOWN.
    assert {e["status"] for e in events} <= {"UP", "DEGRADED"} and len(events) == 2
    assert events[0]["checkedAt"] < events[1]["checkedAt"]


async def test_websocket_compression_is_accepted_only_when_configured(
    api: ApiServer, service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    async def negotiated(server: ApiServer) -> str | None:
        async with websockets.connect(
            server.graphql_url.replace("http", "ws"),
            subprotocols=[Subprotocol("graphql-transport-ws")],
            compression="deflate",
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": server.init_payload}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            assert socket.response is not None
            return socket.response.headers.get("Sec-WebSocket-Extensions")

    assert await negotiated(api) is None, "off by default: deflate costs CPU per message"
    with run_api({**service_env, "CHRONOS_WS_COMPRESSION": "true"}, log_dir, key=admin_key) as compressing:
        offered = await negotiated(compressing)
    assert offered is not None and offered.startswith("permessage-deflate")


async def test_subscription_arguments_are_checked(api: ApiServer) -> None:
    transport = WebsocketsTransport(url=api.graphql_url.replace("http", "ws"), init_payload=api.init_payload)
    request = GraphQLRequest("subscription { healthUpdates(intervalSeconds: 0) { status } }")
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        with pytest.raises(TransportQueryError) as refused:
            async for _ in session.subscribe(request):
                pass
    assert refused.value.errors and refused.value.errors[0]["extensions"]["code"] == "VALIDATION_ERROR"


async def test_cross_origin_websocket_needs_an_allowed_origin(
    service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    allowed = "http://dashboard.example"
    with run_api({**service_env, "CHRONOS_ALLOWED_ORIGINS": allowed}, log_dir, key=admin_key) as server:
        url = server.graphql_url.replace("http", "ws")
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(
                url,
                origin=Origin("http://evil.example"),
                subprotocols=[Subprotocol("graphql-transport-ws")],
            ):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(
            url,
            origin=Origin(allowed),
            subprotocols=[Subprotocol("graphql-transport-ws")],
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": server.init_payload}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
        preflight = httpx.options(
            server.graphql_url,
            headers={"origin": allowed, "access-control-request-method": "POST"},
            timeout=10,
        )
        assert preflight.headers["access-control-allow-origin"] == allowed
        other = httpx.options(
            server.graphql_url,
            headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
            timeout=10,
        )
        assert "access-control-allow-origin" not in other.headers


async def test_production_hides_graphiql_and_masks_unexpected_errors(
    service_env: dict[str, str], log_dir: Path, test_settings: Settings, admin_key: str
) -> None:
    database = f"prod_{uuid.uuid4().hex[:8]}"
    # A document no code path writes: the kind of surprise that must not reach clients verbatim.
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_settings.mongo_url)
    await mongo[database]["models"].insert_one({"name": "corrupt", "model_type": "TRANSFORMER"})
    env = {
        **service_env,
        "CHRONOS_ENVIRONMENT": "production",
        "CHRONOS_LOG_FORMAT": "auto",
        "CHRONOS_MONGO_DATABASE": database,
    }
    try:
        # Keys live in the database, and this server has a database of its own.
        key = create_key(env, role="admin", cwd=log_dir)
        with run_api(env, log_dir, key=key) as server:
            page = get(server, "/graphql", headers={"accept": "text/html"})
            assert "graphiql" not in page.text.lower()
            ok = httpx.post(server.graphql_url, json={"query": QUERY}, headers=server.headers, timeout=10)
            assert ok.json()["data"]["modelTypes"]
            broken = httpx.post(
                server.graphql_url,
                json={"query": "{ models { edges { node { id } } } }"},
                headers=server.headers,
                timeout=10,
            )
            error = broken.json()["errors"][0]
            assert error["message"] == "Unexpected error." and error["extensions"]["code"] == "INTERNAL"
            assert "TRANSFORMER" not in broken.text and "Traceback" not in broken.text
            introspection = httpx.post(
                server.graphql_url, json={"query": "{ __schema { types { name } } }"}, headers=server.headers
            ).json()
            assert (
                introspection.get("data") is None and "introspection" in introspection["errors"][0]["message"]
            )
            typo = httpx.post(
                server.graphql_url, json={"query": "{ modelTypez }"}, headers=server.headers
            ).json()
            assert "modelTypes" not in typo["errors"][0]["message"], "no suggestions that map the schema"
            request_id = error["extensions"]["requestId"]
            assert broken.headers["x-request-id"] == request_id
            assert wait_until(
                lambda: any(
                    "TRANSFORMER" in str(r.get("exception", "")) and r.get("request_id") == request_id
                    for r in server.log_records()
                )
            ), "the full error is logged (as JSON, the production default) under the id the client got"
    finally:
        await mongo.drop_database(database)
        await mongo.close()


def test_unreachable_mongo_stops_start_up_with_a_clear_log(
    service_env: dict[str, str], log_dir: Path
) -> None:
    env = {
        **os.environ,
        **service_env,
        "CHRONOS_MONGO_URL": f"mongodb://user:pw@127.0.0.1:{free_port()}/?directConnection=true",
        "CHRONOS_MONGO_TIMEOUT_SECONDS": "0.5",
        "CHRONOS_LOG_FORMAT": "json",
    }
    result = subprocess.run(
        api_command("127.0.0.1", free_port()),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failure = next(r for r in records if r.get("event") == "api.mongo_unreachable")
    assert failure["url"].startswith("mongodb://127.0.0.1:") and "pw" not in failure["url"]
