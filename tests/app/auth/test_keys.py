"""API keys in MongoDB: only a hash is stored, revoked keys stop working, input is checked."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from app.auth import keys
from app.auth.roles import Role
from app.errors import NotFound, ValidationFailed
from fiware.http import Tenant


async def test_a_created_key_is_stored_as_a_hash_and_found_by_its_secret(
    beanie_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    created = await keys.create_key(name="dashboard", role=Role.VIEWER, tenants=[Tenant("smart", "/")])
    assert created.secret.startswith(keys.KEY_PREFIX) and len(created.secret) >= 40
    raw = await mongo[beanie_db]["api_keys"].find_one({"_id": created.document.id})
    assert raw is not None
    assert created.secret not in str(raw), "the secret itself is never stored"
    assert raw["secret_hash"] == keys.hash_secret(created.secret)
    assert raw["prefix"] == created.secret[:12]

    found = await keys.find_active(created.secret)
    assert found is not None and found.id == created.document.id
    principal = keys.principal_of(found)
    assert principal.role is Role.VIEWER
    assert principal.scope.allows("smart", "/") and not principal.scope.allows("smart", "/other")
    assert await keys.find_active(created.secret + "x") is None
    assert await keys.find_active("not-ours") is None


async def test_admins_see_every_tenant_and_others_need_one(beanie_db: str) -> None:
    admin = await keys.create_key(name="ops", role=Role.ADMIN, tenants=[])
    assert keys.principal_of(admin.document).scope.unrestricted
    with pytest.raises(ValidationFailed) as refused:
        await keys.create_key(name=" ", role=Role.EDITOR, tenants=[])
    assert {e.field for e in refused.value.errors} == {("name",), ("tenants",)}


async def test_revoked_keys_are_not_found_and_listed_only_on_request(beanie_db: str) -> None:
    first = await keys.create_key(name="a", role=Role.EDITOR, tenants=[Tenant("smart", "/")])
    second = await keys.create_key(name="b", role=Role.EDITOR, tenants=[Tenant("smart", "/")])
    revoked = await keys.revoke_key(key=first.document.prefix)
    assert revoked.revoked_at is not None
    assert await keys.find_active(first.secret) is None
    assert await keys.find_active(second.secret) is not None
    assert [k.name for k in await keys.list_keys()] == ["b"]
    assert {k.name for k in await keys.list_keys(include_revoked=True)} == {"a", "b"}
    # Revoking again is harmless; an unknown key is NOT_FOUND.
    assert (await keys.revoke_key(key=str(first.document.id))).revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        await keys.revoke_key(key="chr_nothing")
