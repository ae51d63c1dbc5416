from __future__ import annotations

import pytest
from pydantic import BaseModel

from app.models import DenseLayer, ModelConfig, ModelDocument, ModelSpec, ModelType, RnnLayer
from app.training.documents import TrainingConfig


def spec(**changes: object) -> ModelSpec:
    return ModelSpec(
        entity_type="Sensor",
        entity_id="urn:ngsi-ld:Sensor:1",
        feature="temperature",
        fiware_service="smart",
        fiware_service_path="/",
    ).replace(**changes)


@pytest.mark.parametrize("declaration", [RnnLayer, DenseLayer, ModelConfig, ModelSpec])
def test_every_declared_field_is_described(declaration: type[BaseModel]) -> None:
    # GraphQL shows these descriptions on the Model type and on both inputs.
    assert [name for name, info in declaration.model_fields.items() if not info.description] == []


def test_documents_and_snapshots_carry_every_declared_field() -> None:
    declared = set(ModelConfig.model_fields)
    assert declared <= set(ModelDocument.model_fields)
    # A job also records whether its lookback was chosen from the data, and why.
    assert set(TrainingConfig.model_fields) == declared | {"lookback_chosen", "lookback_reason"}
    assert set(ModelSpec.model_fields) == declared | {"name", "description"}


def test_a_snapshot_holds_the_effective_patience() -> None:
    assert ModelConfig.model_fields["early_stopping_patience"].is_required() is False
    assert TrainingConfig.model_fields["early_stopping_patience"].is_required()
    assert TrainingConfig.model_fields["early_stopping_patience"].annotation is int


def test_defaults_are_declared_once() -> None:
    model = spec()
    assert model.model_type is ModelType.LSTM
    assert model.rnn_layers == [RnnLayer(units=32, dropout=0.0, recurrent_dropout=0.0)]
    assert model.dense_layers == []
    assert model.rnn_layers is not spec().rnn_layers, "each model gets its own default layers"
    assert model.name is None and model.description is None


@pytest.mark.parametrize(
    ("epochs", "patience", "expected"), [(1, None, 1), (3, None, 3), (50, None, 8), (50, 0, 0), (50, 7, 7)]
)
def test_effective_patience(epochs: int, patience: int | None, expected: int) -> None:
    assert spec(epochs=epochs, early_stopping_patience=patience).effective_patience == expected


def test_default_name_takes_the_enum_or_its_value() -> None:
    assert spec(model_type=ModelType.GRU).default_name == "GRU - temperature"
    assert spec(model_type="GRU").default_name == "GRU - temperature"


def test_replace_leaves_the_original_alone() -> None:
    original = spec()
    changed = original.replace(epochs=7, name="x")
    assert (changed.epochs, changed.name) == (7, "x")
    assert (original.epochs, original.name) == (100, None)
