"""SthStore: seeding, the notification key, tenants and the benchmark-sized path; ``same_json``."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from fiware.sandbox.fake_sth import SthStore, same_json
from tests.fiware.sandbox.fake_sth.support import ATTR, ENTITY, TYPE, Tenant, at, points, v2, v2_body


def test_tenants_are_kept_apart(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    other_service = Tenant(tenant.service + "b")
    other_path = Tenant(tenant.service, "/gardens")
    for owner, second in ((tenant, 1), (other_service, 2), (other_path, 3)):
        owner.seed(store, range(second, second + 1))
    for owner, second in ((tenant, 1), (other_service, 2), (other_path, 3)):
        assert http.get(v2("lastN=10"), headers=owner.headers).json() == v2_body(points(second))


# ---------------------------------------------------------------------------------------------------------
# SthStore and the benchmark-sized path


def test_bulk_seeding_and_deep_pages_are_fast(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    total = 200_000
    start = time.perf_counter()
    stored = tenant.seed(store, range(total))
    assert time.perf_counter() - start < 1.0
    assert stored == tenant.count(store) == total
    start = time.perf_counter()
    response = http.get(v2(f"hLimit=100&hOffset={total - 100}&count=true"), headers=tenant.headers)
    assert time.perf_counter() - start < 0.5
    assert response.headers["fiware-total-count"] == str(total)
    assert response.json() == v2_body(points(*range(total - 100, total)))


def test_add_points_applies_the_notification_key(store: SthStore, tenant: Tenant) -> None:
    assert tenant.seed(store, range(5)) == 5
    assert tenant.seed(store, range(5)) == 0  # same values again: ignored
    changed = store.add_points(
        service=tenant.service,
        service_path=tenant.path,
        entity_type=TYPE,
        entity_id=ENTITY,
        attr_name=ATTR,
        attr_type="Integer",
        points=[(at(1), "changed"), (at(2), "2"), (at(10), "10")],
    )
    assert changed == 2  # one overwrite, one new point
    assert tenant.count(store) == 6


def test_add_points_merges_earlier_points_in_order(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    tenant.seed(store, range(5, 8))
    tenant.seed(store, range(0, 10, 2))
    response = http.get(v2("hLimit=100&hOffset=0"), headers=tenant.headers)
    assert response.json() == v2_body(points(0, 2, 4, 5, 6, 7, 8))


def test_add_points_reads_naive_datetimes_as_utc_and_cuts_to_milliseconds(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    store.add_points(
        service=tenant.service,
        service_path=tenant.path,
        entity_type=TYPE,
        entity_id=ENTITY,
        attr_name=ATTR,
        attr_type="Number",
        points=[(datetime(2020, 1, 2, 3, 4, 5, 678_999), 1.5)],
    )
    [stored] = http.get(v2("lastN=1"), headers=tenant.headers).json()["value"]
    assert stored == {"recvTime": "2020-01-02T03:04:05.678Z", "attrType": "Number", "attrValue": 1.5}


def test_add_points_with_nothing_stores_nothing(store: SthStore, tenant: Tenant) -> None:
    assert tenant.seed(store, range(0)) == 0
    assert tenant.count(store) == 0


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        pytest.param("1", "1", True, id="equal-strings"),
        pytest.param(1, 1.0, True, id="json-numbers"),
        pytest.param(True, 1, False, id="boolean-is-not-number"),
        pytest.param("1", 1, False, id="string-is-not-number"),
        pytest.param({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True, id="deep-equal"),
        pytest.param({"a": [1, True]}, {"a": [1, 1]}, False, id="deep-boolean"),
        pytest.param([1, 2], [2, 1], False, id="array-order"),
        pytest.param({"a": 1}, [1], False, id="object-is-not-array"),
    ],
)
def test_same_json_is_lodash_is_equal(left: object, right: object, same: bool) -> None:
    assert same_json(left, right) is same
