"""GraphQL inputs of the model aggregate and their conversion to service arguments; their
configuration fields are derived from ``app.models.config``."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from app import models
from app.errors import ErrorCode, FieldError
from app.models import service as model_service
from app.settings import Settings
from fiware.http import Tenant
from schema.derive import Nested, from_graphql, input_fields, nullable_fields, patch_fields
from schema.models.types import ModelStatus, ModelType


@strawberry.input(description="One recurrent layer.")
@input_fields(models.RnnLayer)
class RnnLayerInput:
    pass


@strawberry.input(description="One dense layer.")
@input_fields(models.DenseLayer)
class DenseLayerInput:
    pass


# The inputs that give the nested models of the configuration.
LAYER_INPUTS: Nested = {models.RnnLayer: RnnLayerInput, models.DenseLayer: DenseLayerInput}


# Fields a new model may leave out or null, and what it then gets.
_OMISSIBLE = {
    "rnn_layers": "Defaults to one layer of 32 units.",
    "dense_layers": "Defaults to none.",
    "fiware_service": (
        "Defaults to the API key's tenant when it has exactly one, else to the server's setting."
    ),
    "fiware_service_path": "Defaults like `fiwareService`.",
    "history_store": "Defaults to the server's store (CHRONOS_HISTORY_STORE).",
}


@strawberry.input(description="A new model. Omitted settings take the documented defaults.")
@input_fields(models.ModelSpec, nested=LAYER_INPUTS, omissible=_OMISSIBLE)
class CreateModelInput:
    def to_spec(self, settings: Settings, *, tenant: Tenant | None = None) -> models.ModelSpec:
        """``tenant``: the default tenant, when the caller's key has exactly one; else the server's."""
        default = tenant or Tenant(settings.fiware_service, settings.fiware_service_path)
        # Omitted layers take the declared defaults, an omitted tenant the caller's.
        given = {
            name: from_graphql(value, LAYER_INPUTS)
            for name, value in vars(self).items()
            if value is not None or name not in _OMISSIBLE
        }
        given.setdefault("fiware_service", default.service)
        given.setdefault("fiware_service_path", default.service_path)
        given.setdefault("history_store", settings.history_store)
        return models.ModelSpec.model_validate(given)


# Fields an explicit null resets to their default; null anywhere else is refused.
_NULL_RESETS = nullable_fields(models.ModelSpec)


def _listed(names: list[str]) -> str:
    *rest, last = names
    return f"{', '.join(rest)} and {last}" if rest else last


@strawberry.input(
    description=(
        "Changes to a DRAFT model. Omitted fields keep their value; null resets "
        f"{_listed([to_camel_case(name) for name in _NULL_RESETS])} to their defaults."
    )
)
@patch_fields(
    models.ModelSpec,
    nested=LAYER_INPUTS,
    remarks={"rnn_layers": "Replaces all of them.", "dense_layers": "Replaces all of them."},
)
class UpdateModelInput:
    def to_changes(self) -> tuple[dict[str, Any], list[FieldError]]:
        """The given fields, and the problems of those that cannot be applied (null where a value
        is required); the service reports these with the problems of the merged model."""
        changes: dict[str, Any] = {}
        problems: list[FieldError] = []
        for name, value in vars(self).items():
            if value is strawberry.UNSET:
                continue
            if value is None and name not in _NULL_RESETS:
                camel = to_camel_case(name)
                problems.append(FieldError(ErrorCode.VALIDATION_ERROR, "must not be null", ("input", camel)))
                continue
            changes[name] = from_graphql(value, LAYER_INPUTS)
        return changes, problems


@strawberry.input(name="ModelFilter", description="Narrows a model list; all given criteria must hold.")
class ModelFilterInput:
    model_type: ModelType | None = strawberry.field(default=None, description="Only this cell type.")
    status: ModelStatus | None = strawberry.field(default=None, description="Only this status.")
    entity_type: str | None = strawberry.field(default=None, description="Exact NGSI entity type.")
    entity_id: str | None = strawberry.field(default=None, description="Exact NGSI entity id.")
    feature: str | None = strawberry.field(default=None, description="Exact attribute name.")
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name."
    )

    def to_filter(self) -> model_service.ModelFilter:
        return model_service.ModelFilter(
            model_type=self.model_type,
            status=self.status,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            feature=self.feature,
            name_contains=self.name_contains,
        )


__all__ = ["CreateModelInput", "DenseLayerInput", "ModelFilterInput", "RnnLayerInput", "UpdateModelInput"]
