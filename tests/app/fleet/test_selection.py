"""Which entities a fleet covers, against the sandbox's IoT Agent and Orion."""

from __future__ import annotations

import pytest

from app.errors import NotFound, UpstreamError, ValidationFailed
from app.fleet.selection import (
    Candidate,
    Selection,
    check_attribute,
    decode_cursor,
    encode_cursor,
    entity_page,
    selection_problems,
)
from fiware.sandbox.faults import Fault
from tests.app.fleet.conftest import ENTITY_TYPE, Fleet


def test_cursors_name_an_entity_and_nothing_else_passes_for_one() -> None:
    for entity_id in ("urn:ngsi-ld:Room:1", "x", "é/?"):
        assert decode_cursor(encode_cursor(entity_id)) == entity_id
    assert decode_cursor("djE6MTc2OTk5") is None  # a model list's cursor
    assert decode_cursor("%%%") is None


def test_a_selection_is_checked_whole() -> None:
    assert selection_problems(Selection("Room", first=500, after=encode_cursor("a"))) == []
    found = selection_problems(Selection("bad type", entity_ids=("a", "a"), first=0, after="nope"))
    assert [p.field for p in found] == [
        ("input", "selection", "entityType"),
        ("input", "selection", "entityIds"),
        ("input", "selection", "entityIds", "1"),
        ("input", "selection", "first"),
        ("input", "selection", "after"),
    ]
    assert [p.field for p in selection_problems(Selection("Room", first=501))] == [
        ("input", "selection", "first")
    ]
    too_many = Selection("Room", entity_ids=tuple(str(i) for i in range(501)))
    assert [p.field for p in selection_problems(too_many)] == [("input", "selection", "entityIds")]


async def page(fleet: Fleet, selection: Selection) -> tuple[list[str], bool, str | None]:
    found = await entity_page(
        selection,
        iota=fleet.fiware.iota,
        tenant=fleet.tenant,
        forecast_entity_type="Prediction",
        scope=fleet.scope,
    )
    return [c.entity_id for c in found.candidates], found.has_next_page, found.end_cursor


async def test_discovery_pages_the_iot_agents_entities_of_the_type_by_id(fleet: Fleet) -> None:
    entities = [fleet.device(n) for n in (5, 1, 4, 2, 3)]
    fleet.device(9, entity_type="Boiler")
    first, more, cursor = await page(fleet, Selection(ENTITY_TYPE, first=2))
    assert (first, more) == (sorted(entities)[:2], True)
    second, more, cursor = await page(fleet, Selection(ENTITY_TYPE, first=2, after=cursor))
    third, more, last = await page(fleet, Selection(ENTITY_TYPE, first=2, after=cursor))
    assert (second, third, more) == (sorted(entities)[2:4], sorted(entities)[4:], False)
    assert await page(fleet, Selection(ENTITY_TYPE, after=last)) == ([], False, None)
    assert (await page(fleet, Selection("Thermostat")))[0] == []


async def test_listed_entities_keep_their_order_and_what_their_devices_declare(fleet: Fleet) -> None:
    known = fleet.device(1, "temperature", "humidity")
    found = await entity_page(
        Selection(ENTITY_TYPE, entity_ids=("urn:other", known)),
        iota=fleet.fiware.iota,
        tenant=fleet.tenant,
        forecast_entity_type="Prediction",
        scope=fleet.scope,
    )
    assert found.candidates == [
        Candidate("urn:other", None, ("input", "selection", "entityIds", "0")),
        Candidate(known, frozenset({"temperature", "humidity"}), ("input", "selection", "entityIds", "1")),
    ]
    assert (found.has_next_page, found.end_cursor) == (False, None)


async def check(fleet: Fleet, entity_id: str, declared: frozenset[str] | None) -> None:
    await check_attribute(
        Candidate(entity_id, declared),
        feature="temperature",
        entity_type=ENTITY_TYPE,
        tenant=fleet.tenant,
        orion=fleet.fiware.orion,
    )


async def test_an_entity_holds_the_feature_when_its_device_or_its_orion_entity_does(fleet: Fleet) -> None:
    tenant = fleet.tenant
    in_orion: dict[str, object] = {
        "id": "urn:Room:o",
        "type": ENTITY_TYPE,
        "temperature": {"type": "Number", "value": 20},
    }
    fleet.sandbox.orion.upsert_entity(
        service=tenant.service, service_path=tenant.service_path, entity=in_orion
    )
    bare: dict[str, object] = {
        "id": "urn:Room:b",
        "type": ENTITY_TYPE,
        "humidity": {"type": "Number", "value": 50},
    }
    fleet.sandbox.orion.upsert_entity(service=tenant.service, service_path=tenant.service_path, entity=bare)
    await check(fleet, "urn:Room:d", frozenset({"temperature"}))  # the device says so: Orion is not asked
    await check(fleet, "urn:Room:o", None)
    await check(fleet, "urn:Room:o", frozenset({"pressure"}))
    with pytest.raises(ValidationFailed) as lacking:
        await check(fleet, "urn:Room:b", frozenset({"pressure"}))
    assert [(e.field, e.message) for e in lacking.value.errors] == [
        (
            ("input", "feature"),
            "entity 'urn:Room:b' has no attribute 'temperature' (it has humidity, pressure)",
        )
    ]
    with pytest.raises(NotFound) as unknown:
        await check(fleet, "urn:Room:x", None)
    assert unknown.value.field == ("input", "entityId")
    assert "neither the IoT Agent nor Orion knows entity 'urn:Room:x'" in unknown.value.message


async def test_orion_refusing_is_that_entitys_failure(fleet: Fleet) -> None:
    fleet.sandbox.faults["orion"].inject(Fault(status=400))
    with pytest.raises(UpstreamError, match="Orion refused the request with status 400"):
        await check(fleet, "urn:Room:o", None)
