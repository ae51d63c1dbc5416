"""Which FIWARE tenants a caller sees: a set of (Fiware-Service, Fiware-ServicePath) pairs, or all.

Pairs match exactly: a key for ``smart:/`` does not see ``smart:/parking``. Service paths are
not treated as a hierarchy, so granting a subtree means listing its paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fiware.http import Tenant
from fiware.names import check_service, check_service_path


@dataclass(frozen=True)
class TenantScope:
    """``tenants`` None means every tenant (admins, and everyone while auth is off)."""

    tenants: frozenset[Tenant] | None

    @classmethod
    def of(cls, tenants: Iterable[Tenant]) -> TenantScope:
        return cls(frozenset(tenants))

    @property
    def unrestricted(self) -> bool:
        return self.tenants is None

    def allows(self, service: str, service_path: str) -> bool:
        return self.tenants is None or Tenant(service, service_path) in self.tenants

    def only(self) -> Tenant | None:
        """The one tenant of a single-tenant scope: the natural default for what such a key creates."""
        if self.tenants is not None and len(self.tenants) == 1:
            return next(iter(self.tenants))
        return None

    def query(self, service_field: str, path_field: str) -> dict[str, Any]:
        """A MongoDB filter for documents of these tenants, to ``$and`` with the caller's own."""
        if self.tenants is None:
            return {}
        if not self.tenants:
            return {"_id": {"$in": []}}  # matches nothing (an empty $or is an error to MongoDB)
        pairs = sorted(self.tenants, key=lambda t: (t.service, t.service_path))
        return {"$or": [{service_field: t.service, path_field: t.service_path} for t in pairs]}

    def restrict(self, query: dict[str, Any], service_field: str, path_field: str) -> dict[str, Any]:
        scoped = self.query(service_field, path_field)
        if not scoped:
            return query
        return {"$and": [query, scoped]} if query else scoped


EVERY_TENANT = TenantScope(None)


def parse_tenant(text: str) -> Tenant:
    """``service:/path`` (the path defaults to ``/``), checked with Orion's naming rules."""
    service, _, path = text.partition(":")
    path = path or "/"
    for problem in (check_service(service), check_service_path(path)):
        if problem:
            raise ValueError(f"{text!r}: {problem}")
    return Tenant(service, path)


def format_tenant(tenant: Tenant) -> str:
    return f"{tenant.service}:{tenant.service_path}"


__all__ = ["EVERY_TENANT", "TenantScope", "format_tenant", "parse_tenant"]
