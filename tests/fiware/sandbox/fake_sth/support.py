"""Helpers of the STH-Comet sandbox tests: the series they read, tenants, expected bodies and errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fiware.sandbox.fake_sth import SthStore

T0 = datetime(2018, 6, 21, 12, 0, tzinfo=UTC)


ENTITY, TYPE, ATTR = "Lamp:001", "Lamp", "luminosity"


V2_PATH = f"/STH/v2/entities/{ENTITY}/attrs/{ATTR}"


V1_PATH = f"/STH/v1/contextEntities/type/{TYPE}/id/{ENTITY}/attributes/{ATTR}"


JSON_TYPE = "application/json; charset=utf-8"


# sthGetDataHandler's `validation.keys` for the gate's own refusals.
GATE_KEYS = ["lastN", "hLimit", "hOffset", "filetype", "aggrMethod", "aggrPeriod", "count"]


COMBINATION = (
    "A combination of the following query params is required: lastN, hLimit and hOffset, filetype, "
    "or aggrMethod and aggrPeriod"
)


PAGE_SIZE = "hLimit <= lastN <= config.maxPageSize"


SEEDED = 10


@dataclass(frozen=True)
class Tenant:
    service: str
    path: str = "/"

    @property
    def headers(self) -> dict[str, str]:
        return {"Fiware-Service": self.service, "Fiware-ServicePath": self.path}

    def count(self, store: SthStore, attr: str = ATTR, entity: str = ENTITY, kind: str = TYPE) -> int:
        return store.count(
            service=self.service, service_path=self.path, entity_type=kind, entity_id=entity, attr_name=attr
        )

    def seed(self, store: SthStore, seconds: range, *, entity: str = ENTITY, attr: str = ATTR) -> int:
        return store.add_points(
            service=self.service,
            service_path=self.path,
            entity_type=TYPE,
            entity_id=entity,
            attr_name=attr,
            attr_type="Integer",
            points=[(at(second), str(second)) for second in seconds],
        )


def at(second: float) -> datetime:
    return T0 + timedelta(seconds=second)


def iso(second: float) -> str:
    return at(second).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(second: float) -> int:
    return int(at(second).timestamp() * 1000)


def point(second: int) -> dict[str, object]:
    return {"recvTime": iso(second), "attrType": "Integer", "attrValue": str(second)}


def points(*seconds: int) -> list[dict[str, object]]:
    return [point(second) for second in seconds]


def v2(query: str = "") -> str:
    return f"{V2_PATH}?type={TYPE}&{query}" if query else f"{V2_PATH}?type={TYPE}"


def url(dialect: str, query: str) -> str:
    return v2(query) if dialect == "v2" else f"{V1_PATH}?{query}"


def v1_body(values: list[dict[str, object]], entity: str = ENTITY, kind: str = TYPE) -> dict[str, object]:
    return {
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [{"name": ATTR, "values": values}],
                    "id": entity,
                    "isPattern": False,
                    "type": kind,
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ]
    }


def v2_body(values: list[dict[str, object]]) -> dict[str, object]:
    return {"type": "StructuredValue", "value": values}


def bad_request(dialect: str, message: str, keys: list[str], source: str = "query") -> dict[str, object]:
    if dialect == "v2":
        return {"error": "BadRequest", "description": message}
    return {
        "statusCode": 400,
        "error": "Bad Request",
        "message": message,
        "validation": {"source": source, "keys": keys},
    }


def hapi_bad_request(message: str, source: str, keys: list[str]) -> dict[str, object]:
    return bad_request("v1", message, keys, source)


def notification(*attributes: dict[str, Any], entity: str = ENTITY, kind: str = TYPE) -> dict[str, Any]:
    """What Orion <= 3.12 sends for an `attrsFormat: legacy` subscription.

    As in Orion 3.12.0's functional test 2507_csub_metadata_field (NGSIv1 notifications)."""
    element = {"attributes": list(attributes), "type": kind, "isPattern": "false", "id": entity}
    return {
        "subscriptionId": "5b2bd1ef0c0e6a3e2c4a5f11",
        "originator": "localhost",
        "contextResponses": [
            {"contextElement": element, "statusCode": {"code": "200", "reasonPhrase": "OK"}}
        ],
    }


def attribute(value: object, *, time_instant: str | None = None, kind: str = "Integer") -> dict[str, Any]:
    attr: dict[str, Any] = {"name": ATTR, "type": kind, "value": value}
    if time_instant is not None:
        attr["metadatas"] = [{"name": "TimeInstant", "type": "ISO8601", "value": time_instant}]
    return attr
