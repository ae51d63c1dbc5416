"""Response bodies of the STH-Comet sandbox's data routes (``sthServerUtils.js`` ``getNGSIPayload``): v1
``contextResponses``/``values`` and v2 ``StructuredValue``/``value`` (``doc/manuals/raw-data-retrieval.md``
wrongly shows ``values`` for v2), ``recvTime`` as ISO 8601 with milliseconds and ``Z``, values returned
as received."""

from __future__ import annotations

from fiware.sandbox.fake_sth.dates import iso
from fiware.sandbox.fake_sth.store import Row


def point_bodies(rows: list[Row]) -> list[dict[str, object]]:
    return [{"recvTime": iso(ms), "attrType": kind, "attrValue": value} for ms, kind, value in rows]


def v2_body(points: list[dict[str, object]]) -> dict[str, object]:
    return {"type": "StructuredValue", "value": points}


def v1_body(
    entity_type: str, entity_id: str, attr_name: str, points: list[dict[str, object]]
) -> dict[str, object]:
    element = {
        "attributes": [{"name": attr_name, "values": points}],
        "id": entity_id,
        "isPattern": False,
        "type": entity_type,
    }
    status = {"code": "200", "reasonPhrase": "OK"}
    return {"contextResponses": [{"contextElement": element, "statusCode": status}]}
