"""Tenant scopes: exact (service, path) pairs, as MongoDB filters and as checks."""

from __future__ import annotations

import pytest

from app.auth.tenancy import EVERY_TENANT, TenantScope, format_tenant, parse_tenant
from fiware.http import Tenant


def test_tenants_are_parsed_with_orions_rules() -> None:
    assert parse_tenant("smart:/parking") == Tenant("smart", "/parking")
    assert parse_tenant("smart") == Tenant("smart", "/")
    assert format_tenant(Tenant("smart", "/a")) == "smart:/a"
    for bad in ("Smart:/", "smart:relative", "", "a b:/"):
        with pytest.raises(ValueError):
            parse_tenant(bad)


def test_a_scope_allows_exactly_its_pairs() -> None:
    scope = TenantScope.of([Tenant("smart", "/"), Tenant("city", "/parking")])
    assert scope.allows("smart", "/") and scope.allows("city", "/parking")
    assert not scope.allows("smart", "/parking") and not scope.allows("city", "/")
    assert scope.only() is None
    assert TenantScope.of([Tenant("smart", "/")]).only() == Tenant("smart", "/")
    assert EVERY_TENANT.allows("anything", "/at/all") and EVERY_TENANT.only() is None


def test_scopes_restrict_mongo_queries() -> None:
    scope = TenantScope.of([Tenant("smart", "/")])
    assert EVERY_TENANT.restrict({"a": 1}, "s", "p") == {"a": 1}
    assert scope.restrict({}, "s", "p") == {"$or": [{"s": "smart", "p": "/"}]}
    assert scope.restrict({"a": 1}, "s", "p") == {"$and": [{"a": 1}, {"$or": [{"s": "smart", "p": "/"}]}]}
    # No tenants at all matches nothing rather than everything.
    assert TenantScope.of([]).restrict({}, "s", "p") == {"_id": {"$in": []}}
