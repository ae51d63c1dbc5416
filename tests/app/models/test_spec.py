from __future__ import annotations

from typing import Any

import pytest

from app.errors import ErrorCode
from app.models import (
    Activation,
    DenseLayer,
    ModelSpec,
    ModelType,
    RnnLayer,
    validate_spec,
)


def spec(**changes: Any) -> ModelSpec:
    base = ModelSpec(
        model_type=ModelType.LSTM,
        entity_type="Sensor",
        entity_id="urn:ngsi-ld:Sensor:1",
        feature="temperature",
        fiware_service="smart",
        fiware_service_path="/",
    )
    return base.replace(**changes)


def paths(model: ModelSpec) -> list[tuple[str, ...]]:
    return [e.field for e in validate_spec(model) if e.field is not None]


def test_defaults_are_valid_and_documented() -> None:
    model = spec()
    assert validate_spec(model) == []
    assert model.rnn_layers == [RnnLayer(units=32)]
    assert model.dense_layers == []
    # An unset lookback is chosen per job from the data (tests/ml/test_lookback.py).
    assert (model.lookback_window, model.forecast_horizon, model.batch_size, model.epochs) == (
        None,
        12,
        64,
        100,
    )
    assert model.calendar_features is True
    assert model.effective_patience == 8
    assert model.default_name == "LSTM - temperature"


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"lookback_window": 0}, ("input", "lookbackWindow")),
        ({"lookback_window": 8761}, ("input", "lookbackWindow")),
        ({"forecast_horizon": 0}, ("input", "forecastHorizon")),
        ({"forecast_horizon": 1001}, ("input", "forecastHorizon")),
        ({"batch_size": 0}, ("input", "batchSize")),
        ({"batch_size": 4097}, ("input", "batchSize")),
        ({"epochs": 0}, ("input", "epochs")),
        ({"epochs": 1001}, ("input", "epochs")),
        ({"learning_rate": 0.0}, ("input", "learningRate")),
        ({"learning_rate": 1.0001}, ("input", "learningRate")),
        ({"validation_ratio": 0.0}, ("input", "validationRatio")),
        ({"validation_ratio": 1.0}, ("input", "validationRatio")),
        ({"test_ratio": 0.0}, ("input", "testRatio")),
        ({"test_ratio": 0.5, "validation_ratio": 0.5}, ("input", "testRatio")),
        ({"early_stopping_patience": 101}, ("input", "earlyStoppingPatience")),
        ({"early_stopping_patience": -1}, ("input", "earlyStoppingPatience")),
        ({"interval_levels": [0.8, 1.0]}, ("input", "intervalLevels", "1")),
        ({"interval_levels": [0.0]}, ("input", "intervalLevels", "0")),
        ({"interval_levels": [0.9, 0.9]}, ("input", "intervalLevels")),
        ({"interval_levels": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}, ("input", "intervalLevels")),
        ({"rnn_layers": []}, ("input", "rnnLayers")),
        ({"rnn_layers": [RnnLayer()] * 9}, ("input", "rnnLayers")),
        ({"rnn_layers": [RnnLayer(units=0)]}, ("input", "rnnLayers", "0", "units")),
        ({"rnn_layers": [RnnLayer(), RnnLayer(units=1025)]}, ("input", "rnnLayers", "1", "units")),
        ({"rnn_layers": [RnnLayer(dropout=1.0)]}, ("input", "rnnLayers", "0", "dropout")),
        ({"rnn_layers": [RnnLayer(dropout=-0.1)]}, ("input", "rnnLayers", "0", "dropout")),
        (
            {"rnn_layers": [RnnLayer(recurrent_dropout=1.0)]},
            ("input", "rnnLayers", "0", "recurrentDropout"),
        ),
        ({"dense_layers": [DenseLayer(units=8)] * 9}, ("input", "denseLayers")),
        ({"dense_layers": [DenseLayer(units=0)]}, ("input", "denseLayers", "0", "units")),
        ({"dense_layers": [DenseLayer(units=8, dropout=1.0)]}, ("input", "denseLayers", "0", "dropout")),
        ({"name": "  "}, ("input", "name")),
        ({"name": "x" * 201}, ("input", "name")),
        ({"description": "x" * 2001}, ("input", "description")),
        ({"entity_type": ""}, ("input", "entityType")),
        ({"entity_id": "has space"}, ("input", "entityId")),
        ({"feature": "temp#1"}, ("input", "feature")),
        ({"fiware_service": "Smart"}, ("input", "fiwareService")),
        ({"fiware_service_path": "nope"}, ("input", "fiwareServicePath")),
    ],
)
def test_each_bound_is_reported_at_its_path(changes: dict[str, Any], path: tuple[str, ...]) -> None:
    errors = validate_spec(spec(**changes))
    assert [e.field for e in errors] == [path]
    assert errors[0].code is ErrorCode.VALIDATION_ERROR
    assert errors[0].message


@pytest.mark.parametrize(
    "changes",
    [
        {"lookback_window": 1},
        {"lookback_window": 8760},
        {"forecast_horizon": 1000},
        {"batch_size": 4096},
        {"epochs": 1000},
        {"learning_rate": 1.0},
        {"validation_ratio": 0.49, "test_ratio": 0.5},
        {"rnn_layers": [RnnLayer(units=1024, dropout=0.99, recurrent_dropout=0.5)] * 8},
        {"dense_layers": [DenseLayer(units=1, activation=Activation.GELU)] * 8},
        {"early_stopping_patience": 0},
        {"early_stopping_patience": 50},
        {"interval_levels": []},
        {"interval_levels": [0.001, 0.5, 0.9, 0.95, 0.999]},
    ],
)
def test_edges_of_each_range_are_accepted(changes: dict[str, Any]) -> None:
    assert validate_spec(spec(**changes)) == []


def test_every_problem_is_reported_together() -> None:
    found = paths(
        spec(
            epochs=0,
            rnn_layers=[RnnLayer(units=0), RnnLayer(dropout=2.0)],
            validation_ratio=0.0,
            entity_id="",
        )
    )
    assert found == [
        ("input", "rnnLayers", "0", "units"),
        ("input", "rnnLayers", "1", "dropout"),
        ("input", "epochs"),
        ("input", "validationRatio"),
        ("input", "entityId"),
    ]


@pytest.mark.parametrize(("epochs", "expected"), [(1, 1), (3, 3), (8, 8), (50, 8)])
def test_default_patience_never_exceeds_epochs(epochs: int, expected: int) -> None:
    # The default patience (8) must not refuse epochs < 8 sent without one: we take the smaller.
    assert validate_spec(spec(epochs=epochs)) == []
    assert spec(epochs=epochs).effective_patience == expected
