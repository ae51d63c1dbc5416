"""Reading through every store at once: each series from the store it names, against the sandbox's
STH-Comet and QuantumLeap holding different histories of the same entity."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fiware.clients import FiwareClients, HistoryStore
from fiware.errors import FiwareUnavailable
from fiware.history import Series
from fiware.http import Tenant
from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.runner import Sandbox, running_sandbox

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox(SandboxConfig()) as running:
        yield running


def open_clients(sandbox: Sandbox, store: HistoryStore, *, quantumleap: bool = True) -> FiwareClients:
    return FiwareClients.open(
        orion_url=sandbox.orion_url,
        sth_url=sandbox.sth_url,
        iota_url=sandbox.iota_url,
        timeout=5,
        sth_page_size=100,
        sth_concurrency=2,
        store=store,
        quantumleap_url=sandbox.ql_url if quantumleap else None,
    )


def seed(sandbox: Sandbox, tenant: Tenant) -> Series:
    """The same entity with 120 readings in STH-Comet and 70 others in QuantumLeap."""
    where = {
        "service": tenant.service, "service_path": "/", "entity_type": "Sensor",
        "entity_id": "urn:s:1", "attr_name": "temperature", "attr_type": "Number",
    }  # fmt: skip
    sandbox.sth.add_points(**where, points=[(START + k * STEP, float(k)) for k in range(120)])
    sandbox.ql.add_points(**where, points=[(START + k * STEP, 1000.0 + k) for k in range(70)])
    return Series("Sensor", "urn:s:1", "temperature")


@pytest.mark.parametrize("deployment", list(HistoryStore))
async def test_a_series_is_read_from_the_store_it_names(sandbox: Sandbox, deployment: HistoryStore) -> None:
    tenant = Tenant(f"t{uuid.uuid4().hex[:12]}", "/")
    unnamed = seed(sandbox, tenant)
    fiware = open_clients(sandbox, deployment)
    try:
        history = fiware.history
        sth = dataclasses.replace(unnamed, store=HistoryStore.STH_COMET)
        ql = dataclasses.replace(unnamed, store=HistoryStore.QUANTUMLEAP)
        assert (await history.count(sth, tenant), await history.count(ql, tenant)) == (120, 70)
        default = 120 if deployment is HistoryStore.STH_COMET else 70
        assert await history.count(unnamed, tenant) == default
        assert (await history.newest(ql, tenant, n=3)).points[-1].value == 1069.0
        assert (await history.collect(sth, tenant, last_n=200)).points[-1].value == 119.0
        sliced = await history.read_range(ql, tenant, offset=10, limit=5)
        assert [p.value for p in sliced.points] == [1010.0, 1011.0, 1012.0, 1013.0, 1014.0]
        assert fiware.store is deployment and fiware.store_of(None) is deployment
        assert fiware.store_of(HistoryStore.QUANTUMLEAP) is HistoryStore.QUANTUMLEAP
    finally:
        await fiware.close()


async def test_a_store_this_process_cannot_reach_is_unavailable(sandbox: Sandbox) -> None:
    fiware = open_clients(sandbox, HistoryStore.STH_COMET, quantumleap=False)
    try:
        series = Series("Sensor", "urn:s:1", "temperature", store=HistoryStore.QUANTUMLEAP)
        with pytest.raises(FiwareUnavailable, match="QuantumLeap is not configured"):
            await fiware.history.count(series, Tenant("any", "/"))
    finally:
        await fiware.close()
