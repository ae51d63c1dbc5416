from __future__ import annotations

from pathlib import Path

from tests.support import ApiServer, GraphQL, create_key, graphql_client

VIEWER = "{ viewer { name role canMutate tenants { service servicePath } } }"


async def test_the_viewer_is_the_key_of_the_request(
    gql: GraphQL, api: ApiServer, service_env: dict[str, str], log_dir: Path
) -> None:
    admin = (await gql.ok(VIEWER))["viewer"]
    assert (admin["role"], admin["canMutate"], admin["tenants"]) == ("ADMIN", True, None)
    tenants = ["west:/", "east:/parking", "east:/"]
    key = create_key(service_env, role="viewer", tenants=tenants, name="console viewer", cwd=log_dir)
    async with graphql_client(api, key=key) as client:
        viewer = (await client.ok(VIEWER))["viewer"]
    assert (viewer["name"], viewer["role"], viewer["canMutate"]) == ("console viewer", "VIEWER", False)
    assert viewer["tenants"] == [
        {"service": "east", "servicePath": "/"},
        {"service": "east", "servicePath": "/parking"},
        {"service": "west", "servicePath": "/"},
    ]
    editor = create_key(service_env, role="editor", tenants=["west:/"], name="console editor", cwd=log_dir)
    async with graphql_client(api, key=editor) as client:
        assert (await client.ok(VIEWER))["viewer"]["canMutate"] is True
