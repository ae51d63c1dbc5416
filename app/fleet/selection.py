"""Which entities a bulk creation covers, and whether each holds the attribute to forecast.

Entities are those the IoT Agent knows in the template's tenant (its devices of the entity type,
as the ``devices`` query groups them), paged by entity id with an opaque cursor, or an explicit
list of ids. An entity has the attribute when its IoT Agent device declares it, or else when its
Orion entity holds it; an entity neither knows does not exist in that tenant.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from app.auth.tenancy import TenantScope
from app.devices.service import DeviceEntity, list_device_groups
from app.errors import ChronosError, ErrorCode, FieldError, FieldPath, NotFound, ValidationFailed, quoted
from app.fleet.bulk import MAX_ITEMS, checked_ids, relocated
from app.upstream import translate
from fiware.errors import FiwareError
from fiware.http import Tenant
from fiware.iota import IotAgentClient
from fiware.names import check_ngsi_name
from fiware.orion import OrionClient

DEFAULT_PAGE = 100
SELECTION = ("input", "selection")
_CURSOR_PREFIX = "fleet1:"
# Attribute names an error message lists at most.
_SHOWN_ATTRIBUTES = 10


@dataclass(frozen=True)
class Selection:
    """``entity_ids`` given: exactly those; else a page of the IoT Agent's entities of the type,
    ``first`` of them (default :data:`DEFAULT_PAGE`) after the cursor ``after``."""

    entity_type: str
    entity_ids: tuple[str, ...] | None = None
    first: int | None = None
    after: str | None = None


@dataclass(frozen=True)
class Candidate:
    """An entity to model. ``declared``: the attributes its IoT Agent device declares, None when the
    IoT Agent has no device for it; ``field``: where the input named it (None when discovered)."""

    entity_id: str
    declared: frozenset[str] | None
    field: FieldPath | None = None


@dataclass(frozen=True)
class EntityPage:
    candidates: list[Candidate]
    has_next_page: bool = False
    end_cursor: str | None = None


def encode_cursor(entity_id: str) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{entity_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The entity id a cursor names, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return raw.removeprefix(_CURSOR_PREFIX) if raw.startswith(_CURSOR_PREFIX) else None


def selection_problems(selection: Selection) -> list[FieldError]:
    problems: list[FieldError] = []

    def problem(message: str, *path: str) -> None:
        problems.append(FieldError(ErrorCode.VALIDATION_ERROR, message, (*SELECTION, *path)))

    if (reason := check_ngsi_name(selection.entity_type)) is not None:
        problem(reason, "entityType")
    if selection.entity_ids is not None:
        if selection.first is not None or selection.after is not None:
            problem("first and after page discovered entities; leave them out with entityIds", "entityIds")
        try:
            checked_ids(selection.entity_ids, field="entityIds")
        except ValidationFailed as refused:
            problems += relocated(refused.errors, {(): SELECTION})
    if selection.first is not None and not 1 <= selection.first <= MAX_ITEMS:
        problem(f"must be between 1 and {MAX_ITEMS} (got {selection.first})", "first")
    if selection.after is not None and decode_cursor(selection.after) is None:
        problem("is not a cursor of this selection", "after")
    return problems


async def _entities_of_type(
    entity_type: str, *, iota: IotAgentClient, tenant: Tenant, forecast_entity_type: str, scope: TenantScope
) -> list[DeviceEntity]:
    groups = await list_device_groups(
        iota=iota,
        service=tenant.service,
        service_path=tenant.service_path,
        forecast_entity_type=forecast_entity_type,
        scope=scope,
    )
    return next((g.entities for g in groups if g.entity_type == entity_type), [])


async def entity_page(
    selection: Selection,
    *,
    iota: IotAgentClient,
    tenant: Tenant,
    forecast_entity_type: str,
    scope: TenantScope,
) -> EntityPage:
    """The entities of this request, each with what its IoT Agent device declares."""
    declared: dict[str, set[str]] = {}
    known = await _entities_of_type(
        selection.entity_type,
        iota=iota,
        tenant=tenant,
        forecast_entity_type=forecast_entity_type,
        scope=scope,
    )
    for entity in known:
        # Two devices may feed one entity: it has what either declares.
        declared.setdefault(entity.entity_id, set()).update(entity.attributes)
    if selection.entity_ids is not None:
        return EntityPage(
            [
                Candidate(entity_id, _frozen(declared.get(entity_id)), (*SELECTION, "entityIds", str(i)))
                for i, entity_id in enumerate(selection.entity_ids)
            ]
        )
    after = decode_cursor(selection.after) if selection.after is not None else None
    remaining = sorted(e for e in declared if after is None or e > after)
    page = remaining[: selection.first or DEFAULT_PAGE]
    return EntityPage(
        [Candidate(entity_id, frozenset(declared[entity_id])) for entity_id in page],
        has_next_page=len(remaining) > len(page),
        end_cursor=encode_cursor(page[-1]) if page else None,
    )


def _frozen(attributes: set[str] | None) -> frozenset[str] | None:
    return None if attributes is None else frozenset(attributes)


async def check_attribute(
    candidate: Candidate, *, feature: str, entity_type: str, tenant: Tenant, orion: OrionClient
) -> None:
    """Nothing when the entity holds ``feature``; else NOT_FOUND (no such entity in the tenant) or
    VALIDATION_ERROR at the feature (the entity lacks it), at createModel's input paths."""
    if candidate.declared is not None and feature in candidate.declared:
        return
    try:
        entity = await orion.find_entity(candidate.entity_id, tenant, entity_type=entity_type)
    except FiwareError as error:
        raise translate(error) from error
    where = f"tenant {tenant.service}:{tenant.service_path}"
    if entity is None and candidate.declared is None:
        raise NotFound(
            f"neither the IoT Agent nor Orion knows entity {quoted(candidate.entity_id)} of type "
            f"{quoted(entity_type)} in {where}",
            field=("input", "entityId"),
        )
    held = set(candidate.declared or ()) | {name for name in entity or {} if name not in ("id", "type")}
    if feature not in held:
        raise _lacks(candidate.entity_id, feature, sorted(held))


def _lacks(entity_id: str, feature: str, held: list[str]) -> ChronosError:
    shown = ", ".join(held[:_SHOWN_ATTRIBUTES]) + (", …" if len(held) > _SHOWN_ATTRIBUTES else "")
    return ValidationFailed(
        [
            FieldError(
                ErrorCode.VALIDATION_ERROR,
                f"entity {quoted(entity_id)} has no attribute {quoted(feature)}"
                + (f" (it has {shown})" if held else " (it has none)"),
                ("input", "feature"),
            )
        ]
    )


__all__ = [
    "DEFAULT_PAGE",
    "Candidate",
    "EntityPage",
    "Selection",
    "check_attribute",
    "decode_cursor",
    "encode_cursor",
    "entity_page",
    "selection_problems",
]
