"""Orion NGSI v2 subscriptions for the sandbox: the request body checked and kept, rendered as
``GET /v2/subscriptions`` shows it (Orion test ``1126_GET_v2_subscriptions``), and the rules that
decide whether a change of an entity is notified (orion-api.md "Notification Triggering")."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from fiware.sandbox.fake_orion.model import (
    Change,
    Entity,
    Json,
    bad_request,
    check_name,
    format_date,
    parse_date,
    path_matches,
)

V2_FORMATS = ("normalized", "simplifiedNormalized", "keyValues", "simplifiedKeyValues", "values")
# Orion's own text, with its lower-case k (test 1875_NGSIv2_notification_formats).
INVALID_FORMAT = (
    "invalid attrsFormat, accepted values: "
    "normalized, simplifiedNormalized, keyValues, simplifiedkeyValues, values"
)
CHANNELS = ("http", "httpCustom", "mqtt", "mqttCustom", "kafka", "kafkaCustom")
STATUSES = ("active", "inactive", "oneshot")
ALTERATION_TYPES = ("entityCreate", "entityChange", "entityUpdate", "entityDelete")
DEFAULT_ALTERATIONS = ("entityCreate", "entityChange")
MAX_DESCRIPTION = 1024


def new_subscription_id() -> str:
    """24 hex digits like a MongoDB ObjectId: creation second first, so ids sort by age."""
    return f"{int(time.time()):08x}{secrets.token_hex(8)}"


@dataclass(frozen=True, kw_only=True)
class NotificationSpec:
    """The ``notification`` member of a subscription request, checked."""

    http: dict[str, Json]
    attrs: list[str]
    except_attrs: list[str] | None
    attrs_format: str
    metadata: list[str] | None
    only_changed: bool
    covered: bool
    max_fails: int | None


@dataclass(frozen=True, kw_only=True)
class SubscriptionSpec(NotificationSpec):
    """A subscription as its (last) request defined it."""

    description: str | None
    entities: list[dict[str, str]]
    condition_attrs: list[str]
    expression: dict[str, Json] | None
    alteration_types: list[str] | None
    notify_on_metadata_change: bool
    expires: int | None
    throttling: float | None
    status: str

    @property
    def url(self) -> str:
        return str(self.http["url"])

    @property
    def timeout_seconds(self) -> float:
        # `http.timeout` in ms, default `-httpTimeout` 5000 ms (Orion doc/manuals/admin/cli.md).
        timeout = self.http.get("timeout")
        return float(timeout) / 1000 if isinstance(timeout, int | float) and timeout > 0 else 5.0


@dataclass
class Stats:
    times_sent: int = 0
    last_notification: int | None = None
    last_success: int | None = None
    last_success_code: int | None = None
    last_failure: int | None = None
    last_failure_reason: str | None = None
    fails: int = 0


@dataclass
class Subscription:
    id: str
    service_path: str  # the Fiware-ServicePath given on creation: the scope of the subject
    spec: SubscriptionSpec
    body: dict[str, Json]  # the accepted request body, which PATCH merges into
    status: str
    stats: Stats = field(default_factory=Stats)
    # One notification at a time per subscription, so that they arrive in the order of the changes.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _strings(value: Json, what: str, *, allow_empty: bool = True) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"{what} must be an array of strings")
    if not value and not allow_empty:
        raise bad_request(f"{what} is empty")
    return list(value)


def _pattern(value: Json, what: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"Invalid JSON type for entity {what}")
    try:
        re.compile(value)
    except re.error as exc:
        raise bad_request(f"Invalid regex for entity {what}") from exc
    return value


def _subject_entities(raw: Json) -> list[dict[str, str]]:
    if raw is None:
        raise bad_request("no subject entities specified")
    if not isinstance(raw, list):
        raise bad_request("subject entities is not an array")
    if not raw:
        raise bad_request("empty entities vector")  # refused since Orion 3.12.0 (Changelog, #4499)
    out: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("subject entities element is not an object")
        if "id" in item and "idPattern" in item:
            raise bad_request("subject entities element has id and idPattern")
        if "id" not in item and "idPattern" not in item:
            raise bad_request("subject entities element has not id/idPattern")
        if "type" in item and "typePattern" in item:
            raise bad_request("subject entities element has type and typePattern")
        entry: dict[str, str] = {}
        if "id" in item:
            entry["id"] = check_name(item["id"], "entity id")
        else:
            entry["idPattern"] = _pattern(item["idPattern"], "idPattern")
        if "type" in item:
            entry["type"] = check_name(item["type"], "entity type")
        elif "typePattern" in item:
            entry["typePattern"] = _pattern(item["typePattern"], "typePattern")
        out.append(entry)
    return out


def _condition(raw: Json) -> tuple[list[str], dict[str, Json] | None, list[str] | None, bool]:
    if raw is None:
        return [], None, None, True
    if not isinstance(raw, dict) or not raw:
        raise bad_request("condition is empty")  # `condition` is optional but `{}` is not allowed
    attrs = _strings(raw["attrs"], "condition attrs", allow_empty=False) if "attrs" in raw else []
    expression = raw.get("expression")
    if expression is not None and not isinstance(expression, dict):
        raise bad_request("expression must be a JSON object")
    alterations = None
    if "alterationTypes" in raw:
        alterations = _strings(raw["alterationTypes"], "alterationTypes")
        if any(kind not in ALTERATION_TYPES for kind in alterations):
            raise bad_request("unknown alterationType")
    notify_md = raw.get("notifyOnMetadataChange", True)
    if not isinstance(notify_md, bool):
        raise bad_request("notifyOnMetadataChange must be a boolean")
    return attrs, expression, alterations, notify_md


def _http(notification: dict[str, Json]) -> dict[str, Json]:
    channels = [name for name in CHANNELS if name in notification]
    if not channels:
        raise bad_request("http notification is missing")
    if len(channels) > 1:
        raise bad_request("only one of http, httpCustom, mqtt, mqttCustom, kafka or kafkaCustom is allowed")
    if channels != ["http"]:
        raise bad_request(f"the sandbox delivers only http notifications, not {channels[0]}")
    http = notification["http"]
    if not isinstance(http, dict) or not isinstance(http.get("url"), str):
        raise bad_request("http notification has no url")
    if not re.match(r"https?://[^/]+", http["url"]):
        raise bad_request("Invalid URL parsing notification url")
    return dict(http)


def _attrs_format(notification: dict[str, Json], *, orion_major: int) -> str:
    attrs_format = notification.get("attrsFormat", "normalized")
    # `legacy` (NGSIv1 notifications) exists up to 3.12 and was removed in 4.0.0 (doc/manuals/deprecated.md).
    accepted = V2_FORMATS if orion_major >= 4 else (*V2_FORMATS, "legacy")
    if attrs_format not in accepted:
        raise bad_request(INVALID_FORMAT)
    return str(attrs_format)


def _notification(raw: Json, *, orion_major: int) -> NotificationSpec:
    """Checked in Orion's order, so that the first of several faults is the one reported."""
    if not isinstance(raw, dict):
        raise bad_request("no notification for subscription specified")
    http = _http(raw)
    if "attrs" in raw and "exceptAttrs" in raw:
        raise bad_request("http notification has attrs and exceptAttrs")
    attrs = _strings(raw.get("attrs", []), "notification attrs")
    except_attrs = _strings(raw["exceptAttrs"], "exceptAttrs") if "exceptAttrs" in raw else None
    attrs_format = _attrs_format(raw, orion_major=orion_major)
    metadata = _strings(raw["metadata"], "metadata") if "metadata" in raw else None
    only_changed = raw.get("onlyChangedAttrs", False)
    covered = raw.get("covered", False)
    max_fails = raw.get("maxFailsLimit")
    if not isinstance(only_changed, bool) or not isinstance(covered, bool):
        raise bad_request("onlyChangedAttrs and covered must be booleans")
    if max_fails is not None and (
        isinstance(max_fails, bool) or not isinstance(max_fails, int) or max_fails < 1
    ):
        raise bad_request("maxFailsLimit must be a positive integer")
    return NotificationSpec(
        http=http,
        attrs=attrs,
        except_attrs=except_attrs,
        attrs_format=attrs_format,
        metadata=metadata,
        only_changed=only_changed,
        covered=covered,
        max_fails=max_fails,
    )


def _lifetime(body: dict[str, Json]) -> tuple[int | None, float | None, str]:
    """``expires`` (ms), ``throttling`` (seconds) and the initial ``status`` of a subscription request."""
    expires = None
    if "expires" in body:
        expires = parse_date(body["expires"])
        if expires is None:
            raise bad_request("expires has an invalid format")
    throttling = body.get("throttling")
    if throttling is not None and (
        isinstance(throttling, bool) or not isinstance(throttling, int | float) or throttling < 0
    ):
        raise bad_request("throttling must be a non-negative number")
    status = body.get("status", "active")
    if status not in STATUSES:
        raise bad_request("status is not valid: it has to be either active, inactive or oneshot")
    return expires, float(throttling) if throttling is not None else None, str(status)


def parse_subscription(body: Json, *, orion_major: int) -> SubscriptionSpec:
    """A subscription request body checked as Orion of that major version checks it."""
    if not isinstance(body, dict):
        raise bad_request("not a JSON object")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        raise bad_request(f"description must be a string of at most {MAX_DESCRIPTION} characters")
    subject = body.get("subject")
    if not isinstance(subject, dict):
        raise bad_request("no subject for subscription specified")
    entities = _subject_entities(subject.get("entities"))
    condition_attrs, expression, alterations, notify_md = _condition(subject.get("condition"))
    notification = _notification(body.get("notification"), orion_major=orion_major)
    expires, throttling, status = _lifetime(body)
    return SubscriptionSpec(
        description=description,
        entities=entities,
        condition_attrs=condition_attrs,
        expression=expression,
        alteration_types=alterations,
        notify_on_metadata_change=notify_md,
        **vars(notification),
        expires=expires,
        throttling=throttling,
        status=status,
    )


def _stamp(ms: int) -> str:
    # Orion keeps notification times to the second and shows them with `.000Z`.
    return format_date(ms // 1000 * 1000)


def current_status(sub: Subscription, now: int) -> str:
    expires = sub.spec.expires
    return "expired" if expires is not None and expires <= now else sub.status


def render_subscription(sub: Subscription, now: int) -> dict[str, Json]:
    """``GET /v2/subscriptions/{id}``: defaults filled in, counters once they exist."""
    spec, stats = sub.spec, sub.stats
    condition: dict[str, Json] = {"attrs": list(spec.condition_attrs)}
    if spec.expression is not None:
        condition["expression"] = spec.expression
    if spec.alteration_types is not None:
        condition["alterationTypes"] = list(spec.alteration_types)
    condition["notifyOnMetadataChange"] = spec.notify_on_metadata_change
    notification: dict[str, Json] = {}
    if spec.except_attrs is not None:
        notification["exceptAttrs"] = list(spec.except_attrs)
    else:
        notification["attrs"] = list(spec.attrs)
    notification.update(attrsFormat=spec.attrs_format, covered=spec.covered, http=dict(spec.http))
    if spec.metadata is not None:
        notification["metadata"] = list(spec.metadata)
    notification["onlyChangedAttrs"] = spec.only_changed
    if spec.max_fails is not None:
        notification["maxFailsLimit"] = spec.max_fails
    if stats.times_sent:
        notification["timesSent"] = stats.times_sent
    if stats.last_notification is not None:
        notification["lastNotification"] = _stamp(stats.last_notification)
    if stats.fails:
        notification["failsCounter"] = stats.fails
    if stats.last_failure is not None:
        notification["lastFailure"] = _stamp(stats.last_failure)
        notification["lastFailureReason"] = stats.last_failure_reason
    if stats.last_success is not None:
        notification["lastSuccess"] = _stamp(stats.last_success)
        notification["lastSuccessCode"] = stats.last_success_code
    out: dict[str, Json] = {"id": sub.id}
    if spec.description is not None:
        out["description"] = spec.description
    out["subject"] = {"entities": [dict(entry) for entry in spec.entities], "condition": condition}
    out["notification"] = notification
    if spec.expires is not None:
        out["expires"] = format_date(spec.expires)
    if spec.throttling is not None:
        out["throttling"] = int(spec.throttling) if spec.throttling.is_integer() else spec.throttling
    out["status"] = current_status(sub, now)
    return out


def _entity_matches(sub: Subscription, entity: Entity) -> bool:
    if not any(path_matches(path, entity.service_path) for path in sub.service_path.split(",")):
        return False
    for entry in sub.spec.entities:
        if "id" in entry and entry["id"] != entity.id:
            continue
        # Orion hands patterns to MongoDB's $regex: a match anywhere in the string.
        if "idPattern" in entry and not re.search(entry["idPattern"], entity.id):
            continue
        if "type" in entry and entry["type"] != entity.type:
            continue
        if "typePattern" in entry and not re.search(entry["typePattern"], entity.type):
            continue
        return True
    return False


def triggering_attrs(sub: Subscription, change: Change) -> set[str]:
    """The attributes of ``change`` that count as changed for this subscription."""
    if change.alteration == "entityCreate":
        return set(change.entity.attrs)
    if change.alteration == "entityDelete":
        return set(change.previous)
    if change.forced:
        return set(change.touched)
    changed = set(change.changed)
    if sub.spec.notify_on_metadata_change:
        changed |= change.metadata_changed
    return changed


def should_notify(sub: Subscription, change: Change, now: int) -> bool:
    """Orion's notification triggering, ``throttling`` included (inside the window: dropped)."""
    spec = sub.spec
    if current_status(sub, now) not in ("active", "oneshot") or not _entity_matches(sub, change.entity):
        return False
    kinds: Sequence[str] = spec.alteration_types or DEFAULT_ALTERATIONS
    hit = triggering_attrs(sub, change)
    if change.alteration in ("entityCreate", "entityDelete"):
        wanted = change.alteration in kinds
    elif hit:
        wanted = "entityChange" in kinds or "entityUpdate" in kinds
    else:
        # An update that changed nothing notifies only subscriptions that asked for every update.
        wanted = "entityUpdate" in kinds
        hit = set(change.touched)
    if not wanted:
        return False
    if spec.condition_attrs and change.alteration != "entityDelete" and not hit & set(spec.condition_attrs):
        return False
    last = sub.stats.last_notification
    return not (spec.throttling and last is not None and now - last < spec.throttling * 1000)


__all__ = [
    "INVALID_FORMAT",
    "V2_FORMATS",
    "Stats",
    "Subscription",
    "SubscriptionSpec",
    "current_status",
    "new_subscription_id",
    "parse_subscription",
    "render_subscription",
    "should_notify",
    "triggering_attrs",
]
