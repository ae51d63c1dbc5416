from __future__ import annotations

import pytest

from app.auth.tenancy import EVERY_TENANT
from app.devstack import free_port
from app.models import ModelSpec
from app.models import service as model_service
from app.resources import fiware_probes
from app.system.health import HealthStatus, check_health
from fiware.clients import FiwareClients, HistoryStore

# A real Mongo-wire server (the session's SecantusDB) holds the models health asks about.
pytestmark = pytest.mark.services


def clients(store: HistoryStore) -> FiwareClients:
    """Clients of FIWARE services nobody listens for: every probe that asks fails."""
    dead = f"http://127.0.0.1:{free_port()}"
    return FiwareClients.open(
        orion_url=dead,
        sth_url=dead,
        iota_url=dead,
        timeout=1,
        sth_page_size=100,
        sth_concurrency=1,
        store=store,
        quantumleap_url=dead,
    )


def spec(store: HistoryStore) -> ModelSpec:
    return ModelSpec(
        entity_type="Sensor",
        entity_id="urn:ngsi-ld:Sensor:probe",
        feature="temperature",
        fiware_service="probe",
        fiware_service_path="/",
        history_store=store,
    )


@pytest.mark.parametrize("deployment", list(HistoryStore))
async def test_the_other_store_is_asked_only_while_a_model_reads_it(
    beanie_db: str, deployment: HistoryStore
) -> None:
    other = next(store for store in HistoryStore if store is not deployment)
    names = {HistoryStore.STH_COMET: "sthComet", HistoryStore.QUANTUMLEAP: "quantumLeap"}
    fiware = clients(deployment)
    try:
        probes = fiware_probes(fiware)
        before = {d.name: d for d in (await check_health(probes=probes, timeout=2)).dependencies}
        assert before[names[deployment]].status is HealthStatus.DOWN
        assert before[names[other]].status is HealthStatus.UP
        assert before[names[other]].message == "no model reads it; not asked"
        await model_service.create_model(spec=spec(other), scope=EVERY_TENANT)
        after = {d.name: d for d in (await check_health(probes=probes, timeout=2)).dependencies}
        assert after[names[other]].status is HealthStatus.DOWN
        assert "ConnectError" in (after[names[other]].message or "")
    finally:
        await fiware.close()
