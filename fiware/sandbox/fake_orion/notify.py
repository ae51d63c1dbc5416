"""Notifications of the Orion sandbox: bodies (normalized and the other NGSI v2 formats, NGSIv1
``legacy``), headers, delivery in background tasks and the delivery counters of the subscription,
as Orion's functional tests show them (``2507_csub_metadata_field`` at 3.12.0 for ``legacy``,
``3290_filtering_out_all_metadata_sub``, ``1126_GET_v2_subscriptions``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping

import httpx

from fiware.sandbox.fake_orion.model import Change, Json, entity_attrs, now_ms, render_entity
from fiware.sandbox.fake_orion.subscriptions import Subscription, should_notify, triggering_attrs

_MODES = {
    "normalized": "normalized",
    "simplifiedNormalized": "normalized",
    "keyValues": "keyValues",
    "simplifiedKeyValues": "keyValues",
    "values": "values",
}


def _attrs_filter(sub: Subscription, change: Change) -> list[str] | None:
    spec = sub.spec
    names: list[str] | None
    if spec.except_attrs is not None:
        names = [name for name in change.entity.attrs if name not in spec.except_attrs]
    else:
        names = list(spec.attrs) or None  # empty or missing `attrs` means every attribute
    if spec.only_changed:
        hit = triggering_attrs(sub, change)
        every = names if names is not None else list(change.entity.attrs)
        # Built-in attributes (alterationType, dateModified, …) are not changes; they stay if asked for.
        names = [name for name in every if name in hit or name not in change.entity.attrs]
    return names


def notification_body(sub: Subscription, change: Change) -> Json:
    spec = sub.spec
    attrs_filter = _attrs_filter(sub, change)
    # Built-in metadata and attributes, shown only when the subscription names them.
    builtin_metadata: dict[str, dict[str, Json]] = {}
    for name in change.entity.attrs:
        item: dict[str, Json] = {"actionType": {"type": "Text", "value": change.actions.get(name, "update")}}
        if name in change.previous:
            old = change.previous[name]
            item["previousValue"] = {"type": old.type, "value": old.value}
        builtin_metadata[name] = item
    builtin_attrs = {"alterationType": {"type": "Text", "value": change.alteration, "metadata": {}}}
    if spec.attrs_format == "legacy":
        attrs = entity_attrs(
            change.entity,
            attrs_filter,
            spec.metadata,
            builtin_metadata=builtin_metadata,
            builtin_attrs=builtin_attrs,
        )
        return legacy_body(sub.id, change.entity.id, change.entity.type, attrs)
    entity = render_entity(
        change.entity,
        _MODES[spec.attrs_format],
        attrs_filter,
        spec.metadata,
        builtin_metadata=builtin_metadata,
        builtin_attrs=builtin_attrs,
    )
    if spec.attrs_format.startswith("simplified"):
        return entity
    return {"subscriptionId": sub.id, "data": [entity]}


def legacy_body(
    subscription_id: str, entity_id: str, entity_type: str, attrs: Mapping[str, Mapping[str, Json]]
) -> dict[str, Json]:
    """The NGSIv1 notification of Orion ≤ 3.12; ``metadatas`` only when there are some."""
    attributes: list[dict[str, Json]] = []
    for name, attr in attrs.items():
        item: dict[str, Json] = {"name": name, "type": attr["type"], "value": attr["value"]}
        if attr["metadata"]:
            item["metadatas"] = [
                {"name": md_name, "type": md["type"], "value": md["value"]}
                for md_name, md in attr["metadata"].items()
            ]
        attributes.append(item)
    element = {"attributes": attributes, "id": entity_id, "isPattern": "false", "type": entity_type}
    return {
        "subscriptionId": subscription_id,
        "originator": "localhost",
        "contextResponses": [
            {"contextElement": element, "statusCode": {"code": "200", "reasonPhrase": "OK"}}
        ],
    }


def notification_headers(
    sub: Subscription, *, service: str, service_path: str, correlator: str, version: str
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
        "Fiware-Servicepath": service_path,
        "Fiware-Correlator": correlator,
        "User-Agent": f"orion/{version}",
    }
    if sub.spec.attrs_format != "legacy":
        headers["Ngsiv2-AttrsFormat"] = sub.spec.attrs_format
    # The default tenant sends no Fiware-Service at all (telefonicaid/fiware-orion#3540).
    if service:
        headers["Fiware-Service"] = service
    return headers


def failure_reason(exc: Exception) -> str:
    """``lastFailureReason`` in libcurl's words, as Orion reports it (test 1126_GET_v2_subscriptions)."""
    if isinstance(exc, httpx.TimeoutException):
        return "Timeout was reached"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if any(hint in text for hint in ("name or service", "name resolution", "nodename", "getaddrinfo")):
            return "Could not resolve hostname"
        return "Could not connect to server"
    return str(exc) or type(exc).__name__


class Notifier:
    """Sends notifications in background tasks of the server's event loop, never in the way of
    the request that triggered them; at most once each (orion-api.md describes no retry)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def client(self) -> httpx.AsyncClient:
        """The client of the running event loop. Created on first use when no lifespan ran (the
        sandbox servers run with lifespan="off"), and again if the app moves to another loop:
        a client's connections belong to the loop that opened them."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient()
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
            for task in pending:
                task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = self._loop = None

    def dispatch(
        self, subscriptions: Iterable[Subscription], service: str, changes: Iterable[Change], correlator: str
    ) -> int:
        """Start one notification per (change, subscription) that wants it; answers how many."""
        subs = list(subscriptions)
        sent = 0
        for change in changes:
            for sub in subs:
                now = now_ms()
                if not should_notify(sub, change, now):
                    continue
                sent += 1
                body = json.dumps(notification_body(sub, change), separators=(",", ":"), ensure_ascii=False)
                headers = notification_headers(
                    sub,
                    service=service,
                    service_path=change.entity.service_path,
                    correlator=f"{correlator}; cbnotif={sent}",
                    version=self.version,
                )
                # Counted when sent, as Orion does, so that throttling measures from here.
                sub.stats.last_notification = now
                sub.stats.times_sent += 1
                if sub.status == "oneshot":
                    sub.status = "inactive"
                task = asyncio.get_running_loop().create_task(self._send(sub, body.encode(), headers))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return sent

    async def _send(self, sub: Subscription, body: bytes, headers: dict[str, str]) -> None:
        async with sub.lock:
            stats = sub.stats
            try:
                response = await self.client().post(
                    sub.spec.url, content=body, headers=headers, timeout=sub.spec.timeout_seconds
                )
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
                stats.fails += 1
                stats.last_failure = now_ms()
                stats.last_failure_reason = failure_reason(exc)
                limit = sub.spec.max_fails
                if limit is not None and stats.fails > limit:
                    sub.status = "inactive"
                return
            # Any HTTP answer, even 4xx/5xx, is a success for Orion (test 1126_GET_v2_subscriptions).
            stats.last_success = now_ms()
            stats.last_success_code = response.status_code
            stats.fails = 0


__all__ = ["Notifier", "failure_reason", "legacy_body", "notification_body", "notification_headers"]
