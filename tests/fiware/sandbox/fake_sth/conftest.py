"""One STH-Comet sandbox per test module; each test uses its own tenant (a fresh ``Fiware-Service``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from fiware.sandbox.fake_sth import SthStore, create_app
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_sth.support import SEEDED, Tenant


@pytest.fixture(scope="module")
def store() -> SthStore:
    return SthStore()


@pytest.fixture(scope="module")
def http(store: SthStore) -> Iterator[httpx.Client]:
    with serving(create_app(store=store)) as base_url, httpx.Client(base_url=base_url, timeout=5.0) as client:
        yield client


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def seeded(store: SthStore, tenant: Tenant) -> Tenant:
    """Ten points of Lamp:001/luminosity, one a second from T0, valued "0" to "9"."""
    tenant.seed(store, range(SEEDED))
    return tenant
