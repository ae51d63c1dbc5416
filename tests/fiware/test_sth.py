"""The STH-Comet client against the sandbox, over real HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from fiware.http import RetryPolicy, Tenant, make_http_client
from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from fiware.sth import Series, SthClient

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TENANT = Tenant("smart", "/")
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, deadline=5)


def seed(sandbox: Sandbox, series: Series, values: list[object], *, tenant: Tenant = TENANT,
         attr_type: str = "Number", start: datetime = T0) -> list[datetime]:  # fmt: skip
    times = [start + timedelta(minutes=i) for i in range(len(values))]
    sandbox.sth.add_points(
        service=tenant.service, service_path=tenant.service_path, entity_type=series.entity_type,
        entity_id=series.entity_id, attr_name=series.attribute, attr_type=attr_type,
        points=list(zip(times, values, strict=True)),
    )  # fmt: skip
    return times


def new_series(entity_id: str | None = None) -> Series:
    return Series("Sensor", entity_id or f"urn:ngsi-ld:Sensor:{uuid.uuid4().hex[:8]}", "temperature")


@pytest.mark.parametrize("api", ["v2", "v1"])
async def test_collects_every_point_across_pages_in_time_order(sandbox: Sandbox, api: str) -> None:
    series = new_series()
    times = seed(sandbox, series, [float(i) for i in range(1050)])
    async with make_http_client(sandbox.sth_url) as http:
        client = SthClient(http, api=api, retry=FAST)
        assert await client.count(series, TENANT) == 1050
        everything = await client.collect(series, TENANT, date_from=T0, date_to=times[-1])
        newest = await client.collect(series, TENANT, last_n=250)
    assert [p.value for p in everything.points] == [float(i) for i in range(1050)]
    assert everything.pages == 11 and everything.dropped == 0 and everything.duplicates == 0
    assert [p.timestamp for p in newest.points] == times[-250:]
    assert newest.pages == 3


async def test_a_range_read_reports_what_it_received_before_each_page(sandbox: Sandbox) -> None:
    series = new_series()
    seed(sandbox, series, [float(i) for i in range(450)])
    told: list[int] = []

    async def go_on(received: int) -> bool:
        told.append(received)
        return True

    async with make_http_client(sandbox.sth_url) as http:
        client = SthClient(http, retry=FAST, concurrency=1)
        read = await client.read_range(series, TENANT, offset=0, limit=450, should_continue=go_on)
    assert len(read.points) == 450
    # One page at a time: asked before each of the 5 pages, with every entry received before it.
    assert told == [0, 100, 200, 300, 400]


async def test_equal_timestamps_on_a_page_boundary_are_all_kept_once(sandbox: Sandbox) -> None:
    series = new_series()
    times = seed(sandbox, series, [float(i) for i in range(200)])
    # A second attribute type at the same instants: equal recvTime values straddle page boundaries.
    seed(sandbox, series, [1000.0 + i for i in range(200)], attr_type="Float")
    async with make_http_client(sandbox.sth_url) as http:
        collected = await SthClient(http, retry=FAST).collect(series, TENANT, date_from=T0, date_to=times[-1])
    assert len(collected.points) == 400 and collected.duplicates == 0
    assert [p.timestamp for p in collected.points] == sorted(p.timestamp for p in collected.points)


async def test_late_data_shifting_pages_loses_no_point_and_repeats_none(sandbox: Sandbox) -> None:
    series = new_series()
    seed(sandbox, series, [float(i) for i in range(300)])
    # Just before the second page is served, a point older than everything lands: later pages shift
    # by one, repeating one point and pushing the newest past the planned end.
    late = Fault(action=lambda: seed(sandbox, series, [-1.0], start=T0 - timedelta(hours=1)))
    sandbox.faults["sth"].inject(Fault(), times=2)
    sandbox.faults["sth"].inject(late)
    async with make_http_client(sandbox.sth_url) as http:
        client = SthClient(http, retry=FAST, concurrency=1)
        start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
        collected = await client.collect(series, TENANT, date_from=start, date_to=end)
    values = [p.value for p in collected.points]
    # The first read repeated one point and skipped another; the check saw it and read again.
    assert values == [-1.0] + [float(i) for i in range(300)]
    assert collected.duplicates == 0 and collected.stable


async def test_points_appended_during_the_read_are_taken_without_reading_again(sandbox: Sandbox) -> None:
    series = new_series()
    times = seed(sandbox, series, [float(i) for i in range(300)])
    appended = Fault(
        action=lambda: seed(sandbox, series, [300.0, 301.0], start=times[-1] + timedelta(minutes=1))
    )
    sandbox.faults["sth"].inject(Fault(), times=2)
    sandbox.faults["sth"].inject(appended)
    before = sandbox.faults["sth"].seen
    async with make_http_client(sandbox.sth_url) as http:
        client = SthClient(http, retry=FAST, concurrency=1)
        end = T0 + timedelta(days=1)
        collected = await client.collect(series, TENANT, date_from=T0, date_to=end)
    assert [p.value for p in collected.points] == [float(i) for i in range(302)]
    assert sandbox.faults["sth"].seen - before == 1 + 3 + 1, "count, 3 pages, the newest page"
    assert collected.stable


async def test_a_series_that_keeps_moving_is_reported_unstable(sandbox: Sandbox) -> None:
    series = new_series()
    seed(sandbox, series, [float(i) for i in range(250)])
    older = iter(range(1, 100))
    shift = Fault(action=lambda: seed(sandbox, series, [-1.0], start=T0 - timedelta(hours=next(older))))
    # Every page of both reads is served after an older point landed.
    sandbox.faults["sth"].inject(Fault())
    sandbox.faults["sth"].inject(shift, times=20)
    async with make_http_client(sandbox.sth_url) as http:
        collected = await SthClient(http, retry=FAST, concurrency=1).collect(series, TENANT, last_n=250)
    sandbox.faults["sth"].planned.clear()
    assert not collected.stable
    assert len({p.timestamp for p in collected.points}) == len(collected.points) <= 250


async def test_last_n_larger_than_the_history_returns_all_of_it(sandbox: Sandbox) -> None:
    series = new_series()
    seed(sandbox, series, [1.0, 2.0, 3.0])
    async with make_http_client(sandbox.sth_url) as http:
        collected = await SthClient(http, retry=FAST).collect(series, TENANT, last_n=1000)
    assert [p.value for p in collected.points] == [1.0, 2.0, 3.0] and collected.requested == 3


async def test_date_window_is_inclusive_and_counted(sandbox: Sandbox) -> None:
    series = new_series()
    times = seed(sandbox, series, [float(i) for i in range(10)])
    async with make_http_client(sandbox.sth_url) as http:
        client = SthClient(http, retry=FAST)
        assert await client.count(series, TENANT, date_from=times[2], date_to=times[5]) == 4
        window = await client.collect(series, TENANT, date_from=times[2], date_to=times[5])
    assert [p.value for p in window.points] == [2.0, 3.0, 4.0, 5.0]


async def test_garbage_values_are_skipped_and_counted(sandbox: Sandbox) -> None:
    series = new_series()
    seed(sandbox, series, ["21.5", 22, "abc", "NaN", True, {"x": 1}, None, "23.25", "Infinity"])
    async with make_http_client(sandbox.sth_url) as http:
        collected = await SthClient(http, retry=FAST).collect(series, TENANT, last_n=100)
    assert [p.value for p in collected.points] == [21.5, 22.0, 23.25]
    assert collected.dropped == 6 and len(collected.drop_examples) == 5


async def test_tenants_are_kept_apart(sandbox: Sandbox) -> None:
    series = new_series()
    other = Tenant("other_city", "/north")
    seed(sandbox, series, [1.0, 2.0])
    seed(sandbox, series, [9.0], tenant=other)
    async with make_http_client(sandbox.sth_url) as http:
        client = SthClient(http, retry=FAST)
        mine = await client.collect(series, TENANT, last_n=10)
        theirs = await client.collect(series, other, last_n=10)
        nobody = await client.collect(series, Tenant("nobody"), last_n=10)
    assert [p.value for p in mine.points] == [1.0, 2.0]
    assert [p.value for p in theirs.points] == [9.0]
    assert nobody.points == [] and nobody.requested == 0


async def test_odd_entity_ids_are_encoded(sandbox: Sandbox) -> None:
    series = new_series("urn:ngsi-ld:Sensor:room 4#2?x=1&y=%+é")
    seed(sandbox, series, [5.0, 6.0])
    async with make_http_client(sandbox.sth_url) as http:
        collected = await SthClient(http, retry=FAST).collect(series, TENANT, last_n=10)
    assert [p.value for p in collected.points] == [5.0, 6.0]


async def test_injected_5xx_and_timeouts_are_retried_during_collection(sandbox: Sandbox) -> None:
    series = new_series()
    seed(sandbox, series, [float(i) for i in range(500)])
    faults = sandbox.faults["sth"]
    faults.inject(Fault(status=503), times=2)
    faults.inject(Fault(delay=2.5))
    async with make_http_client(sandbox.sth_url, timeout=1.0) as http:
        collected = await SthClient(http, retry=FAST, concurrency=1).collect(series, TENANT, last_n=500)
    assert len(collected.points) == 500


async def test_a_page_size_above_the_servers_is_a_bad_request(sandbox: Sandbox) -> None:
    from fiware.errors import FiwareBadRequest

    series = new_series()
    seed(sandbox, series, [1.0])
    before = sandbox.faults["sth"].seen
    async with make_http_client(sandbox.sth_url) as http:
        with pytest.raises(FiwareBadRequest) as refused:
            await SthClient(http, retry=FAST, max_page_size=500).collect(series, TENANT, last_n=10)
    assert "hLimit <= lastN <= config.maxPageSize" in str(refused.value.body)
    assert sandbox.faults["sth"].seen - before == 2, "the count, then one refused page: no retry on 4xx"


async def test_newest_reads_a_small_tail_in_one_request(sandbox: Sandbox) -> None:
    series = new_series()
    seed(sandbox, series, [float(i) for i in range(250)])
    async with make_http_client(sandbox.sth_url) as http:
        client = SthClient(http, max_page_size=100, retry=FAST)
        seen = sandbox.faults["sth"].seen
        tail = await client.newest(series, TENANT, n=30)
        assert sandbox.faults["sth"].seen == seen + 1
        many = await client.newest(series, TENANT, n=180)  # more than a page: collected
    assert [p.value for p in tail.points] == [float(i) for i in range(220, 250)]
    assert tail.points == many.points[-30:]
    assert len(many.points) == 180
