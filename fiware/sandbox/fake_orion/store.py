"""The Orion sandbox's memory: entities and subscriptions per tenant, and the entity operations
of NGSI v2 (``/v2/entities`` and ``/v2/op/update``) with their update semantics. Each operation
answers what it changed (a ``Change``) so that the HTTP layer can notify; the store itself never
notifies."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fiware.sandbox.fake_orion.model import (
    DEFAULT_ENTITY_TYPE,
    Attr,
    AttrInput,
    Change,
    Entity,
    Json,
    canonical,
    now_ms,
    parse_entity,
    path_matches,
    render_entity,
)
from fiware.sandbox.fake_orion.subscriptions import Subscription

# How attributes of a request meet those already there:
APPEND = "append"  # update the existing ones, add the others (POST .../attrs, op `append`, upsert)
APPEND_STRICT = "appendStrict"  # add only; existing ones fail (options=append, op `appendStrict`)
UPDATE = "update"  # update only; missing ones fail (PATCH .../attrs, op `update`)
REPLACE = "replace"  # the request's attributes become all of them (PUT .../attrs, op `replace`)


@dataclass
class Tenant:
    # Keyed like Orion's `_id` (id, type, servicePath); dicts keep creation order, Orion's default order.
    entities: dict[tuple[str, str, str], Entity] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)


def _metadata_equal(old: Attr, new: Attr) -> bool:
    def flat(attr: Attr) -> str:
        return canonical({name: [md.type, md.value] for name, md in attr.metadata.items()})

    return flat(old) == flat(new)


class OrionStore:
    """Entities and subscriptions of every tenant (``Fiware-Service``, ``""`` is the default one)."""

    def __init__(self) -> None:
        self._tenants: dict[str, Tenant] = {}
        # Seeding may run in another thread than the server's event loop.
        self.lock = threading.RLock()

    def tenant(self, service: str) -> Tenant:
        with self.lock:
            return self._tenants.setdefault(service, Tenant())

    # -- public interface for seeding and inspection ------------------------------------------

    def upsert_entity(self, *, service: str, service_path: str, entity: dict[str, object]) -> None:
        """Create or update (append semantics) an entity given in NGSI v2 normalized form,
        as ``POST /v2/entities?options=upsert`` would, but without notifying anyone."""
        entity_id, given_type, attrs = parse_entity(entity, key_values=False)
        entity_type = given_type or DEFAULT_ENTITY_TYPE
        with self.lock:
            found = self.tenant(service).entities.get((entity_id, entity_type, service_path))
            if found is None:
                self.create(service, service_path, entity_id, entity_type, attrs)
            else:
                self.update(found, attrs, mode=APPEND)

    def entity(
        self, *, service: str, entity_id: str, entity_type: str | None = None
    ) -> dict[str, object] | None:
        """The first entity with that id (and type) in any service path, rendered as
        ``GET /v2/entities/{id}`` renders it; None when there is none."""
        with self.lock:
            for entity in self.tenant(service).entities.values():
                if entity.id == entity_id and entity_type in (None, entity.type):
                    rendered: dict[str, object] = render_entity(entity, "normalized", None, None)
                    return rendered
        return None

    # -- operations used by the HTTP layer -------------------------------------------------------

    def query(
        self,
        service: str,
        paths: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
        id_pattern: str | None = None,
        type_pattern: str | None = None,
    ) -> list[Entity]:
        with self.lock:
            return [
                entity
                for entity in self.tenant(service).entities.values()
                if any(path_matches(path, entity.service_path) for path in paths)
                and (ids is None or entity.id in ids)
                and (types is None or entity.type in types)
                and (id_pattern is None or re.search(id_pattern, entity.id))
                and (type_pattern is None or re.search(type_pattern, entity.type))
            ]

    def create(
        self,
        service: str,
        service_path: str,
        entity_id: str,
        entity_type: str,
        attrs: Mapping[str, AttrInput],
    ) -> Change:
        now = now_ms()
        entity = Entity(entity_id, entity_type, service_path, created=now, modified=now)
        entity.attrs = {
            name: Attr(item.type, item.value, dict(item.metadata), now, now) for name, item in attrs.items()
        }
        with self.lock:
            self.tenant(service).entities[(entity_id, entity_type, service_path)] = entity
        names = set(attrs)
        return Change(entity, {}, names, set(), names, dict.fromkeys(names, "append"), "entityCreate")

    def update(
        self,
        entity: Entity,
        attrs: Mapping[str, AttrInput],
        *,
        mode: str,
        override_metadata: bool = False,
        forced: bool = False,
    ) -> tuple[Change, list[str]]:
        """Apply ``attrs`` with ``mode``; answers the change and the attribute names that failed
        (existing ones for appendStrict, missing ones for update), which are left untouched."""
        now = now_ms()
        with self.lock:
            previous = dict(entity.attrs)
            failed = [
                name
                for name in attrs
                if (mode == APPEND_STRICT and name in previous) or (mode == UPDATE and name not in previous)
            ]
            changed: set[str] = set()
            metadata_changed: set[str] = set()
            actions: dict[str, str] = {}
            if mode == REPLACE:
                removed = set(previous) - set(attrs)
                changed |= removed
                actions.update(dict.fromkeys(removed, "delete"))
                entity.attrs = {}
            for name, item in attrs.items():
                if name in failed:
                    continue
                old = previous.get(name)
                if old is None:
                    entity.attrs[name] = Attr(item.type, item.value, dict(item.metadata), now, now)
                    changed.add(name)
                    actions[name] = "append"
                    continue
                # Metadata are merged into the existing ones unless options=overrideMetadata.
                metadata = dict(item.metadata) if override_metadata else {**old.metadata, **item.metadata}
                new = Attr(item.type, item.value, metadata, old.created, old.modified)
                actions[name] = "update"
                if not old.same_value(item):
                    changed.add(name)
                elif not _metadata_equal(old, new):
                    metadata_changed.add(name)
                if name in changed or name in metadata_changed:
                    new.modified = now
                entity.attrs[name] = new
            if changed or metadata_changed:
                entity.modified = now
        touched = set(attrs) - set(failed)
        alteration = "entityChange" if changed or metadata_changed else "entityUpdate"
        change = Change(entity, previous, changed, metadata_changed, touched, actions, alteration, forced)
        return change, failed

    def set_value(self, entity: Entity, name: str, value: Json) -> Change:
        """``PUT .../attrs/{attr}/value``: the value alone; type and metadata stay."""
        old = entity.attrs[name]
        item = AttrInput(old.type, value, {})
        change, _ = self.update(entity, {name: item}, mode=UPDATE)
        return change

    def delete_attrs(self, entity: Entity, names: Iterable[str]) -> tuple[Change, list[str]]:
        with self.lock:
            previous = dict(entity.attrs)
            failed = [name for name in names if name not in previous]
            gone = {name for name in names if name in previous}
            for name in gone:
                del entity.attrs[name]
            if gone:
                entity.modified = now_ms()
        change = Change(
            entity,
            previous,
            gone,
            set(),
            gone,
            dict.fromkeys(gone, "delete"),
            "entityChange" if gone else "entityUpdate",
        )
        return change, failed

    def delete_entity(self, service: str, entity: Entity) -> Change:
        with self.lock:
            self.tenant(service).entities.pop((entity.id, entity.type, entity.service_path), None)
        names = set(entity.attrs)
        return Change(
            entity, dict(entity.attrs), names, set(), names, dict.fromkeys(names, "delete"), "entityDelete"
        )


__all__ = ["APPEND", "APPEND_STRICT", "REPLACE", "UPDATE", "OrionStore", "Tenant"]
