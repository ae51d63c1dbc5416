"""A model configuration as users give it, its defaults and its validation.

Validation collects every problem of one input, each with its field path starting at the
GraphQL argument name (``("input", "rnnLayers", "0", "units")``), instead of stopping at the
first one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from app.errors import ErrorCode, FieldError, FieldPath
from app.models.enums import Activation, ModelType, TargetMode
from fiware.names import check_ngsi_name, check_service, check_service_path

MAX_LAYERS = 8
MAX_UNITS = 1024
MAX_LOOKBACK = 8760
MAX_HORIZON = 1000
MAX_BATCH = 4096
MAX_EPOCHS = 1000
DEFAULT_PATIENCE = 5
MAX_NAME = 200
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class RnnLayerSpec:
    units: int = 32
    dropout: float = 0.0
    recurrent_dropout: float = 0.0


@dataclass(frozen=True)
class DenseLayerSpec:
    units: int
    dropout: float = 0.0
    activation: Activation = Activation.RELU


@dataclass(frozen=True)
class ModelSpec:
    model_type: ModelType
    entity_type: str
    entity_id: str
    feature: str
    fiware_service: str
    fiware_service_path: str
    name: str | None = None
    description: str | None = None
    rnn_layers: tuple[RnnLayerSpec, ...] = (RnnLayerSpec(),)
    dense_layers: tuple[DenseLayerSpec, ...] = ()
    lookback_window: int = 48
    forecast_horizon: int = 12
    target_mode: TargetMode = TargetMode.DELTA
    batch_size: int = 64
    epochs: int = 50
    learning_rate: float = 0.001
    validation_ratio: float = 0.15
    test_ratio: float = 0.15
    early_stopping_patience: int | None = None

    @property
    def effective_patience(self) -> int:
        return effective_patience(self.early_stopping_patience, self.epochs)

    @property
    def default_name(self) -> str:
        return default_name(self.model_type, self.feature)

    def replace(self, **changes: object) -> ModelSpec:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def effective_patience(patience: int | None, epochs: int) -> int:
    """Patience 0 turns early stopping off; unset means 5, but never more than ``epochs``."""
    return min(DEFAULT_PATIENCE, epochs) if patience is None else patience


def default_name(model_type: ModelType | str, feature: str) -> str:
    # GraphQL hands the enum over as its value when the input is built from variables.
    return f"{ModelType(model_type).value} - {feature}"


def validate_spec(spec: ModelSpec, *, root: str = "input") -> list[FieldError]:
    return list(_problems(spec, (root,)))


def _problem(path: FieldPath, message: str) -> FieldError:
    return FieldError(ErrorCode.VALIDATION_ERROR, message, path)


def _int_range(path: FieldPath, value: int, low: int, high: int) -> Iterator[FieldError]:
    if not low <= value <= high:
        yield _problem(path, f"must be between {low} and {high} (got {value})")


def _unit_interval(path: FieldPath, value: float) -> Iterator[FieldError]:
    if not 0.0 <= value < 1.0:
        yield _problem(path, f"must be at least 0 and below 1 (got {value})")


def _text(path: FieldPath, value: str | None, limit: int) -> Iterator[FieldError]:
    if value is None:
        return
    if not value.strip():
        yield _problem(path, "must not be blank")
    elif len(value) > limit:
        yield _problem(path, f"must be at most {limit} characters (got {len(value)})")


def _problems(spec: ModelSpec, root: FieldPath) -> Iterator[FieldError]:
    def at(*parts: str | int) -> FieldPath:
        return root + tuple(str(part) for part in parts)

    yield from _text(at("name"), spec.name, MAX_NAME)
    yield from _text(at("description"), spec.description, MAX_DESCRIPTION)

    if not 1 <= len(spec.rnn_layers) <= MAX_LAYERS:
        yield _problem(at("rnnLayers"), f"must hold 1 to {MAX_LAYERS} layers (got {len(spec.rnn_layers)})")
    for i, rnn in enumerate(spec.rnn_layers):
        yield from _int_range(at("rnnLayers", i, "units"), rnn.units, 1, MAX_UNITS)
        yield from _unit_interval(at("rnnLayers", i, "dropout"), rnn.dropout)
        yield from _unit_interval(at("rnnLayers", i, "recurrentDropout"), rnn.recurrent_dropout)

    if len(spec.dense_layers) > MAX_LAYERS:
        yield _problem(
            at("denseLayers"), f"must hold at most {MAX_LAYERS} layers (got {len(spec.dense_layers)})"
        )
    for i, dense in enumerate(spec.dense_layers):
        yield from _int_range(at("denseLayers", i, "units"), dense.units, 1, MAX_UNITS)
        yield from _unit_interval(at("denseLayers", i, "dropout"), dense.dropout)

    yield from _int_range(at("lookbackWindow"), spec.lookback_window, 1, MAX_LOOKBACK)
    yield from _int_range(at("forecastHorizon"), spec.forecast_horizon, 1, MAX_HORIZON)
    yield from _int_range(at("batchSize"), spec.batch_size, 1, MAX_BATCH)
    yield from _int_range(at("epochs"), spec.epochs, 1, MAX_EPOCHS)
    if not 0.0 < spec.learning_rate <= 1.0:
        yield _problem(at("learningRate"), f"must be above 0 and at most 1 (got {spec.learning_rate})")

    ratios_ok = True
    for name, ratio in (("validationRatio", spec.validation_ratio), ("testRatio", spec.test_ratio)):
        if not 0.0 < ratio < 1.0:
            ratios_ok = False
            yield _problem(at(name), f"must be above 0 and below 1 (got {ratio})")
    if ratios_ok and spec.validation_ratio + spec.test_ratio >= 1.0:
        yield _problem(
            at("testRatio"),
            "validationRatio + testRatio must be below 1 so that data is left for training "
            f"(got {spec.validation_ratio} + {spec.test_ratio})",
        )

    patience = spec.early_stopping_patience
    if patience is not None and not 0 <= patience <= spec.epochs:
        yield _problem(
            at("earlyStoppingPatience"),
            f"must be between 0 (off) and epochs = {spec.epochs} (got {patience})",
        )

    for name, value in (
        ("entityType", spec.entity_type),
        ("entityId", spec.entity_id),
        ("feature", spec.feature),
    ):
        problem = check_ngsi_name(value)
        if problem:
            yield _problem(at(name), problem)
    service_problem = check_service(spec.fiware_service)
    if service_problem:
        yield _problem(at("fiwareService"), service_problem)
    path_problem = check_service_path(spec.fiware_service_path)
    if path_problem:
        yield _problem(at("fiwareServicePath"), path_problem)


__all__ = [
    "DenseLayerSpec",
    "ModelSpec",
    "RnnLayerSpec",
    "default_name",
    "effective_patience",
    "validate_spec",
]
