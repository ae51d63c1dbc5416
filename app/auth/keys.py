"""Creating, listing, finding and revoking API keys.

A key is ``chr_`` and 43 URL-safe characters from the system's CSPRNG (256 bits). Chronos stores
only its SHA-256: with that much entropy a slow password hash buys nothing, and the lookup stays
one indexed read. The key itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from app.auth.documents import ApiKeyDocument, TenantEntry
from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.tenancy import EVERY_TENANT, TenantScope
from app.errors import ErrorCode, FieldError, NotFound, ValidationFailed
from app.pagination import NEWEST_FIRST
from app.timeutil import utcnow
from fiware.http import Tenant

KEY_PREFIX = "chr_"
SHOWN_CHARACTERS = 12
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class CreatedKey:
    document: ApiKeyDocument
    secret: str  # the only time it exists outside the caller's hands


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def principal_of(document: ApiKeyDocument) -> Principal:
    scope = (
        EVERY_TENANT
        if document.role is Role.ADMIN
        else TenantScope.of(Tenant(t.service, t.service_path) for t in document.tenants)
    )
    return Principal(key_id=document.id, name=document.name, role=document.role, scope=scope)


async def create_key(*, name: str, role: Role, tenants: Iterable[Tenant]) -> CreatedKey:
    tenant_list = list(dict.fromkeys(tenants))
    problems = []
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        problems.append(
            FieldError(ErrorCode.VALIDATION_ERROR, f"a name of 1-{MAX_NAME_LENGTH} characters", ("name",))
        )
    if role is not Role.ADMIN and not tenant_list:
        problems.append(
            FieldError(
                ErrorCode.VALIDATION_ERROR, f"a {role.value} key needs at least one tenant", ("tenants",)
            )
        )
    if problems:
        raise ValidationFailed(problems)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    document = ApiKeyDocument(
        name=name.strip(),
        prefix=secret[:SHOWN_CHARACTERS],
        secret_hash=hash_secret(secret),
        role=role,
        tenants=[TenantEntry(service=t.service, service_path=t.service_path) for t in tenant_list],
    )
    await document.insert()
    return CreatedKey(document=document, secret=secret)


async def list_keys(*, include_revoked: bool = False) -> list[ApiKeyDocument]:
    query = {} if include_revoked else {"revoked_at": None}
    return await ApiKeyDocument.find(query).sort(NEWEST_FIRST).to_list()


async def find_active(secret: str) -> ApiKeyDocument | None:
    """The unrevoked key with this secret, or None (also for anything that is not one of ours)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    return await ApiKeyDocument.find_one({"secret_hash": hash_secret(secret), "revoked_at": None})


async def revoke_key(*, key: str) -> ApiKeyDocument:
    """Revoke by id or by the shown prefix (which must then name exactly one active key)."""
    try:
        query: dict[str, object] = {"_id": UUID(key)}
    except ValueError:
        query = {"prefix": key, "revoked_at": None}
    found = await ApiKeyDocument.find(query).to_list()
    if len(found) != 1:
        raise NotFound(
            f"no single API key matches {key!r}" if found else f"API key {key!r} does not exist",
            field=("key",),
        )
    document = found[0]
    if document.revoked_at is None:
        document.revoked_at = utcnow()
        await document.save()
    return document


__all__ = [
    "KEY_PREFIX",
    "CreatedKey",
    "create_key",
    "find_active",
    "hash_secret",
    "list_keys",
    "principal_of",
    "revoke_key",
]
