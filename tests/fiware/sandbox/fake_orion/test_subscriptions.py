"""The Orion sandbox against Orion's NGSI v2 API (orion-api.md and the functional tests), over HTTP:
subscriptions checked, rendered, and the rules that decide what is notified.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from fiware.sandbox.fake_orion.model import OrionError
from fiware.sandbox.fake_orion.subscriptions import parse_subscription
from tests.fiware.sandbox.fake_orion.support import (
    INVALID_FORMAT,
    NOT_FOUND_SUB,
    STAMP,
    SUB_LOCATION,
    Receiver,
    assert_error,
    create,
    error,
    hdr,
    sub_body,
    subscribe,
    wait_until,
)


def test_subscription_rendering(client: httpx.Client, tenant: str, receiver: Receiver, sink: str) -> None:
    """As Orion's test 1126_GET_v2_subscriptions/lastsuccesscode_and_lastfailurereason.test."""
    url = receiver.url + sink
    body = {"description": "Test 200 reponses", **sub_body(url)}
    sub_id = subscribe(client, tenant, body)
    expected: dict[str, Any] = {
        "description": "Test 200 reponses",
        "id": sub_id,
        "notification": {
            "attrs": [],
            "attrsFormat": "normalized",
            "covered": False,
            "http": {"url": url},
            "onlyChangedAttrs": False,
        },
        "status": "active",
        "subject": {
            "condition": {"attrs": [], "notifyOnMetadataChange": True},
            "entities": [{"id": "E1", "type": "T"}],
        },
    }
    assert client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json() == expected
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    receiver.wait(sink, 1)
    wait_until(
        lambda: (
            "lastSuccess"
            in client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()["notification"]
        )
    )
    after = client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()
    notification = after["notification"]
    assert STAMP.fullmatch(notification.pop("lastNotification"))
    assert STAMP.fullmatch(notification.pop("lastSuccess"))
    expected["notification"].update(lastSuccessCode=200, timesSent=1)
    assert after == expected


@pytest.mark.parametrize(
    ("change", "description"),
    [
        pytest.param({"attrsFormat": "unique"}, INVALID_FORMAT["description"], id="unique-format"),
        pytest.param({"subject": {"entities": []}}, "empty entities vector", id="empty-entities"),
        pytest.param({"condition": {}}, "condition is empty", id="empty-condition"),
        pytest.param({"condition": {"attrs": []}}, "condition attrs is empty", id="empty-condition-attrs"),
        pytest.param(
            {"attrs": ["A"], "exceptAttrs": ["B"]},
            "http notification has attrs and exceptAttrs",
            id="attrs-except",
        ),
        pytest.param({"notification": {}}, "http notification is missing", id="no-channel"),
        pytest.param({"expires": "never"}, "expires has an invalid format", id="expires"),
        pytest.param(
            {"description": "x" * 1025},
            "description must be a string of at most 1024 characters",
            id="long-description",
        ),
        pytest.param(
            {"subject": {"entities": [{"type": "T"}]}},
            "subject entities element has not id/idPattern",
            id="entity-without-id",
        ),
        pytest.param(
            {"notification": {"http": {"url": "http://localhost:1234"}, "mqtt": {"url": "mqtt://localhost"}}},
            "only one of http, httpCustom, mqtt, mqttCustom, kafka or kafkaCustom is allowed",
            id="two-channels",
        ),
    ],
)
def test_invalid_subscription_is_refused(
    client: httpx.Client, tenant: str, change: dict[str, Any], description: str
) -> None:
    body = sub_body("http://localhost:1234/notify")
    if "subject" in change or "notification" in change:
        body.update(change)
    else:
        body = sub_body("http://localhost:1234/notify", **change)
    assert_error(client.post("/v2/subscriptions", json=body, headers=hdr(tenant)), 400, error(description))


@pytest.mark.parametrize(
    ("version", "status"),
    [pytest.param("4.0.0", 400, id="O-9-orion4"), pytest.param("3.12.0", 201, id="O-10-orion3")],
)
def test_legacy_subscriptions_by_orion_major(
    orion4_url: str, orion_url: str, version: str, status: int
) -> None:
    """Orion ≥ 4.0.0 removed `attrsFormat: legacy` (doc/manuals/deprecated.md); ≤ 3.12 accepts it."""
    base = orion4_url if version.startswith("4") else orion_url
    body = sub_body("http://localhost:1234/notify", attrsFormat="legacy")
    response = httpx.post(f"{base}/v2/subscriptions", json=body)
    assert response.status_code == status
    if status == 400:
        assert_error(response, 400, INVALID_FORMAT)
        # Any NGSI v2 format is fine on 4.x, and PATCH cannot sneak legacy in either.
        sub_id = SUB_LOCATION.fullmatch(
            httpx.post(f"{base}/v2/subscriptions", json=sub_body("http://localhost:1234/n")).headers[
                "location"
            ]
        )
        assert sub_id is not None
        patch = httpx.patch(
            f"{base}/v2/subscriptions/{sub_id.group(1)}", json={"notification": body["notification"]}
        )
        assert_error(patch, 400, INVALID_FORMAT)
    else:
        assert SUB_LOCATION.fullmatch(response.headers["location"])


def test_unchanged_value_does_not_notify(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    subscribe(client, tenant, sub_body(receiver.url + sink, attrsFormat="keyValues"))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    url = "/v2/entities/E1/attrs"
    for value in (1, 1.0, 2, 2, "2"):
        assert client.post(url, json={"A": {"value": value}}, headers=hdr(tenant)).status_code == 204
    # Notifications of one subscription go out in order: once "2" (Text) arrived, nothing else is coming.
    calls = receiver.wait(sink, 3)
    assert [call.body["data"][0]["A"] for call in calls] == [1, 2, "2"]
    # A change of metadata alone is a change (notifyOnMetadataChange defaults to true).
    client.post(url, json={"A": {"value": "2", "metadata": {"m": {"value": 1}}}}, headers=hdr(tenant))
    assert len(receiver.wait(sink, 4)) == 4
    # options=forcedUpdate notifies even with nothing changed.
    client.post(f"{url}?options=forcedUpdate", json={"A": {"value": "2"}}, headers=hdr(tenant))
    assert len(receiver.wait(sink, 5)) == 5


def test_condition_attrs_and_projection(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    body = sub_body(receiver.url + sink, condition={"attrs": ["A"]}, attrs=["B"], attrsFormat="keyValues")
    subscribe(client, tenant, body)
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}, "B": {"value": 1}})
    client.patch("/v2/entities/E1/attrs", json={"B": {"value": 2}}, headers=hdr(tenant))  # not watched
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    calls = receiver.wait(sink, 2)
    assert [call.body["data"] for call in calls] == [
        [{"id": "E1", "type": "T", "B": 1}],
        [{"id": "E1", "type": "T", "B": 2}],
    ]


def test_throttling_drops_notifications_inside_the_window(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    sub_id = subscribe(client, tenant, sub_body(receiver.url + sink, throttling=1, attrsFormat="keyValues"))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    started = time.monotonic()
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))  # inside: dropped
    assert time.monotonic() - started < 1
    wait_until(lambda: time.monotonic() - started > 1.05, timeout=2)
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 3}}, headers=hdr(tenant))
    calls = receiver.wait(sink, 2)
    assert [call.body["data"][0]["A"] for call in calls] == [1, 3]
    assert (
        client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()["notification"]["timesSent"]
        == 2
    )


def test_subject_matching(client: httpx.Client, tenant: str, receiver: Receiver, sink: str) -> None:
    body = sub_body(receiver.url + sink, attrsFormat="keyValues")
    body["subject"]["entities"] = [{"idPattern": "^Lamp", "type": "Lamp"}]
    subscribe(client, tenant, body, "/a/#")
    create(client, tenant, {"id": "Lamp1", "type": "Lamp"}, "/a/b")
    create(client, tenant, {"id": "Lamp2", "type": "Lamp"}, "/c")  # outside the subscription's scope
    create(client, tenant, {"id": "Pump1", "type": "Lamp"}, "/a")  # id does not match
    create(client, tenant, {"id": "Lamp3", "type": "Pump"}, "/a")  # type does not match
    create(client, tenant, {"id": "Lamp4", "type": "Lamp"}, "/a")
    calls = receiver.wait(sink, 2)
    assert [(call.body["data"][0]["id"], call.headers["fiware-servicepath"]) for call in calls] == [
        ("Lamp1", "/a/b"),
        ("Lamp4", "/a"),
    ]


def test_alteration_types_and_oneshot(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    deletes = sub_body(receiver.url + sink + "/delete", condition={"alterationTypes": ["entityDelete"]})
    subscribe(client, tenant, deletes)
    oneshot = subscribe(client, tenant, sub_body(receiver.url + sink + "/once", status="oneshot"))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    assert client.delete("/v2/entities/E1", headers=hdr(tenant)).status_code == 204
    [deleted] = receiver.wait(sink + "/delete", 1)
    assert deleted.body["data"][0]["id"] == "E1"
    assert len(receiver.wait(sink + "/once", 1)) == 1
    assert client.get(f"/v2/subscriptions/{oneshot}", headers=hdr(tenant)).json()["status"] == "inactive"


def test_patch_subscription_expiry_and_except_attrs(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    active = subscribe(client, tenant, sub_body(receiver.url + sink + "/a", attrsFormat="keyValues"))
    expired = subscribe(client, tenant, sub_body(receiver.url + sink + "/e", expires="2000-01-01T00:00:00Z"))
    assert client.get(f"/v2/subscriptions/{expired}", headers=hdr(tenant)).json()["status"] == "expired"
    url = f"/v2/subscriptions/{active}"
    assert client.patch(url, json={"status": "inactive"}, headers=hdr(tenant)).status_code == 204
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})  # inactive: not notified
    notification = {
        "http": {"url": receiver.url + sink + "/a"},
        "exceptAttrs": ["A"],
        "attrsFormat": "keyValues",
    }
    patch = {"status": "active", "notification": notification}
    assert client.patch(url, json=patch, headers=hdr(tenant)).status_code == 204
    client.post("/v2/entities/E1/attrs", json={"A": {"value": 2}, "B": {"value": 1}}, headers=hdr(tenant))
    [call] = receiver.wait(sink + "/a", 1)
    assert call.body["data"] == [{"id": "E1", "type": "T", "B": 1}]
    rendered = client.get(url, headers=hdr(tenant)).json()
    assert (rendered["status"], rendered["notification"]["exceptAttrs"]) == ("active", ["A"])
    assert "attrs" not in rendered["notification"]
    assert receiver.at(sink + "/e") == []
    missing = client.patch("/v2/subscriptions/000000000000000000000000", json=patch, headers=hdr(tenant))
    assert_error(missing, 404, NOT_FOUND_SUB)


def subscription_request(**extra: Any) -> dict[str, Any]:
    notification = {"http": {"url": "http://sink:80/n"}, **extra.pop("notification", {})}
    return {"subject": {"entities": [{"idPattern": ".*"}]}, "notification": notification, **extra}


def test_parse_subscription_fills_in_the_defaults() -> None:
    spec = parse_subscription(subscription_request(throttling=5), orion_major=3)
    assert (spec.attrs_format, spec.status, spec.throttling, spec.expires) == (
        "normalized",
        "active",
        5.0,
        None,
    )
    assert (spec.attrs, spec.except_attrs, spec.only_changed, spec.max_fails) == ([], None, False, None)
    assert spec.url == "http://sink:80/n"


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        pytest.param(
            {"notification": {"attrs": [], "exceptAttrs": [], "attrsFormat": "x"}, "status": "x"},
            "http notification has attrs and exceptAttrs",
            id="notification-before-status",
        ),
        pytest.param(
            {"notification": {"attrsFormat": "legacy", "maxFailsLimit": 0}},
            INVALID_FORMAT["description"],
            id="format-before-max-fails",
        ),
        pytest.param(
            {"expires": "never", "throttling": -1}, "expires has an invalid format", id="expires-first"
        ),
        pytest.param(
            {"throttling": True, "status": "x"},
            "throttling must be a non-negative number",
            id="throttling-before-status",
        ),
    ],
)
def test_parse_subscription_reports_the_first_fault(extra: dict[str, Any], description: str) -> None:
    with pytest.raises(OrionError) as refused:
        parse_subscription(subscription_request(**extra), orion_major=4)
    assert refused.value.body() == {"error": "BadRequest", "description": description}
