"""A tenant of each test's own in the session's sandbox, the FIWARE clients, Redis and a key's
mutation budget: what the fleet services get from the API in production."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.tenancy import TenantScope
from app.fleet import bulk
from app.resources import open_fiware
from app.settings import Settings
from fiware.clients import FiwareClients
from fiware.http import Tenant
from fiware.sandbox.runner import Sandbox

ENTITY_TYPE = "Room"


@dataclass
class Fleet:
    """One test's tenant, seeded through ``sandbox``, and the clients services are called with."""

    sandbox: Sandbox
    fiware: FiwareClients
    redis: Redis
    tenant: Tenant
    scope: TenantScope
    principal: Principal

    def charge(self, limit: int = 1_000_000, window_seconds: float = 60.0) -> bulk.Charge:
        return bulk.quota_charge(
            redis=self.redis, principal=self.principal, limit=limit, window_seconds=window_seconds
        )

    def device(self, number: int, *attributes: str, entity_type: str = ENTITY_TYPE) -> str:
        """Provision device ``number`` (measuring ``temperature`` unless told) and say its entity id."""
        entity_id = f"urn:ngsi-ld:{entity_type}:{number:04d}"
        measured = attributes or ("temperature",)
        self.sandbox.iota.add_device(
            service=self.tenant.service,
            service_path=self.tenant.service_path,
            device={
                "device_id": f"{entity_type.lower()}-{number:04d}",
                "entity_type": entity_type,
                "entity_name": entity_id,
                "attributes": [
                    {"object_id": f"a{i}", "name": n, "type": "Number"} for i, n in enumerate(measured)
                ],
            },
        )
        return entity_id

    def template(self, **changes: Any) -> dict[str, Any]:
        """A tiny model's template values in this tenant."""
        return {
            "feature": "temperature",
            "fiware_service": self.tenant.service,
            "fiware_service_path": self.tenant.service_path,
            "lookback_window": 8,
            "forecast_horizon": 2,
            "rnn_layers": [{"units": 4}],
            "epochs": 2,
            "batch_size": 32,
            **changes,
        }


@pytest.fixture
async def fleet(beanie_db: str, test_settings: Settings, fiware_sandbox: Sandbox) -> AsyncIterator[Fleet]:
    tenant = Tenant(f"t_{uuid.uuid4().hex[:10]}", "/")
    scope = TenantScope.of([tenant])
    fiware = open_fiware(test_settings)
    redis = Redis.from_url(test_settings.redis_url)
    principal = Principal(key_id=uuid.uuid4(), name="fleet tests", role=Role.EDITOR, scope=scope)
    try:
        yield Fleet(fiware_sandbox, fiware, redis, tenant, scope, principal)
    finally:
        await redis.aclose()
        await fiware.close()
