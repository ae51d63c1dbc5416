"""From a bearer token to a principal: parsing, the short cache, and revocation."""

from __future__ import annotations

import pytest

from app.auth import keys
from app.auth.authenticator import Authenticator, bearer_token, connection_token
from app.auth.principal import UNAUTHENTICATED_ADMIN
from app.auth.roles import Role
from app.errors import Unauthenticated
from fiware.http import Tenant


def test_bearer_tokens_are_read_from_headers_and_connection_params() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None
    assert connection_token({"Authorization": "Bearer abc"}) == "abc"
    assert connection_token({"authorization": "Bearer abc"}) == "abc"
    assert connection_token({"Authorization": 5}) is None
    assert connection_token(None) is None


async def test_a_server_without_auth_lets_everyone_in_as_an_admin_of_every_tenant() -> None:
    principal = await Authenticator(required=False, cache_seconds=5).authenticate(None)
    assert principal is UNAUTHENTICATED_ADMIN and principal.scope.unrestricted


async def test_keys_are_cached_for_a_while_and_a_fresh_look_sees_a_revocation(beanie_db: str) -> None:
    now = [0.0]
    authenticator = Authenticator(required=True, cache_seconds=5, clock=lambda: now[0])
    created = await keys.create_key(name="t", role=Role.EDITOR, tenants=[Tenant("smart", "/")])
    principal = await authenticator.authenticate(created.secret)
    assert principal.key_id == created.document.id and principal.role is Role.EDITOR

    await keys.revoke_key(key=str(created.document.id))
    assert (await authenticator.authenticate(created.secret)).key_id == created.document.id, "cached"
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(created.secret, fresh=True)
    now[0] = 6.0
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(created.secret)


async def test_missing_and_unknown_keys_are_refused_with_a_reason(beanie_db: str) -> None:
    authenticator = Authenticator(required=True, cache_seconds=5)
    with pytest.raises(Unauthenticated, match="Authorization: Bearer"):
        await authenticator.authenticate(None)
    with pytest.raises(Unauthenticated, match="not valid"):
        await authenticator.authenticate("chr_" + "x" * 43)
