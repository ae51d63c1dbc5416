"""GraphQL inputs of the model aggregate and their conversion to service arguments."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from app import models
from app.errors import ErrorCode, FieldError
from app.settings import Settings
from fiware.http import Tenant
from schema.models.types import Activation, ModelStatus, ModelType, TargetMode


@strawberry.input(description="One recurrent layer.")
class RnnLayerInput:
    units: int = strawberry.field(default=32, description="Number of units (1-1024).")
    dropout: float = strawberry.field(default=0.0, description="Input dropout rate, in [0, 1).")
    recurrent_dropout: float = strawberry.field(
        default=0.0, description="Recurrent-state dropout rate, in [0, 1)."
    )

    def to_spec(self) -> models.RnnLayerSpec:
        return models.RnnLayerSpec(self.units, self.dropout, self.recurrent_dropout)


@strawberry.input(description="One dense layer.")
class DenseLayerInput:
    units: int = strawberry.field(description="Number of units (1-1024).")
    dropout: float = strawberry.field(default=0.0, description="Dropout rate, in [0, 1).")
    activation: Activation = strawberry.field(
        default=models.Activation.RELU, description="Activation function."
    )

    def to_spec(self) -> models.DenseLayerSpec:
        return models.DenseLayerSpec(self.units, self.dropout, self.activation)


@strawberry.input(description="A new model. Omitted settings take the documented defaults.")
class CreateModelInput:
    entity_type: str = strawberry.field(description="NGSI entity type of the sensor.")
    entity_id: str = strawberry.field(description="NGSI entity id of the sensor.")
    feature: str = strawberry.field(description="Attribute of the entity to forecast.")
    model_type: ModelType = strawberry.field(
        default=models.ModelType.LSTM, description="Recurrent cell type."
    )
    name: str | None = strawberry.field(
        default=None, description="Display name; defaults to `<TYPE> - <feature>`."
    )
    description: str | None = strawberry.field(default=None, description="Free text (≤ 2000 characters).")
    rnn_layers: list[RnnLayerInput] | None = strawberry.field(
        default=None, description="1-8 recurrent layers; defaults to one layer of 32 units."
    )
    dense_layers: list[DenseLayerInput] | None = strawberry.field(
        default=None, description="0-8 dense layers before the output layer; defaults to none."
    )
    lookback_window: int = strawberry.field(default=48, description="Past points per forecast (1-8760).")
    forecast_horizon: int = strawberry.field(default=12, description="Points forecast at once (1-1000).")
    target_mode: TargetMode = strawberry.field(
        default=models.TargetMode.DELTA, description="What the network learns to predict."
    )
    batch_size: int = strawberry.field(default=64, description="Training batch size (1-4096).")
    epochs: int = strawberry.field(default=50, description="Maximum epochs (1-1000).")
    learning_rate: float = strawberry.field(default=0.001, description="Adam learning rate, in (0, 1].")
    validation_ratio: float = strawberry.field(
        default=0.15, description="Validation share, in (0, 1); with testRatio below 1."
    )
    test_ratio: float = strawberry.field(
        default=0.15, description="Test share, in (0, 1); with validationRatio below 1."
    )
    early_stopping_patience: int | None = strawberry.field(
        default=None,
        description="0 (off) to epochs; defaults to 5, or to epochs when fewer than 5.",
    )
    fiware_service: str | None = strawberry.field(
        default=None,
        description=(
            "FIWARE tenant of the entity; defaults to the API key's tenant when it has exactly one, "
            "else to the server's setting."
        ),
    )
    fiware_service_path: str | None = strawberry.field(
        default=None, description="Fiware-ServicePath of the entity; defaults like `fiwareService`."
    )

    def to_spec(self, settings: Settings, *, tenant: Tenant | None = None) -> models.ModelSpec:
        """``tenant``: the default tenant, when the caller's key has exactly one; else the server's."""
        default = tenant or Tenant(settings.fiware_service, settings.fiware_service_path)
        return models.ModelSpec(
            model_type=self.model_type,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            feature=self.feature,
            fiware_service=self.fiware_service if self.fiware_service is not None else default.service,
            fiware_service_path=(
                self.fiware_service_path if self.fiware_service_path is not None else default.service_path
            ),
            name=self.name,
            description=self.description,
            rnn_layers=(
                tuple(layer.to_spec() for layer in self.rnn_layers)
                if self.rnn_layers is not None
                else (models.RnnLayerSpec(),)
            ),
            dense_layers=tuple(layer.to_spec() for layer in self.dense_layers or ()),
            lookback_window=self.lookback_window,
            forecast_horizon=self.forecast_horizon,
            target_mode=self.target_mode,
            batch_size=self.batch_size,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            validation_ratio=self.validation_ratio,
            test_ratio=self.test_ratio,
            early_stopping_patience=self.early_stopping_patience,
        )


# Fields an explicit null resets to their default; null anywhere else is refused.
_NULL_RESETS = {"name", "description", "early_stopping_patience"}


@strawberry.input(
    description=(
        "Changes to a DRAFT model. Omitted fields keep their value; null resets name, "
        "description and earlyStoppingPatience to their defaults."
    )
)
class UpdateModelInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Free text.")
    model_type: ModelType | None = strawberry.field(
        default=strawberry.UNSET, description="Recurrent cell type."
    )
    rnn_layers: list[RnnLayerInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces all recurrent layers (1-8)."
    )
    dense_layers: list[DenseLayerInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces all dense layers (0-8)."
    )
    lookback_window: int | None = strawberry.field(default=strawberry.UNSET, description="1-8760.")
    forecast_horizon: int | None = strawberry.field(default=strawberry.UNSET, description="1-1000.")
    target_mode: TargetMode | None = strawberry.field(default=strawberry.UNSET, description="DELTA or LEVEL.")
    batch_size: int | None = strawberry.field(default=strawberry.UNSET, description="1-4096.")
    epochs: int | None = strawberry.field(default=strawberry.UNSET, description="1-1000.")
    learning_rate: float | None = strawberry.field(default=strawberry.UNSET, description="In (0, 1].")
    validation_ratio: float | None = strawberry.field(default=strawberry.UNSET, description="In (0, 1).")
    test_ratio: float | None = strawberry.field(default=strawberry.UNSET, description="In (0, 1).")
    early_stopping_patience: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 (off) to epochs; null restores the default."
    )
    entity_type: str | None = strawberry.field(default=strawberry.UNSET, description="NGSI entity type.")
    entity_id: str | None = strawberry.field(default=strawberry.UNSET, description="NGSI entity id.")
    feature: str | None = strawberry.field(default=strawberry.UNSET, description="Attribute to forecast.")
    fiware_service: str | None = strawberry.field(default=strawberry.UNSET, description="FIWARE tenant.")
    fiware_service_path: str | None = strawberry.field(
        default=strawberry.UNSET, description="Fiware-ServicePath."
    )

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
            if name in {"rnn_layers", "dense_layers"}:
                value = tuple(layer.to_spec() for layer in value)
            changes[name] = value
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

    def to_filter(self) -> models.ModelFilter:
        return models.ModelFilter(
            model_type=self.model_type,
            status=self.status,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            feature=self.feature,
            name_contains=self.name_contains,
        )


__all__ = ["CreateModelInput", "DenseLayerInput", "ModelFilterInput", "RnnLayerInput", "UpdateModelInput"]
