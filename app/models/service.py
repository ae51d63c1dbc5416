"""Model management: create, read, list, update while DRAFT, delete."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from app.auth.tenancy import TenantScope
from app.errors import (
    Conflict,
    ErrorCode,
    FieldError,
    FieldPath,
    Forbidden,
    NotFound,
    ValidationFailed,
    quoted,
)
from app.models import repository
from app.models.config import ModelSpec
from app.models.documents import ModelDocument
from app.models.enums import ModelStatus, ModelType
from app.models.spec import validate_spec
from app.pagination import (
    MAX_PAGE_SIZE,
    NEWEST_FIRST,
    Edge,
    Page,
    Position,
    after_position,
    page_of,
    position_of,
)
from app.timeutil import utcnow
from app.training.documents import TrainingJobDocument
from app.training.repository.jobs import JobRemoved
from fiware.history import HistoryStore


@dataclass(frozen=True)
class ModelFilter:
    model_type: ModelType | None = None
    status: ModelStatus | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    feature: str | None = None
    name_contains: str | None = None

    def to_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for key in ("model_type", "status", "entity_type", "entity_id", "feature"):
            value = getattr(self, key)
            if value is not None:
                query[key] = value
        if self.name_contains:
            query["name"] = {"$regex": re.escape(self.name_contains), "$options": "i"}
        return query


ModelEdge = Edge[ModelDocument]
ModelPage = Page[ModelDocument]


def _position(model: ModelDocument) -> Position:
    return model.created_at, model.id


def parse_id(value: str, *, field: str | FieldPath = "id") -> UUID:
    path = (field,) if isinstance(field, str) else field
    try:
        return UUID(value)
    except ValueError:
        raise ValidationFailed(
            [FieldError(ErrorCode.VALIDATION_ERROR, f"{quoted(value)} is not a UUID", path)]
        ) from None


_LAYER_FIELDS = ("rnn_layers", "dense_layers")


def _layers_to_documents(spec: ModelSpec) -> dict[str, Any]:
    return {name: [layer.model_copy() for layer in getattr(spec, name)] for name in _LAYER_FIELDS}


def _scalar_fields(spec: ModelSpec) -> dict[str, Any]:
    """Every declared field but the layers and the name, as given (the name may take its default)."""
    skip = {*_LAYER_FIELDS, "name"}
    return {name: getattr(spec, name) for name in ModelSpec.model_fields if name not in skip}


def spec_of(document: ModelDocument) -> ModelSpec:
    return ModelSpec.model_validate(document.model_dump(include=set(ModelSpec.model_fields)))


def _checked(spec: ModelSpec) -> ModelSpec:
    problems = validate_spec(spec)
    if problems:
        raise ValidationFailed(problems)
    return spec


TENANT_FIELDS = ("fiware_service", "fiware_service_path")


def visible(model: ModelDocument | None, scope: TenantScope) -> ModelDocument | None:
    """The model if the caller's tenants include its own: another tenant's model does not exist."""
    if model is None or not scope.allows(model.fiware_service, model.fiware_service_path):
        return None
    return model


def _tenant_allowed(spec: ModelSpec, scope: TenantScope) -> None:
    if not scope.allows(spec.fiware_service, spec.fiware_service_path):
        raise Forbidden(
            f"this API key has no access to tenant {spec.fiware_service}:{spec.fiware_service_path}",
            field=("input", "fiwareService"),
        )


async def create_model(*, spec: ModelSpec, scope: TenantScope) -> ModelDocument:
    spec = _checked(spec)
    _tenant_allowed(spec, scope)
    now = utcnow()  # one instant: a new model was last updated when it was created
    document = ModelDocument(
        created_at=now,
        updated_at=now,
        name=spec.name if spec.name is not None else spec.default_name,
        **_scalar_fields(spec),
        **_layers_to_documents(spec),
    )
    await repository.insert_model(document)
    return document


async def get_model(*, model_id: str, scope: TenantScope) -> ModelDocument | None:
    return visible(await ModelDocument.get(parse_id(model_id)), scope)


async def list_models(
    *, model_filter: ModelFilter, first: int, after: str | None, scope: TenantScope
) -> ModelPage:
    position = position_of(first, after)
    query = scope.restrict(model_filter.to_query(), *TENANT_FIELDS)
    found = (
        await ModelDocument.find(after_position(query, position))
        .sort(NEWEST_FIRST)
        .limit(first + 1)
        .to_list()
    )
    return page_of(found, first=first, query=query, key=_position)


async def reads_store(store: HistoryStore) -> bool:
    """Whether any model reads its history from ``store`` (not the deployment's default)."""
    return await ModelDocument.find_one({"history_store": store.value}) is not None


async def count_models(*, query: Mapping[str, Any]) -> int:
    return await ModelDocument.find(dict(query)).count()


def _apply_name_default(current: ModelDocument, merged: ModelSpec, changes: Mapping[str, Any]) -> ModelSpec:
    # A name the user never chose follows the model it describes; an explicit null resets it.
    if "name" in changes and changes["name"] is not None:
        return merged
    was_default = current.name == spec_of(current).default_name
    if changes.get("name", "keep") is None or was_default:
        return merged.replace(name=merged.default_name)
    return merged


async def update_model(
    *, model_id: str, changes: Mapping[str, Any], scope: TenantScope, rejected: Sequence[FieldError] = ()
) -> ModelDocument:
    """Apply ``changes`` to a DRAFT model. ``rejected`` are problems the edge already found in the
    input (they are reported together with those of the merged model)."""
    key = parse_id(model_id)
    current = visible(await ModelDocument.get(key), scope)
    if current is None:
        raise NotFound(f"model {model_id} does not exist", field=("id",))
    if current.status is not ModelStatus.DRAFT:
        raise Conflict(
            f"model {model_id} is {current.status.value}; only DRAFT models can be edited",
            field=("id",),
        )
    merged = _apply_name_default(current, spec_of(current).replace(**changes), changes)
    problems = [*rejected, *validate_spec(merged)]
    if problems:
        raise ValidationFailed(problems)
    _tenant_allowed(merged, scope)
    moved = (merged.fiware_service, merged.fiware_service_path) != (
        current.fiware_service,
        current.fiware_service_path,
    )
    if moved and await TrainingJobDocument.find_one({"model_id": key}) is not None:
        # Jobs keep the tenant they trained in: a model that moved would take their history,
        # forecasts and errors into a tenant that was never meant to see them.
        raise Conflict(
            f"model {model_id} has training jobs in {current.fiware_service}:{current.fiware_service_path}; "
            "delete them before moving it to another tenant",
            field=("input", "fiwareService"),
        )
    # Strictly after the previous edit even within one millisecond, so clients can order versions.
    updated_at = max(utcnow(), current.updated_at + timedelta(milliseconds=1))
    values: dict[str, Any] = {**_scalar_fields(merged), "name": merged.name, "updated_at": updated_at}
    values.update(
        rnn_layers=[vars(layer) for layer in merged.rnn_layers],
        dense_layers=[vars(layer) for layer in merged.dense_layers],
    )
    updated = await repository.update_draft(current=current, values=values)
    if updated is None:
        raise Conflict(f"model {model_id} changed while it was being edited; retry", field=("id",))
    return updated


async def delete_model(
    *, model_id: str, scope: TenantScope, on_job_removed: JobRemoved | None = None
) -> UUID:
    """Delete a model that is not training, with its jobs, their artifacts and, through
    ``on_job_removed``, what they published in FIWARE."""
    key = parse_id(model_id)
    # The lock field and the status both guard: a job admitted a moment ago holds the lock.
    idle = scope.restrict(
        {"_id": key, "active_job_id": None, "status": {"$ne": ModelStatus.TRAINING.value}},
        *TENANT_FIELDS,
    )
    if not await repository.delete_idle_model(model_id=key, query=idle, on_job_removed=on_job_removed):
        if visible(await ModelDocument.get(key), scope) is None:
            raise NotFound(f"model {model_id} does not exist", field=("id",))
        raise Conflict(f"model {model_id} is training; cancel its job first", field=("id",))
    return key


__all__ = [
    "MAX_PAGE_SIZE",
    "ModelEdge",
    "ModelFilter",
    "ModelPage",
    "count_models",
    "create_model",
    "delete_model",
    "get_model",
    "list_models",
    "parse_id",
    "spec_of",
    "update_model",
    "visible",
]
