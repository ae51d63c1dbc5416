"""The QuantumLeap client against the sandbox's QuantumLeap, both answer shapes (1.0.0 and master):
counts without a count header, paging under a silent row cap, the newest points, windows, tenants,
and the same collection results the STH-Comet client gives for the same series."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fiware.history import PagedHistory, Point, Series
from fiware.http import Tenant
from fiware.quantumleap import QuantumLeapClient
from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.runner import Sandbox, running_sandbox
from fiware.sth import SthClient

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=1)


@pytest.fixture(scope="module", params=["1.0.0", "master"])
def ql_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with running_sandbox(SandboxConfig(ql_flavor=request.param, ql_default_limit=10_000)) as sandbox:
        yield sandbox


@pytest.fixture
async def ql(ql_sandbox: Sandbox) -> AsyncIterator[QuantumLeapClient]:
    async with httpx.AsyncClient(base_url=ql_sandbox.ql_url, timeout=10) as http:
        yield QuantumLeapClient(http, max_page_size=100)


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(f"t{uuid.uuid4().hex[:12]}", "/")


def seed(
    sandbox: Sandbox, tenant: Tenant, points: int, *, attr_type: str = "Number", entity: str = "urn:s:1"
) -> Series:
    values = [(START + k * STEP, float(k) if attr_type == "Number" else f"{k}.0") for k in range(points)]
    sandbox.ql.add_points(
        service=tenant.service, service_path=tenant.service_path, entity_type="Sensor",
        entity_id=entity, attr_name="temperature", attr_type=attr_type, points=values,
    )  # fmt: skip
    return Series("Sensor", entity, "temperature")


def expected(first: int, last: int) -> list[Point]:
    return [Point(START + k * STEP, float(k)) for k in range(first, last)]


async def test_counts_and_collects_a_series_in_pages(
    ql: QuantumLeapClient, ql_sandbox: Sandbox, tenant: Tenant
) -> None:
    series = seed(ql_sandbox, tenant, 250)
    assert await ql.count(series, tenant) == 250
    window = {"date_from": START + 10 * STEP, "date_to": START + 19 * STEP}
    assert await ql.count(series, tenant, **window) == 10, "fromDate and toDate are inclusive"
    collected = await ql.collect(series, tenant, last_n=120)
    assert collected.points == expected(130, 250) and collected.stable and collected.pages == 2
    everything = await ql.collect(series, tenant, date_from=START, date_to=START + 1000 * STEP)
    assert everything.points == expected(0, 250) and everything.requested == 250
    sliced = await ql.read_range(series, tenant, offset=40, limit=70)
    assert sliced.points == expected(40, 110)
    newest = await ql.newest(series, tenant, n=5)
    assert newest.points == expected(245, 250)


async def test_no_data_is_an_empty_series_in_either_answer_shape(
    ql: QuantumLeapClient, ql_sandbox: Sandbox, tenant: Tenant
) -> None:
    series = Series("Sensor", "urn:nothing", "temperature")
    assert await ql.count(series, tenant) == 0
    page = await ql.raw(series, tenant, h_limit=10, h_offset=0, count=True)
    assert page.entries == [] and page.total == 0
    assert (await ql.newest(series, tenant, n=3)).points == []
    seed(ql_sandbox, tenant, 3)
    past_the_end = await ql.raw(Series("Sensor", "urn:s:1", "temperature"), tenant, h_limit=5, h_offset=3)
    assert past_the_end.entries == []


async def test_a_row_cap_below_the_page_is_found_and_paged_around(tenant: Tenant) -> None:
    # QuantumLeap's DEFAULT_LIMIT cuts every answer without a word: 30 rows for a page of 100.
    with running_sandbox(SandboxConfig(ql_default_limit=30)) as sandbox:
        series = seed(sandbox, tenant, 250)
        async with httpx.AsyncClient(base_url=sandbox.ql_url, timeout=10) as http:
            ql = QuantumLeapClient(http, max_page_size=100)
            assert await ql.count(series, tenant) == 250
            collected = await ql.collect(series, tenant, last_n=200)
            assert collected.points == expected(50, 250) and collected.stable
            assert ql.max_page_size == 30, "later pages are planned at the size the server answers"
            assert (await ql.newest(series, tenant, n=70)).points == expected(180, 250)


async def test_a_text_column_is_counted_and_its_numbers_read(
    ql: QuantumLeapClient, ql_sandbox: Sandbox, tenant: Tenant
) -> None:
    # count works on Text (sum and avg would not); numbers sent as text are numbers to a forecast.
    series = seed(ql_sandbox, tenant, 130, attr_type="Text")
    assert await ql.count(series, tenant) == 130
    assert (await ql.collect(series, tenant, last_n=130)).points == expected(0, 130)


async def test_tenants_are_kept_apart_and_the_service_is_case_insensitive(
    ql: QuantumLeapClient, ql_sandbox: Sandbox, tenant: Tenant
) -> None:
    series = seed(ql_sandbox, tenant, 7)
    assert await ql.count(series, Tenant(tenant.service.upper(), "/")) == 7
    assert await ql.count(series, Tenant(f"{tenant.service}x", "/")) == 0
    assert await ql.count(series, Tenant(tenant.service, "/elsewhere")) == 0


async def test_version_names_the_flavour(ql: QuantumLeapClient, ql_sandbox: Sandbox) -> None:
    assert await ql.version() in {"1.0.0", "1.0.1-dev"}


async def test_both_stores_collect_the_same_points_from_the_same_series(
    ql: QuantumLeapClient, ql_sandbox: Sandbox, tenant: Tenant
) -> None:
    series = seed(ql_sandbox, tenant, 180)
    points = [(START + k * STEP, float(k)) for k in range(180)]
    ql_sandbox.sth.add_points(
        service=tenant.service, service_path="/", entity_type="Sensor", entity_id="urn:s:1",
        attr_name="temperature", attr_type="Number", points=points,
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=ql_sandbox.sth_url, timeout=10) as http:
        stores: list[PagedHistory] = [ql, SthClient(http)]
        results = [await store.collect(series, tenant, last_n=150) for store in stores]
        counts = [await store.count(series, tenant) for store in stores]
    assert results[0].points == results[1].points == expected(30, 180)
    assert counts == [180, 180]


async def test_counting_by_pages_agrees_with_the_count_under_a_cap(tenant: Tenant) -> None:
    # The way a store that refuses aggrMethod=count is counted: every row read, past a low cap too.
    with running_sandbox(SandboxConfig(ql_default_limit=40)) as sandbox:
        series = seed(sandbox, tenant, 130)
        async with httpx.AsyncClient(base_url=sandbox.ql_url, timeout=10) as http:
            ql = QuantumLeapClient(http, max_page_size=100)
            assert await ql._count_pages(series, tenant, {}) == await ql.count(series, tenant) == 130
            window: dict[str, str | int] = {
                "fromDate": "2026-01-01T00:10:00.000Z",
                "toDate": "2026-01-01T00:19:00.000Z",
            }
            assert await ql._count_pages(series, tenant, window) == 10
