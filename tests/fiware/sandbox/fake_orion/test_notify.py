"""The Orion sandbox against Orion's NGSI v2 API (orion-api.md and the functional tests), over HTTP:
notification bodies in each format, and delivery with its counters.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from fiware.sandbox.server import free_port
from tests.fiware.sandbox.fake_orion.support import (
    STAMP,
    Receiver,
    create,
    hdr,
    sub_body,
    subscribe,
    wait_until,
)

# -- notifications ---------------------------------------------------------------------------------


def test_normalized_notification_default_tenant(client: httpx.Client, receiver: Receiver, sink: str) -> None:
    """Default tenant: no Fiware-Service header (fiware-orion#3540); metadata filtered as in Orion's
    test 3290_filtering_out_all_metadata_sub."""
    entity_id = f"E{uuid.uuid4().hex[:8]}"
    body = sub_body(receiver.url + sink, metadata=["a_md"])
    body["subject"]["entities"] = [{"id": entity_id, "type": "T"}]
    sub_id = subscribe(client, None, body)
    temperature = {
        "value": 23,
        "type": "Float",
        "metadata": {"TimeInstant": {"type": "ISO8601", "value": "2018-09-12T16:14:00Z"}},
    }
    response = client.post(
        "/v2/entities",
        json={"id": entity_id, "type": "T", "temperature": temperature},
        headers={"Fiware-Correlator": "c0ffee"},
    )
    assert response.status_code == 201
    [call] = receiver.wait(sink, 1)
    assert call.body == {
        "subscriptionId": sub_id,
        "data": [
            {"id": entity_id, "temperature": {"metadata": {}, "type": "Float", "value": 23}, "type": "T"}
        ],
    }
    assert call.headers["fiware-servicepath"] == "/"
    assert call.headers["ngsiv2-attrsformat"] == "normalized"
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert call.headers["accept"] == "application/json"
    assert call.headers["user-agent"] == "orion/3.12.0"
    assert call.headers["fiware-correlator"] == "c0ffee; cbnotif=1"
    assert "fiware-service" not in call.headers


def test_legacy_notification_of_chronos_subscription(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    """A legacy subscription on ``forecastSeries`` like Chronos's, and the NGSIv1 body Orion 3.12 posts
    for it (the only body STH-Comet's /notify accepts)."""
    entity_id = "urn:ngsi-ld:Chronos:Prediction:0123456789ab"
    create(
        client,
        tenant,
        {
            "id": entity_id,
            "type": "Prediction",
            "forecastSeries": {"type": "StructuredValue", "value": {"points": []}},
        },
        "/",
    )
    body = {
        "description": "Chronos - Forecast updates",
        "subject": {
            "entities": [{"id": entity_id, "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": receiver.url + sink},
            "attrs": ["forecastSeries"],
            "attrsFormat": "legacy",
        },
        "throttling": 1,
    }
    sub_id = subscribe(client, tenant, body, "/")
    series = {"generatedAt": "2025-01-01T00:00:00.000Z", "horizon": 1, "points": [{"step": 1, "value": 1.5}]}
    update = {
        "forecastSeries": {
            "type": "StructuredValue",
            "value": series,
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T00:00:00.000000Z"}},
        },
        "feature": {"type": "Text", "value": "luminosity"},
    }
    response = client.post(f"/v2/entities/{entity_id}/attrs", json=update, headers=hdr(tenant, "/"))
    assert response.status_code == 204
    [call] = receiver.wait(sink, 1)
    assert call.body == {
        "subscriptionId": sub_id,
        "originator": "localhost",
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [
                        {
                            "name": "forecastSeries",
                            "type": "StructuredValue",
                            "value": series,
                            "metadatas": [
                                {
                                    "name": "TimeInstant",
                                    "type": "DateTime",
                                    "value": "2025-01-01T00:00:00.000Z",
                                }
                            ],
                        }
                    ],
                    "id": entity_id,
                    "isPattern": "false",
                    "type": "Prediction",
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ],
    }
    assert call.headers["fiware-service"] == tenant
    assert call.headers["fiware-servicepath"] == "/"
    assert "ngsiv2-attrsformat" not in call.headers
    assert re.fullmatch(r"[0-9a-f\-]{36}; cbnotif=1", call.headers["fiware-correlator"])


def test_legacy_numbers_stay_numbers(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    sub_id = subscribe(client, tenant, sub_body(receiver.url + sink, attrsFormat="legacy"))
    client.post("/v2/entities?options=keyValues", json={"id": "E1", "type": "T", "A": 1}, headers=hdr(tenant))
    [call] = receiver.wait(sink, 1)
    assert call.body == {
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [{"name": "A", "type": "Number", "value": 1}],
                    "id": "E1",
                    "isPattern": "false",
                    "type": "T",
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ],
        "originator": "localhost",
        "subscriptionId": sub_id,
    }


@pytest.mark.parametrize(
    ("attrs_format", "expected"),
    [
        pytest.param("keyValues", {"data": [{"id": "E1", "type": "T", "A": 1}]}, id="keyValues"),
        pytest.param("values", {"data": [[1]]}, id="values"),
        pytest.param(
            "simplifiedNormalized",
            {"id": "E1", "type": "T", "A": {"type": "Number", "value": 1, "metadata": {}}},
            id="simplifiedNormalized",
        ),
        pytest.param("simplifiedKeyValues", {"id": "E1", "type": "T", "A": 1}, id="simplifiedKeyValues"),
    ],
)
def test_other_ngsiv2_formats(
    client: httpx.Client,
    tenant: str,
    receiver: Receiver,
    sink: str,
    attrs_format: str,
    expected: dict[str, Any],
) -> None:
    sub_id = subscribe(client, tenant, sub_body(receiver.url + sink, attrsFormat=attrs_format))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    [call] = receiver.wait(sink, 1)
    if "data" in expected:
        expected = {"subscriptionId": sub_id, **expected}
    assert call.body == expected
    assert call.headers["ngsiv2-attrsformat"] == attrs_format


def test_builtins_in_notifications(client: httpx.Client, tenant: str, receiver: Receiver, sink: str) -> None:
    body = sub_body(
        receiver.url + sink,
        attrs=["A", "alterationType"],
        metadata=["previousValue", "actionType"],
        onlyChangedAttrs=True,
    )
    subscribe(client, tenant, body)
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}, "B": {"value": 1}})
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    calls = receiver.wait(sink, 2)
    assert calls[1].body["data"] == [
        {
            "id": "E1",
            "type": "T",
            "A": {
                "type": "Number",
                "value": 2,
                "metadata": {
                    "previousValue": {"type": "Number", "value": 1},
                    "actionType": {"type": "Text", "value": "update"},
                },
            },
            "alterationType": {"type": "Text", "value": "entityChange", "metadata": {}},
        }
    ]


def test_max_fails_limit_deactivates(client: httpx.Client, tenant: str) -> None:
    body = sub_body(f"http://127.0.0.1:{free_port()}/notify")
    body["notification"]["maxFailsLimit"] = 1
    sub_id = subscribe(client, tenant, body)

    def rendered() -> dict[str, Any]:
        found: dict[str, Any] = client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()
        return found

    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    wait_until(lambda: rendered()["notification"].get("failsCounter") == 1)
    assert rendered()["status"] == "active"
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    wait_until(lambda: rendered()["notification"].get("failsCounter") == 2)
    assert rendered()["status"] == "inactive"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("status/500", {"lastSuccessCode": 500, "timesSent": 1}, id="http-500-is-success"),
        pytest.param(
            "closed",
            {"failsCounter": 1, "lastFailureReason": "Could not connect to server", "timesSent": 1},
            id="refused",
        ),
        pytest.param(
            "slow",
            {"failsCounter": 1, "lastFailureReason": "Timeout was reached", "timesSent": 1},
            id="timeout",
        ),
    ],
)
def test_delivery_counters(
    client: httpx.Client, tenant: str, receiver: Receiver, target: str, expected: dict[str, Any]
) -> None:
    url = (
        f"http://127.0.0.1:{free_port()}/notify"
        if target == "closed"
        else f"{receiver.url}/{target}/{tenant}"
    )
    body = sub_body(url)
    body["notification"]["http"]["timeout"] = 200
    sub_id = subscribe(client, tenant, body)
    create(client, tenant, {"id": "E1", "type": "T"})

    def counters() -> dict[str, Any]:
        notification: dict[str, Any] = client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()[
            "notification"
        ]
        return notification

    wait_until(lambda: "lastSuccess" in counters() or "lastFailure" in counters())
    found = counters()
    assert {key: found[key] for key in expected} == expected
    assert STAMP.fullmatch(found.get("lastSuccess") or found["lastFailure"])
