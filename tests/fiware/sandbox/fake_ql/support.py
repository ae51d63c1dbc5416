"""Helpers of the QuantumLeap sandbox tests: notifications, expected bodies and problems."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fiware.sandbox.fake_ql import QlStore

T0 = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)

NO_RECORDS = {"error": "Not Found", "description": "No records were found for such query."}

ACCEPTED = "Notification successfully processed"

JSON = "application/json"

PROBLEM = "application/problem+json"


def at(day: int) -> datetime:
    """Day ``day`` (1-based) of January 2024 at 10:00 UTC."""
    return T0 + timedelta(days=day - 1)


def index(day: int) -> str:
    return at(day).isoformat(timespec="milliseconds")


def hdr(tenant: str | None, path: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Fiware-Service": tenant} if tenant else {}
    if path is not None:
        headers["Fiware-ServicePath"] = path
    return {**headers, **{key.replace("_", "-"): value for key, value in extra.items()}}


def entity(entity_id: str = "E1", kind: str = "Sensor", **attrs: Any) -> dict[str, Any]:
    return {"id": entity_id, "type": kind, **attrs}


def number(value: Any, time_instant: str | None = None, kind: str = "Number") -> dict[str, Any]:
    """A normalized attribute as Orion 4 notifies it, with a TimeInstant metadata when given."""
    metadata = {"TimeInstant": {"type": "DateTime", "value": time_instant}} if time_instant else {}
    return {"type": kind, "value": value, "metadata": metadata}


def notification(*entities: dict[str, Any]) -> dict[str, Any]:
    return {"subscriptionId": "65a1b2c3d4e5f60718293a4b", "data": list(entities)}


def notify(client: httpx.Client, *entities: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post("/v2/notify", json=notification(*entities), headers=headers)


def seed(store: QlStore, tenant: str, days: range, *, entity_id: str = "E1", offset: float = 0.0) -> None:
    """One Number point of ``temperature`` per day, valued day - 1 + offset (day 1 → 0.0)."""
    store.add_points(
        service=tenant,
        entity_type="Sensor",
        entity_id=entity_id,
        attr_name="temperature",
        attr_type="Number",
        points=[(at(day), day - 1 + offset) for day in days],
    )


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"detail": detail, "status": status, "title": title, "type": "about:blank"}


def assert_answer(response: httpx.Response, status: int, body: object, media: str = JSON) -> None:
    """Status, content type and body; the body is also checked byte for byte as QL writes it
    (connexion: indented by 2, sorted keys, a final newline)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == media
    assert response.json() == body
    assert response.text == json.dumps(body, indent=2, sort_keys=True) + "\n"
