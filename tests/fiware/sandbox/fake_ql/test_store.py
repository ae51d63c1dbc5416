"""The QuantumLeap sandbox's store, as tests seed and inspect it."""

from __future__ import annotations

from datetime import UTC, datetime

from fiware.sandbox.fake_ql import Column, Entity, QlStore, Row
from fiware.sandbox.fake_ql.columns import Kind


def test_add_points_keys_tables_by_lower_cased_tenant_and_type() -> None:
    store = QlStore()
    stored = store.add_points(
        service="Smart",
        service_path="/floor",
        entity_type="Sensor",
        entity_id="E1",
        attr_name="Temperature",
        attr_type="Number",
        points=[(datetime(2024, 1, 1, 10), 1), (datetime(2024, 1, 2, 10, tzinfo=UTC), "2.5")],
    )
    assert stored == 2
    assert store.columns("smart", "SENSOR") == {"temperature": Column("Temperature", "Number", Kind.FLOAT)}
    assert store.rows("SMART", "sensor") == [
        Row("E1", "Sensor", datetime(2024, 1, 1, 10, tzinfo=UTC), "/floor", {"temperature": 1.0}),
        Row("E1", "Sensor", datetime(2024, 1, 2, 10, tzinfo=UTC), "/floor", {"temperature": 2.5}),
    ]
    assert store.rows(None, "Sensor") == []


def test_insert_appends_and_types_of_finds_every_type() -> None:
    store = QlStore()
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    entity = Entity("E1", "Sensor", moment, {"a": {"type": "Text", "value": "x"}})
    store.insert(None, "/", [entity, entity])
    store.insert(None, "/", [Entity("E1", "Room", moment, {"a": {"type": "Text", "value": "y"}})])
    assert [row.values for row in store.rows(None, "Sensor")] == [{"a": "x"}, {"a": "x"}]
    assert store.types_of(None, "E1") == ["Room", "Sensor"]
    assert store.types_of("other", "E1") == []
